/**
 * Review s9 changes (a), R2: the "last token with every scope" rule (store.ts revokeToken) refused
 * every revocation once no usable full-scope token was left, so a token manager could not revoke a
 * leaked read-only token after the only full token had expired. The rule now applies only when the
 * target itself is a usable full-scope token: revoking anything else never lowers their number.
 * Clock injected (no timing).
 */
import { afterAll, beforeAll, describe, expect, it } from 'vitest';

import { startHarness, type Harness } from './helpers.js';

describe('revoking a lesser token when no usable full-scope token is left (review s9 changes a, R2)', () => {
  let h: Harness;
  let clock = new Date('2026-01-01T00:00:00.000Z');
  beforeAll(async () => {
    h = await startHarness({ now: () => clock });
  }, 60_000);
  afterAll(async () => h?.close());

  it('a [tokens, read] token revokes a leaked [read] token after the only full token expired; the last usable full token still cannot go', async () => {
    const first = ((await h.call('GET', '/kbs/v1/tokens')).json as { id: string; label: string }[]).find((t) => t.label === 'first-start')!;
    const mint = async (body: Record<string, unknown>, token?: string): Promise<{ id: string; token: string }> => {
      const r = await h.call('POST', '/kbs/v1/tokens', { body, ...(token ? { token } : {}) });
      expect(r.status, r.text).toBe(201);
      return r.json as { id: string; token: string };
    };
    const full = await mint({ label: 'ops-full-90d', expires_in_seconds: 89 * 86_400 });
    const manager = await mint({ label: 'token-manager', scopes: ['tokens', 'read'] });
    const leaked = await mint({ label: 'ci-read', scopes: ['read'] });
    // The first-start token revokes itself (the 90-day one remains), leaving one usable full-scope token.
    expect((await h.call('DELETE', `/kbs/v1/tokens/${first.id}`)).status).toBe(204);

    // That one is the last usable full-scope token: it cannot be revoked, not even by itself.
    const self = await h.call('DELETE', `/kbs/v1/tokens/${full.id}`, { token: full.token });
    expect({ status: self.status, code: self.json?.code }).toEqual({ status: 409, code: 'ERR_KBS_LAST_TOKEN' });
    // A lesser token can (a usable full one remains either way).
    const spare = await mint({ label: 'spare-read', scopes: ['read'] }, manager.token);
    expect((await h.call('DELETE', `/kbs/v1/tokens/${spare.id}`, { token: manager.token })).status).toBe(204);

    // The full token expires: no usable full-scope token is left.
    clock = new Date('2026-04-01T00:00:00.000Z');
    expect((await h.call('GET', '/kbs/v1/keys', { token: full.token })).status).toBe(401);
    const r = await h.call('DELETE', `/kbs/v1/tokens/${leaked.id}`, { token: manager.token });
    expect({ status: r.status, code: r.json?.code }).toEqual({ status: 204, code: undefined });
    expect((await h.call('GET', '/kbs/v1/keys', { token: leaked.token })).status).toBe(401);
    const left = ((await h.call('GET', '/kbs/v1/tokens', { token: manager.token })).json as { id: string }[]).map((t) => t.id);
    expect(left).not.toContain(leaked.id);
    expect(left).toContain(full.id);
  });
});
