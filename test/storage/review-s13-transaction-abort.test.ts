/**
 * Review s13 #1: a transaction whose body caught a failed statement and
 * resolved. PostgreSQL aborts the transaction at the failed statement and
 * answers the later COMMIT with the command tag ROLLBACK (no error), so the
 * storage used to resolve as committed with nothing committed; SQLite
 * committed the statements around the failed one. Both backends now roll
 * back and reject with a typed StorageError (types.ts), and stay usable.
 */
import { afterAll, beforeAll, describe, expect, it } from 'vitest';

import { PostgresStorage, SqliteStorage, StorageError, type Storage } from '../../src/storage/index.js';
import { createPgDatabase, PG_SKIP_REASON, warnIfPgSkipped, type PgTestDatabase } from '../helpers/postgres.js';

warnIfPgSkipped('test/storage/review-s13-transaction-abort.test.ts');

async function outcome(p: Promise<unknown>): Promise<{ resolved: unknown } | { error: unknown }> {
  return p.then(
    (resolved) => ({ resolved }),
    (error: unknown) => ({ error }),
  );
}

function cases(name: string, open: () => Promise<Storage>): void {
  describe(name, () => {
    let s: Storage;
    beforeAll(async () => {
      s = await open();
      await s.exec('CREATE TABLE t13 (id INTEGER PRIMARY KEY)');
    });
    afterAll(async () => {
      await s?.close();
    });

    const ids = async (): Promise<number[]> => (await s.all<{ id: number }>('SELECT id FROM t13 ORDER BY id')).map((r) => Number(r.id));

    it('a body that catches a failed statement and resolves: rejected typed, nothing committed (not even the statement before)', async () => {
      await s.run('DELETE FROM t13');
      await s.run('INSERT INTO t13 (id) VALUES (1)');
      let caught: unknown;
      const r = await outcome(
        s.transaction(async (tx) => {
          await tx.run('INSERT INTO t13 (id) VALUES (2)');
          try {
            await tx.run('INSERT INTO t13 (id) VALUES (1)'); // duplicate key
          } catch (e) {
            caught = e; // "already there, fine"
          }
          return 'ok';
        }),
      );
      expect(StorageError.is(caught)).toBe(true);
      expect('error' in r, `transaction() resolved ${JSON.stringify(r)}`).toBe(true);
      const e = (r as { error: unknown }).error;
      expect(StorageError.is(e), String(e)).toBe(true);
      expect((e as StorageError).code).toBe('ERR_STORAGE_QUERY');
      expect((e as StorageError).retryable).toBe(false);
      expect((e as StorageError).message).toMatch(/nothing was committed/);
      expect((e as StorageError).cause).toBe(caught);
      expect(await ids()).toEqual([1]);
      // The storage is usable: no transaction left open, the next one commits.
      await s.transaction((tx) => tx.run('INSERT INTO t13 (id) VALUES (3)'));
      expect(await ids()).toEqual([1, 3]);
    });

    it('a failed query (SELECT) caught by the body also rolls back', async () => {
      await s.run('DELETE FROM t13');
      const r = await outcome(
        s.transaction(async (tx) => {
          await tx.run('INSERT INTO t13 (id) VALUES (5)');
          await tx.get('SELECT * FROM no_such_table_s13').catch(() => undefined);
          return 'ok';
        }),
      );
      expect('error' in r && StorageError.is(r.error) && r.error.code).toBe('ERR_STORAGE_QUERY');
      expect(await ids()).toEqual([]);
    });

    it('a body that rethrows gets its own error, rolled back, as before', async () => {
      await s.run('DELETE FROM t13');
      await s.run('INSERT INTO t13 (id) VALUES (1)');
      const mine = new Error('mine');
      const r = await outcome(
        s.transaction(async (tx) => {
          await tx.run('INSERT INTO t13 (id) VALUES (2)');
          await tx.run('INSERT INTO t13 (id) VALUES (1)').catch(() => {
            throw mine;
          });
        }),
      );
      expect(r).toEqual({ error: mine });
      expect(await ids()).toEqual([1]);
    });

    it('a statement failing outside any transaction does not taint the next transaction', async () => {
      await s.run('DELETE FROM t13');
      await s.run('INSERT INTO t13 (id) VALUES (1)');
      await expect(s.run('INSERT INTO t13 (id) VALUES (1)')).rejects.toMatchObject({ code: 'ERR_STORAGE_QUERY' });
      expect(await s.transaction(async (tx) => (await tx.run('INSERT INTO t13 (id) VALUES (2)')).changes)).toBe(1);
      expect(await ids()).toEqual([1, 2]);
    });
  });
}

cases('review s13 #1: SQLite', () => SqliteStorage.open(':memory:'));

describe.skipIf(PG_SKIP_REASON)('review s13 #1: PostgreSQL', () => {
  let db: PgTestDatabase;
  beforeAll(async () => {
    db = await createPgDatabase();
  }, 120_000);
  afterAll(async () => {
    await db?.drop();
  });
  cases('a real server', () => PostgresStorage.open(db.url));
});
