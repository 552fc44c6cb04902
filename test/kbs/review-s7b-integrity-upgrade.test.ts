/**
 * Second review of s7, finding 1 (HIGH): the row-integrity "trust on upgrade" could be re-triggered
 * from the database alone. A writer without the master key dropped the schema-4 columns and deleted
 * the kbs migration row 4 (from = 3), or every kbs migration row and schema_version (from = 0); the
 * next start MACed every row without a MAC, the writer's included (r1), and re-sealed a pre-upgrade
 * key row pointed at the writer's policy (r1b: released to the writer's TD).
 *
 * Now the upgrade never starts on database state alone: a start that finds rows without a MAC
 * refuses (ERR_KBS_UPGRADE_REQUIRED, exit 78, naming them; nothing changes), one whose kbs schema
 * history is gone while rows exist refuses always (ERR_KBS_INTEGRITY, exit 78), and only the
 * operator's `tee-kbs admin upgrade-integrity` trusts rows, in the migration's own transaction.
 */
import { createHash, createHmac, randomBytes, randomUUID } from 'node:crypto';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';

import { afterEach, describe, expect, it } from 'vitest';

import { hashToken, sealKey } from '../../src/kbs/crypto.js';
import { exitCodeOf, runKbsCli, startKeyBroker, type KeyBroker } from '../../src/kbs/index.js';
import { KBS_MIGRATIONS } from '../../src/kbs/migrations.js';
import { migrate, openStorage, type Storage } from '../../src/storage/index.js';
import { BACKENDS, createPgDatabase, warnIfPgSkipped } from '../helpers/postgres.js';
import { collateralOf, makePlatform, mrTdHex, newClient, tdxPolicy, transferBody, unwrap, type Platform } from './helpers.js';

warnIfPgSkipped('test/kbs/review-s7b-integrity-upgrade.test.ts');

const OTHER_MRTD = 'ab'.repeat(48);
/** What a writer without the master key runs to undo migration 4 (SQLite >= 3.35 and PostgreSQL alike). */
/** Back to schema 3: first what the migrations after 4 added (review s9: release_repeats, admin_audit, token scopes; session 15: cert_table), then schema 4's columns. */
const DROP_INTEGRITY_COLUMNS = [
  'ALTER TABLE attestation_log DROP COLUMN cert_table',
  'DROP TABLE admin_audit',
  'ALTER TABLE admin_tokens DROP COLUMN scopes',
  'DROP TABLE release_repeats',
  'DROP INDEX attestation_log_release_digest',
  'ALTER TABLE attestation_log DROP COLUMN release_digest',
  'DROP INDEX admin_tokens_id',
  'ALTER TABLE admin_tokens DROP COLUMN id',
  'ALTER TABLE admin_tokens DROP COLUMN expires_at',
  'ALTER TABLE admin_tokens DROP COLUMN mac',
  'ALTER TABLE policies DROP COLUMN mac',
  'ALTER TABLE keys DROP COLUMN sealed_with',
  'ALTER TABLE attestation_log DROP COLUMN warnings',
];

interface Db {
  location: string;
  dir: string;
  drop(): Promise<void>;
}

describe.each(BACKENDS)('the integrity upgrade is the operator\'s step, never the database\'s ($name; second review s7 #1)', ({ name: backend, skip }) => {
  const cleanups: (() => Promise<void>)[] = [];
  afterEach(async () => {
    for (const c of cleanups.splice(0).reverse()) await c();
  });

  async function freshDb(): Promise<Db> {
    const dir = mkdtempSync(join(tmpdir(), 'tee-kbs-s7b-'));
    const pg = backend === 'postgres' ? await createPgDatabase() : undefined;
    const db: Db = { location: pg ? pg.url : `sqlite:${join(dir, 'kbs.sqlite')}`, dir, drop: async () => { await pg?.drop(); rmSync(dir, { recursive: true, force: true }); } };
    cleanups.push(db.drop);
    return db;
  }

  async function withStorage<T>(db: Db, fn: (s: Storage) => Promise<T>): Promise<T> {
    const s = await openStorage(db.location);
    try {
      return await fn(s);
    } finally {
      await s.close();
    }
  }

  /** A schema-3 database as the brokers before s7 wrote it: a SHA-256 admin token, a policy and a key sealed without its policy. */
  async function schema3(db: Db, master: Buffer, platform: Platform, mrTd = mrTdHex(platform)): Promise<{ token: string; policyId: string; keyId: string; material: Buffer; sealed: { iv: Buffer; ciphertext: Buffer; tag: Buffer } }> {
    return withStorage(db, async (s) => {
      await migrate(s, { component: 'kbs', migrations: KBS_MIGRATIONS.slice(0, 3) });
      await s.run("INSERT INTO meta (name, value) VALUES ('master_key_check', ?)", [createHmac('sha256', master).update('tee-kbs master key check').digest('hex')]);
      await s.run("INSERT INTO meta (name, value) VALUES ('admin_bootstrapped', 'x')");
      const token = randomBytes(32).toString('base64url');
      await s.run('INSERT INTO admin_tokens (hash, label, created_at) VALUES (?, ?, ?)', [hashToken(token), 'first-start', new Date().toISOString()]);
      const policyId = randomUUID();
      await s.run('INSERT INTO policies (id, format, document, created_at) VALUES (?, ?, ?, ?)', [policyId, 'native', JSON.stringify({ ...tdxPolicy(platform, { mrTd: [mrTd] }), id: policyId }), new Date().toISOString()]);
      const keyId = randomUUID();
      const material = randomBytes(32);
      const sealed = sealKey(master, keyId, 1, material);
      await s.run('INSERT INTO keys (id, policy_id, algorithm, key_length, version, iv, ciphertext, tag, created_at) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?)', [keyId, policyId, 'AES', 256, 1, sealed.iv, sealed.ciphertext, sealed.tag, new Date().toISOString()]);
      return { token, policyId, keyId, material, sealed };
    });
  }

  const env = (master: Buffer): NodeJS.ProcessEnv => ({ TEE_KBS_MASTER_KEY: master.toString('base64') });

  function start(db: Db, master: Buffer, platform: Platform, lines: string[] = []): Promise<KeyBroker> {
    return startKeyBroker({ database: db.location, env: env(master), port: 0, plainHttp: true, collateral: collateralOf(platform), trustRoots: platform.trustRoots, synchronous: 'NORMAL', allowNoNonce: true, log: (l) => lines.push(l) }).then((b) => {
      cleanups.push(() => b.close());
      return b;
    });
  }

  /** The start's error, with the exit status `tee-kbs serve` gives it. */
  async function refusedStart(db: Db, master: Buffer, platform: Platform): Promise<{ code: string; exit: number; message: string }> {
    try {
      await start(db, master, platform);
    } catch (e) {
      return { code: (e as { code: string }).code, exit: exitCodeOf(e), message: (e as Error).message };
    }
    throw new Error('the broker started');
  }

  async function upgradeByOperator(db: Db, master: Buffer): Promise<{ code: number; stderr: string }> {
    let stderr = '';
    const r = await runKbsCli(['admin', 'upgrade-integrity', '--database', db.location], { env: env(master), stdout: () => {}, stderr: (t) => (stderr += t) });
    return { code: r.code, stderr };
  }

  const kbsVersions = (db: Db): Promise<number[]> =>
    withStorage(db, async (s) => (await s.all<{ version: number | string }>("SELECT version FROM schema_migrations WHERE component = 'kbs' ORDER BY version")).map((r) => Number(r.version)));

  async function transfer(b: KeyBroker, keyId: string, platform: Platform, client = newClient(2048)): Promise<{ status: number; json: any; material?: Buffer }> {
    const res = await fetch(`${b.url}/kbs/v1/keys/${keyId}/transfer`, { method: 'POST', headers: { 'content-type': 'application/json', 'attestation-type': 'TDX' }, body: JSON.stringify(transferBody({ platform }, client)) });
    const json = (await res.json()) as any;
    return { status: res.status, json, ...(res.status === 200 ? { material: unwrap(client, json) } : {}) };
  }

  describe.skipIf(skip)('', () => {
    it('a genuine schema-3 database: serve refuses (78, ERR_KBS_UPGRADE_REQUIRED naming the rows, nothing changed); after `admin upgrade-integrity` (logged, rows named) it starts and its key and token work', async () => {
      const db = await freshDb();
      const master = randomBytes(32);
      const platform = makePlatform();
      const old = await schema3(db, master, platform);
      const refused = await refusedStart(db, master, platform);
      expect({ code: refused.code, exit: refused.exit }).toEqual({ code: 'ERR_KBS_UPGRADE_REQUIRED', exit: 78 });
      expect(refused.message).toContain(old.policyId);
      expect(refused.message).toContain(old.keyId);
      expect(refused.message).toContain('"first-start"');
      expect(refused.message).toContain('tee-kbs admin upgrade-integrity');
      expect(await kbsVersions(db)).toEqual([1, 2, 3]);

      const up = await upgradeByOperator(db, master);
      expect(up.code, up.stderr).toBe(0);
      expect(up.stderr).toMatch(/integrity upgrade \(trust on upgrade, by the operator\): MACs computed for 1 policy row\(s\) and 1 admin token\(s\) as found now, 1 key\(s\) re-sealed/);
      expect(up.stderr).toContain(`trusted policies: ${old.policyId}`);
      expect(up.stderr).toContain(`re-sealed keys: ${old.keyId}`);
      expect(await kbsVersions(db)).toEqual(KBS_MIGRATIONS.map((m) => m.version));

      const lines: string[] = [];
      const b = await start(db, master, platform, lines);
      const t = await transfer(b, old.keyId, platform);
      expect(t.status, JSON.stringify(t.json)).toBe(200);
      expect(t.material!.equals(old.material)).toBe(true);
      expect((await fetch(`${b.url}/kbs/v1/keys`, { headers: { authorization: `Bearer ${old.token}` } })).status).toBe(200);
      // Running the step again trusts nothing.
      await b.close();
      const again = await upgradeByOperator(db, master);
      expect(again.code).toBe(0);
      expect(again.stderr).toContain('nothing was trusted');
    });

    for (const variant of ['from = 3', 'from = 0'] as const) {
      it(`r1 (${variant}): integrity columns dropped, migration history deleted, a forged SHA-256 admin token and a policy inserted; the restart refuses (78) and nothing is MACed`, async () => {
        const db = await freshDb();
        const master = randomBytes(32);
        const platform = makePlatform();
        const old = await schema3(db, master, platform, OTHER_MRTD);
        expect((await upgradeByOperator(db, master)).code).toBe(0);
        const b = await start(db, master, platform);
        expect((await transfer(b, old.keyId, platform)).json.code).toBe('ERR_KBS_POLICY');
        await b.close();

        const forged = 'attacker-chosen-token-0123456789';
        const pid = randomUUID();
        await withStorage(db, async (s) => {
          for (const q of DROP_INTEGRITY_COLUMNS) await s.exec(q);
          if (variant === 'from = 0') {
            await s.run("DELETE FROM schema_migrations WHERE component = 'kbs'");
            await s.exec('DROP TABLE schema_version');
          } else await s.run("DELETE FROM schema_migrations WHERE component = 'kbs' AND version >= 4");
          await s.run('INSERT INTO admin_tokens (hash, label, created_at) VALUES (?, ?, ?)', [createHash('sha256').update(forged).digest('hex'), 'x', new Date().toISOString()]);
          await s.run('INSERT INTO policies (id, format, document, created_at) VALUES (?, ?, ?, ?)', [pid, 'native', JSON.stringify({ ...tdxPolicy(platform), id: pid }), new Date().toISOString()]);
        });

        const refused = await refusedStart(db, master, platform);
        expect(refused.exit).toBe(78);
        if (variant === 'from = 3') {
          expect(refused.code).toBe('ERR_KBS_UPGRADE_REQUIRED');
          expect(refused.message).toContain(pid);
          expect(refused.message).toContain('"x"');
        } else {
          expect(refused.code).toBe('ERR_KBS_INTEGRITY');
          expect(refused.message).toMatch(/no kbs schema history/);
          // The operator's step does not trust such a database either.
          const up = await upgradeByOperator(db, master);
          expect({ code: up.code, named: /ERR_KBS_INTEGRITY/.test(up.stderr) }).toEqual({ code: 78, named: true });
        }
        // Nothing was changed: the writer's rows still have no MAC column to hold one.
        await withStorage(db, async (s) => {
          const cols = backend === 'sqlite'
            ? (await s.all<{ name: string }>("SELECT name FROM pragma_table_info('policies')")).map((r) => r.name)
            : (await s.all<{ name: string }>("SELECT column_name AS name FROM information_schema.columns WHERE table_name = 'policies' AND table_schema = current_schema()")).map((r) => r.name);
          expect(cols).not.toContain('mac');
        });
      });
    }

    for (const variant of ['from = 3', 'from = 0'] as const) {
      it(`r1b (${variant}): a pre-upgrade copy of a key row pointed at the writer's policy after the history is reset is never re-sealed or released`, async () => {
        const db = await freshDb();
        const master = randomBytes(32);
        const platform = makePlatform();
        const old = await schema3(db, master, platform, OTHER_MRTD);
        expect((await upgradeByOperator(db, master)).code).toBe(0);
        const mine = randomUUID();
        await withStorage(db, async (s) => {
          for (const q of DROP_INTEGRITY_COLUMNS) await s.exec(q);
          if (variant === 'from = 0') {
            await s.run("DELETE FROM schema_migrations WHERE component = 'kbs'");
            await s.exec('DROP TABLE schema_version');
          } else await s.run("DELETE FROM schema_migrations WHERE component = 'kbs' AND version >= 4");
          await s.run('INSERT INTO policies (id, format, document, created_at) VALUES (?, ?, ?, ?)', [mine, 'native', JSON.stringify({ ...tdxPolicy(platform), id: mine }), new Date().toISOString()]);
          await s.run('UPDATE keys SET policy_id = ?, iv = ?, ciphertext = ?, tag = ? WHERE id = ?', [mine, old.sealed.iv, old.sealed.ciphertext, old.sealed.tag, old.keyId]);
        });
        const refused = await refusedStart(db, master, platform);
        expect({ code: refused.code, exit: refused.exit }).toEqual({ code: variant === 'from = 0' ? 'ERR_KBS_INTEGRITY' : 'ERR_KBS_UPGRADE_REQUIRED', exit: 78 });
        if (variant === 'from = 3') expect(refused.message).toContain(old.keyId);
        // The key row is as the writer left it: still sealed without a policy binding (not re-sealed).
        await withStorage(db, async (s) => {
          const row = await s.get<{ ciphertext: Buffer }>('SELECT ciphertext FROM keys WHERE id = ?', [old.keyId]);
          expect(Buffer.from(row!.ciphertext).equals(Buffer.from(old.sealed.ciphertext))).toBe(true);
        });
      });
    }
  });
});
