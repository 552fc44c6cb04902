/**
 * Review s7, finding 4: admin tokens never expired and could not be listed or revoked. Tokens now
 * have ids and an optional expiry checked on the broker's clock (ctx.now, injected here);
 * GET /kbs/v1/tokens lists them without secrets, DELETE /kbs/v1/tokens/{id} revokes one, and
 * `tee-kbs admin token create | list | revoke` do the same from the command line.
 */
import { randomUUID } from 'node:crypto';

import { afterAll, beforeAll, describe, expect, it } from 'vitest';

import { runKbsCli } from '../../src/kbs/index.js';
import { startHarness, type Harness } from './helpers.js';

describe('admin token ids, expiry, list and revocation (review s7 #4)', () => {
  let h: Harness;
  let clock = new Date('2030-01-01T00:00:00.000Z');

  beforeAll(async () => {
    h = await startHarness({ now: () => clock });
  }, 60_000);
  afterAll(async () => h?.close());

  const keysWith = (token: string) => h.call('GET', '/kbs/v1/keys', { token });

  it('a token with expires_in_seconds works until that instant on the broker\'s clock, then 401; the list says expired', async () => {
    const made = await h.call('POST', '/kbs/v1/tokens', { body: { label: 'ci', expires_in_seconds: 60 } });
    expect(made.status).toBe(201);
    expect(made.json).toMatchObject({ id: expect.stringMatching(/^[0-9a-f-]{36}$/), label: 'ci', created_at: clock.toISOString(), expires_at: new Date(clock.getTime() + 60_000).toISOString() });
    expect((await keysWith(made.json.token)).status).toBe(200);
    clock = new Date(clock.getTime() + 59_999);
    expect((await keysWith(made.json.token)).status).toBe(200);
    clock = new Date(clock.getTime() + 1);
    const r = await keysWith(made.json.token);
    expect({ status: r.status, code: r.json?.code, error: r.json?.error }).toEqual({ status: 401, code: 'ERR_KBS_UNAUTHORIZED', error: 'the admin token has expired' });
    const list = await h.call('GET', '/kbs/v1/tokens');
    expect((list.json as { id: string; expired: boolean }[]).find((t) => t.id === made.json.id)).toMatchObject({ expired: true, intact: true });
  });

  it('the list shows ids, labels and instants, never a token or its digest', async () => {
    const made = await h.call('POST', '/kbs/v1/tokens');
    expect(made.status).toBe(201);
    expect(made.json.expires_at).toBeNull();
    const list = await h.call('GET', '/kbs/v1/tokens');
    expect(list.status).toBe(200);
    for (const t of list.json as Record<string, unknown>[]) expect(Object.keys(t).sort()).toEqual(['created_at', 'expired', 'expires_at', 'id', 'intact', 'label', 'scopes']);
    expect((list.json as { label: string }[]).map((t) => t.label)).toEqual(expect.arrayContaining(['first-start', 'admin-api', 'ci']));
    expect(list.text).not.toContain(h.token);
    expect(list.text).not.toContain(made.json.token);
  });

  it('DELETE /kbs/v1/tokens/{id} revokes: 204, then the token is refused; unknown ids 404', async () => {
    const made = await h.call('POST', '/kbs/v1/tokens', { body: { label: 'to-revoke' } });
    expect((await keysWith(made.json.token)).status).toBe(200);
    expect((await h.call('DELETE', `/kbs/v1/tokens/${made.json.id}`)).status).toBe(204);
    expect((await keysWith(made.json.token)).status).toBe(401);
    expect((await h.call('DELETE', `/kbs/v1/tokens/${made.json.id}`)).status).toBe(404);
    expect((await h.call('DELETE', `/kbs/v1/tokens/${randomUUID()}`)).status).toBe(404);
    expect((await h.call('DELETE', '/kbs/v1/tokens/not-a-uuid')).status).toBe(404);
  });

  it('bad token requests are 400', async () => {
    for (const body of [{ expires_in_seconds: 0 }, { expires_in_seconds: 1.5 }, { expires_in_seconds: '60' }, { label: '' }, { label: 'a\u0000b' }, { other: 1 }]) {
      const r = await h.call('POST', '/kbs/v1/tokens', { body });
      expect({ body, status: r.status, code: r.json?.code }).toEqual({ body, status: 400, code: 'ERR_KBS_BAD_REQUEST' });
    }
  });

  it('tee-kbs admin token create --expires-in | list | revoke', async () => {
    const ca = `${h.db}.tls-cert.pem`;
    const run = async (...args: string[]) => {
      let stdout = '';
      let stderr = '';
      const r = await runKbsCli(['admin', ...args, '--url', h.broker.url, '--ca', ca], { stdout: (t) => (stdout += t), stderr: (t) => (stderr += t), env: { TEE_KBS_TOKEN: h.token } });
      return { code: r.code, stdout, stderr };
    };
    const made = await run('token', 'create', '--label', 'from-cli', '--expires-in', '120');
    expect(made.code, made.stderr).toBe(0);
    const info = JSON.parse(made.stdout) as { id: string; token: string; expires_at: string };
    expect(info.expires_at).toBe(new Date(clock.getTime() + 120_000).toISOString());
    const listed = await run('token', 'list');
    expect(listed.code).toBe(0);
    expect((JSON.parse(listed.stdout) as { id: string }[]).some((t) => t.id === info.id)).toBe(true);
    expect((await run('token', 'revoke', info.id)).code).toBe(0);
    expect((await keysWith(info.token)).status).toBe(401);
    expect((await run('token', 'create', '--expires-in', 'soon')).code).toBe(2);
  });
});
