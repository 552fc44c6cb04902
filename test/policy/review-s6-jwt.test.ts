/**
 * Review s6, finding 3: verifyEarJwt's options. A NaN `now` or
 * `clockSkewSeconds` made every time comparison false, so an expired token
 * (or one issued in the future) verified; `algorithms: ['none']` reached the
 * curve table and threw an untyped TypeError. Options are now checked first:
 * ERR_INVALID_ARGUMENT.
 */
import { generateKeyPairSync } from 'node:crypto';

import { describe, expect, it } from 'vitest';

import { signEarJwt, verifyEarJwt } from '../../src/policy/index.js';
import { EAR_PROFILE, type Ear } from '../../src/policy/ear.js';

const { privateKey, publicKey } = generateKeyPairSync('ec', { namedCurve: 'P-256' });
// one submodule with a status: verifyEarJwt refuses an EAR without (review s10 J2)
const ear = { eat_profile: EAR_PROFILE, iat: 1000, 'ear.verifier-id': { developer: 'x', build: 'y' }, submods: { cpu0: { 'ear.status': 'affirming' } } } as unknown as Ear;
/** Valid from 1000 to 1060. */
const token = signEarJwt(ear, privateKey, { alg: 'ES256', expiresIn: 60, jti: 'j', now: 1000 });
/** Issued at 900 000: in the future at 1000. */
const future = signEarJwt(ear, privateKey, { alg: 'ES256', expiresIn: 1_000_000, jti: 'j', now: 900_000 });

function errorOf(f: () => unknown): { name: string; code?: string } {
  try {
    f();
  } catch (e) {
    return { name: (e as Error).constructor.name, code: (e as { code?: string }).code };
  }
  return { name: 'none' };
}

describe('verifyEarJwt validates its options (review s6)', () => {
  it('the token verifies at 1030 and is expired at 5000', () => {
    expect(verifyEarJwt(token, publicKey, { now: 1030 }).claims['jti']).toBe('j');
    expect(errorOf(() => verifyEarJwt(token, publicKey, { now: 5000 })).code).toBe('ERR_TOKEN_EXPIRED');
  });

  it.each([
    ['now NaN', { now: Number.NaN }],
    ['now Infinity', { now: Number.POSITIVE_INFINITY }],
    ['now a string', { now: '5000' as unknown as number }],
    ['now fractional', { now: 5000.5 }],
    ['now negative', { now: -1 }],
    ['skew NaN', { now: 5000, clockSkewSeconds: Number.NaN }],
    ['skew negative', { now: 5000, clockSkewSeconds: -1e12 }],
    ['skew huge', { now: 5000, clockSkewSeconds: 1e12 }],
    ['skew fractional', { now: 5000, clockSkewSeconds: 0.5 }],
  ])('%s: ERR_INVALID_ARGUMENT, never a verified expired token', (_name, options) => {
    expect(errorOf(() => verifyEarJwt(token, publicKey, options))).toMatchObject({ code: 'ERR_INVALID_ARGUMENT' });
  });

  it('a token issued in the future does not verify with a NaN skew', () => {
    expect(errorOf(() => verifyEarJwt(future, publicKey, { now: 1000, clockSkewSeconds: Number.NaN })).code).toBe('ERR_INVALID_ARGUMENT');
    expect(errorOf(() => verifyEarJwt(future, publicKey, { now: 1000 })).code).toBe('ERR_TOKEN_EXPIRED');
  });

  it.each([
    ['none', ['none']],
    ['HS256', ['HS256']],
    ['empty', []],
    ['a prototype key', ['toString']],
    ['not a list', 'ES256'],
  ])('algorithms %s: ERR_INVALID_ARGUMENT (typed), not a TypeError', (_name, algorithms) => {
    const b = (o: object) => Buffer.from(JSON.stringify(o)).toString('base64url');
    const unsigned = `${b({ alg: 'none' })}.${b({ eat_profile: EAR_PROFILE, exp: 9e9 })}.AAAA`;
    for (const t of [unsigned, token]) {
      expect(errorOf(() => verifyEarJwt(t, publicKey, { now: 1030, algorithms: algorithms as never }))).toMatchObject({ name: 'InvalidArgumentError', code: 'ERR_INVALID_ARGUMENT' });
    }
  });

  it('the limits themselves are accepted: skew 0 and 600, ES256 alone', () => {
    expect(verifyEarJwt(token, publicKey, { now: 1030, clockSkewSeconds: 0, algorithms: ['ES256'] }).header.alg).toBe('ES256');
    expect(verifyEarJwt(token, publicKey, { now: 1030, clockSkewSeconds: 600 }).header.alg).toBe('ES256');
    expect(errorOf(() => verifyEarJwt(token, publicKey, { now: 1030, clockSkewSeconds: 601 })).code).toBe('ERR_INVALID_ARGUMENT');
  });
});
