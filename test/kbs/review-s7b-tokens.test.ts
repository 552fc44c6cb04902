/**
 * Second review of s7, #3 (r4-token-authority.mjs): a 60-second admin token minted one that never
 * expired, revoked the first-start token, and that child then revoked itself, the last token. Now a
 * token cannot mint or revoke a token that outlives it (403 ERR_KBS_TOKEN_AUTHORITY), and revoking
 * the last intact, unexpired token is 409 ERR_KBS_LAST_TOKEN. Clock injected (no timing).
 */
import { afterEach, describe, expect, it } from 'vitest';

import { startHarness, type Harness } from './helpers.js';

describe('admin token authority (second review s7 #3)', () => {
  let h: Harness | undefined;
  let clock = new Date('2030-01-01T00:00:00.000Z');
  afterEach(async () => {
    await h?.close();
    h = undefined;
  });
  const start = async (): Promise<Harness> => (h = await startHarness({ now: () => clock }));

  it('r4: the 60 s token cannot mint a never-expiring one or one that outlives it; it may mint a shorter one', async () => {
    clock = new Date('2030-01-01T00:00:00.000Z');
    const k = await start();
    const short = (await k.call('POST', '/kbs/v1/tokens', { body: { label: 'ci', expires_in_seconds: 60 } })).json;
    const forever = await k.call('POST', '/kbs/v1/tokens', { token: short.token, body: { label: 'child' } });
    expect({ status: forever.status, code: forever.json?.code }).toEqual({ status: 403, code: 'ERR_KBS_TOKEN_AUTHORITY' });
    expect(forever.json.error).toContain('expires_in_seconds at most 60');
    const longer = await k.call('POST', '/kbs/v1/tokens', { token: short.token, body: { label: 'child', expires_in_seconds: 61 } });
    expect({ status: longer.status, code: longer.json?.code }).toEqual({ status: 403, code: 'ERR_KBS_TOKEN_AUTHORITY' });
    const child = await k.call('POST', '/kbs/v1/tokens', { token: short.token, body: { label: 'child', expires_in_seconds: 60 } });
    expect(child.status, child.text).toBe(201);
    expect(child.json.expires_at).toBe(short.expires_at);
    // Nothing it minted outlives it: an hour later both are expired.
    clock = new Date(clock.getTime() + 3_600_000);
    expect((await k.call('GET', '/kbs/v1/keys', { token: short.token })).status).toBe(401);
    expect((await k.call('GET', '/kbs/v1/keys', { token: child.json.token })).status).toBe(401);
    expect((await k.call('GET', '/kbs/v1/keys')).status).toBe(200);
  });

  it('r4: the 60 s token cannot revoke the first-start token (it outlives it); it may revoke itself and shorter ones', async () => {
    clock = new Date('2030-01-01T00:00:00.000Z');
    const k = await start();
    const short = (await k.call('POST', '/kbs/v1/tokens', { body: { label: 'ci', expires_in_seconds: 60 } })).json;
    const shorter = (await k.call('POST', '/kbs/v1/tokens', { token: short.token, body: { label: 'ci-child', expires_in_seconds: 30 } })).json;
    const first = ((await k.call('GET', '/kbs/v1/tokens')).json as { id: string; label: string }[]).find((t) => t.label === 'first-start')!;
    const r = await k.call('DELETE', `/kbs/v1/tokens/${first.id}`, { token: short.token });
    expect({ status: r.status, code: r.json?.code }).toEqual({ status: 403, code: 'ERR_KBS_TOKEN_AUTHORITY' });
    expect((await k.call('GET', '/kbs/v1/keys')).status).toBe(200);
    expect((await k.call('DELETE', `/kbs/v1/tokens/${shorter.id}`, { token: short.token })).status).toBe(204);
    expect((await k.call('DELETE', `/kbs/v1/tokens/${short.id}`, { token: short.token })).status).toBe(204);
    expect((await k.call('GET', '/kbs/v1/keys', { token: short.token })).status).toBe(401);
  });

  it('the last intact, unexpired token cannot be revoked (409 ERR_KBS_LAST_TOKEN), by itself or another; expired and tampered rows do not count', async () => {
    clock = new Date('2030-01-01T00:00:00.000Z');
    const k = await start();
    const tokens = async (): Promise<{ id: string; label: string }[]> => (await k.call('GET', '/kbs/v1/tokens')).json;
    const first = (await tokens()).find((t) => t.label === 'first-start')!;
    const self = await k.call('DELETE', `/kbs/v1/tokens/${first.id}`);
    expect({ status: self.status, code: self.json?.code }).toEqual({ status: 409, code: 'ERR_KBS_LAST_TOKEN' });
    // An expired token is no way back in: still the last usable one.
    const brief = (await k.call('POST', '/kbs/v1/tokens', { body: { label: 'brief', expires_in_seconds: 10 } })).json;
    clock = new Date(clock.getTime() + 10_000);
    expect((await k.call('DELETE', `/kbs/v1/tokens/${first.id}`)).json?.code).toBe('ERR_KBS_LAST_TOKEN');
    // A row written outside the broker does not count either.
    const db = await k.storage();
    await db.run("INSERT INTO admin_tokens (id, hash, label, created_at, mac) VALUES ('00000000-0000-4000-8000-000000000001', 'ab', 'x', '2030-01-01T00:00:00.000Z', 'cd')");
    expect((await k.call('DELETE', `/kbs/v1/tokens/${first.id}`)).json?.code).toBe('ERR_KBS_LAST_TOKEN');
    // With a second usable token, either may go.
    const other = (await k.call('POST', '/kbs/v1/tokens', { body: { label: 'other' } })).json;
    expect((await k.call('DELETE', `/kbs/v1/tokens/${brief.id}`)).status).toBe(204);
    expect((await k.call('DELETE', `/kbs/v1/tokens/${first.id}`, { token: other.token })).status).toBe(204);
    const last = await k.call('DELETE', `/kbs/v1/tokens/${other.id}`, { token: other.token });
    expect({ status: last.status, code: last.json?.code }).toEqual({ status: 409, code: 'ERR_KBS_LAST_TOKEN' });
    expect((await k.call('GET', '/kbs/v1/keys', { token: other.token })).status).toBe(200);
  });
});
