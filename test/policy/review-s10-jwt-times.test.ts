/**
 * Review s10, finding J1: verifyEarJwt's `exp`, `typ` and `nbf` checks had
 * no test (each could be deleted with the suite staying green). Every token
 * here is correctly signed and otherwise valid, so only the check named in
 * the test can refuse it.
 */
import { describe, expect, it } from 'vitest';

import { verifyEarJwt } from '../../src/policy/index.js';
import { catchError } from '../helpers/expect-error.js';
import { NOW, claimsWith, keys, signed, validClaims } from './review-s10-jwt-helpers.js';

const HEADER = { alg: 'ES256', typ: 'JWT' };
const verify = (token: string) => verifyEarJwt(token, keys.publicKey, { now: NOW });
const codeOf = (token: string) => catchError(() => verify(token)).code;

describe('verifyEarJwt: exp, typ and nbf (review s10 J1)', () => {
  it('the baseline token verifies', () => {
    expect(verify(signed(HEADER, validClaims())).claims['jti']).toBe('j-1');
  });

  it('a token with no exp is malformed, not one that never expires', () => {
    expect(codeOf(signed(HEADER, claimsWith({ exp: undefined })))).toBe('ERR_TOKEN_MALFORMED');
  });

  it.each([
    ['a string', '9999999999'],
    ['null', null],
    ['an object', { t: NOW + 300 }],
  ])('exp as %s is malformed', (_name, exp) => {
    expect(codeOf(signed(HEADER, claimsWith({ exp })))).toBe('ERR_TOKEN_MALFORMED');
  });

  it.each([['at+jwt'], ['jwt'], ['JOSE']])('typ %s is malformed', (typ) => {
    expect(codeOf(signed({ ...HEADER, typ }, validClaims()))).toBe('ERR_TOKEN_MALFORMED');
  });

  it('typ JWT and no typ at all are accepted', () => {
    expect(verify(signed({ alg: 'ES256' }, validClaims())).header).toEqual({ alg: 'ES256' });
    expect(verify(signed(HEADER, validClaims())).header).toEqual(HEADER);
  });

  it('nbf beyond now + skew is a FRESHNESS error; at now + skew it is accepted', () => {
    const err = catchError(() => verify(signed(HEADER, claimsWith({ nbf: NOW + 61 }))));
    expect({ code: err.code, errorClass: err.errorClass }).toEqual({ code: 'ERR_TOKEN_EXPIRED', errorClass: 'FRESHNESS' });
    expect(verify(signed(HEADER, claimsWith({ nbf: NOW + 60 }))).claims['nbf']).toBe(NOW + 60);
  });

  it('nbf that is not a number is malformed', () => {
    expect(codeOf(signed(HEADER, claimsWith({ nbf: String(NOW) })))).toBe('ERR_TOKEN_MALFORMED');
  });
});
