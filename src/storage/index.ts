/**
 * Storage for the services: one async interface (types.ts), SQLite
 * (embedded default) and PostgreSQL (several instances on one database),
 * versioned migrations, typed errors. docs/scale-out.md.
 */
export type { Dialect, RunResult, SqlExecutor, SqlValue, Storage, TransactionOptions } from './types.js';
export { StorageError, EXIT_CONFIG, EXIT_TEMPFAIL, type StorageErrorCode } from './errors.js';
export { SqliteStorage, type SqliteOptions } from './sqlite.js';
export { PostgresStorage, redactUrl, type PostgresOptions } from './postgres.js';
export { migrate, checkSchema, latestVersion, type Migration, type MigrationSet, type MigrationOutcome, type MigrateOptions } from './migrate.js';
export { openStorage, parseStorageLocation, sqliteLocation, describeLocation, type StorageLocation, type OpenStorageOptions } from './open.js';
