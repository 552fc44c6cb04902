/**
 * The embedded backend: one SQLite file through better-sqlite3 (synchronous,
 * in-process). WAL mode, foreign keys on, `synchronous` FULL by default.
 *
 * better-sqlite3 has one connection, so an open transaction would see every
 * statement issued meanwhile by other requests of the process. The class
 * therefore serialises: while a transaction is open, other statements and
 * transactions wait for it (a promise chain); outside one, statements run at
 * once. Other processes on the same file are kept out by SQLite's own locks
 * (BEGIN IMMEDIATE, busy timeout 5 s).
 */
import { createRequire } from 'node:module';

import { StorageError } from './errors.js';
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
}

function storageError(e: unknown, what: string): StorageError {
  if (StorageError.is(e)) return e;
  const code = (e as { code?: unknown })?.code;
  const dbCode = typeof code === 'string' ? code : undefined;
  const message = e instanceof Error ? e.message : String(e);
  if (dbCode === 'SQLITE_BUSY' || dbCode === 'SQLITE_LOCKED') return new StorageError('ERR_STORAGE_UNAVAILABLE', `${what}: database is locked (${message})`, { cause: e, dbCode });
  return new StorageError('ERR_STORAGE_QUERY', `${what}: ${message}`, { cause: e, ...(dbCode ? { dbCode } : {}) });
}

class SqliteExecutor implements SqlExecutor {
  readonly dialect = 'sqlite' as const;
  constructor(
    protected readonly db: Database,
    /** Prepared statements by SQL text, shared with the transaction executors. */
    protected readonly statements: Map<string, Statement> = new Map(),
  ) {}

  #prepare(sql: string): Statement {
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
      return this.#prepare(sql).all(...params) as Row[];
    } catch (e) {
      throw storageError(e, 'query failed');
    }
  }

  protected runNow(sql: string, params: readonly SqlValue[]): RunResult {
    try {
      const s = this.#prepare(sql);
      // A statement that returns rows (… RETURNING) must be read, not run.
      if (s.reader) return { changes: s.all(...params).length };
      return { changes: s.run(...params).changes };
    } catch (e) {
      throw storageError(e, 'statement failed');
    }
  }

  protected execNow(sql: string): void {
    try {
      this.db.exec(sql);
    } catch (e) {
      throw storageError(e, 'statement failed');
    }
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

export class SqliteStorage extends SqliteExecutor implements Storage {
  readonly description: string;
  /** Resolves when the transaction in progress (if any) has ended. */
  #idle: Promise<void> = Promise.resolve();
  #inTransaction = false;
  #closed = false;

  private constructor(db: Database, file: string) {
    super(db);
    this.description = `sqlite:${file}`;
  }

  /** Opens (creating unless told otherwise) the database file. Errors are ERR_STORAGE_UNREACHABLE / ERR_STORAGE_CONFIG. */
  static open(file: string, options: SqliteOptions = {}): SqliteStorage {
    const Ctor = require('better-sqlite3') as DatabaseConstructor;
    let db: Database;
    try {
      db = new Ctor(file, { timeout: 5000, ...(options.readonly ? { readonly: true } : {}), ...(options.fileMustExist ? { fileMustExist: true } : {}) });
    } catch (e) {
      throw new StorageError('ERR_STORAGE_UNREACHABLE', `cannot open the SQLite database ${file}: ${e instanceof Error ? e.message : String(e)}`, { cause: e });
    }
    try {
      if (!options.readonly) db.pragma('journal_mode = WAL');
      db.pragma(`synchronous = ${options.synchronous ?? 'FULL'}`);
      if (options.volatile ?? !options.readonly) {
        db.prepare('ATTACH DATABASE ? AS volatile').run(file === ':memory:' || file === '' ? ':memory:' : `${file}-volatile`);
        db.pragma('volatile.journal_mode = WAL');
        db.pragma('volatile.synchronous = OFF');
      }
      db.pragma('foreign_keys = ON');
      // REPLACE deletes the old row without firing DELETE triggers unless triggers may recurse: the
      // append-only guards of the attestation log and the refusal counts must hold for it too.
      db.pragma('recursive_triggers = ON');
      // Reading the schema fails here, not at the first request, when the file is not a database.
      db.prepare('SELECT count(*) FROM sqlite_master').get();
    } catch (e) {
      db.close();
      throw new StorageError('ERR_STORAGE_CONFIG', `${file} is not a usable SQLite database: ${e instanceof Error ? e.message : String(e)}`, { cause: e });
    }
    return new SqliteStorage(db, file);
  }

  /** Statements outside a transaction wait for an open one to end (they would join it otherwise). */
  async #outside<T>(fn: () => T): Promise<T> {
    if (this.#closed) throw new StorageError('ERR_STORAGE_CLOSED', 'the storage is closed');
    while (this.#inTransaction) await this.#idle;
    return fn();
  }

  override all<Row>(sql: string, params: readonly SqlValue[] = []): Promise<Row[]> {
    return this.#outside(() => this.allNow<Row>(sql, params));
  }
  override async get<Row>(sql: string, params: readonly SqlValue[] = []): Promise<Row | undefined> {
    return (await this.#outside(() => this.allNow<Row>(sql, params)))[0];
  }
  override run(sql: string, params: readonly SqlValue[] = []): Promise<RunResult> {
    return this.#outside(() => this.runNow(sql, params));
  }
  override exec(sql: string): Promise<void> {
    return this.#outside(() => this.execNow(sql));
  }

  async transaction<T>(fn: (tx: SqlExecutor) => Promise<T>, _options: TransactionOptions = {}): Promise<T> {
    if (this.#closed) throw new StorageError('ERR_STORAGE_CLOSED', 'the storage is closed');
    while (this.#inTransaction) await this.#idle;
    this.#inTransaction = true;
    let done!: () => void;
    this.#idle = new Promise<void>((r) => (done = r));
    const tx = new SqliteExecutor(this.db, this.statements);
    try {
      // IMMEDIATE: the write lock now, so two processes cannot both read then write.
      this.execNow('BEGIN IMMEDIATE');
      let result: T;
      try {
        result = await fn(tx);
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
      this.#inTransaction = false;
      done();
    }
  }

  async ping(): Promise<void> {
    await this.get('SELECT 1 AS ok');
  }

  async close(): Promise<void> {
    while (this.#inTransaction) await this.#idle;
    this.#closed = true;
    if (this.db.open) this.db.close();
  }
}
