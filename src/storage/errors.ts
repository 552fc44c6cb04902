/**
 * Storage errors: a stable code, whether retrying later can help, and the
 * process exit code a command-line tool uses when one stops it at start-up
 * (sysexits: 75 = try again later, 78 = fix the configuration).
 */
const BRAND = Symbol.for('tee-verify.storage-error');

export type StorageErrorCode =
  /** The database URL / path is malformed or names an unknown scheme. */
  | 'ERR_STORAGE_CONFIG'
  /** The server could not be reached (refused, timed out, unknown host) or the file could not be opened. */
  | 'ERR_STORAGE_UNREACHABLE'
  /** The server refused the credentials, or the database / role does not exist. */
  | 'ERR_STORAGE_AUTH'
  /** The database was migrated by a newer version of this software. */
  | 'ERR_STORAGE_SCHEMA_TOO_NEW'
  /** A migration failed; its transaction was rolled back, the schema is unchanged. */
  | 'ERR_STORAGE_MIGRATION'
  /** The database became unavailable while serving (connection lost, server shutting down). */
  | 'ERR_STORAGE_UNAVAILABLE'
  /**
   * The database could not write or read its files: disk full, an I/O error, a read-only file or
   * directory (SQLite: SQLITE_FULL, SQLITE_IOERR*, SQLITE_READONLY*; PostgreSQL: 53100, 58030).
   * Not retryable: someone must free space or fix the disk / permissions first.
   */
  | 'ERR_STORAGE_IO'
  /** A statement failed for another reason (constraint, trigger, ...). */
  | 'ERR_STORAGE_QUERY'
  /** The storage was used after close(). */
  | 'ERR_STORAGE_CLOSED';

export const EXIT_TEMPFAIL = 75;
export const EXIT_CONFIG = 78;

export class StorageError extends Error {
  readonly code: StorageErrorCode;
  /** True when the same call may succeed later without any change of configuration. */
  readonly retryable: boolean;
  /** The SQLSTATE (PostgreSQL) or SQLite result code of the cause, when there is one. */
  readonly dbCode: string | undefined;

  constructor(code: StorageErrorCode, message: string, options: { cause?: unknown; dbCode?: string } = {}) {
    super(message, options.cause === undefined ? undefined : { cause: options.cause });
    this.name = 'StorageError';
    this.code = code;
    this.retryable = code === 'ERR_STORAGE_UNREACHABLE' || code === 'ERR_STORAGE_UNAVAILABLE';
    this.dbCode = options.dbCode;
    Object.defineProperty(this, BRAND, { value: true });
  }

  static is(e: unknown): e is StorageError {
    return typeof e === 'object' && e !== null && (e as Record<symbol, unknown>)[BRAND] === true;
  }

  /** The exit status of a command stopped by this error at start-up. */
  get exitCode(): number {
    return this.retryable ? EXIT_TEMPFAIL : EXIT_CONFIG;
  }
}

/**
 * A transaction whose body resolved after one of its statements failed (the body caught the error):
 * rolled back, never committed, on both backends (types.ts). The code is the failed statement's
 * (ERR_STORAGE_QUERY for a constraint or syntax error; the retryable ERR_STORAGE_UNAVAILABLE for a
 * statement or lock timeout), the message says that nothing was committed.
 */
export function failedStatementError(first: StorageError): StorageError {
  return new StorageError(first.code, `a statement of this transaction failed and the transaction body went on; the transaction was rolled back, nothing was committed (the first failure: ${first.message})`, {
    cause: first,
    ...(first.dbCode ? { dbCode: first.dbCode } : {}),
  });
}

/**
 * A statement through a transaction's tx after an earlier statement of that transaction failed: refused
 * without running, as PostgreSQL refuses it (25P02, "current transaction is aborted"), with the first
 * failure's code and dbCode (review s13 CR #1). The transaction is rolled back when the body ends.
 */
export function abortedTransactionError(first: StorageError): StorageError {
  return new StorageError(first.code, `a statement of this transaction failed earlier: the transaction is aborted, later statements are refused until it ends and nothing of it will be committed (the first failure: ${first.message})`, {
    cause: first,
    ...(first.dbCode ? { dbCode: first.dbCode } : {}),
  });
}
