/**
 * Review s10, info note: verifyEarJwt could not check `iss` or `eat_nonce`,
 * so every relying party had to compare them itself. Options `issuer` and
 * `nonce` compare them exactly when given. Review s10 (docs fixer): the
 * failures had borrowed ERR_TOKEN_MALFORMED and ERR_TOKEN_EXPIRED; they have
 * codes of their own, ERR_TOKEN_ISSUER (POLICY) and ERR_TOKEN_NONCE (FRESHNESS).
 */
import { describe, expect, it } from 'vitest';

import { verifyEarJwt, type VerifyEarJwtOptions } from '../../src/policy/index.js';
import { catchError } from '../helpers/expect-error.js';
import { NOW, claimsWith, keys, signed } from './review-s10-jwt-helpers.js';

const HEADER = { alg: 'ES256', typ: 'JWT' };
const NONCE = 'bm9uY2Utb2YtdGhpcy1yZXF1ZXN0';
const token = signed(HEADER, claimsWith({ iss: 'https://as.example', eat_nonce: NONCE }));
const bare = signed(HEADER, claimsWith({}));
const verify = (t: string, o: VerifyEarJwtOptions) => verifyEarJwt(t, keys.publicKey, { now: NOW, ...o });
const failure = (t: string, o: VerifyEarJwtOptions) => {
  const err = catchError(() => verify(t, o));
  return { code: err.code, errorClass: err.errorClass, claim: err.details['claim'] };
};

describe('verifyEarJwt: issuer and nonce options', () => {
  it('the expected issuer and nonce: verified', () => {
    expect(verify(token, { issuer: 'https://as.example', nonce: NONCE }).claims['iss']).toBe('https://as.example');
  });

  it('without the options nothing is compared', () => {
    expect(verify(bare, {}).claims['iss']).toBeUndefined();
  });

  it.each([
    ['another issuer', token, 'https://as.example/'],
    ['another letter case', token, 'https://AS.example'],
    ['no iss in the token', bare, 'https://as.example'],
  ])('issuer: %s is ERR_TOKEN_ISSUER, class POLICY', (_name, t, issuer) => {
    expect(failure(t, { issuer })).toEqual({ code: 'ERR_TOKEN_ISSUER', errorClass: 'POLICY', claim: 'iss' });
  });

  it.each([
    ['another nonce', token, `${NONCE}x`],
    ['a prefix of it', token, NONCE.slice(0, 8)],
    ['no eat_nonce in the token', bare, NONCE],
  ])('nonce: %s is ERR_TOKEN_NONCE, class FRESHNESS', (_name, t, nonce) => {
    expect(failure(t, { nonce })).toEqual({ code: 'ERR_TOKEN_NONCE', errorClass: 'FRESHNESS', claim: 'eat_nonce' });
  });

  it.each([
    ['issuer empty', { issuer: '' }],
    ['issuer not a string', { issuer: 5 as unknown as string }],
    ['nonce empty', { nonce: '' }],
    ['nonce no bytes', { nonce: new Uint8Array(0) }],
    ['nonce a number', { nonce: 5 as unknown as string }],
  ])('%s: ERR_INVALID_ARGUMENT', (_name, o) => {
    expect(catchError(() => verify(token, o)).code).toBe('ERR_INVALID_ARGUMENT');
  });
});

describe('verifyEarJwt: the nonce option as bytes', () => {
  it("the challenge's bytes match the token's base64url eat_nonce, also when its standard base64 has + / =", () => {
    // 0xfb 0xff 0xbf...: standard base64 "+/+/..." with padding, base64url "-_-_..." without
    const challenge = Buffer.from('fbffbffbffbffbffbffbffbffbf', 'hex');
    expect(challenge.toString('base64')).toMatch(/[+/=]/);
    const t = signed(HEADER, claimsWith({ eat_nonce: challenge.toString('base64url') }));
    expect(verify(t, { nonce: new Uint8Array(challenge) }).claims['eat_nonce']).toBe(challenge.toString('base64url'));
    expect(failure(t, { nonce: challenge.toString('base64') })).toEqual({ code: 'ERR_TOKEN_NONCE', errorClass: 'FRESHNESS', claim: 'eat_nonce' });
    expect(failure(t, { nonce: new Uint8Array(challenge.subarray(1)) })).toEqual({ code: 'ERR_TOKEN_NONCE', errorClass: 'FRESHNESS', claim: 'eat_nonce' });
  });
});
