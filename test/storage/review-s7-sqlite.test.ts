/**
 * Review s7, SQLite backend: waiting for another connection's write lock
 * does not stop the event loop (a timer scheduled before the statement runs
 * before it settles), and gives up typed (ERR_STORAGE_UNAVAILABLE) when the
 * lock stays taken; extended busy codes are retryable, a full disk and a
 * read-only file are ERR_STORAGE_IO; new database files are private (0600);
 * statements after close() or through an ended transaction's tx are
 * ERR_STORAGE_CLOSED.
 */
import { mkdtempSync, rmSync, statSync } from 'node:fs';
import { createRequire } from 'node:module';
import { tmpdir } from 'node:os';
import { join } from 'node:path';

import { afterAll, describe, expect, it } from 'vitest';

import { classifySqliteError } from '../../src/storage/sqlite.js';
import { SqliteStorage, StorageError, type SqlExecutor } from '../../src/storage/index.js';

const dir = mkdtempSync(join(tmpdir(), 'tee-storage-s7-'));
afterAll(() => rmSync(dir, { recursive: true, force: true }));

interface RawDatabase {
  exec(sql: string): void;
  close(): void;
}
const Database = createRequire(import.meta.url)('better-sqlite3') as new (file: string, options?: { timeout?: number }) => RawDatabase;

async function outcome(p: Promise<unknown>): Promise<unknown> {
  return p.then(
    () => 'resolved',
    (e: unknown) => e,
  );
}

/** A table, and a second connection (another process's, in effect) holding the write lock. */
async function lockedDatabase(name: string, options: Parameters<typeof SqliteStorage.open>[1] = {}): Promise<{ s: SqliteStorage; other: RawDatabase }> {
  const file = join(dir, name);
  const s = await SqliteStorage.open(file, { synchronous: 'NORMAL', ...options });
  await s.exec('CREATE TABLE t (x INTEGER)');
  const other = new Database(file, { timeout: 0 });
  other.exec('BEGIN IMMEDIATE');
  other.exec('INSERT INTO t VALUES (1)');
  return { s, other };
}

describe('review s7: SQLite waits for another connection without blocking the event loop', () => {
  it('a timer scheduled before s.run() fires before it settles; the run then succeeds once the lock is released', async () => {
    const { s, other } = await lockedDatabase('wait.sqlite');
    const order: string[] = [];
    setTimeout(() => {
      order.push('timer');
      other.exec('COMMIT');
    }, 0);
    const r = await outcome(s.run('INSERT INTO t VALUES (2)').then(() => order.push('run settled')));
    expect(r).toBe('resolved');
    expect(order).toEqual(['timer', 'run settled']);
    expect(await s.all('SELECT x FROM t ORDER BY x')).toEqual([{ x: 1 }, { x: 2 }]);
    other.close();
    await s.close();
  });

  it('a transaction waits for the lock the same way (BEGIN IMMEDIATE retried from a timer)', async () => {
    const { s, other } = await lockedDatabase('wait-tx.sqlite');
    const order: string[] = [];
    setTimeout(() => {
      order.push('timer');
      other.exec('COMMIT');
    }, 0);
    await s.transaction(async (tx) => {
      order.push('transaction began');
      await tx.run('INSERT INTO t VALUES (3)');
    });
    expect(order).toEqual(['timer', 'transaction began']);
    expect(await s.all('SELECT x FROM t ORDER BY x')).toEqual([{ x: 1 }, { x: 3 }]);
    other.close();
    await s.close();
  });

  it('a lock that stays taken: the timer still fires first, then ERR_STORAGE_UNAVAILABLE (retryable) once the budget is spent', async () => {
    const { s, other } = await lockedDatabase('stays-locked.sqlite', { busyTimeoutMs: 200 });
    const order: string[] = [];
    setTimeout(() => order.push('timer'), 0);
    const e = await outcome(s.run('INSERT INTO t VALUES (2)').finally(() => order.push('run settled')));
    expect(order).toEqual(['timer', 'run settled']);
    expect(StorageError.is(e) && e.code).toBe('ERR_STORAGE_UNAVAILABLE');
    expect((e as StorageError).retryable).toBe(true);
    expect((e as StorageError).dbCode).toMatch(/^SQLITE_BUSY/);
    other.exec('ROLLBACK');
    other.close();
    await s.close();
  });
});

describe('review s7: SQLite result codes by prefix', () => {
  const sqliteError = (code: string): Error => Object.assign(new Error(`sqlite says ${code}`), { code });

  it('busy and locked, extended codes included: ERR_STORAGE_UNAVAILABLE', () => {
    for (const code of ['SQLITE_BUSY', 'SQLITE_BUSY_SNAPSHOT', 'SQLITE_BUSY_RECOVERY', 'SQLITE_BUSY_TIMEOUT', 'SQLITE_LOCKED', 'SQLITE_LOCKED_SHAREDCACHE']) {
      const e = classifySqliteError(sqliteError(code), 'statement failed');
      expect([code, e.code, e.retryable]).toEqual([code, 'ERR_STORAGE_UNAVAILABLE', true]);
    }
  });

  it('full disk, I/O errors, read-only: ERR_STORAGE_IO that names the reason; other codes stay ERR_STORAGE_QUERY', () => {
    const cases: [string, RegExp][] = [
      ['SQLITE_FULL', /disk is full/],
      ['SQLITE_IOERR', /I\/O error/],
      ['SQLITE_IOERR_FSYNC', /I\/O error/],
      ['SQLITE_IOERR_SHORT_READ', /I\/O error/],
      ['SQLITE_READONLY', /read-only/],
      ['SQLITE_READONLY_DBMOVED', /read-only/],
    ];
    for (const [code, reason] of cases) {
      const e = classifySqliteError(sqliteError(code), 'statement failed');
      expect([code, e.code, e.retryable, e.dbCode]).toEqual([code, 'ERR_STORAGE_IO', false, code]);
      expect(e.message).toMatch(reason);
    }
    expect(classifySqliteError(sqliteError('SQLITE_BUSYNESS'), 'x').code).toBe('ERR_STORAGE_QUERY'); // a prefix of a word is not the code
    expect(classifySqliteError(sqliteError('SQLITE_CONSTRAINT_UNIQUE'), 'x').code).toBe('ERR_STORAGE_QUERY');
  });

  it('for real: a database at its page limit answers ERR_STORAGE_IO (SQLITE_FULL); a read-only one ERR_STORAGE_IO (SQLITE_READONLY)', async () => {
    const file = join(dir, 'full.sqlite');
    const s = await SqliteStorage.open(file, { synchronous: 'NORMAL', volatile: false });
    await s.exec('CREATE TABLE blobs (b BLOB)');
    const pages = (await s.get<{ page_count: number }>('PRAGMA page_count'))!.page_count;
    await s.exec(`PRAGMA max_page_count = ${pages + 2}`);
    const full = await outcome(s.run('INSERT INTO blobs VALUES (?)', [Buffer.alloc(64 * 1024)]));
    expect(StorageError.is(full) && [full.code, full.dbCode]).toEqual(['ERR_STORAGE_IO', 'SQLITE_FULL']);
    await s.close();
    const ro = await SqliteStorage.open(file, { readonly: true });
    const refused = await outcome(ro.run('INSERT INTO blobs VALUES (?)', [Buffer.alloc(1)]));
    expect(StorageError.is(refused) && refused.code).toBe('ERR_STORAGE_IO');
    expect((refused as StorageError).dbCode).toMatch(/^SQLITE_READONLY/);
    await ro.close();
  });
});

describe('review s7: SQLite files are private', () => {
  it('a new database, its -wal and -shm, and the volatile side file are created with mode 0600', async () => {
    const file = join(dir, 'private.sqlite');
    const s = await SqliteStorage.open(file);
    await s.exec('CREATE TABLE t (x INTEGER); CREATE TABLE volatile.v (x INTEGER)');
    await s.run('INSERT INTO t VALUES (1)');
    await s.run('INSERT INTO volatile.v VALUES (1)');
    for (const f of [file, `${file}-wal`, `${file}-shm`, `${file}-volatile`, `${file}-volatile-wal`]) {
      expect([f, statSync(f).mode & 0o777]).toEqual([f, 0o600]);
    }
    await s.close();
  });
});

describe('review s7: SQLite late statements', () => {
  it('through the tx of an ended transaction, and after close(): ERR_STORAGE_CLOSED', async () => {
    const s = await SqliteStorage.open(join(dir, 'late.sqlite'));
    await s.exec('CREATE TABLE t (x INTEGER)');
    let stale: SqlExecutor | undefined;
    await s.transaction(async (tx) => void (stale = tx));
    const e = await outcome(stale!.run('INSERT INTO t VALUES (1)'));
    expect(StorageError.is(e) && e.code).toBe('ERR_STORAGE_CLOSED');
    expect(await s.all('SELECT x FROM t')).toEqual([]);
    await s.close();
    expect(await outcome(s.get('SELECT 1')).then((x) => StorageError.is(x) && x.code)).toBe('ERR_STORAGE_CLOSED');
  });
});

describe('review s7 round 2: SQLite scripts and opening under another connection\'s lock', () => {
  it('exec() of a script outside a transaction: a statement of it never runs twice when a later one finds the database busy', async () => {
    const file = join(dir, 'script.sqlite');
    const s = await SqliteStorage.open(file, { synchronous: 'NORMAL' });
    await s.exec('CREATE TABLE t (x INTEGER); CREATE TABLE volatile.v (x INTEGER)');
    // Another connection holds the write lock of the volatile side file only: the script's first statement could run, its second could not.
    const other = new Database(`${file}-volatile`, { timeout: 0 });
    other.exec('BEGIN IMMEDIATE');
    other.exec('INSERT INTO v VALUES (99)');
    setTimeout(() => other.exec('COMMIT'), 0);
    await s.exec('INSERT INTO t VALUES (1); INSERT INTO volatile.v VALUES (1)');
    expect(await s.all('SELECT x FROM t')).toEqual([{ x: 1 }]);
    expect(await s.all('SELECT x FROM volatile.v ORDER BY x')).toEqual([{ x: 1 }, { x: 99 }]);
    other.close();
    await s.close();
  });

  it('exec() of a script is all or nothing: a failing statement leaves the earlier ones undone', async () => {
    const s = await SqliteStorage.open(join(dir, 'script-atomic.sqlite'), { synchronous: 'NORMAL' });
    await s.exec('CREATE TABLE t (x INTEGER PRIMARY KEY)');
    const e = await outcome(s.exec('INSERT INTO t VALUES (1); INSERT INTO t VALUES (1)'));
    expect(StorageError.is(e) && e.code).toBe('ERR_STORAGE_QUERY');
    expect(await s.all('SELECT x FROM t')).toEqual([]);
    await s.close();
  });

  /** A file another connection holds in EXCLUSIVE locking mode (an admin's sqlite3 shell, a backup). */
  async function exclusivelyHeld(name: string): Promise<{ file: string; other: RawDatabase }> {
    const file = join(dir, name);
    await (await SqliteStorage.open(file)).close();
    const other = new Database(file, { timeout: 0 });
    other.exec('PRAGMA locking_mode = EXCLUSIVE');
    other.exec('BEGIN EXCLUSIVE');
    other.exec('CREATE TABLE t (x INTEGER)');
    other.exec('COMMIT'); // in EXCLUSIVE locking mode the lock stays until the connection closes
    return { file, other };
  }

  it('open() waits for the lock without blocking the event loop and succeeds once it is released', async () => {
    const { file, other } = await exclusivelyHeld('open-wait.sqlite');
    const order: string[] = [];
    setTimeout(() => {
      order.push('released');
      other.close();
    }, 0);
    const opening = SqliteStorage.open(file).then((s) => (order.push('opened'), s));
    const s = await opening;
    expect(order).toEqual(['released', 'opened']);
    expect(await s.all('SELECT x FROM t')).toEqual([]);
    await s.close();
  });

  it('open() under a lock that stays taken: ERR_STORAGE_UNAVAILABLE (retryable, exit 75), not "not a usable database"', async () => {
    const { file, other } = await exclusivelyHeld('open-locked.sqlite');
    const e = await outcome(SqliteStorage.open(file, { busyTimeoutMs: 200 }));
    other.close();
    expect(StorageError.is(e) && e.code).toBe('ERR_STORAGE_UNAVAILABLE');
    expect((e as StorageError).retryable).toBe(true);
    expect((e as StorageError).exitCode).toBe(75);
    expect((e as StorageError).dbCode).toMatch(/^SQLITE_(BUSY|LOCKED)/);
    const s = await SqliteStorage.open(file);
    await s.close();
  });
});
