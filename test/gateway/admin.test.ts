/**
 * The HTTP admin API for API keys (/admin/v1/keys), on both storage backends:
 * admin bearer tokens created with `tee-gateway admin-tokens` and stored
 * hashed; create, list, get and revoke keys; JSON errors with codes; /admin/
 * is never proxied.
 */
import { createHash } from 'node:crypto';

import { afterAll, beforeAll, describe, expect, it } from 'vitest';

import { runGatewayCli } from '../../src/gateway/cli.js';
import type { GatewayOptions } from '../../src/gateway/index.js';
import { openStorage } from '../../src/storage/index.js';
import { BACKENDS, createPgDatabase, warnIfPgSkipped, type PgTestDatabase } from '../helpers/postgres.js';
import { ollamaChat, startHarness, type Harness } from './helpers.js';

warnIfPgSkipped('test/gateway/admin.test.ts');

describe.each(BACKENDS)('admin API on $name', ({ name, skip }) => {
  let h: Harness;
  let admin: string;
  let adminId: string;
  const databases: PgTestDatabase[] = [];
  /** Harness options and the CLI's database arguments for a fresh database of this backend. */
  async function backend(): Promise<{ options: Partial<GatewayOptions>; args: (h: Harness) => string[] }> {
    if (name === 'sqlite') return { options: {}, args: (x) => ['--db', x.db] };
    const db = await createPgDatabase();
    databases.push(db);
    return { options: { db: undefined, database: db.url }, args: () => ['--database', db.url] };
  }
  let dbArgs: string[] = [];
  let location = '';

  beforeAll(async () => {
    if (skip) return;
    const b = await backend();
    h = await startHarness(b.options);
    dbArgs = b.args(h);
    location = b.options.database ?? h.db;
    let out = '';
    const code = (await runGatewayCli(['admin-tokens', 'create', 'ops', ...dbArgs], { stdout: (t) => void (out += t), stderr: () => {} })).code;
    expect(code).toBe(0);
    ({ token: admin, id: adminId } = JSON.parse(out) as { token: string; id: string });
  }, 120_000);
  afterAll(async () => {
    await h?.close();
    for (const d of databases) await d.drop();
  });

  const asAdmin = (method: string, path: string, body?: unknown, token: string | null = admin) =>
    h.call(method, path, { token, ...(body === undefined ? {} : { body: typeof body === 'string' ? body : JSON.stringify(body) }) });

  describe.skipIf(skip)('admin API', () => {
    it('creates a key (token shown once), lists and gets it without the token, and the key works at once', async () => {
      const created = await asAdmin('POST', '/admin/v1/keys', { name: 'team-a' });
      expect(created.status).toBe(201);
      expect(created.json).toMatchObject({ name: 'team-a', revokedAt: null });
      expect(created.json.token).toMatch(/^tgw_[A-Za-z0-9_-]{43}$/);
      const list = await asAdmin('GET', '/admin/v1/keys');
      expect(list.status).toBe(200);
      expect(list.json.keys.map((k: { id: string }) => k.id)).toContain(created.json.id);
      expect(list.text).not.toContain('tgw_');
      const one = await asAdmin('GET', `/admin/v1/keys/${created.json.id}`);
      expect(one.json).toEqual({ id: created.json.id, name: 'team-a', createdAt: created.json.createdAt, revokedAt: null });
      const chat = await h.call('POST', '/api/chat', { token: created.json.token, body: ollamaChat('with a new key', false) });
      expect(chat.status).toBe(200);
    });

    it('revokes a key immediately; revoking again is idempotent', async () => {
      const created = (await asAdmin('POST', '/admin/v1/keys', { name: 'short-lived' })).json;
      expect((await h.call('POST', '/api/chat', { token: created.token, body: ollamaChat('before', false) })).status).toBe(200);
      const revoked = await asAdmin('DELETE', `/admin/v1/keys/${created.id}`);
      expect(revoked.status).toBe(200);
      expect(revoked.json.revokedAt).toMatch(/^\d{4}-/);
      const after = await h.call('POST', '/api/chat', { token: created.token, body: ollamaChat('after', false) });
      expect(after.status).toBe(401);
      expect(after.json.error.code).toBe('ERR_GATEWAY_UNAUTHORIZED');
      const again = await asAdmin('DELETE', `/admin/v1/keys/${created.id}`);
      expect(again.json.revokedAt).toBe(revoked.json.revokedAt);
    });

    it('refuses without a valid admin token: none, an API key, garbage, a revoked admin token (401, JSON error)', async () => {
      for (const token of [null, h.token, 'tgwa_nonsense']) {
        const r = await asAdmin('GET', '/admin/v1/keys', undefined, token);
        expect(r.status).toBe(401);
        expect(r.json).toEqual({ error: { code: 'ERR_GATEWAY_UNAUTHORIZED', message: expect.any(String) } });
        expect(r.headers['www-authenticate']).toContain('Bearer');
      }
      const post = await asAdmin('POST', '/admin/v1/keys', { name: 'sneaky' }, null);
      expect(post.status).toBe(401);
      let out = '';
      await runGatewayCli(['admin-tokens', 'create', 'temp', ...dbArgs], { stdout: (t) => void (out += t), stderr: () => {} });
      const temp = JSON.parse(out) as { id: string; token: string };
      expect((await asAdmin('GET', '/admin/v1/keys', undefined, temp.token)).status).toBe(200);
      expect((await runGatewayCli(['admin-tokens', 'revoke', temp.id, ...dbArgs], { stdout: () => {}, stderr: () => {} })).code).toBe(0);
      expect((await asAdmin('GET', '/admin/v1/keys', undefined, temp.token)).status).toBe(401);
    });

    it('bad requests: 400 for a bad body, 404 for unknown ids and paths, 405 for other methods', async () => {
      const bad = async (method: string, path: string, body: unknown, status: number, code: string) => {
        const r = await asAdmin(method, path, body);
        expect(r.status, `${method} ${path}`).toBe(status);
        expect(r.json.error.code).toBe(code);
      };
      await bad('POST', '/admin/v1/keys', 'not json', 400, 'ERR_GATEWAY_BAD_REQUEST');
      await bad('POST', '/admin/v1/keys', {}, 400, 'ERR_GATEWAY_BAD_REQUEST');
      await bad('POST', '/admin/v1/keys', { name: 'x', admin: true }, 400, 'ERR_GATEWAY_BAD_REQUEST');
      await bad('POST', '/admin/v1/keys', { name: 'x'.repeat(201) }, 400, 'ERR_GATEWAY_BAD_REQUEST');
      await bad('POST', '/admin/v1/keys', { name: 'x'.repeat(5000) }, 413, 'ERR_GATEWAY_TOO_LARGE');
      await bad('GET', '/admin/v1/keys/00000000-0000-4000-8000-000000000000', undefined, 404, 'ERR_GATEWAY_NOT_FOUND');
      await bad('DELETE', '/admin/v1/keys/not-an-id', undefined, 404, 'ERR_GATEWAY_NOT_FOUND');
      await bad('GET', '/admin/v2/keys', undefined, 404, 'ERR_GATEWAY_NOT_FOUND');
      await bad('PUT', '/admin/v1/keys', { name: 'x' }, 405, 'ERR_GATEWAY_NOT_FOUND');
    });

    it('/admin/ paths never reach the upstream', async () => {
      const before = h.upstream.received.length;
      await asAdmin('GET', '/admin/whatever');
      await asAdmin('GET', '/admin/v1/keys', undefined, null);
      expect(h.upstream.received.length).toBe(before);
    });

    it('admin tokens and API keys are stored as SHA-256 only', async () => {
      const created = (await asAdmin('POST', '/admin/v1/keys', { name: 'hashed' })).json as { id: string; token: string };
      // Read the database directly, as someone with a copy of it would.
      const db = await openStorage(location, { sqlite: { readonly: true } });
      try {
        const sha = (t: string) => createHash('sha256').update(t).digest();
        const key = await db.get<{ token_sha256: Buffer }>('SELECT * FROM gateway_api_keys WHERE id = ?', [created.id]);
        expect(Buffer.compare(key!.token_sha256, sha(created.token))).toBe(0);
        const adminRow = await db.get<{ token_sha256: Buffer }>('SELECT * FROM gateway_admin_tokens WHERE id = ?', [adminId]);
        expect(Buffer.compare(adminRow!.token_sha256, sha(admin))).toBe(0);
        const dump = JSON.stringify([...(await db.all('SELECT * FROM gateway_api_keys')), ...(await db.all('SELECT * FROM gateway_admin_tokens'))]);
        expect(dump).not.toContain(created.token);
        expect(dump).not.toContain(admin);
      } finally {
        await db.close();
      }
    });

    it('adminApi: false turns /admin/ into 404 even with a valid admin token', async () => {
      const b = await backend();
      const off = await startHarness({ ...b.options, adminApi: false });
      try {
        let out = '';
        await runGatewayCli(['admin-tokens', 'create', 'x', ...b.args(off)], { stdout: (t) => void (out += t), stderr: () => {} });
        const r = await off.call('GET', '/admin/v1/keys', { token: JSON.parse(out).token });
        expect(r.status).toBe(404);
        expect(r.json.error.code).toBe('ERR_GATEWAY_NOT_FOUND');
      } finally {
        await off.close();
      }
    });
  });
});
