/**
 * Review s9, SQLite backend: a database opened with `fileMustExist` (as `tee-kbs admin
 * upgrade-integrity` opens it) whose `-volatile` side file is missing (a database from before the
 * side file existed, or one an operator removed: its loss is harmless) opens, and the side file is
 * made private (0600) (finding 1). A call through the storage (not the transaction's tx) from
 * inside a transaction's body is refused at once with ERR_STORAGE_QUERY instead of waiting for the
 * transaction that waits for it, on both backends (finding 3).
 */
import { randomBytes } from 'node:crypto';
import { existsSync, mkdtempSync, readdirSync, rmSync, statSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';

import { afterAll, beforeAll, describe, expect, it } from 'vitest';

import { KbsStore } from '../../src/kbs/store.js';
import { upgradeIntegrity } from '../../src/kbs/upgrade.js';
import { migrate, openStorage, SqliteStorage, StorageError, type Storage } from '../../src/storage/index.js';
import { BACKENDS, createPgDatabase, warnIfPgSkipped, type PgTestDatabase } from '../helpers/postgres.js';

const dir = mkdtempSync(join(tmpdir(), 'tee-storage-s9-'));
afterAll(() => rmSync(dir, { recursive: true, force: true }));

warnIfPgSkipped('test/storage/review-s9-storage.test.ts');

const mode = (file: string): number => statSync(file).mode & 0o777;

function removeSideFiles(folder: string): void {
  for (const f of readdirSync(folder)) if (f.includes('-volatile')) rmSync(join(folder, f));
}

describe('review s9 finding 1: the volatile side file under fileMustExist', () => {
  it('a migrated database without its side file opens with fileMustExist; the side file is created 0600 and usable', async () => {
    const folder = mkdtempSync(join(dir, 'open-'));
    const file = join(folder, 'kbs.db');
    const s = await SqliteStorage.open(file);
    await migrate(s, { component: 'demo', migrations: [{ version: 1, name: 'items', sql: { sqlite: 'CREATE TABLE items (id TEXT PRIMARY KEY)', postgres: 'CREATE TABLE items (id TEXT PRIMARY KEY)' } }] });
    await s.close();
    removeSideFiles(folder);
    expect(existsSync(`${file}-volatile`)).toBe(false);

    const again = await SqliteStorage.open(file, { fileMustExist: true });
    try {
      expect(mode(`${file}-volatile`)).toBe(0o600);
      await again.exec('CREATE TABLE IF NOT EXISTS volatile.buckets (client TEXT PRIMARY KEY)');
      await again.run('INSERT INTO volatile.buckets VALUES (?)', ['203.0.113.7']);
      expect(await again.get('SELECT client FROM volatile.buckets')).toEqual({ client: '203.0.113.7' });
    } finally {
      await again.close();
    }
  });

  it('fileMustExist still refuses a database file that is not there (and makes no side file for it)', async () => {
    const file = join(dir, 'absent.db');
    await expect(SqliteStorage.open(file, { fileMustExist: true })).rejects.toMatchObject({ code: 'ERR_STORAGE_UNREACHABLE' });
    expect(existsSync(file)).toBe(false);
    expect(existsSync(`${file}-volatile`)).toBe(false);
  });

  it('a read-only open makes no side file', async () => {
    const folder = mkdtempSync(join(dir, 'ro-'));
    const file = join(folder, 'k.db');
    const s = await SqliteStorage.open(file, { volatile: false });
    await s.exec('CREATE TABLE t (x INTEGER)');
    await s.close();
    const ro = await SqliteStorage.open(file, { readonly: true, fileMustExist: true });
    await ro.close();
    expect(existsSync(`${file}-volatile`)).toBe(false);
  });

  it('tee-kbs admin upgrade-integrity succeeds on a key-broker database whose side file was removed', async () => {
    const folder = mkdtempSync(join(dir, 'kbs-'));
    const db = join(folder, 'kbs.db');
    const master = randomBytes(32);
    const s = await SqliteStorage.open(db);
    await KbsStore.open(s, master);
    await s.close();
    removeSideFiles(folder);
    await upgradeIntegrity({ db, env: { TEE_KBS_MASTER_KEY: master.toString('base64') }, log: () => {} });
    expect(mode(`${db}-volatile`)).toBe(0o600);
  });
});

/** The rejection of `p` (it must reject); a hang fails the test by its timeout. */
async function rejectionOf(p: Promise<unknown>): Promise<StorageError> {
  const e = await p.then(
    () => undefined,
    (err: unknown) => err,
  );
  expect(StorageError.is(e), String(e)).toBe(true);
  return e as StorageError;
}

describe.each(BACKENDS)('review s9 finding 3: a storage call inside its own transaction body, $name', ({ name, skip }) => {
  let pgdb: PgTestDatabase | undefined;
  let location = '';
  const opened: Storage[] = [];
  const open = async (): Promise<Storage> => {
    const s = await openStorage(location);
    opened.push(s);
    return s;
  };
  let s: Storage;
  beforeAll(async () => {
    if (skip) return;
    if (name === 'postgres') {
      pgdb = await createPgDatabase();
      location = pgdb.url;
    } else location = `sqlite:${join(dir, 'reentrant.sqlite')}`;
    s = await open();
  }, 120_000);
  afterAll(async () => {
    await Promise.all(opened.map((x) => x.close()));
    await pgdb?.drop();
  });

  it.skipIf(skip)('the reviewer\'s reproducer rejects at once (ERR_STORAGE_QUERY, "use tx"); a statement issued meanwhile and the next one succeed', async () => {
    const tx = s.transaction(async () => {
      await s.get('SELECT 1 AS x');
      return 'done';
    });
    const later = s.get('SELECT 2 AS y');
    const e = await rejectionOf(tx);
    expect(e.code).toBe('ERR_STORAGE_QUERY');
    expect(e.message).toMatch(/tx/);
    expect(await later).toEqual({ y: 2 });
    expect(await s.get('SELECT 3 AS z')).toEqual({ z: 3 });
  });

  it.skipIf(skip)('run, all, exec, a nested transaction and close() are refused the same way; the transaction rolls back, the storage stays usable', async () => {
    await s.exec('CREATE TABLE IF NOT EXISTS s9_items (id TEXT PRIMARY KEY)');
    const calls: ((st: Storage) => Promise<unknown>)[] = [
      (st) => st.run('INSERT INTO s9_items (id) VALUES (?)', ['outside']),
      (st) => st.all('SELECT id FROM s9_items'),
      (st) => st.exec('CREATE TABLE IF NOT EXISTS s9_other (id TEXT)'),
      (st) => st.exec('CREATE TABLE IF NOT EXISTS s9_a (id TEXT); CREATE TABLE IF NOT EXISTS s9_b (id TEXT)'),
      (st) => st.transaction(async (inner) => inner.get('SELECT 1 AS x')),
      (st) => st.close(),
    ];
    for (const call of calls) {
      const e = await rejectionOf(
        s.transaction(async (tx) => {
          await tx.run('INSERT INTO s9_items (id) VALUES (?)', ['inside']);
          await call(s);
        }),
      );
      expect(e.code).toBe('ERR_STORAGE_QUERY');
    }
    expect(await s.all('SELECT id FROM s9_items')).toEqual([]);
    await s.run('INSERT INTO s9_items (id) VALUES (?)', ['after']);
    expect(await s.all('SELECT id FROM s9_items')).toEqual([{ id: 'after' }]);
  });

  it.skipIf(skip)('work started inside a transaction that runs after it ended goes through; another storage may be used inside', async () => {
    let release!: () => void;
    const gate = new Promise<void>((r) => (release = r));
    let started: Promise<unknown> | undefined;
    const other = await SqliteStorage.open(':memory:');
    try {
      await s.transaction(async (tx) => {
        started = gate.then(() => s.get('SELECT 4 AS w'));
        expect(await other.get('SELECT 5 AS v')).toEqual({ v: 5 });
        // A transaction of the other storage inside this one: a call to this storage from it is still refused.
        const e = await rejectionOf(other.transaction(async () => s.get('SELECT 1 AS x')));
        expect(e.code).toBe('ERR_STORAGE_QUERY');
        await tx.get('SELECT 1 AS x');
      });
      release();
      expect(await started).toEqual({ w: 4 });
    } finally {
      await other.close();
    }
  });
});
