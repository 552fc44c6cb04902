/**
 * Review s13 policy #2: the option bags of verifyEarJwt, signEarJwt, toEar and translateItaPolicy
 * are closed sets (decisions.md, session 12): an unknown key is ERR_INVALID_ARGUMENT with
 * details.option, checked before anything else. Before, `{ eat_nonce }`, `{ iss }` and the like
 * were ignored and a replayed or foreign token verified; `toEar(…, { eatNonce })` gave an EAR
 * without eat_nonce. An own `nonce` / `issuer` whose value is undefined is refused too.
 */
import { describe, expect, it } from 'vitest';

import { defaultPolicy, evaluatePolicy, signEarJwt, toEar, translateItaPolicy, verifyEarJwt } from '../../src/policy/index.js';
import { claimsWith, keys, NOW, signed } from './review-s10-jwt-helpers.js';
import { syntheticTdx } from './helpers.js';

function codeOf(f: () => unknown): { code?: string; option?: unknown } {
  try {
    f();
  } catch (err) {
    const e = err as { code?: string; details?: Record<string, unknown> };
    return { code: e.code, option: e.details?.['option'] };
  }
  return {};
}

const foreign = signed({ alg: 'ES256', typ: 'JWT' }, claimsWith({ eat_nonce: 'challenge-of-someone-else', iss: 'evil issuer' }));

describe('verifyEarJwt', () => {
  it('refuses a misspelt option instead of verifying a foreign token', () => {
    const misspelt: Array<[Record<string, unknown>, string]> = [
      [{ eat_nonce: 'my-challenge-1234' }, 'eat_nonce'],
      [{ Nonce: 'my-challenge-1234' }, 'Nonce'],
      [{ iss: 'my issuer' }, 'iss'],
      [{ issuers: 'my issuer' }, 'issuers'],
      [{ clockSkew: 0 }, 'clockSkew'],
      [{ algorithm: ['ES384'] }, 'algorithm'],
    ];
    for (const [o, option] of misspelt) {
      expect(codeOf(() => verifyEarJwt(foreign, keys.publicKey, { now: NOW, ...o } as never)), option).toEqual({ code: 'ERR_INVALID_ARGUMENT', option });
    }
  });

  it('checks the options before the token', () => {
    expect(codeOf(() => verifyEarJwt('not a token', keys.publicKey, { iss: 'x' } as never))).toEqual({ code: 'ERR_INVALID_ARGUMENT', option: 'iss' });
  });

  it('refuses an own issuer / nonce whose value is undefined', () => {
    expect(codeOf(() => verifyEarJwt(foreign, keys.publicKey, { now: NOW, nonce: undefined }))).toEqual({ code: 'ERR_INVALID_ARGUMENT', option: 'nonce' });
    expect(codeOf(() => verifyEarJwt(foreign, keys.publicKey, { now: NOW, issuer: undefined }))).toEqual({ code: 'ERR_INVALID_ARGUMENT', option: 'issuer' });
  });

  it('the correctly spelt options still work (controls)', () => {
    expect(codeOf(() => verifyEarJwt(foreign, keys.publicKey, { now: NOW, nonce: 'my-challenge-1234' })).code).toBe('ERR_TOKEN_NONCE');
    expect(codeOf(() => verifyEarJwt(foreign, keys.publicKey, { now: NOW, issuer: 'my issuer' })).code).toBe('ERR_TOKEN_ISSUER');
    expect(verifyEarJwt(foreign, keys.publicKey, { now: NOW, clockSkewSeconds: 0, algorithms: ['ES256'], nonce: 'challenge-of-someone-else', issuer: 'evil issuer' }).claims['iss']).toBe('evil issuer');
    expect(verifyEarJwt(foreign, keys.publicKey, { now: NOW }).header.alg).toBe('ES256');
  });
});

describe('toEar and signEarJwt', () => {
  const r = syntheticTdx();
  const a = evaluatePolicy(r, defaultPolicy('tdx'));

  it('toEar refuses a misspelt nonce (no EAR without eat_nonce), and an undefined one', () => {
    expect(codeOf(() => toEar(r, a, { verifierId: 't', iat: 1, eatNonce: 'challenge-1234567' } as never))).toEqual({ code: 'ERR_INVALID_ARGUMENT', option: 'eatNonce' });
    expect(codeOf(() => toEar(r, a, { verifierId: 't', iat: 1, nonce: undefined }))).toEqual({ code: 'ERR_INVALID_ARGUMENT', option: 'nonce' });
    expect(codeOf(() => toEar(r, a, undefined as never)).code).toBe('ERR_INVALID_ARGUMENT');
    expect(toEar(r, a, { verifierId: 't', iat: 1, nonce: 'challenge-1234567' }).eat_nonce).toBe('challenge-1234567');
  });

  it('signEarJwt refuses an unknown option', () => {
    const ear = toEar(r, a, { verifierId: 't', iat: NOW });
    const base = { alg: 'ES256', expiresIn: 60, jti: 'j', now: NOW } as const;
    expect(codeOf(() => signEarJwt(ear, keys.privateKey, { ...base, extraclaims: { iss: 'x' } } as never))).toEqual({ code: 'ERR_INVALID_ARGUMENT', option: 'extraclaims' });
    expect(codeOf(() => signEarJwt(ear, keys.privateKey, { ...base, exp: NOW + 60 } as never))).toEqual({ code: 'ERR_INVALID_ARGUMENT', option: 'exp' });
    const token = signEarJwt(ear, keys.privateKey, { ...base, kid: 'k', extraClaims: { iss: 'me' } });
    expect(verifyEarJwt(token, keys.publicKey, { now: NOW, issuer: 'me' }).header.kid).toBe('k');
  });
});

describe('translateItaPolicy', () => {
  const unpinned = { attestation_type: 'TDX', tdx: { attributes: { enforce_tcb_upto_date: true } } };
  it('refuses a misspelt option', () => {
    expect(codeOf(() => translateItaPolicy(unpinned, { allowUnpinnedMeasurements: true } as never))).toEqual({ code: 'ERR_INVALID_ARGUMENT', option: 'allowUnpinnedMeasurements' });
    expect(codeOf(() => translateItaPolicy(unpinned, { onwarning: () => {} } as never))).toEqual({ code: 'ERR_INVALID_ARGUMENT', option: 'onwarning' });
  });
  it('the correctly spelt options still work (control)', () => {
    const warnings: string[] = [];
    expect(translateItaPolicy(unpinned, { allowUnpinnedMeasurement: true, onWarning: (w) => warnings.push(w) }).tee).toBe('tdx');
    expect(warnings).toHaveLength(1);
    expect(codeOf(() => translateItaPolicy(unpinned)).code).toBe('ERR_POLICY_INVALID');
  });
});
