/**
 * The storage interface on both backends: statements, transactions,
 * versioned migrations (serialised across instances, refused when the schema
 * is newer), typed errors for bad configuration, and the shared-state
 * primitives the key broker builds on (conditional single-use UPDATE, the
 * database-backed rate limit) exercised from two separate connections: on
 * SQLite the second one is a child process on the same file (review s9).
 */
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';

import { afterAll, beforeAll, describe, expect, it } from 'vitest';

import { RateLimiter } from '../../src/kbs/rate-limit.js';
import { checkSchema, migrate, openStorage, parseStorageLocation, StorageError, type Migration, type MigrationSet, type Storage } from '../../src/storage/index.js';
import { BACKENDS, createPgDatabase, warnIfPgSkipped, type PgTestDatabase } from '../helpers/postgres.js';
import { SqliteChild } from './sqlite-child.js';

const dir = mkdtempSync(join(tmpdir(), 'tee-storage-'));
afterAll(() => rmSync(dir, { recursive: true, force: true }));
warnIfPgSkipped('test/storage/storage.test.ts');

async function expectStorageError(p: Promise<unknown>, code: string): Promise<StorageError> {
  const e = await p.then(
    () => undefined,
    (err: unknown) => err,
  );
  expect(StorageError.is(e), String(e)).toBe(true);
  expect((e as StorageError).code).toBe(code);
  return e as StorageError;
}

const ddl = (sql: string): Record<'sqlite' | 'postgres', string> => ({ sqlite: sql, postgres: sql });
const demo = (migrations: Migration[]): MigrationSet => ({ component: 'demo', migrations });
const M1: Migration = { version: 1, name: 'items', sql: ddl('CREATE TABLE items (id TEXT PRIMARY KEY, n BIGINT NOT NULL, data BYTEA, used BIGINT)'.replace('BYTEA', 'BLOB')) };
M1.sql.postgres = 'CREATE TABLE items (id TEXT PRIMARY KEY, n BIGINT NOT NULL, data BYTEA, used BIGINT)';
const M2: Migration = { version: 2, name: 'labels', sql: ddl('CREATE TABLE labels (id TEXT PRIMARY KEY)') };

describe.each(BACKENDS)('storage on $name', ({ name, skip }) => {
  let pgdb: PgTestDatabase | undefined;
  let location = '';
  const opened: Storage[] = [];
  const open = async (): Promise<Storage> => {
    const s = await openStorage(location, { sqlite: { synchronous: 'NORMAL' } });
    opened.push(s);
    return s;
  };
  let s: Storage;
  /**
   * A second instance's connection. SQLite: the same storage, because two
   * better-sqlite3 connections in one thread would wait for each other
   * synchronously; the cross-connection tests use otherInstance() instead.
   */
  const another = async (): Promise<Storage> => (name === 'postgres' ? open() : s);

  /** The consumer and rate-limit operations of a second instance. */
  interface Instance {
    consume(item: string, by: number): Promise<number>;
    take(client: string, at: number): Promise<number>;
  }
  const RATE = { burst: 3, perSecond: 1 };
  const consumeIn = (db: Storage, item: string, by: number): Promise<number> =>
    db.transaction(async (tx) => (await tx.run('UPDATE items SET used = ? WHERE id = ? AND used IS NULL', [by, item])).changes);
  const inProcess = (db: Storage): Instance => {
    const limiter = new RateLimiter(db, RATE);
    return { consume: (item, by) => consumeIn(db, item, by), take: (client, at) => limiter.take(client, at) };
  };
  let childBundle: { bundle: string; remove: () => void } | undefined;
  const children: SqliteChild[] = [];
  /**
   * Another instance on the same database. SQLite: a child process on the same file (the same
   * storage here would make the tests pass whatever happens across processes); PostgreSQL: a second pool.
   */
  const otherInstance = async (): Promise<Instance> => {
    if (name === 'postgres') return inProcess(await open());
    childBundle ??= await SqliteChild.bundle();
    const child = await SqliteChild.start(childBundle.bundle, location.slice('sqlite:'.length));
    children.push(child);
    return { consume: (item, by) => child.call({ op: 'consume', item, by }), take: (client, at) => child.call({ op: 'take', client, at, ...RATE }) };
  };

  beforeAll(async () => {
    if (skip) return;
    if (name === 'postgres') {
      pgdb = await createPgDatabase();
      location = pgdb.url;
    } else location = `sqlite:${join(dir, 'storage.sqlite')}`;
    s = await open();
    await migrate(s, demo([M1]));
  }, 120_000);
  afterAll(async () => {
    await Promise.all(children.map((c) => c.stop()));
    childBundle?.remove();
    await Promise.all(opened.map((x) => x.close()));
    await pgdb?.drop();
  });

  describe.skipIf(skip)('statements', () => {
    it('placeholders, BIGINT as number, BLOB / BYTEA as Buffer, RETURNING, ON CONFLICT', async () => {
      const data = Buffer.from([0, 1, 2, 255]);
      expect((await s.run('INSERT INTO items (id, n, data) VALUES (?, ?, ?)', ['a', 1_700_000_000_000, data])).changes).toBe(1);
      expect((await s.run('INSERT INTO items (id, n) VALUES (?, ?) ON CONFLICT (id) DO NOTHING', ['a', 5])).changes).toBe(0);
      const row = await s.get<{ id: string; n: number; data: Buffer }>("SELECT id, n, data FROM items WHERE id = ? AND 'literal?' = 'literal?'", ['a']);
      expect(row).toEqual({ id: 'a', n: 1_700_000_000_000, data });
      expect(Buffer.isBuffer(row?.data)).toBe(true);
      const ret = await s.get<{ n: number }>('UPDATE items SET n = n + 1 WHERE id = ? RETURNING n', ['a']);
      expect(ret?.n).toBe(1_700_000_000_001);
      expect(await s.all('SELECT id FROM items WHERE id = ?', ['none'])).toEqual([]);
      await s.ping();
    });

    it('a failing statement is ERR_STORAGE_QUERY with the database code', async () => {
      const e = await expectStorageError(s.run('INSERT INTO items (id, n) VALUES (?, ?)', ['a', 1]), 'ERR_STORAGE_QUERY');
      expect(e.dbCode).toBe(name === 'postgres' ? '23505' : 'SQLITE_CONSTRAINT_PRIMARYKEY');
    });
  });

  describe.skipIf(skip)('transactions', () => {
    it('commit on resolve, rollback on throw (the thrown error passes through unchanged)', async () => {
      await s.transaction(async (tx) => {
        await tx.run('INSERT INTO items (id, n) VALUES (?, ?)', ['t1', 1]);
      });
      const boom = new Error('boom');
      await expect(
        s.transaction(async (tx) => {
          await tx.run('INSERT INTO items (id, n) VALUES (?, ?)', ['t2', 1]);
          throw boom;
        }),
      ).rejects.toBe(boom);
      expect((await s.all<{ id: string }>("SELECT id FROM items WHERE id IN ('t1', 't2') ORDER BY id")).map((r) => r.id)).toEqual(['t1']);
    });

    it('a statement issued outside while a transaction is open does not become part of it', async () => {
      // Issued by "another request" (this test's context) while the body waits: from inside the body it would be refused (review s9).
      let opened!: () => void;
      const isOpen = new Promise<void>((r) => (opened = r));
      let proceed!: () => void;
      const go = new Promise<void>((r) => (proceed = r));
      const transaction = s.transaction(async (tx) => {
        await tx.run('INSERT INTO items (id, n) VALUES (?, ?)', ['in-tx', 1]);
        opened();
        await go;
        throw new Error('roll back');
      });
      await isOpen;
      const outside = s.run('INSERT INTO items (id, n) VALUES (?, ?)', ['outside', 1]);
      proceed();
      await expect(transaction).rejects.toThrow('roll back');
      await outside;
      expect((await s.all<{ id: string }>("SELECT id FROM items WHERE id IN ('in-tx', 'outside')")).map((r) => r.id)).toEqual(['outside']);
    });

    it('a conditional UPDATE is single-use across two connections (exactly one of 20 concurrent consumers wins)', async () => {
      const here = inProcess(s);
      const other = await otherInstance();
      await s.run('INSERT INTO items (id, n) VALUES (?, ?)', ['nonce', 0]);
      const results = await Promise.all(Array.from({ length: 20 }, (_, i) => (i % 2 ? other : here).consume('nonce', i + 1)));
      expect(results.filter((c) => c === 1)).toHaveLength(1);
      expect(results.filter((c) => c === 0)).toHaveLength(19);
      // The winner's mark is what every connection reads.
      const used = (await s.get<{ used: number }>('SELECT used FROM items WHERE id = ?', ['nonce']))?.used;
      expect(results[(used as number) - 1]).toBe(1);
      // Consumed in the other instance first, it is gone for this one too.
      await s.run('INSERT INTO items (id, n) VALUES (?, ?)', ['nonce-2', 0]);
      expect(await other.consume('nonce-2', 1)).toBe(1);
      expect(await here.consume('nonce-2', 2)).toBe(0);
    });

    it('the database-backed rate limit is one bucket for every connection', async () => {
      await migrate(s, { component: 'kbs-rate', migrations: [{ version: 1, name: 'rate', sql: ddl('CREATE TABLE IF NOT EXISTS rate_limits (client TEXT PRIMARY KEY, tokens DOUBLE PRECISION NOT NULL, last_ms BIGINT NOT NULL, burst DOUBLE PRECISION NOT NULL, per_ms DOUBLE PRECISION NOT NULL, denied INTEGER NOT NULL DEFAULT 0)') }] });
      const a = new RateLimiter(s, RATE);
      const b = await otherInstance();
      const t = 1_800_000_000_000;
      const waits = [await a.take('10.0.0.1', t), await b.take('10.0.0.1', t), await a.take('10.0.0.1', t), await b.take('10.0.0.1', t)];
      expect(waits).toEqual([0, 0, 0, 1]);
      expect(await a.take('10.0.0.2', t)).toBe(0); // another client has its own bucket
      expect(await b.take('10.0.0.1', t + 1000)).toBe(0); // one token refilled after a second
      expect(await a.take('10.0.0.1', t + 1000)).toBeGreaterThan(0);
      expect(await a.take('10.0.0.1', t - 60_000)).toBeGreaterThan(0); // a clock behind refills nothing
    });
  });

  describe.skipIf(skip)('migrations', () => {
    it('apply once, record the version, do nothing the second time', async () => {
      const out = await migrate(s, demo([M1, M2]));
      expect(out).toMatchObject({ from: 1, to: 2, applied: ['2 labels'] });
      expect((await migrate(s, demo([M1, M2]))).applied).toEqual([]);
      expect(await checkSchema(s, demo([M1, M2]))).toBe(2);
    });

    it('instances starting together migrate one after the other (no error, each migration recorded once)', async () => {
      const set = { component: 'together', migrations: [{ version: 1, name: 'a', sql: ddl('CREATE TABLE together_a (id TEXT PRIMARY KEY)') }, { version: 2, name: 'b', sql: ddl('CREATE TABLE together_b (id TEXT PRIMARY KEY)') }] };
      const others = await Promise.all([another(), another(), another()]);
      const outcomes = await Promise.all(others.map((o) => migrate(o, set)));
      expect(outcomes.map((o) => o.applied.length).sort()).toEqual([0, 0, 2]);
      expect((await s.get<{ n: number }>("SELECT COUNT(*) AS n FROM schema_migrations WHERE component = 'together'"))?.n).toBe(2);
    });

    it('a schema newer than the code refuses to start (ERR_STORAGE_SCHEMA_TOO_NEW), for migrate and for checkSchema', async () => {
      await expectStorageError(migrate(s, demo([M1])), 'ERR_STORAGE_SCHEMA_TOO_NEW');
      await expectStorageError(checkSchema(s, demo([M1])), 'ERR_STORAGE_SCHEMA_TOO_NEW');
    });

    it('a failing migration changes nothing (ERR_STORAGE_MIGRATION, rolled back)', async () => {
      const bad: MigrationSet = { component: 'broken', migrations: [{ version: 1, name: 'ok', sql: ddl('CREATE TABLE broken_ok (id TEXT)') }, { version: 2, name: 'bad', sql: ddl('CREATE TABLE nonsense (') }] };
      await expectStorageError(migrate(s, bad), 'ERR_STORAGE_MIGRATION');
      await expectStorageError(s.all('SELECT * FROM broken_ok'), 'ERR_STORAGE_QUERY');
      expect((await s.get<{ n: number }>("SELECT COUNT(*) AS n FROM schema_migrations WHERE component = 'broken'"))?.n).toBe(0);
    });
  });
});

describe('bad configuration is a typed error at open', () => {
  it('unknown scheme and malformed URLs: ERR_STORAGE_CONFIG', async () => {
    expect(() => parseStorageLocation('mysql://x@y/z')).toThrow(expect.objectContaining({ code: 'ERR_STORAGE_CONFIG' }));
    expect(() => parseStorageLocation('postgres://[::1')).toThrow(expect.objectContaining({ code: 'ERR_STORAGE_CONFIG' }));
    expect(() => parseStorageLocation('')).toThrow(expect.objectContaining({ code: 'ERR_STORAGE_CONFIG' }));
    expect(parseStorageLocation('sqlite:/var/lib/kbs.sqlite')).toEqual({ kind: 'sqlite', file: '/var/lib/kbs.sqlite' });
    expect(parseStorageLocation('kbs.sqlite')).toEqual({ kind: 'sqlite', file: 'kbs.sqlite' });
  });

  it('SQLite: a directory that does not exist is ERR_STORAGE_UNREACHABLE; a file that is not a database is ERR_STORAGE_CONFIG', async () => {
    await expectStorageError(openStorage(`sqlite:${join(dir, 'missing', 'x.sqlite')}`), 'ERR_STORAGE_UNREACHABLE');
    writeFileSync(join(dir, 'junk.sqlite'), 'this is not an SQLite database, just text that is long enough to fill a header page');
    await expectStorageError(openStorage(`sqlite:${join(dir, 'junk.sqlite')}`), 'ERR_STORAGE_CONFIG');
  });

  it('PostgreSQL: nothing listening is ERR_STORAGE_UNREACHABLE (retryable, exit 75)', async () => {
    // Port 1, not one probed free and closed: a test or cluster starting alongside could take that one; listen(0) never hands out port 1.
    const e = await expectStorageError(openStorage('postgres://tee:x@127.0.0.1:1/postgres'), 'ERR_STORAGE_UNREACHABLE');
    expect(e.retryable).toBe(true);
    expect(e.exitCode).toBe(75);
    expect(e.message).not.toContain(':x@');
  });

  describe.skipIf(BACKENDS[1]?.skip)('with a server', () => {
    it('wrong password and unknown database: ERR_STORAGE_AUTH (exit 78), the password never in the message', async () => {
      const db = await createPgDatabase();
      try {
        const u = new URL(db.url);
        u.password = 'definitely-wrong';
        const e = await expectStorageError(openStorage(u.toString()), 'ERR_STORAGE_AUTH');
        expect(e.exitCode).toBe(78);
        expect(e.dbCode).toBe('28P01');
        expect(e.message).not.toContain('definitely-wrong');
        const v = new URL(db.url);
        v.pathname = '/no_such_database';
        expect((await expectStorageError(openStorage(v.toString()), 'ERR_STORAGE_AUTH')).dbCode).toBe('3D000');
      } finally {
        await db.drop();
      }
    });
  });
});
