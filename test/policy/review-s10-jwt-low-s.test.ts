/**
 * Review s10, finding J3: ECDSA signatures are malleable. (r, n − s) is a
 * second valid signature over the same header and claims, so a verified
 * token had a twin with another token string and the same jti. signEarJwt
 * now emits the low-S form and verifyEarJwt refuses s > n/2
 * (ERR_TOKEN_SIGNATURE): one token string per signature.
 */
import { sign } from 'node:crypto';

import { describe, expect, it } from 'vitest';

import { generateEcKeyObjects } from '../../src/crypto/ec-keys.js';
import { signEarJwt, verifyEarJwt, type Ear } from '../../src/policy/index.js';
import { catchError } from '../helpers/expect-error.js';
import { NOW, validClaims } from './review-s10-jwt-helpers.js';

const CURVES = {
  ES256: { keys: generateEcKeyObjects('P-256'), hash: 'sha256', n: 0xffffffff00000000ffffffffffffffffbce6faada7179e84f3b9cac2fc632551n },
  ES384: {
    keys: generateEcKeyObjects('P-384'),
    hash: 'sha384',
    n: 0xffffffffffffffffffffffffffffffffffffffffffffffffc7634d81f4372ddf581a0db248b0a77aecec196accc52973n,
  },
} as const;
type Alg = keyof typeof CURVES;

const { iat: _iat, exp: _exp, jti: _jti, ...ear } = validClaims();
const toBig = (b: Uint8Array) => BigInt(`0x${Buffer.from(b).toString('hex')}`);

function split(token: string): { input: string; r: Buffer; s: bigint } {
  const [h, p, sig] = token.split('.') as [string, string, string];
  const bytes = Buffer.from(sig, 'base64url');
  return { input: `${h}.${p}`, r: bytes.subarray(0, bytes.length / 2), s: toBig(bytes.subarray(bytes.length / 2)) };
}

/** The same token with s replaced by n − s: the other valid ECDSA signature. */
function twin(token: string, alg: Alg): string {
  const { input, r, s } = split(token);
  const other = Buffer.from((CURVES[alg].n - s).toString(16).padStart(r.length * 2, '0'), 'hex');
  return `${input}.${Buffer.concat([r, other]).toString('base64url')}`;
}

const isLow = (token: string, alg: Alg) => split(token).s <= CURVES[alg].n / 2n;

/** A token as a signer without low-S normalisation made it: node:crypto's signature as it comes, re-signed until its s is high / low. */
function rawToken(alg: Alg, high: boolean): string {
  const b64 = (o: unknown) => Buffer.from(JSON.stringify(o)).toString('base64url');
  const input = `${b64({ alg, typ: 'JWT' })}.${b64(validClaims())}`;
  for (;;) {
    const token = `${input}.${sign(CURVES[alg].hash, Buffer.from(input), { key: CURVES[alg].keys.privateKey, dsaEncoding: 'ieee-p1363' }).toString('base64url')}`;
    if (isLow(token, alg) !== high) return token;
  }
}

describe.each(['ES256', 'ES384'] as const)('%s: one token string per signature (review s10 J3)', (alg) => {
  const { keys } = CURVES[alg];
  const verify = (token: string) => verifyEarJwt(token, keys.publicKey, { now: NOW });
  const issue = (jti: string) => signEarJwt(ear as unknown as Ear, keys.privateKey, { alg, now: NOW, expiresIn: 300, jti });

  it('signEarJwt emits low-S signatures (32 tokens; with random k half of them were high before)', () => {
    const tokens = Array.from({ length: 32 }, (_, i) => issue(`j-${i}`));
    expect(tokens.filter((t) => !isLow(t, alg))).toEqual([]);
    for (const t of tokens) expect(verify(t).claims['jti']).toMatch(/^j-/);
  });

  it("a token's high-S twin is refused; the token itself verifies", () => {
    for (let i = 0; i < 8; i++) {
      const token = issue(`t-${i}`);
      expect(verify(token).claims['jti']).toBe(`t-${i}`);
      const err = catchError(() => verify(twin(token, alg)));
      expect({ code: err.code, errorClass: err.errorClass }).toEqual({ code: 'ERR_TOKEN_SIGNATURE', errorClass: 'ARGUMENT' });
    }
  });

  it('an older signer: its low-S tokens still verify, its high-S tokens are refused', () => {
    expect(verify(rawToken(alg, false)).claims['jti']).toBe('j-1');
    expect(catchError(() => verify(rawToken(alg, true))).code).toBe('ERR_TOKEN_SIGNATURE');
  });
});
