/**
 * Change review s12 (svcgw), note beside gateway finding 6: the key broker's admin API matched
 * `^Bearer ` case-sensitively, so `Authorization: bearer <valid token>` (RFC 9110 §11.1: the auth
 * scheme is case-insensitive) was 401 "must be Bearer" and counted against the client's admin
 * failure limit. Now the scheme matches in any case, followed by one or more spaces, as the
 * gateway's does (163e632); the token pattern stays strict.
 */
import { afterAll, beforeAll, describe, expect, it } from 'vitest';

import { startHarness, type Harness } from './helpers.js';

describe('KBS admin: the Bearer scheme in any case (s12 change review)', () => {
  let h: Harness;
  beforeAll(async () => {
    h = await startHarness();
  }, 60_000);
  afterAll(async () => h?.close());

  const keys = (authorization: string) => h.call('GET', '/kbs/v1/keys', { token: null, headers: { authorization } });

  it.each(['bearer', 'BEARER', 'bEaReR'])('"%s <token>" is admitted', async (scheme) => {
    const r = await keys(`${scheme} ${h.token}`);
    expect(r.status, r.text).toBe(200);
  });

  it('more than one space after the scheme is admitted', async () => {
    expect((await keys(`Bearer   ${h.token}`)).status).toBe(200);
  });

  it.each([
    ['another scheme', () => `Basic ${h.token}`, 'the Authorization header must be "Bearer <admin token>"'],
    ['no space', () => `Bearer${h.token}`, 'the Authorization header must be "Bearer <admin token>"'],
    ['a tab instead of a space', () => `Bearer\t${h.token}`, 'the Authorization header must be "Bearer <admin token>"'],
    ['a token with a character outside the pattern', () => `bearer ${h.token}!`, 'the admin token was refused: it is not of the form this broker issues'],
    ['an unknown token', () => `bearer ${'A'.repeat(43)}`, 'the admin token was refused: unknown or revoked'],
  ])('still refused: %s', async (_name, header, error) => {
    const r = await keys(header());
    expect({ status: r.status, code: r.json?.code, error: r.json?.error }).toEqual({ status: 401, code: 'ERR_KBS_UNAUTHORIZED', error });
  });
});
