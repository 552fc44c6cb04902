/**
 * Review s7, PostgreSQL backend: a transaction whose connection dies (a
 * terminated session, between statements or during one) rejects typed and
 * leaves the process and the pool usable; a session idle inside a
 * transaction is ended by the server, so a second instance gets the
 * migration lock; migrations run without the statement timeout but give up
 * (retryably) on a table lock they cannot get; a late
 * statement after close() or through a stale tx is ERR_STORAGE_CLOSED; a
 * missing privilege says so.
 */
import { randomBytes } from 'node:crypto';

import pg from 'pg';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';

import { migrate, PostgresStorage, StorageError, type SqlExecutor } from '../../src/storage/index.js';
import { createPgDatabase, PG_SKIP_REASON, warnIfPgSkipped, type PgTestDatabase } from '../helpers/postgres.js';

warnIfPgSkipped('test/storage/review-s7-postgres.test.ts');

async function rejection(p: Promise<unknown>): Promise<StorageError> {
  const e = await p.then(
    () => undefined,
    (err: unknown) => err,
  );
  expect(StorageError.is(e), String(e)).toBe(true);
  return e as StorageError;
}

/** A promise and the function that resolves it: the test waits for an event, never for time. */
function signal<T = void>(): { promise: Promise<T>; fire: (v: T) => void } {
  let fire!: (v: T) => void;
  const promise = new Promise<T>((r) => (fire = r));
  return { promise, fire };
}

describe.skipIf(PG_SKIP_REASON)('review s7: PostgreSQL connections that die or stall', () => {
  let db: PgTestDatabase;
  const opened: PostgresStorage[] = [];
  const open = async (options: Parameters<typeof PostgresStorage.open>[1] = {}): Promise<PostgresStorage> => {
    const s = await PostgresStorage.open(db.url, options);
    opened.push(s);
    return s;
  };
  let admin: PostgresStorage;

  beforeAll(async () => {
    db = await createPgDatabase();
    admin = await open();
  }, 120_000);
  afterAll(async () => {
    await Promise.all(opened.map((s) => s.close()));
    await db?.drop();
  });

  /** Waits (by asking the server, round trip after round trip) until the session runs a statement matching `like`. */
  async function runningIn(pid: number, like: string): Promise<void> {
    for (;;) {
      const r = await admin.get<{ state: string }>('SELECT state FROM pg_stat_activity WHERE pid = ? AND query LIKE ?', [pid, like]);
      if (r?.state === 'active') return;
    }
  }

  it('a session terminated between two statements of a transaction: ERR_STORAGE_UNAVAILABLE, onError told, the process alive, the pool still serves', async () => {
    const lost = signal<StorageError>();
    const s = await open({ poolMax: 2, onError: (e) => lost.fire(e) });
    const e = await rejection(
      s.transaction(async (tx) => {
        const row = await tx.get<{ pid: number }>('SELECT pg_backend_pid() AS pid');
        await admin.get('SELECT pg_terminate_backend(?)', [row!.pid]);
        // The client has seen the server end the session while no statement of ours was running.
        await lost.promise;
        await tx.run('SELECT 1');
      }),
    );
    expect(e.code).toBe('ERR_STORAGE_UNAVAILABLE');
    expect(e.retryable).toBe(true);
    expect((await lost.promise).code).toBe('ERR_STORAGE_UNAVAILABLE');
    await s.ping();
    // The dead connection was discarded, not handed to the next transactions.
    for (let i = 0; i < 3; i++) expect(await s.transaction((tx) => tx.get<{ ok: number }>('SELECT 1 AS ok'))).toEqual({ ok: 1 });
  });

  it('a session terminated while a statement of the transaction runs: ERR_STORAGE_UNAVAILABLE, the process alive, ping ok', async () => {
    const errors: StorageError[] = [];
    const s = await open({ poolMax: 2, onError: (e) => errors.push(e) });
    const e = await rejection(
      s.transaction(async (tx) => {
        const row = await tx.get<{ pid: number }>('SELECT pg_backend_pid() AS pid');
        const sleeping = tx.run('SELECT pg_sleep(25)');
        sleeping.catch(() => {}); // it may fail before the terminating call returns; awaited below
        await runningIn(row!.pid, '%pg_sleep%');
        await admin.get('SELECT pg_terminate_backend(?)', [row!.pid]);
        await sleeping;
      }),
    );
    expect(e.code).toBe('ERR_STORAGE_UNAVAILABLE');
    await s.ping();
    for (let i = 0; i < 3; i++) expect(await s.transaction((tx) => tx.get<{ ok: number }>('SELECT 1 AS ok'))).toEqual({ ok: 1 });
    // The client's 'error' event (the socket closing under the transaction) was heard, not left unhandled.
    expect(errors.length).toBeGreaterThan(0);
    expect(errors.every((x) => x.code === 'ERR_STORAGE_UNAVAILABLE')).toBe(true);
  });

  it('a transaction that resolves after its connection was lost is not reported as committed', async () => {
    const lost = signal<StorageError>();
    const s = await open({ poolMax: 1, onError: (e) => lost.fire(e) });
    await s.exec('CREATE TABLE IF NOT EXISTS lost_commit (id TEXT PRIMARY KEY)');
    const e = await rejection(
      s.transaction(async (tx) => {
        await tx.run('INSERT INTO lost_commit (id) VALUES (?)', ['x']);
        const row = await tx.get<{ pid: number }>('SELECT pg_backend_pid() AS pid');
        await admin.get('SELECT pg_terminate_backend(?)', [row!.pid]);
        await lost.promise;
        return 'done'; // fn swallows nothing and issues nothing more: the transaction itself must refuse
      }),
    );
    expect(e.code).toBe('ERR_STORAGE_UNAVAILABLE');
    expect(await s.get('SELECT id FROM lost_commit')).toBeUndefined();
  });

  it('a connection lost during COMMIT: ERR_STORAGE_UNAVAILABLE that says the outcome is unknown (round 2)', async () => {
    const s = await open({ poolMax: 1 });
    // A deferred constraint trigger runs inside COMMIT: the session is then reliably "in COMMIT" when it is terminated.
    await admin.exec(`CREATE TABLE commit_slow (id TEXT);
      CREATE FUNCTION commit_slow_wait() RETURNS trigger LANGUAGE plpgsql AS $$ BEGIN PERFORM pg_sleep(25); RETURN NULL; END $$;
      CREATE CONSTRAINT TRIGGER commit_slow_t AFTER INSERT ON commit_slow DEFERRABLE INITIALLY DEFERRED FOR EACH ROW EXECUTE FUNCTION commit_slow_wait()`);
    const backend = signal<number>();
    const committing = rejection(
      s.transaction(async (tx) => {
        backend.fire((await tx.get<{ pid: number }>('SELECT pg_backend_pid() AS pid'))!.pid);
        await tx.run('INSERT INTO commit_slow (id) VALUES (?)', ['x']);
      }),
    );
    const pid = await backend.promise;
    await runningIn(pid, 'COMMIT');
    await admin.get('SELECT pg_terminate_backend(?)', [pid]);
    const e = await committing;
    expect(e.code).toBe('ERR_STORAGE_UNAVAILABLE');
    expect(e.message).toMatch(/may or may not have been committed/);
    await s.ping();
  });

  it('a session idle inside transaction({lock}) is ended by the server after the idle timeout; another instance then migrates', async () => {
    const cut = signal<StorageError>();
    // No idle timeout while the second instance gets to the lock: the holder is cut only once it is seen waiting (no race).
    const frozen = await open({ poolMax: 1, idleInTransactionTimeoutMs: 0, onError: (e) => cut.fire(e) });
    const other = await open();
    const holding = signal();
    const waiterSeen = signal();
    const set = { component: 'review-s7-idle', migrations: [{ version: 1, name: 'a', sql: { sqlite: '', postgres: 'CREATE TABLE review_s7_idle (id TEXT)' } }] };
    const held = rejection(
      frozen.transaction(
        async (t) => {
          holding.fire();
          await waiterSeen.promise;
          // From now on the server ends this session once it sits idle in the transaction.
          await t.run("SET LOCAL idle_in_transaction_session_timeout = '100ms'");
          // An instance that stalls while holding the migration lock (a frozen VM, a stuck await).
          await cut.promise;
          await t.run('SELECT 1');
        },
        { lock: 'tee-verify:schema-migrations' },
      ),
    );
    await holding.promise;
    let settled = false;
    const migrating = migrate(other, set).finally(() => (settled = true));
    migrating.catch(() => {}); // awaited below
    // The second instance is really waiting for the advisory lock before the first one is cut (or it failed: reported below).
    while (!settled) {
      const w = await admin.get<{ n: number }>("SELECT COUNT(*) AS n FROM pg_stat_activity WHERE wait_event_type = 'Lock' AND wait_event = 'advisory' AND datname = current_database()");
      if ((w?.n ?? 0) > 0) break;
    }
    expect(settled).toBe(false);
    waiterSeen.fire();
    expect((await migrating).applied).toEqual(['1 a']);
    const e = await held;
    expect(e.code).toBe('ERR_STORAGE_UNAVAILABLE');
    expect(e.dbCode).toBe('25P03');
    expect((await cut.promise).dbCode).toBe('25P03');
    await frozen.ping();
  });

  it('a migration whose DDL waits for a table lock (an idle psql that read the table) gives up retryably; the other sessions\' reads are then served', async () => {
    await admin.exec('CREATE TABLE review_s7_locked (id INT)');
    // An operator's psql left open inside a transaction that read the table: ACCESS SHARE, held while idle (no idle timeout of ours applies to it).
    const operator = new pg.Client({ connectionString: db.url });
    await operator.connect();
    try {
      await operator.query('BEGIN');
      await operator.query('SELECT * FROM review_s7_locked');
      const migrating = await open();
      const reader = await open();
      const set = { component: 'review-s7-lock-timeout', migrations: [{ version: 1, name: 'add column', sql: { sqlite: '', postgres: 'ALTER TABLE review_s7_locked ADD COLUMN note TEXT' } }] };
      let settled = false;
      const outcome = rejection(migrate(migrating, set, new Date(), { lockTimeoutMs: 300 })).finally(() => (settled = true));
      // Wait until the ALTER is queued for the table lock (or the migration already gave up), then read the table from another instance: it queues behind the ALTER.
      while (!settled) {
        const w = await admin.get<{ n: number }>("SELECT COUNT(*) AS n FROM pg_stat_activity WHERE wait_event_type = 'Lock' AND wait_event = 'relation' AND query LIKE 'ALTER TABLE review_s7_locked%'");
        if ((w?.n ?? 0) > 0) break;
      }
      const read = reader.get<{ n: number }>('SELECT COUNT(*)::int AS n FROM review_s7_locked');
      const e = await outcome;
      expect(e.code).toBe('ERR_STORAGE_UNAVAILABLE');
      expect(e.retryable).toBe(true);
      expect(e.dbCode).toBe('55P03');
      expect(e.message).toMatch(/nothing was changed/);
      // The migration's lock request is gone, so the read queued behind it is served while the operator still holds the table.
      expect(await read).toEqual({ n: 0 });
      expect(await migrating.get("SELECT COUNT(*)::int AS n FROM schema_migrations WHERE component = 'review-s7-lock-timeout'")).toEqual({ n: 0 });
      await operator.query('ROLLBACK');
      // Once the lock is free the same migration runs.
      expect((await migrate(migrating, set)).applied).toEqual(['1 add column']);
    } finally {
      await operator.end();
    }
  });

  it('migrations run without the statement timeout; other transactions keep it; a transaction may set its own', async () => {
    const s = await open({ statementTimeoutMs: 12_345 });
    let seen: string | undefined;
    let lockTimeout: string | undefined;
    await migrate(s, {
      component: 'review-s7-timeout',
      migrations: [],
      afterMigrate: async (tx) => {
        seen = (await tx.get<{ statement_timeout: string }>('SHOW statement_timeout'))?.statement_timeout;
        lockTimeout = (await tx.get<{ lock_timeout: string }>('SHOW lock_timeout'))?.lock_timeout;
      },
    });
    expect(seen).toBe('0');
    expect(lockTimeout).toBe('10s'); // DDL gives up on a table lock it cannot get (round 2)
    expect(await s.get('SHOW lock_timeout')).toEqual({ lock_timeout: '0' });
    expect(await s.transaction((tx) => tx.get('SHOW statement_timeout'))).toEqual({ statement_timeout: '12345ms' });
    expect(await s.transaction((tx) => tx.get('SHOW statement_timeout'), { statementTimeoutMs: 2000 })).toEqual({ statement_timeout: '2s' });
    expect(await s.get('SHOW statement_timeout')).toEqual({ statement_timeout: '12345ms' }); // SET LOCAL ended with its transaction
    expect(await s.get('SHOW idle_in_transaction_session_timeout')).toEqual({ idle_in_transaction_session_timeout: '1min' });
  });

  it('placeholders skip comments and dollar-quoted bodies on a real server', async () => {
    expect(await admin.get("SELECT ?::text AS a /* ? */, $$?$$ AS b, 'c?' AS c -- ?\n", ['x'])).toEqual({ a: 'x', b: '?', c: 'c?' });
  });

  it('a statement after close() and one through the tx of an ended transaction are ERR_STORAGE_CLOSED', async () => {
    const s = await open();
    let stale: SqlExecutor | undefined;
    await s.transaction(async (tx) => void (stale = tx));
    expect((await rejection(stale!.get('SELECT 1'))).code).toBe('ERR_STORAGE_CLOSED');
    await s.close();
    expect((await rejection(s.exec('SELECT 1'))).code).toBe('ERR_STORAGE_CLOSED');
    expect((await rejection(s.get('SELECT 1'))).code).toBe('ERR_STORAGE_CLOSED');
    expect((await rejection(s.transaction(async () => undefined))).code).toBe('ERR_STORAGE_CLOSED');
  });

  it('a missing privilege (42501) is ERR_STORAGE_AUTH that says a privilege is missing, not that the password is wrong', async () => {
    const role = `tee_r_${randomBytes(4).toString('hex')}`;
    const password = randomBytes(12).toString('hex');
    await admin.exec(`CREATE TABLE private_rows (id TEXT); CREATE ROLE ${role} LOGIN PASSWORD '${password}'`);
    try {
      const u = new URL(db.url);
      u.username = role;
      u.password = password;
      const s = await PostgresStorage.open(u.toString());
      try {
        const e = await rejection(s.get('SELECT * FROM private_rows'));
        expect(e.code).toBe('ERR_STORAGE_AUTH');
        expect(e.dbCode).toBe('42501');
        expect(e.message).toMatch(/permission denied/);
        expect(e.message).toMatch(/lacks a privilege/);
        expect(e.message).not.toMatch(/authentication failed/);
      } finally {
        await s.close();
      }
    } finally {
      const c = new pg.Client({ connectionString: db.url });
      await c.connect();
      await c.query(`DROP TABLE private_rows; DROP ROLE ${role}`);
      await c.end();
    }
  });
});
