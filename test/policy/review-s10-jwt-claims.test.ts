/**
 * Review s10, finding J2: verifyEarJwt checked only eat_profile among the
 * claims, so a signed token with no iat, no submods or no ear.verifier-id
 * came back typed as an Ear (a caller reading submods.cpu0['ear.status'] got
 * a plain TypeError), and a header kid that is not a string came back as
 * `kid?: string`. Every token here is correctly signed; each breaks one rule.
 */
import { describe, expect, it } from 'vitest';

import { defaultPolicy, evaluatePolicy, signEarJwt, toEar, verifyEarJwt } from '../../src/policy/index.js';
import { catchError } from '../helpers/expect-error.js';
import { syntheticTdx } from './helpers.js';
import { NOW, claimsWith, keys, signed, validClaims } from './review-s10-jwt-helpers.js';

const HEADER = { alg: 'ES256', typ: 'JWT' };
const verify = (token: string) => verifyEarJwt(token, keys.publicKey, { now: NOW });
const codeOf = (token: string) => catchError(() => verify(token)).code;
const submod = (status: unknown) => ({ 'ear.status': status, 'ear.appraisal-policy-id': 'p' });

describe('verifyEarJwt: the EAR claims a typed Ear promises (review s10 J2)', () => {
  it('a token from the project signer still verifies, with every status value', () => {
    const r = syntheticTdx();
    const ear = toEar(r, evaluatePolicy(r, defaultPolicy('tdx')), { verifierId: 'test', iat: NOW, nonce: 'n'.repeat(16) });
    const token = signEarJwt(ear, keys.privateKey, { alg: 'ES256', kid: 'k1', now: NOW, expiresIn: 60, jti: 'j' });
    expect(verify(token).claims.submods['cpu0']!['ear.status']).toBe('affirming');
    for (const status of ['affirming', 'warning', 'contraindicated', 'none']) {
      expect(verify(signed(HEADER, claimsWith({ submods: { cpu0: submod(status) } }))).claims.submods['cpu0']!['ear.status']).toBe(status);
    }
  });

  it.each([
    ['absent', undefined],
    ['negative', -5],
    ['a string', String(NOW)],
    ['null', null],
  ])('iat %s: malformed', (_name, iat) => {
    expect(codeOf(signed(HEADER, claimsWith({ iat })))).toBe('ERR_TOKEN_MALFORMED');
  });

  it('iat 0 is accepted (the lower bound)', () => {
    expect(verify(signed(HEADER, claimsWith({ iat: 0 }))).claims.iat).toBe(0);
  });

  it.each([
    ['absent', undefined],
    ['empty', {}],
    ['a list', [submod('affirming')]],
    ['a string', 'cpu0'],
    ['a submodule that is not an object', { cpu0: 'affirming' }],
    ['a submodule with no status', { cpu0: { 'ear.appraisal-policy-id': 'p' } }],
    ['an unknown status', { cpu0: submod('great') }],
    ['a status in another case', { cpu0: submod('Affirming') }],
    ['a second submodule with a bad status', { cpu0: submod('affirming'), gpu0: submod(1) }],
  ])('submods %s: malformed', (_name, submods) => {
    expect(codeOf(signed(HEADER, claimsWith({ submods })))).toBe('ERR_TOKEN_MALFORMED');
  });

  it.each([
    ['absent', undefined],
    ['a string', 'tee-verify'],
    ['without build', { developer: 'tee-verify' }],
    ['without developer', { build: 'b' }],
    ['with an empty build', { developer: 'tee-verify', build: '' }],
    ['with a numeric build', { developer: 'tee-verify', build: 1 }],
  ])('ear.verifier-id %s: malformed', (_name, id) => {
    expect(codeOf(signed(HEADER, claimsWith({ 'ear.verifier-id': id })))).toBe('ERR_TOKEN_MALFORMED');
  });

  it('eat_nonce that is not a string: malformed', () => {
    expect(codeOf(signed(HEADER, claimsWith({ eat_nonce: 12345678 })))).toBe('ERR_TOKEN_MALFORMED');
    expect(verify(signed(HEADER, claimsWith({ eat_nonce: 'abcdefgh' }))).claims.eat_nonce).toBe('abcdefgh');
  });

  it.each([
    ['an object', { x: 1 }],
    ['a number', 5],
    ['null', null],
  ])('a header kid that is %s: malformed', (_name, kid) => {
    expect(codeOf(signed({ ...HEADER, kid }, validClaims()))).toBe('ERR_TOKEN_MALFORMED');
  });

  it('a string kid is returned', () => {
    expect(verify(signed({ ...HEADER, kid: 'kbs-1' }, validClaims())).header.kid).toBe('kbs-1');
  });
});
