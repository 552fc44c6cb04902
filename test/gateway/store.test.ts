/**
 * The gateway's API keys and admin tokens on both storage backends: create,
 * list, get, revoke, authenticate; only SHA-256 stored; two stores on one
 * database see each other's writes at once (no cache); the versioned
 * 'gateway' schema next to the broker's in one schema_migrations table; a
 * file of the SQLite-only gateway taken over as version 1; a newer schema
 * refused; the keys / admin-tokens commands and the start-up exit statuses of
 * `tee-gateway serve` (75 unreachable, 78 wrong password / newer schema / bad URL, 2 usage).
 */
import { createHash } from 'node:crypto';
import { mkdtempSync, rmSync } from 'node:fs';
import { createRequire } from 'node:module';
import { tmpdir } from 'node:os';
import { join } from 'node:path';

import { afterAll, beforeAll, describe, expect, it } from 'vitest';

import { runGatewayCli } from '../../src/gateway/cli.js';
import { ApiKeyStore } from '../../src/gateway/store.js';
import { GATEWAY_SCHEMA_VERSION } from '../../src/gateway/storage-schema.js';
import { KBS_SCHEMA } from '../../src/kbs/migrations.js';
import { migrate, openStorage, StorageError, type Storage } from '../../src/storage/index.js';
import { BACKENDS, createPgDatabase, PG_SKIP_REASON, pgServerUrl, warnIfPgSkipped, type PgTestDatabase } from '../helpers/postgres.js';
import { startChatUpstream, type ChatUpstream } from './upstream.js';

warnIfPgSkipped('test/gateway/store.test.ts');
const dir = mkdtempSync(join(tmpdir(), 'tee-gateway-store-'));
afterAll(() => rmSync(dir, { recursive: true, force: true }));

const sha = (t: string): Buffer => createHash('sha256').update(t).digest();

async function rejection(p: Promise<unknown>): Promise<unknown> {
  return p.then(
    () => undefined,
    (e: unknown) => e,
  );
}

function cli(args: string[], env: NodeJS.ProcessEnv = {}): Promise<{ code: number; stdout: string; stderr: string }> {
  const o = { stdout: '', stderr: '' };
  return runGatewayCli(args, { stdout: (t) => void (o.stdout += t), stderr: (t) => void (o.stderr += t), env }).then(async (r) => {
    await r.gateway?.close();
    return { code: r.code, ...o };
  });
}

describe.each(BACKENDS)('gateway store on $name', ({ name, skip }) => {
  let pgdb: PgTestDatabase | undefined;
  let location = '';
  const stores: ApiKeyStore[] = [];
  const open = async (): Promise<ApiKeyStore> => {
    const s = await ApiKeyStore.open(location);
    stores.push(s);
    return s;
  };
  let a: ApiKeyStore;
  let b: ApiKeyStore;

  beforeAll(async () => {
    if (skip) return;
    if (name === 'postgres') {
      pgdb = await createPgDatabase();
      location = pgdb.url;
    } else location = `sqlite:${join(dir, 'store.sqlite')}`;
    // Two stores on one database: two pools (PostgreSQL) or two connections to one file (SQLite), as two instances have.
    a = await open();
    b = await open();
  }, 120_000);
  afterAll(async () => {
    await Promise.all(stores.map((s) => s.close()));
    await pgdb?.drop();
  });

  describe.skipIf(skip)('keys and admin tokens', () => {
    it('create (token once), list and get without the token, authenticate, revoke (idempotent)', async () => {
      const k = await a.create('team-a', new Date('2026-01-02T03:04:05Z'));
      expect(k.token).toMatch(/^tgw_[A-Za-z0-9_-]{43}$/);
      expect(k).toMatchObject({ name: 'team-a', createdAt: '2026-01-02T03:04:05.000Z', revokedAt: null });
      expect(await a.get(k.id)).toEqual({ id: k.id, name: 'team-a', createdAt: k.createdAt, revokedAt: null });
      expect(JSON.stringify(await a.list())).not.toContain('tgw_');
      expect((await a.authenticate(k.token))?.id).toBe(k.id);
      expect(await a.authenticate(`${k.token.slice(0, -1)}${k.token.endsWith('A') ? 'B' : 'A'}`)).toBeUndefined();
      expect(await a.revoke(k.id, new Date('2026-01-03T00:00:00Z'))).toBe(true);
      expect(await a.revoke(k.id)).toBe(false);
      expect((await a.get(k.id))?.revokedAt).toBe('2026-01-03T00:00:00.000Z');
      expect(await a.authenticate(k.token)).toBeUndefined();
      expect(await a.get('00000000-0000-4000-8000-000000000000')).toBeUndefined();
    });

    it('an API key is never an admin token, nor the other way round', async () => {
      const k = await a.create('plain');
      const t = await a.createAdminToken('ops');
      expect(t.token).toMatch(/^tgwa_[A-Za-z0-9_-]{43}$/);
      expect(await a.authenticateAdmin(k.token)).toBeUndefined();
      expect(await a.authenticate(t.token)).toBeUndefined();
      expect((await a.authenticateAdmin(t.token))?.id).toBe(t.id);
      expect((await a.listAdminTokens()).map((x) => x.id)).toContain(t.id);
      expect(await a.revokeAdminToken(t.id)).toBe(true);
      expect(await a.authenticateAdmin(t.token)).toBeUndefined();
    });

    it('names are 1 to 200 characters', async () => {
      await expect(a.create('')).rejects.toThrow(RangeError);
      await expect(a.createAdminToken('x'.repeat(201))).rejects.toThrow(RangeError);
    });

    it('only SHA-256 of a token is stored', async () => {
      const k = await a.create('hashed');
      const t = await a.createAdminToken('hashed-admin');
      const key = await a.storage.get<{ token_sha256: Buffer }>('SELECT token_sha256 FROM gateway_api_keys WHERE id = ?', [k.id]);
      const adm = await a.storage.get<{ token_sha256: Buffer }>('SELECT token_sha256 FROM gateway_admin_tokens WHERE id = ?', [t.id]);
      expect(Buffer.compare(key!.token_sha256, sha(k.token))).toBe(0);
      expect(Buffer.compare(adm!.token_sha256, sha(t.token))).toBe(0);
      const dump = JSON.stringify([...(await a.storage.all('SELECT * FROM gateway_api_keys')), ...(await a.storage.all('SELECT * FROM gateway_admin_tokens'))]);
      expect(dump).not.toContain(k.token);
      expect(dump).not.toContain(t.token);
    });

    it('two stores on one database: created on one, usable on the other at once; revoked on the other, refused on the first at once', async () => {
      for (let i = 0; i < 5; i++) {
        const k = await a.create(`shared-${i}`);
        expect((await b.authenticate(k.token))?.id).toBe(k.id);
        expect(await b.revoke(k.id)).toBe(true);
        expect(await a.authenticate(k.token)).toBeUndefined();
        const t = await b.createAdminToken(`shared-admin-${i}`);
        expect((await a.authenticateAdmin(t.token))?.id).toBe(t.id);
        expect(await a.revokeAdminToken(t.id)).toBe(true);
        expect(await b.authenticateAdmin(t.token)).toBeUndefined();
      }
    });

    it('concurrent creations through both stores: every acknowledged key is there, whole', async () => {
      const made = await Promise.all(Array.from({ length: 40 }, (_, i) => (i % 2 ? a : b).create(`burst-${i}`)));
      const listed = new Map((await b.list()).map((k) => [k.id, k]));
      for (const k of made) {
        expect(listed.get(k.id)?.name).toBe(k.name);
        expect((await a.authenticate(k.token))?.id).toBe(k.id);
      }
    });
  });

  describe.skipIf(skip)('schema', () => {
    it("is recorded as component 'gateway' in the shared schema_migrations, next to the broker's; reopening migrates nothing", async () => {
      // The broker opens the database its own way (on SQLite with its volatile side file).
      const broker = await openStorage(location);
      try {
        await migrate(broker, KBS_SCHEMA);
      } finally {
        await broker.close();
      }
      const rows = await a.storage.all<{ component: string; version: number }>('SELECT component, version FROM schema_migrations ORDER BY component, version');
      expect(rows.filter((r) => r.component === 'gateway').map((r) => r.version)).toEqual([1]);
      expect(rows.filter((r) => r.component === 'kbs').map((r) => r.version)).toEqual(KBS_SCHEMA.migrations.map((m) => m.version));
      const again = await open();
      expect(again.migration).toEqual({ from: GATEWAY_SCHEMA_VERSION, to: GATEWAY_SCHEMA_VERSION, applied: [] });
      // The broker's tables and the gateway's do not collide: both admin-token tables exist side by side.
      expect(await again.storage.all('SELECT hash FROM admin_tokens')).toEqual([]);
    });

    it('a gateway schema from a newer version is refused (ERR_STORAGE_SCHEMA_TOO_NEW), also read-only, and nothing is left open', async () => {
      const other = await (name === 'postgres' ? createPgDatabase() : Promise.resolve(undefined));
      const where = other?.url ?? `sqlite:${join(dir, 'newer.sqlite')}`;
      try {
        const s = await ApiKeyStore.open(where);
        await s.storage.run("INSERT INTO schema_migrations (component, version, name, applied_at) VALUES ('gateway', ?, 'from the future', '2030-01-01T00:00:00Z')", [GATEWAY_SCHEMA_VERSION + 1]);
        await s.close();
        for (const migrateOption of [true, false]) {
          const e = await rejection(ApiKeyStore.open(where, { migrate: migrateOption }));
          expect(StorageError.is(e) && e.code).toBe('ERR_STORAGE_SCHEMA_TOO_NEW');
          expect((e as StorageError).exitCode).toBe(78);
        }
      } finally {
        await other?.drop();
      }
    });
  });
});

describe('an SQLite file of the SQLite-only gateway', () => {
  it('is taken over as gateway schema version 1 with its keys; a file from before the admin API gains the admin-token table', async () => {
    const file = join(dir, 'legacy.sqlite');
    const Database = createRequire(import.meta.url)('better-sqlite3');
    const db = new Database(file);
    // The schema the first gateway created (commit 8329eb2): only the API key table.
    db.exec('CREATE TABLE gateway_api_keys (id TEXT PRIMARY KEY, name TEXT NOT NULL, token_sha256 BLOB NOT NULL UNIQUE, created_at TEXT NOT NULL, revoked_at TEXT)');
    const token = `tgw_${'A'.repeat(43)}`;
    db.prepare('INSERT INTO gateway_api_keys (id, name, token_sha256, created_at) VALUES (?, ?, ?, ?)').run('11111111-1111-4111-8111-111111111111', 'old', sha(token), '2025-06-01T00:00:00.000Z');
    db.close();
    const s = await ApiKeyStore.open(file);
    try {
      expect(s.migration).toMatchObject({ from: 0, to: 1 });
      expect((await s.authenticate(token))?.name).toBe('old');
      const t = await s.createAdminToken('ops');
      expect((await s.authenticateAdmin(t.token))?.id).toBe(t.id);
      expect(await s.storage.all("SELECT version FROM schema_migrations WHERE component = 'gateway'")).toEqual([{ version: 1 }]);
    } finally {
      await s.close();
    }
  });
});

describe.each(BACKENDS)('tee-gateway keys / admin-tokens on $name', ({ name, skip }) => {
  let pgdb: PgTestDatabase | undefined;
  let args: string[] = [];
  beforeAll(async () => {
    if (skip) return;
    if (name === 'postgres') pgdb = await createPgDatabase();
    args = name === 'postgres' ? ['--database', pgdb!.url] : ['--db', join(dir, 'cli.sqlite')];
  }, 120_000);
  afterAll(async () => pgdb?.drop());

  it.skipIf(skip)('create, list, revoke; the database also from TEE_GATEWAY_DATABASE', async () => {
    for (const command of ['keys', 'admin-tokens']) {
      const created = await cli([command, 'create', 'via-cli', ...args]);
      expect(created.code, created.stderr).toBe(0);
      const k = JSON.parse(created.stdout) as { id: string; token: string };
      expect(k.token).toMatch(command === 'keys' ? /^tgw_/ : /^tgwa_/);
      const env = { TEE_GATEWAY_DATABASE: name === 'postgres' ? pgdb!.url : `sqlite:${join(dir, 'cli.sqlite')}` };
      const listed = await cli([command, 'list'], env);
      expect(listed.code).toBe(0);
      expect(listed.stdout).toContain(k.id);
      expect(listed.stdout).not.toContain(k.token);
      expect((await cli([command, 'revoke', k.id, ...args])).code).toBe(0);
      expect((await cli([command, 'revoke', k.id, ...args])).code).toBe(1);
    }
  });
});

describe('tee-gateway serve: start-up errors with the broker exit statuses', () => {
  let upstream: ChatUpstream;
  beforeAll(async () => {
    upstream = await startChatUpstream();
  });
  afterAll(async () => upstream?.close());
  const serve = (db: string[], env: NodeJS.ProcessEnv = {}) => cli(['serve', '--upstream', upstream.url, ...db, '--listen', '127.0.0.1:0', '--simulated-tee'], env);

  it('usage: --db together with --database, no database at all (2)', async () => {
    const both = await serve(['--db', join(dir, 'x.sqlite'), '--database', 'sqlite:/tmp/y']);
    expect(both.code).toBe(2);
    expect(both.stderr).toContain('not both');
    const none = await serve([]);
    expect(none.code).toBe(2);
    expect(none.stderr).toContain('TEE_GATEWAY_DATABASE');
  });

  it('an unknown scheme or a malformed URL: ERR_STORAGE_CONFIG (78)', async () => {
    const r = await serve(['--database', 'mysql://u:secret@127.0.0.1/x']);
    expect(r.code).toBe(78);
    expect(r.stderr).toContain('ERR_STORAGE_CONFIG');
    expect(r.stderr).not.toContain('secret');
  });

  it('an unreachable PostgreSQL: ERR_STORAGE_UNREACHABLE (75)', async () => {
    // Port 1: nothing listens there, and unlike a port probed free and closed, no test running alongside can take it (listen(0) never gets it).
    const r = await serve([], { TEE_GATEWAY_DATABASE: 'postgres://u:secret@127.0.0.1:1/x' });
    expect(r.code).toBe(75);
    expect(r.stderr).toContain('ERR_STORAGE_UNREACHABLE');
    expect(r.stderr).not.toContain('secret');
  });

  it.skipIf(PG_SKIP_REASON)('a wrong password: ERR_STORAGE_AUTH (78), the password never printed', async () => {
    const u = new URL(await pgServerUrl());
    u.password = 'definitely-wrong';
    const r = await serve(['--database', u.toString()]);
    expect(r.code).toBe(78);
    expect(r.stderr).toContain('ERR_STORAGE_AUTH');
    expect(r.stderr).not.toContain('definitely-wrong');
  });

  it('a gateway schema from a newer version: ERR_STORAGE_SCHEMA_TOO_NEW (78)', async () => {
    const file = join(dir, 'future.sqlite');
    const s: Storage = await openStorage(file, { sqlite: { volatile: false } });
    await s.exec("CREATE TABLE schema_migrations (component TEXT NOT NULL, version INTEGER NOT NULL, name TEXT NOT NULL, applied_at TEXT NOT NULL, PRIMARY KEY (component, version)); INSERT INTO schema_migrations VALUES ('gateway', 99, 'future', '2030-01-01')");
    await s.close();
    const r = await serve(['--db', file]);
    expect(r.code).toBe(78);
    expect(r.stderr).toContain('ERR_STORAGE_SCHEMA_TOO_NEW');
  });
});
