/**
 * Tokens for the review-s10 JWT tests: any header and claims, signed
 * correctly with node:crypto, so a test reaches the check it is about and
 * never fails on the signature instead.
 */
import { sign } from 'node:crypto';

import { generateEcKeyObjects } from '../../src/crypto/ec-keys.js';
import { EAR_PROFILE } from '../../src/policy/index.js';

export const NOW = 1_000_000;
// no key-generation job (Node 20 deadlock with JWK export, docs/decisions.md session 8)
export const keys = generateEcKeyObjects('P-256');

const b64 = (o: unknown) => Buffer.from(JSON.stringify(o)).toString('base64url');

const P256_ORDER = 0xffffffff00000000ffffffffffffffffbce6faada7179e84f3b9cac2fc632551n;

/** (r, s) with s replaced by n − s when s > n/2: verifyEarJwt takes only the low-S form (review s10 J3). */
function lowS(signature: Buffer): Buffer {
  const s = BigInt(`0x${signature.subarray(32).toString('hex')}`);
  if (s <= P256_ORDER / 2n) return signature;
  return Buffer.concat([signature.subarray(0, 32), Buffer.from((P256_ORDER - s).toString(16).padStart(64, '0'), 'hex')]);
}

/** A compact JWS over exactly this header and these claims (ES256, low-S). */
export function signed(header: Record<string, unknown>, claims: Record<string, unknown>): string {
  const input = `${b64(header)}.${b64(claims)}`;
  return `${input}.${lowS(sign('sha256', Buffer.from(input), { key: keys.privateKey, dsaEncoding: 'ieee-p1363' })).toString('base64url')}`;
}

/** Claims as signEarJwt writes them, valid at NOW. */
export function validClaims(): Record<string, unknown> {
  return {
    eat_profile: EAR_PROFILE,
    iat: NOW,
    exp: NOW + 300,
    jti: 'j-1',
    'ear.verifier-id': { developer: 'tee-verify', build: 'test' },
    submods: { cpu0: { 'ear.status': 'affirming', 'ear.appraisal-policy-id': 'p' } },
  };
}

/** validClaims with `changes` applied; an `undefined` value removes the claim. */
export function claimsWith(changes: Record<string, unknown>): Record<string, unknown> {
  const out = { ...validClaims(), ...changes };
  for (const [k, v] of Object.entries(changes)) if (v === undefined) delete out[k];
  return out;
}
