/**
 * Review s9 K2 (b): every admin token was full admin, so a token handed to a dashboard could re-point
 * keys. Tokens now hold scopes (read, keys, policies, tokens): a route needs its scope (403
 * ERR_KBS_TOKEN_SCOPE), a token mints and revokes only tokens whose scopes it holds (403
 * ERR_KBS_TOKEN_AUTHORITY), the row MAC covers the scopes, and tokens that existed before keep
 * every scope after the migration (only when their MAC held). SQLite and PostgreSQL.
 */
import { createHmac, randomBytes, randomUUID } from 'node:crypto';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';

import { afterAll, afterEach, beforeAll, describe, expect, it } from 'vitest';

import { hashToken, integrityKeys, tokenDigest, tokenRowMacV1 } from '../../src/kbs/crypto.js';
import { startKeyBroker, type KeyBroker } from '../../src/kbs/index.js';
import { KBS_MIGRATIONS } from '../../src/kbs/migrations.js';
import { migrate, openStorage, type Storage } from '../../src/storage/index.js';
import { BACKENDS, createPgDatabase, warnIfPgSkipped } from '../helpers/postgres.js';
import { collateralOf, makePlatform, registerKey, startHarness, tdxPolicy, type Harness } from './helpers.js';

warnIfPgSkipped('test/kbs/review-s9-token-scopes.test.ts');

const ALL = ['keys', 'policies', 'read', 'tokens'];

describe.each(BACKENDS)('admin token scopes on $name (review s9 K2b)', ({ name: backend, skip }) => {
  describe.skipIf(skip)('', () => {
    let h: Harness;
    let db: Storage;
    let keyId: string;
    let policyId: string;

    beforeAll(async () => {
      h = await startHarness({}, undefined, backend);
      db = await h.storage();
      keyId = await registerKey(h, randomBytes(32));
      policyId = (await h.call('GET', `/kbs/v1/keys/${keyId}`)).json.transfer_policy_id;
    }, 60_000);
    afterAll(async () => h?.close());

    const mint = async (scopes?: string[], token?: string) => h.call('POST', '/kbs/v1/tokens', { body: { label: 'scoped', ...(scopes ? { scopes } : {}) }, ...(token ? { token } : {}) });
    const minted = async (scopes: string[], token?: string): Promise<{ token: string; id: string }> => {
      const r = await mint(scopes, token);
      expect(r.status, r.text).toBe(201);
      expect(r.json.scopes).toEqual([...scopes].sort());
      return r.json;
    };

    it('the first-start token holds every scope', async () => {
      const list = (await h.call('GET', '/kbs/v1/tokens')).json as { label: string; scopes: string[] }[];
      expect(list.find((t) => t.label === 'first-start')?.scopes).toEqual(ALL);
    });

    it('a read-scoped token reads everything and changes nothing (403 ERR_KBS_TOKEN_SCOPE)', async () => {
      const { token } = await minted(['read']);
      for (const path of ['/kbs/v1/keys', `/kbs/v1/keys/${keyId}`, '/kbs/v1/key-transfer-policies', '/kbs/v1/tokens', '/kbs/v1/attestation-log', '/kbs/v1/admin-audit']) {
        expect((await h.call('GET', path, { token })).status, path).toBe(200);
      }
      const other = (await h.call('POST', '/kbs/v1/key-transfer-policies', { body: tdxPolicy(h.platform) })).json.id as string;
      const refused = [
        await h.call('PUT', `/kbs/v1/keys/${keyId}`, { token, body: { transfer_policy_id: other } }),
        await h.call('PUT', `/kbs/v1/keys/${keyId}`, { token, body: {} }),
        await h.call('DELETE', `/kbs/v1/keys/${keyId}`, { token }),
        await h.call('POST', '/kbs/v1/keys', { token, body: { transfer_policy_id: policyId } }),
        await h.call('POST', '/kbs/v1/key-transfer-policies', { token, body: tdxPolicy(h.platform) }),
        await h.call('DELETE', `/kbs/v1/key-transfer-policies/${other}`, { token }),
        await h.call('POST', '/kbs/v1/tokens', { token, body: {} }),
      ];
      for (const r of refused) expect({ status: r.status, code: r.json?.code }).toEqual({ status: 403, code: 'ERR_KBS_TOKEN_SCOPE' });
      const key = (await h.call('GET', `/kbs/v1/keys/${keyId}`)).json;
      expect({ policy: key.transfer_policy_id, version: key.key_info.version }).toEqual({ policy: policyId, version: 1 });
      // A path the router does not know stays 404 for any token.
      expect((await h.call('GET', '/kbs/v1/users', { token })).status).toBe(404);
    });

    it('a keys-scoped token moves a key but cannot read or make policies', async () => {
      const { token } = await minted(['keys']);
      expect((await h.call('GET', '/kbs/v1/keys', { token })).status).toBe(403);
      expect((await h.call('POST', '/kbs/v1/key-transfer-policies', { token, body: tdxPolicy(h.platform) })).status).toBe(403);
      const other = (await h.call('POST', '/kbs/v1/key-transfer-policies', { body: tdxPolicy(h.platform) })).json.id as string;
      expect((await h.call('PUT', `/kbs/v1/keys/${keyId}`, { token, body: { transfer_policy_id: other } })).status).toBe(200);
      expect((await h.call('PUT', `/kbs/v1/keys/${keyId}`, { token, body: { transfer_policy_id: policyId } })).status).toBe(200);
    });

    it('a token mints only scopes it holds; without "scopes" it hands on its own', async () => {
      const { token } = await minted(['read', 'tokens']);
      const inherited = await mint(undefined, token);
      expect(inherited.status).toBe(201);
      expect(inherited.json.scopes).toEqual(['read', 'tokens']);
      await minted(['read'], token);
      const wider = await mint(['read', 'keys'], token);
      expect({ status: wider.status, code: wider.json.code }).toEqual({ status: 403, code: 'ERR_KBS_TOKEN_AUTHORITY' });
      expect(wider.json.error).toContain('not keys');
      for (const bad of [[], ['admin'], 'read', [1]]) expect((await h.call('POST', '/kbs/v1/tokens', { body: { scopes: bad } })).status).toBe(400);
      // The audit trail records the scopes handed out.
      const audit = (await h.call('GET', '/kbs/v1/admin-audit')).json as { action: string; object_id: string; detail: { scopes?: string[] } }[];
      expect(audit.find((e) => e.action === 'token.mint' && e.object_id === inherited.json.id)?.detail.scopes).toEqual(['read', 'tokens']);
    });

    it('a token revokes only tokens whose scopes it holds', async () => {
      const { token } = await minted(['read', 'tokens']);
      const full = await minted(ALL);
      const narrow = await minted(['read']);
      const r = await h.call('DELETE', `/kbs/v1/tokens/${full.id}`, { token });
      expect({ status: r.status, code: r.json?.code }).toEqual({ status: 403, code: 'ERR_KBS_TOKEN_AUTHORITY' });
      expect((await h.call('DELETE', `/kbs/v1/tokens/${narrow.id}`, { token })).status).toBe(204);
    });

    it('a database writer widening a token\'s scopes makes the row fail its MAC: it admits no one', async () => {
      const { token, id } = await minted(['read']);
      await db.run('UPDATE admin_tokens SET scopes = ? WHERE id = ?', [ALL.join(' '), id]);
      const r = await h.call('PUT', `/kbs/v1/keys/${keyId}`, { token, body: {} });
      expect({ status: r.status, code: r.json?.code }).toEqual({ status: 401, code: 'ERR_KBS_INTEGRITY' });
      const list = (await h.call('GET', '/kbs/v1/tokens')).json as { id: string; intact: boolean; scopes: string[] }[];
      expect(list.find((t) => t.id === id)).toMatchObject({ intact: false, scopes: [] });
    });
  });
});

describe('the last token with every scope cannot be revoked (review s9 K2b)', () => {
  let h: Harness;
  beforeAll(async () => {
    h = await startHarness();
  }, 60_000);
  afterAll(async () => h?.close());

  it('a read-only token left over does not count', async () => {
    const list = (await h.call('GET', '/kbs/v1/tokens')).json as { id: string }[];
    const narrow = await h.call('POST', '/kbs/v1/tokens', { body: { scopes: ['read', 'keys', 'policies'] } });
    expect(narrow.status).toBe(201);
    const r = await h.call('DELETE', `/kbs/v1/tokens/${list[0]!.id}`);
    expect({ status: r.status, code: r.json?.code }).toEqual({ status: 409, code: 'ERR_KBS_LAST_TOKEN' });
  });
});

describe.each(BACKENDS)('tokens from before scopes keep every scope on $name (review s9 K2b)', ({ name: backend, skip }) => {
  describe.skipIf(skip)('', () => {
    const cleanups: (() => Promise<void>)[] = [];
    afterEach(async () => {
      for (const c of cleanups.splice(0).reverse()) await c();
    });

    it('a schema-6 token row with a valid MAC gets all scopes; one with a bad MAC stays refused', async () => {
      const dir = mkdtempSync(join(tmpdir(), 'tee-kbs-s9-scopes-'));
      const pg = backend === 'postgres' ? await createPgDatabase() : undefined;
      cleanups.push(async () => {
        await pg?.drop();
        rmSync(dir, { recursive: true, force: true });
      });
      const location = pg ? pg.url : `sqlite:${join(dir, 'kbs.sqlite')}`;
      const master = randomBytes(32);
      const k = integrityKeys(master);
      const good = randomBytes(32).toString('base64url');
      const forged = randomBytes(32).toString('base64url');
      const goodId = randomUUID();
      const forgedId = randomUUID();
      const s = await openStorage(location);
      try {
        await migrate(s, { component: 'kbs', migrations: KBS_MIGRATIONS.slice(0, 6) });
        await s.run("INSERT INTO meta (name, value) VALUES ('master_key_check', ?)", [createHmac('sha256', master).update('tee-kbs master key check').digest('hex')]);
        await s.run("INSERT INTO meta (name, value) VALUES ('admin_bootstrapped', 'x')");
        const created = new Date().toISOString();
        const row = async (id: string, token: string, mac: string): Promise<void> => {
          const digest = tokenDigest(k, hashToken(token));
          await s.run('INSERT INTO admin_tokens (id, hash, label, created_at, expires_at, mac) VALUES (?, ?, ?, ?, NULL, ?)', [id, digest, 'old', created, mac === 'valid' ? tokenRowMacV1(k, id, digest, created, null) : mac]);
        };
        await row(goodId, good, 'valid');
        await row(forgedId, forged, 'ab'.repeat(32));
      } finally {
        await s.close();
      }
      const platform = makePlatform();
      const broker: KeyBroker = await startKeyBroker({ database: location, env: { TEE_KBS_MASTER_KEY: master.toString('base64') }, port: 0, plainHttp: true, collateral: collateralOf(platform), trustRoots: platform.trustRoots, synchronous: 'NORMAL', log: () => {} });
      cleanups.push(() => broker.close());
      const call = (method: string, path: string, token: string, body?: unknown) =>
        fetch(`${broker.url}${path}`, { method, headers: { authorization: `Bearer ${token}`, accept: 'application/json', ...(body ? { 'content-type': 'application/json' } : {}) }, ...(body ? { body: JSON.stringify(body) } : {}) });

      // Full authority, as before: policies, keys, tokens.
      const pol = await call('POST', '/kbs/v1/key-transfer-policies', good, tdxPolicy(platform));
      expect(pol.status).toBe(201);
      const made = await call('POST', '/kbs/v1/tokens', good, {});
      expect(made.status).toBe(201);
      expect(((await made.json()) as { scopes: string[] }).scopes).toEqual(ALL);
      const list = (await (await call('GET', '/kbs/v1/tokens', good)).json()) as { id: string; intact: boolean; scopes: string[] }[];
      expect(list.find((t) => t.id === goodId)).toMatchObject({ intact: true, scopes: ALL });
      expect(list.find((t) => t.id === forgedId)).toMatchObject({ intact: false, scopes: [] });
      expect((await call('GET', '/kbs/v1/keys', forged)).status).toBe(401);
    });
  });
});
