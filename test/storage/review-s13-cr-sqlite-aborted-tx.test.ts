/**
 * Review s13 CR #1: on SQLite, a transaction's tx kept running statements
 * after one of them failed. Some SQLite failures (SQLITE_FULL, IOERR, NOMEM,
 * INSERT OR ROLLBACK, RAISE(ROLLBACK)) roll the whole transaction back by
 * themselves, so a later statement of the body ran in autocommit mode and was
 * committed at once, while transaction() still rejected with "nothing was
 * committed". Now every statement through tx after a failure is refused at
 * once, without running, with the first failure's code (as PostgreSQL refuses
 * it, 25P02), and nothing of the transaction is committed.
 */
import { afterEach, beforeEach, describe, expect, it } from 'vitest';

import { SqliteStorage, StorageError } from '../../src/storage/index.js';

async function outcome(p: Promise<unknown>): Promise<{ resolved: unknown } | { error: unknown }> {
  return p.then(
    (resolved) => ({ resolved }),
    (error: unknown) => ({ error }),
  );
}

describe('review s13 CR #1: SQLite refuses the statements of a transaction after a failed one', () => {
  let s: SqliteStorage;
  beforeEach(async () => {
    s = await SqliteStorage.open(':memory:');
    await s.exec('CREATE TABLE t13 (id INTEGER PRIMARY KEY, b BLOB)');
    await s.run('INSERT INTO t13 (id) VALUES (1)');
  });
  afterEach(async () => {
    await s.close();
  });
  const ids = async (): Promise<number[]> => (await s.all<{ id: number }>('SELECT id FROM t13 ORDER BY id')).map((r) => Number(r.id));

  /** A body that catches `failing`'s error and goes on with a SELECT and an INSERT of 9. */
  async function bodyGoesOn(failing: string): Promise<{ caught: unknown; later: unknown[]; r: Awaited<ReturnType<typeof outcome>> }> {
    let caught: unknown;
    const later: unknown[] = [];
    const r = await outcome(
      s.transaction(async (tx) => {
        await tx.run('INSERT INTO t13 (id) VALUES (2)');
        try {
          await tx.run(failing);
        } catch (e) {
          caught = e;
        }
        for (const step of [() => tx.get('SELECT 1 AS x'), () => tx.run('INSERT INTO t13 (id) VALUES (9)'), () => tx.exec('INSERT INTO t13 (id) VALUES (10)')]) {
          try {
            later.push({ ran: await step() });
          } catch (e) {
            later.push(e);
          }
        }
        return 'ok';
      }),
    );
    return { caught, later, r };
  }

  function expectRefusedLater(caught: unknown, later: unknown[]): void {
    expect(StorageError.is(caught), String(caught)).toBe(true);
    for (const e of later) {
      expect(StorageError.is(e), `a statement after the failure ran: ${JSON.stringify(e)}`).toBe(true);
      expect((e as StorageError).code).toBe((caught as StorageError).code);
      expect((e as StorageError).cause).toBe(caught);
      expect((e as StorageError).message).toMatch(/failed earlier/);
    }
  }

  it('SQLITE_FULL (a full disk, via max_page_count): the INSERT after it is refused, nothing is committed', async () => {
    const pages = (await s.get<{ page_count: number }>('PRAGMA page_count'))!.page_count;
    await s.exec(`PRAGMA max_page_count = ${pages + 2}`);
    const { caught, later, r } = await bodyGoesOn('INSERT INTO t13 (id, b) VALUES (3, zeroblob(100000))');
    expect((caught as StorageError).code).toBe('ERR_STORAGE_IO');
    expect((caught as StorageError).dbCode).toMatch(/^SQLITE_FULL/);
    expectRefusedLater(caught, later);
    expect('error' in r && StorageError.is(r.error) && r.error.code).toBe('ERR_STORAGE_IO');
    expect(await ids()).toEqual([1]);
  });

  it('INSERT OR ROLLBACK (SQLite rolls the transaction back itself): the INSERT after it is refused, nothing is committed', async () => {
    const { caught, later, r } = await bodyGoesOn('INSERT OR ROLLBACK INTO t13 (id) VALUES (1)');
    expect((caught as StorageError).code).toBe('ERR_STORAGE_QUERY');
    expectRefusedLater(caught, later);
    expect('error' in r && StorageError.is(r.error) && r.error.code).toBe('ERR_STORAGE_QUERY');
    expect((r as { error: StorageError }).error.message).toMatch(/nothing was committed/);
    expect(await ids()).toEqual([1]);
  });

  it('a plain failure (duplicate key, the transaction still open): later statements refused too, like PostgreSQL', async () => {
    const { caught, later, r } = await bodyGoesOn('INSERT INTO t13 (id) VALUES (1)');
    expectRefusedLater(caught, later);
    expect('error' in r).toBe(true);
    expect(await ids()).toEqual([1]);
  });

  it('a body that ends the transaction itself (COMMIT through tx): a later statement is refused, not autocommitted', async () => {
    let later: unknown;
    const r = await outcome(
      s.transaction(async (tx) => {
        await tx.run('INSERT INTO t13 (id) VALUES (2)');
        await tx.exec('COMMIT');
        await tx.run('INSERT INTO t13 (id) VALUES (9)').catch((e: unknown) => (later = e));
        return 'ok';
      }),
    );
    expect(StorageError.is(later) && later.code).toBe('ERR_STORAGE_QUERY');
    expect('error' in r).toBe(true);
    expect(await ids()).not.toContain(9);
  });

  it('the storage stays usable and a transaction without failures commits every statement', async () => {
    await bodyGoesOn('INSERT OR ROLLBACK INTO t13 (id) VALUES (1)');
    await s.transaction(async (tx) => {
      await tx.run('INSERT INTO t13 (id) VALUES (4)');
      await tx.get('SELECT 1 AS x');
      await tx.exec('INSERT INTO t13 (id) VALUES (5)');
    });
    expect(await ids()).toEqual([1, 4, 5]);
  });
});
