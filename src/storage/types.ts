/**
 * The storage interface shared by the services (key broker today): a small
 * async SQL surface that both backends implement. Statements use `?`
 * placeholders and the SQL subset both SQLite and PostgreSQL accept
 * (INSERT … ON CONFLICT, RETURNING, CASE, CAST(? AS BIGINT)); where the
 * dialects differ (DDL, triggers) the caller branches on `dialect`.
 */
export type Dialect = 'sqlite' | 'postgres';

/** Values a statement binds: TEXT, INTEGER / BIGINT, DOUBLE PRECISION, BLOB / BYTEA, NULL. */
export type SqlValue = string | number | bigint | Buffer | null;

export interface RunResult {
  /** Rows inserted, updated or deleted by the statement. */
  changes: number;
}

export interface SqlExecutor {
  readonly dialect: Dialect;
  /** Every row of a query. BIGINT columns come back as numbers, BLOB / BYTEA as Buffers. */
  all<Row = Record<string, unknown>>(sql: string, params?: readonly SqlValue[]): Promise<Row[]>;
  /** The first row, or undefined. */
  get<Row = Record<string, unknown>>(sql: string, params?: readonly SqlValue[]): Promise<Row | undefined>;
  run(sql: string, params?: readonly SqlValue[]): Promise<RunResult>;
  /** Several statements without parameters (DDL in migrations). */
  exec(sql: string): Promise<void>;
}

export interface TransactionOptions {
  /**
   * A lock name held until the transaction ends, across every instance on the
   * same database (PostgreSQL: a transaction-scoped advisory lock; SQLite: the
   * write lock every transaction here takes anyway, BEGIN IMMEDIATE).
   */
  lock?: string;
  /**
   * PostgreSQL: the statement timeout inside this transaction (SET LOCAL), in ms; 0 = none.
   * Default: the storage's (30 s). Migrations lift it: DDL on a large table may run long. SQLite: ignored.
   */
  statementTimeoutMs?: number;
  /**
   * PostgreSQL: how long one statement of this transaction may wait for a table or row lock (SET
   * LOCAL lock_timeout, set after the `lock` is held, so waiting for that one is not cut), in ms;
   * 0 = forever. Default: the server's (forever). A wait cut short is the retryable
   * ERR_STORAGE_UNAVAILABLE (55P03). Migrations set 10 s. SQLite: ignored.
   */
  lockTimeoutMs?: number;
}

export interface Storage extends SqlExecutor {
  /** Where the data lives, without secrets (the password of a URL is masked). */
  readonly description: string;
  /**
   * Runs `fn` in one transaction: committed when it resolves, rolled back when
   * it throws. A statement through `tx` that fails ends the transaction's chance
   * to commit, on both backends (PostgreSQL aborts the transaction there): when
   * `fn` catches that error and resolves anyway, the transaction is rolled back
   * and rejects with a StorageError carrying the failed statement's code (never
   * resolves as committed). Every later statement through `tx` is then refused without running (review
   * s13 CR #1). A body that expects a statement may fail must avoid
   * the failure instead (INSERT … ON CONFLICT, a check before). Statements inside must go through `tx`: a statement, a nested
   * transaction or close() through the storage from inside `fn` is refused with
   * ERR_STORAGE_QUERY (it would wait for the transaction that waits for it).
   * `fn` must not run transaction control (BEGIN, COMMIT, ROLLBACK, SAVEPOINT) through `tx`: the
   * backends then disagree on what was committed (s13 change review storage2 #1, left as a contract:
   * no caller does it). Keep `fn` short and free of network calls: SQLite serialises transactions
   * of the process.
   */
  transaction<T>(fn: (tx: SqlExecutor) => Promise<T>, options?: TransactionOptions): Promise<T>;
  /** One round trip to the database (the health check). */
  ping(): Promise<void>;
  /** Waits for running statements, then releases the connection(s). Idempotent. */
  close(): Promise<void>;
}
