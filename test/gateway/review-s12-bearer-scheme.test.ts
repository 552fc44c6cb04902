/**
 * Review s12 (gateway), finding 6: the `Bearer` auth scheme is case-insensitive (RFC 9110 §11.1),
 * but the gateway matched it case-sensitively: `Authorization: bearer <valid key>` was 401 and counted
 * against the client's failure limit, so a library writing the scheme in lower case was locked out.
 * The scheme now matches in any case, followed by one or more spaces, in the API-key and admin
 * routes; the token patterns stay strict.
 */
import { afterAll, beforeAll, describe, expect, it } from 'vitest';

import { ollamaChat, startHarness, type Harness } from './helpers.js';

let h: Harness;
let admin: string;
beforeAll(async () => {
  h = await startHarness({ apiKeyFailureLimit: { maxFailures: 2, windowMs: 60_000 }, adminFailureLimit: { maxFailures: 2, windowMs: 60_000 }, limiterClock: () => 0 });
  admin = (await h.gateway.keys.createAdminToken('admin')).token;
});
afterAll(async () => h.close());

const schemes = ['bearer', 'BEARER', 'bEaReR', 'Bearer  '];

describe('Bearer scheme in any case (s12 finding 6)', () => {
  it.each(schemes)('API key with scheme %j reaches the upstream, and no failure is counted', async (scheme) => {
    // More requests than the failure limit: a counted failure would turn them into 401, then 429.
    for (let i = 0; i < 3; i++) {
      const r = await h.call('POST', '/api/chat', { token: null, body: ollamaChat('hi', false), headers: { authorization: `${scheme.trimEnd()}${scheme.endsWith(' ') ? '  ' : ' '}${h.token}` } });
      expect(r.status, r.text).toBe(200);
    }
  });

  it.each(schemes)('admin token with scheme %j is accepted', async (scheme) => {
    for (let i = 0; i < 3; i++) {
      const r = await h.call('GET', '/admin/v1/keys', { token: null, headers: { authorization: `${scheme.trimEnd()}${scheme.endsWith(' ') ? '  ' : ' '}${admin}` } });
      expect(r.status, r.text).toBe(200);
    }
  });

  it('the token pattern stays strict: another scheme, no space, or the admin prefix in capitals is refused', async () => {
    const refused = await startHarness({});
    try {
      for (const authorization of [`Basic ${refused.token}`, `Bearer${refused.token}`, `Bearer ${refused.token} x`, `Bearerx ${refused.token}`]) {
        expect((await refused.call('GET', '/api/tags', { token: null, headers: { authorization } })).status, authorization).toBe(401);
      }
      const adminToken = (await refused.gateway.keys.createAdminToken('a')).token;
      expect((await refused.call('GET', '/admin/v1/keys', { token: null, headers: { authorization: `bearer ${adminToken.replace(/^tgwa_/, 'TGWA_')}` } })).status).toBe(401);
    } finally {
      await refused.close();
    }
  });
});
