/**
 * Bad configuration fails at start-up with a typed error and a documented
 * exit status (`tee-kbs serve`: 75 database unreachable, 78 configuration
 * refused, 2 usage), never later. And a database written by the first
 * SQLite-only broker (schema_version 1, no schema_migrations) keeps working.
 */
import { createHmac, randomBytes, randomUUID } from 'node:crypto';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';

import { afterAll, beforeAll, describe, expect, it } from 'vitest';

import { exportBundle } from '../../src/index.js';
import { hashToken, sealKey } from '../../src/kbs/crypto.js';
import { runKbsCli, type KeyBroker } from '../../src/kbs/index.js';
import { KBS_MIGRATIONS, KBS_SCHEMA } from '../../src/kbs/migrations.js';
import { migrate, openStorage } from '../../src/storage/index.js';
import { BACKENDS, createPgDatabase, warnIfPgSkipped, type PgTestDatabase } from '../helpers/postgres.js';
import { makePlatform, newClient, tdxPolicy, transferBody, unwrap } from './helpers.js';

warnIfPgSkipped('test/kbs/startup.test.ts');

const dir = mkdtempSync(join(tmpdir(), 'tee-kbs-startup-'));
const platform = makePlatform();
const master = randomBytes(32);
const masterFile = join(dir, 'master.key');
let common: string[] = [];

beforeAll(() => {
  writeFileSync(join(dir, 'root.pem'), platform.pki.root.pem);
  writeFileSync(join(dir, 'bundle.json'), exportBundle(Object.values(platform.collateral)));
  writeFileSync(masterFile, `${master.toString('base64')}\n`, { mode: 0o600 });
  common = ['--listen', '127.0.0.1:0', '--plain-http', '--trust-root', join(dir, 'root.pem'), '--collateral', join(dir, 'bundle.json')];
});
afterAll(() => rmSync(dir, { recursive: true, force: true }));

async function serve(args: string[], env: NodeJS.ProcessEnv = {}): Promise<{ code: number; stderr: string; stdout: string; broker?: KeyBroker }> {
  let stderr = '';
  let stdout = '';
  const r = await runKbsCli(['serve', ...args], { stdout: (t) => (stdout += t), stderr: (t) => (stderr += t), env });
  return { ...r, stderr, stdout };
}

/** A port nothing listens on. Not one probed free and closed: a test running alongside could take that one; listen(0) never hands out port 1. */
const CLOSED_PORT = 1;

describe('start-up errors (tee-kbs serve)', () => {
  it('usage: --db together with --database is exit 2', async () => {
    const r = await serve(['--db', join(dir, 'x.sqlite'), '--database', 'sqlite:y', ...common]);
    expect(r.code).toBe(2);
  });

  it('SQLite in a directory that does not exist: exit 78, ERR_KBS_CONFIG naming the master key file', async () => {
    const r = await serve(['--db', join(dir, 'missing', 'kbs.sqlite'), ...common]);
    expect({ code: r.code, err: /ERR_KBS_CONFIG: cannot read or create the master key file/.test(r.stderr) }).toEqual({ code: 78, err: true });
  });

  it('an unknown database scheme: exit 78, ERR_STORAGE_CONFIG', async () => {
    const r = await serve(['--database', 'mysql://u:p@h/db', ...common]);
    expect({ code: r.code, err: /ERR_STORAGE_CONFIG/.test(r.stderr) }).toEqual({ code: 78, err: true });
  });

  it('PostgreSQL that nobody serves: exit 75, ERR_STORAGE_UNREACHABLE, the password masked', async () => {
    const r = await serve(['--database', `postgres://kbs:s3cret-pw@127.0.0.1:${CLOSED_PORT}/kbs`, '--master-key-file', masterFile, ...common]);
    expect({ code: r.code, err: /ERR_STORAGE_UNREACHABLE/.test(r.stderr) }).toEqual({ code: 75, err: true });
    expect(r.stderr).not.toContain('s3cret-pw');
  });

  it('PostgreSQL without a master key (never generated for a shared database): exit 78, ERR_KBS_CONFIG', async () => {
    const r = await serve(['--database', 'postgres://kbs@127.0.0.1:1/kbs', ...common]);
    expect({ code: r.code, err: /ERR_KBS_CONFIG/.test(r.stderr) }).toEqual({ code: 78, err: true });
  });

  it('the database URL from TEE_KBS_DATABASE (off the command line)', async () => {
    const r = await serve([...common, '--master-key-file', masterFile], { TEE_KBS_DATABASE: `postgres://kbs:pw@127.0.0.1:${CLOSED_PORT}/kbs` });
    expect(r.code).toBe(75);
  });

  it('SQLite written by a newer version: exit 78, ERR_STORAGE_SCHEMA_TOO_NEW, nothing changed', async () => {
    const file = join(dir, 'newer.sqlite');
    const s = await openStorage(`sqlite:${file}`);
    await migrate(s, KBS_SCHEMA);
    await s.run("INSERT INTO schema_migrations (component, version, name, applied_at) VALUES ('kbs', 99, 'from the future', 'x')");
    await s.close();
    const r = await serve(['--db', file, ...common]);
    expect({ code: r.code, err: /ERR_STORAGE_SCHEMA_TOO_NEW/.test(r.stderr) }).toEqual({ code: 78, err: true });
  });
});

describe.skipIf(BACKENDS[1]?.skip)('start-up errors on a PostgreSQL server', () => {
  let db: PgTestDatabase;
  beforeAll(async () => {
    db = await createPgDatabase();
  }, 120_000);
  afterAll(async () => db?.drop());

  it('wrong password: exit 78, ERR_STORAGE_AUTH, the password masked', async () => {
    const u = new URL(db.url);
    u.password = 'not-the-password';
    const r = await serve(['--database', u.toString(), '--master-key-file', masterFile, ...common]);
    expect({ code: r.code, err: /ERR_STORAGE_AUTH/.test(r.stderr) }).toEqual({ code: 78, err: true });
    expect(r.stderr).not.toContain('not-the-password');
  });

  it('schema from a newer version: exit 78, ERR_STORAGE_SCHEMA_TOO_NEW; with the right schema the same command serves', async () => {
    const ok = await serve(['--database', db.url, '--master-key-file', masterFile, '--admin-token-file', join(dir, 'pg-admin-token'), ...common]);
    expect(ok.code).toBe(0);
    expect(JSON.parse(ok.stdout)).toMatchObject({ database: expect.stringContaining('***') });
    const health = await fetch(`${ok.broker!.url}/health`);
    expect(health.status).toBe(200);
    await ok.broker!.close();
    const s = await openStorage(db.url);
    await s.run("INSERT INTO schema_migrations (component, version, name, applied_at) VALUES ('kbs', 99, 'from the future', 'x')");
    await s.close();
    const r = await serve(['--database', db.url, '--master-key-file', masterFile, ...common]);
    expect({ code: r.code, err: /ERR_STORAGE_SCHEMA_TOO_NEW/.test(r.stderr) }).toEqual({ code: 78, err: true });
  });
});

describe('a database of the first SQLite-only broker', () => {
  it('is adopted as schema 1, migrated to the current version, and its keys still release', async () => {
    const file = join(dir, 'legacy.sqlite');
    const legacyMaster = randomBytes(32);
    writeFileSync(`${file}.master-key`, `${legacyMaster.toString('base64')}\n`, { mode: 0o600 });
    // Exactly what the first broker wrote: its tables, schema_version = 1, the master-key check, a token, a policy and a sealed key.
    const s = await openStorage(`sqlite:${file}`);
    await s.exec(`CREATE TABLE schema_version (version INTEGER NOT NULL); INSERT INTO schema_version (version) VALUES (1); ${KBS_MIGRATIONS[0]!.sql.sqlite}`);
    await s.run("INSERT INTO meta (name, value) VALUES ('master_key_check', ?)", [createHmac('sha256', legacyMaster).update('tee-kbs master key check').digest('hex')]);
    const token = randomBytes(32).toString('base64url');
    await s.run('INSERT INTO admin_tokens (hash, label, created_at) VALUES (?, ?, ?)', [hashToken(token), 'first-start', new Date().toISOString()]);
    const policyId = randomUUID();
    await s.run('INSERT INTO policies (id, format, document, created_at) VALUES (?, ?, ?, ?)', [policyId, 'native', JSON.stringify({ ...tdxPolicy(platform), id: policyId }), new Date().toISOString()]);
    const keyId = randomUUID();
    const material = randomBytes(32);
    const sealed = sealKey(legacyMaster, keyId, 1, material);
    await s.run('INSERT INTO keys (id, policy_id, algorithm, key_length, version, iv, ciphertext, tag, created_at) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?)', [keyId, policyId, 'AES', 256, 1, sealed.iv, sealed.ciphertext, sealed.tag, new Date().toISOString()]);
    await s.close();

    // Its rows have no MACs: serve refuses them until the operator's upgrade-integrity (second review s7).
    const refused = await serve(['--db', file, ...common]);
    expect({ code: refused.code, err: /ERR_KBS_UPGRADE_REQUIRED/.test(refused.stderr) }).toEqual({ code: 78, err: true });
    let upgradeLog = '';
    expect((await runKbsCli(['admin', 'upgrade-integrity', '--db', file], { env: {}, stdout: () => {}, stderr: (t) => (upgradeLog += t) })).code, upgradeLog).toBe(0);
    const r = await serve(['--db', file, ...common, '--allow-no-nonce']); // the nonce-less body below
    expect(r.code, r.stderr).toBe(0);
    try {
      expect(JSON.parse(r.stdout).adminToken).toBeUndefined();
      const client = newClient(2048);
      const res = await fetch(`${r.broker!.url}/kbs/v1/keys/${keyId}/transfer`, { method: 'POST', headers: { 'content-type': 'application/json', 'attestation-type': 'TDX' }, body: JSON.stringify(transferBody({ platform }, client)) });
      expect(res.status).toBe(200);
      expect(unwrap(client, (await res.json()) as { wrapped_key: string; wrapped_swk: string }).equals(material)).toBe(true);
      const keys = await fetch(`${r.broker!.url}/kbs/v1/keys`, { headers: { authorization: `Bearer ${token}` } });
      expect(keys.status).toBe(200);
    } finally {
      await r.broker?.close();
    }
    const after = await openStorage(`sqlite:${file}`);
    expect((await after.get<{ version: number }>('SELECT version FROM schema_version'))?.version).toBe(KBS_MIGRATIONS.length);
    expect((await after.all<{ name: string }>("SELECT name FROM schema_migrations WHERE component = 'kbs' ORDER BY version")).map((x) => x.name)).toEqual(['key broker tables (adopted)', ...KBS_MIGRATIONS.slice(1).map((m) => m.name)]);
    await after.close();
  });
});
