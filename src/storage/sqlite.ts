/**
 * The embedded backend: one SQLite file through better-sqlite3 (synchronous,
 * in-process). WAL mode, foreign keys on, `synchronous` FULL by default.
 *
 * better-sqlite3 has one connection, so an open transaction would see every
 * statement issued meanwhile by other requests of the process. The class
 * therefore serialises: while a transaction is open, other statements and
 * transactions wait for it (a promise chain); outside one, statements run at
 * once. A call through the storage from inside a transaction's own body (not
 * its tx) would wait for itself: it is refused, ERR_STORAGE_QUERY
 * (transaction-scope.ts). Other processes on the same file are kept out by SQLite's own locks
 * (BEGIN IMMEDIATE).
 *
 * Waiting for another process's lock must not stop this one: SQLite's busy
 * handler sleeps inside the synchronous call, so it gets only a short slice
 * (`busySliceMs`), and a statement (or BEGIN) that finds the database busy is
 * retried from a timer with a growing pause, up to `busyTimeoutMs` in all;
 * timers and other requests run in between. Statements inside a transaction
 * are not retried: BEGIN IMMEDIATE already holds the write lock; a script of
 * several statements given to exec() runs in a transaction of its own, so
 * none of its statements runs twice. New files
 * are created with mode 0600 (they hold the attestation log and client
 * addresses); SQLite gives the -wal and -shm files the database file's mode.
 */
import { closeSync, openSync } from 'node:fs';
import { createRequire } from 'node:module';
import { setTimeout as sleep } from 'node:timers/promises';

import { abortedTransactionError, failedStatementError, StorageError } from './errors.js';
import { refuseInsideTransaction, runTransactionBody } from './transaction-scope.js';
import type { RunResult, SqlExecutor, SqlValue, Storage, TransactionOptions } from './types.js';

interface Statement {
  run(...params: unknown[]): { changes: number };
  get(...params: unknown[]): unknown;
  all(...params: unknown[]): unknown[];
  reader: boolean;
}

interface Database {
  prepare(sql: string): Statement;
  exec(sql: string): void;
  pragma(source: string, options?: { simple?: boolean }): unknown;
  close(): void;
  readonly open: boolean;
  readonly inTransaction: boolean;
}

type DatabaseConstructor = new (file: string, options?: { readonly?: boolean; fileMustExist?: boolean; timeout?: number }) => Database;

const require = createRequire(import.meta.url);

export interface SqliteOptions {
  /** FULL (default): an acknowledged write survives power loss; NORMAL: it survives a process crash. */
  synchronous?: 'FULL' | 'NORMAL';
  /**
   * Attach `FILE-volatile` as schema `volatile` with synchronous OFF (default on unless read-only):
   * for tables whose loss is harmless (rate-limit buckets), so that writing them costs no fsync.
   */
  volatile?: boolean;
  readonly?: boolean;
  /** Fail instead of creating the file. */
  fileMustExist?: boolean;
  /** How long a statement waits in all for another process's lock before ERR_STORAGE_UNAVAILABLE; default 5000 ms. */
  busyTimeoutMs?: number;
  /** How long one attempt may block the event loop waiting for a lock (SQLite's busy timeout); default 50 ms. */
  busySliceMs?: number;
}

/** Result codes by prefix, so extended codes (SQLITE_BUSY_SNAPSHOT, SQLITE_IOERR_FSYNC, …) land with their primary code. */
const BUSY = /^SQLITE_(BUSY|LOCKED)(_|$)/;
const IO = /^SQLITE_(FULL|IOERR|READONLY)(_|$)/;

function ioReason(dbCode: string): string {
  if (dbCode.startsWith('SQLITE_FULL')) return 'the disk is full';
  if (dbCode.startsWith('SQLITE_READONLY')) return 'the database file or its directory is read-only';
  return 'I/O error';
}

/** Maps a better-sqlite3 error to a StorageError (exported for tests). */
export function classifySqliteError(e: unknown, what: string): StorageError {
  if (StorageError.is(e)) return e;
  const code = (e as { code?: unknown })?.code;
  const dbCode = typeof code === 'string' ? code : undefined;
  const message = e instanceof Error ? e.message : String(e);
  if (dbCode && BUSY.test(dbCode)) return new StorageError('ERR_STORAGE_UNAVAILABLE', `${what}: database is locked (${message})`, { cause: e, dbCode });
  if (dbCode && IO.test(dbCode)) return new StorageError('ERR_STORAGE_IO', `${what}: ${ioReason(dbCode)} (${message})`, { cause: e, dbCode });
  if (/database connection is not open/i.test(message)) return new StorageError('ERR_STORAGE_CLOSED', 'the storage is closed', { cause: e });
  return new StorageError('ERR_STORAGE_QUERY', `${what}: ${message}`, { cause: e, ...(dbCode ? { dbCode } : {}) });
}

const isBusy = (e: unknown): boolean => StorageError.is(e) && e.dbCode !== undefined && BUSY.test(e.dbCode);

/**
 * Runs `attempt` (which throws StorageErrors) when `turn` says it may, again after a growing pause
 * while it finds the database busy, until `timeoutMs` of waiting is spent. `turn` returns a promise
 * to wait for before trying (then asks again, so the check and the attempt are one synchronous
 * step), or undefined. The budget counts the nominal waits (busy slices and pauses): no clock is read.
 */
async function retryWhileBusy<T>(attempt: () => T, timeoutMs: number, sliceMs: number, turn: () => Promise<void> | undefined = () => undefined): Promise<T> {
  let waited = 0;
  let pause = 5;
  for (;;) {
    const wait = turn();
    if (wait) {
      await wait;
      continue;
    }
    try {
      return attempt();
    } catch (e) {
      waited += sliceMs;
      if (!isBusy(e) || waited >= timeoutMs) throw e;
    }
    const delay = Math.min(pause, timeoutMs - waited);
    await sleep(delay);
    waited += delay;
    pause = Math.min(pause * 2, 100);
  }
}

/** Creates a new database file (and the volatile side file) readable by the owner only; an existing file keeps its mode. */
function createPrivate(file: string): void {
  try {
    closeSync(openSync(file, 'wx', 0o600)); // an empty file is an empty SQLite database
  } catch {
    // It exists (keep the operator's mode), or the path is unusable: SQLite's open reports that, typed.
  }
}

class SqliteExecutor implements SqlExecutor {
  readonly dialect = 'sqlite' as const;
  /** Set on a transaction's tx when the transaction ends: a statement through it then would run outside any transaction. */
  ended = false;
  constructor(
    protected readonly db: Database,
    /** Prepared statements by SQL text, shared with the transaction executors. */
    protected readonly statements: Map<string, Statement> = new Map(),
  ) {}

  /** Told of every statement that failed; a transaction's tx records the first (TransactionExecutor). */
  protected statementFailed(_e: StorageError): void {}

  /** Throws when no statement may run through this executor now (a transaction's tx after a failure); run before each statement. */
  protected checkUsable(): void {}

  #prepare(sql: string): Statement {
    if (this.ended) throw new StorageError('ERR_STORAGE_CLOSED', 'the transaction has ended: statements after it go through the storage, not its tx');
    let s = this.statements.get(sql);
    if (!s) {
      s = this.db.prepare(sql);
      if (this.statements.size > 500) this.statements.clear();
      this.statements.set(sql, s);
    }
    return s;
  }

  protected allNow<Row>(sql: string, params: readonly SqlValue[]): Row[] {
    try {
      this.checkUsable();
      return this.#prepare(sql).all(...params) as Row[];
    } catch (e) {
      throw this.#failed(classifySqliteError(e, 'query failed'));
    }
  }

  protected runNow(sql: string, params: readonly SqlValue[]): RunResult {
    try {
      this.checkUsable();
      const s = this.#prepare(sql);
      // A statement that returns rows (… RETURNING) must be read, not run.
      if (s.reader) return { changes: s.all(...params).length };
      return { changes: s.run(...params).changes };
    } catch (e) {
      throw this.#failed(classifySqliteError(e, 'statement failed'));
    }
  }

  protected execNow(sql: string): void {
    try {
      if (this.ended) throw new StorageError('ERR_STORAGE_CLOSED', 'the transaction has ended: statements after it go through the storage, not its tx');
      this.checkUsable();
      this.db.exec(sql);
    } catch (e) {
      throw this.#failed(classifySqliteError(e, 'statement failed'));
    }
  }

  #failed(e: StorageError): StorageError {
    if (!this.ended) this.statementFailed(e);
    return e;
  }

  async all<Row>(sql: string, params: readonly SqlValue[] = []): Promise<Row[]> {
    return this.allNow<Row>(sql, params);
  }
  async get<Row>(sql: string, params: readonly SqlValue[] = []): Promise<Row | undefined> {
    return this.allNow<Row>(sql, params)[0];
  }
  async run(sql: string, params: readonly SqlValue[] = []): Promise<RunResult> {
    return this.runNow(sql, params);
  }
  async exec(sql: string): Promise<void> {
    this.execNow(sql);
  }
}

/**
 * The `tx` of one transaction. It records the first statement that failed: a body that catches that
 * error and resolves gets the transaction rolled back and rejected, as PostgreSQL does (it aborts a
 * transaction at its first failed statement), never a commit of the statements around the failed one
 * (review s13 #1; types.ts). After that failure every further statement through it is refused at
 * once, without running, with the recorded failure's code, as PostgreSQL refuses them (25P02): some
 * SQLite failures (SQLITE_FULL, IOERR, NOMEM, INSERT OR ROLLBACK, RAISE(ROLLBACK)) roll the whole
 * transaction back by themselves, and a statement run after that would be committed at once in
 * autocommit mode (review s13 CR #1). A statement through it when no transaction is open on the
 * connection (the body ran COMMIT or ROLLBACK itself) is refused for the same reason.
 */
class SqliteTransactionExecutor extends SqliteExecutor {
  failed: StorageError | undefined;
  protected override statementFailed(e: StorageError): void {
    this.failed ??= e;
  }
  protected override checkUsable(): void {
    if (this.ended) return; // refused as ERR_STORAGE_CLOSED by the statement itself
    if (this.failed) throw abortedTransactionError(this.failed);
    if (!this.db.inTransaction) {
      throw new StorageError('ERR_STORAGE_QUERY', 'the transaction is no longer open on the connection (a statement of its body ended it): later statements of the body are refused, they would run outside it');
    }
  }
}

export class SqliteStorage extends SqliteExecutor implements Storage {
  readonly description: string;
  /** Resolves when the transaction in progress (if any) has ended. */
  #idle: Promise<void> = Promise.resolve();
  #inTransaction = false;
  #closed = false;
  readonly #busyTimeoutMs: number;
  readonly #busySliceMs: number;

  private constructor(db: Database, file: string, busyTimeoutMs: number, busySliceMs: number) {
    super(db);
    this.description = `sqlite:${file}`;
    this.#busyTimeoutMs = busyTimeoutMs;
    this.#busySliceMs = busySliceMs;
  }

  /**
   * Opens (creating unless told otherwise) the database file. Errors: ERR_STORAGE_UNREACHABLE (the
   * file cannot be opened), ERR_STORAGE_CONFIG (not a usable database), ERR_STORAGE_UNAVAILABLE
   * (retryable: another connection kept it locked for the whole busy budget). Setting the file up
   * (WAL, ATTACH, reading the schema) waits for another connection's lock like a statement does:
   * step by step, from a timer, so the event loop keeps running.
   */
  static async open(file: string, options: SqliteOptions = {}): Promise<SqliteStorage> {
    const Ctor = require('better-sqlite3') as DatabaseConstructor;
    const inMemory = file === ':memory:' || file === '';
    const creates = !inMemory && !options.readonly && !options.fileMustExist;
    const busySliceMs = Math.max(0, Math.floor(options.busySliceMs ?? 50));
    const busyTimeoutMs = Math.max(0, options.busyTimeoutMs ?? 5000);
    let db: Database;
    try {
      if (creates) createPrivate(file);
      db = new Ctor(file, { timeout: busySliceMs, ...(options.readonly ? { readonly: true } : {}), ...(options.fileMustExist ? { fileMustExist: true } : {}) });
    } catch (e) {
      throw new StorageError('ERR_STORAGE_UNREACHABLE', `cannot open the SQLite database ${file}: ${e instanceof Error ? e.message : String(e)}`, { cause: e });
    }
    // Each step is one statement: one that found the database busy did nothing, so retrying it is safe.
    const steps: (() => unknown)[] = [];
    if (!options.readonly) steps.push(() => db.pragma('journal_mode = WAL'));
    steps.push(() => db.pragma(`synchronous = ${options.synchronous ?? 'FULL'}`));
    if (options.volatile ?? !options.readonly) {
      // Created whenever it is attached read-write, fileMustExist or not: `fileMustExist` guards the
      // database file only, and a missing side file (a database from before it existed, or one an
      // operator removed: its loss is harmless) must not stop an upgrade that opens the file that way.
      if (!inMemory && !options.readonly) steps.push(() => createPrivate(`${file}-volatile`));
      steps.push(() => db.prepare('ATTACH DATABASE ? AS volatile').run(inMemory ? ':memory:' : `${file}-volatile`));
      steps.push(() => db.pragma('volatile.journal_mode = WAL'));
      steps.push(() => db.pragma('volatile.synchronous = OFF'));
    }
    steps.push(() => db.pragma('foreign_keys = ON'));
    // REPLACE deletes the old row without firing DELETE triggers unless triggers may recurse: the
    // append-only guards of the attestation log and the refusal counts must hold for it too.
    steps.push(() => db.pragma('recursive_triggers = ON'));
    // Reading the schema fails here, not at the first request, when the file is not a database.
    steps.push(() => db.prepare('SELECT count(*) FROM sqlite_master').get());
    try {
      for (const step of steps) {
        await retryWhileBusy(
          () => {
            try {
              return step();
            } catch (e) {
              throw classifySqliteError(e, `opening ${file}`);
            }
          },
          busyTimeoutMs,
          busySliceMs,
        );
      }
    } catch (e) {
      db.close();
      if (StorageError.is(e) && e.code === 'ERR_STORAGE_UNAVAILABLE') {
        throw new StorageError('ERR_STORAGE_UNAVAILABLE', `cannot open the SQLite database ${file}: another connection kept it locked (${e.message}); try again later`, { cause: e, ...(e.dbCode ? { dbCode: e.dbCode } : {}) });
      }
      const cause = StorageError.is(e) && e.cause !== undefined ? e.cause : e;
      throw new StorageError('ERR_STORAGE_CONFIG', `${file} is not a usable SQLite database: ${cause instanceof Error ? cause.message : String(cause)}`, { cause });
    }
    return new SqliteStorage(db, file, busyTimeoutMs, busySliceMs);
  }

  /**
   * Runs `attempt` once no transaction of this process is open (a statement would join it otherwise), retried while another process holds the lock (retryWhileBusy).
   * Called from inside that transaction's own body it would wait for ever: refused (`what` names the call).
   */
  #whenFree<T>(attempt: () => T, what = 'a statement'): Promise<T> {
    return retryWhileBusy(attempt, this.#busyTimeoutMs, this.#busySliceMs, () => {
      if (this.#closed) throw new StorageError('ERR_STORAGE_CLOSED', 'the storage is closed');
      if (!this.#inTransaction) return undefined;
      refuseInsideTransaction(this, what);
      return this.#idle;
    });
  }

  override all<Row>(sql: string, params: readonly SqlValue[] = []): Promise<Row[]> {
    return this.#whenFree(() => this.allNow<Row>(sql, params));
  }
  override async get<Row>(sql: string, params: readonly SqlValue[] = []): Promise<Row | undefined> {
    return (await this.#whenFree(() => this.allNow<Row>(sql, params)))[0];
  }
  override run(sql: string, params: readonly SqlValue[] = []): Promise<RunResult> {
    return this.#whenFree(() => this.runNow(sql, params));
  }
  /**
   * One statement is retried when busy, like run(). A script of several statements runs in a
   * transaction of its own (BEGIN IMMEDIATE … COMMIT): all or nothing, and only BEGIN is retried, so
   * no statement of it ever runs twice. Such a script must not hold transaction control, VACUUM or
   * ATTACH; give those one at a time.
   */
  override async exec(sql: string): Promise<void> {
    if (this.#isOneStatement(sql)) return this.#whenFree(() => this.execNow(sql));
    await this.transaction((tx) => tx.exec(sql));
  }

  /** Whether `sql` compiles as one statement (anything else, a script or a failure to compile, takes the transaction path). */
  #isOneStatement(sql: string): boolean {
    if (this.#closed) return true; // execNow reports ERR_STORAGE_CLOSED
    try {
      this.db.prepare(sql);
      return true;
    } catch {
      return false;
    }
  }

  async transaction<T>(fn: (tx: SqlExecutor) => Promise<T>, _options: TransactionOptions = {}): Promise<T> {
    // IMMEDIATE: the write lock now, so two processes cannot both read then write. Taken (and
    // #inTransaction set) in one synchronous step, so no statement of this process slips in between.
    let done!: () => void;
    await this.#whenFree(() => {
      this.execNow('BEGIN IMMEDIATE');
      this.#inTransaction = true;
      this.#idle = new Promise<void>((r) => (done = r));
    }, 'a nested transaction');
    const tx = new SqliteTransactionExecutor(this.db, this.statements);
    try {
      let result: T;
      try {
        result = await runTransactionBody(this, () => fn(tx));
        // A statement failed and the body went on: roll back, as PostgreSQL must (its server has aborted the transaction).
        if (tx.failed) throw failedStatementError(tx.failed);
      } catch (e) {
        if (this.db.inTransaction) this.db.exec('ROLLBACK');
        throw e;
      }
      try {
        this.execNow('COMMIT');
      } catch (e) {
        // A refused COMMIT (deferred constraint, I/O error) can leave the transaction open: later
        // statements would join it and never be committed.
        if (this.db.inTransaction) this.db.exec('ROLLBACK');
        throw e;
      }
      return result;
    } finally {
      tx.ended = true;
      this.#inTransaction = false;
      done();
    }
  }

  async ping(): Promise<void> {
    await this.get('SELECT 1 AS ok');
  }

  async close(): Promise<void> {
    if (this.#inTransaction) refuseInsideTransaction(this, 'close()');
    while (this.#inTransaction) await this.#idle;
    this.#closed = true;
    if (this.db.open) this.db.close();
  }
}
