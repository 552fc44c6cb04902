/**
 * Versioned schema migrations, run on start. One transaction applies every
 * pending migration of a component and records it in `schema_migrations`;
 * on PostgreSQL the transaction first takes an advisory lock, so instances
 * starting together migrate one after the other (the later ones find nothing
 * to do). A database whose recorded version is above what this code knows
 * refuses to open (ERR_STORAGE_SCHEMA_TOO_NEW): an older binary must not
 * write into a schema it does not understand.
 */
import { StorageError } from './errors.js';
import type { Dialect, SqlExecutor, Storage } from './types.js';

export interface Migration {
  /** 1, 2, 3, … without gaps. */
  version: number;
  name: string;
  /** DDL per dialect (several statements, no parameters). */
  sql: Record<Dialect, string>;
}

export interface MigrationSet {
  /** Whose schema this is ("kbs"); several components may share one database. */
  component: string;
  migrations: readonly Migration[];
  /** The version a database recorded before schema_migrations existed (adopted as applied). */
  legacyVersion?: (tx: SqlExecutor) => Promise<number | undefined>;
  /**
   * Runs in the same transaction after the migrations, on every start: idempotent DDL for objects
   * that may vanish outside the schema's history (SQLite's volatile file), or mirroring the version
   * for older binaries.
   */
  afterMigrate?: (tx: SqlExecutor, version: number) => Promise<void>;
}

export interface MigrationOutcome {
  from: number;
  to: number;
  applied: string[];
}

const MIGRATIONS_TABLE = `CREATE TABLE IF NOT EXISTS schema_migrations (
  component TEXT NOT NULL, version INTEGER NOT NULL, name TEXT NOT NULL, applied_at TEXT NOT NULL,
  PRIMARY KEY (component, version))`;

export const latestVersion = (set: MigrationSet): number => set.migrations.reduce((m, x) => Math.max(m, x.version), 0);

function checkSet(set: MigrationSet): void {
  set.migrations.forEach((m, i) => {
    if (m.version !== i + 1) throw new StorageError('ERR_STORAGE_MIGRATION', `${set.component}: migration ${m.name} has version ${m.version}, expected ${i + 1}`);
  });
}

async function recordedVersion(tx: SqlExecutor, component: string): Promise<number | undefined> {
  const row = await tx.get<{ v: number | null }>('SELECT MAX(version) AS v FROM schema_migrations WHERE component = ?', [component]);
  return row?.v ?? undefined;
}

function tooNew(set: MigrationSet, found: number, description: string): StorageError {
  return new StorageError(
    'ERR_STORAGE_SCHEMA_TOO_NEW',
    `${description}: the ${set.component} schema is version ${found}, newer than this software understands (${latestVersion(set)}); upgrade the software or use another database`,
  );
}

export interface MigrateOptions {
  /**
   * PostgreSQL statement timeout of the migration transaction, in ms; default 0 = none (DDL on a
   * large table may take long, and an instance waiting for another's migration lock must not give
   * up). A migrating instance that freezes is still cut by the idle-in-transaction timeout.
   */
  statementTimeoutMs?: number;
  /**
   * PostgreSQL lock timeout of each statement of the migration, in ms, once the migration lock is
   * held; default 10 000. DDL needs an ACCESS EXCLUSIVE lock, and while it waits for one (behind an
   * operator's idle transaction that read the table) every other session's reads of that table
   * queue behind it: the migration gives up instead, with the retryable ERR_STORAGE_UNAVAILABLE
   * (nothing changed, start again later). 0 = wait forever.
   */
  lockTimeoutMs?: number;
}

export const DEFAULT_MIGRATION_LOCK_TIMEOUT_MS = 10_000;

/** Brings the component's schema up to date. `now` stamps the applied rows. */
export async function migrate(storage: Storage, set: MigrationSet, now: Date = new Date(), options: MigrateOptions = {}): Promise<MigrationOutcome> {
  checkSet(set);
  const latest = latestVersion(set);
  return storage.transaction(
    async (tx) => {
      await tx.exec(MIGRATIONS_TABLE);
      let from = await recordedVersion(tx, set.component);
      if (from === undefined) {
        from = (await set.legacyVersion?.(tx)) ?? 0;
        if (from > latest) throw tooNew(set, from, storage.description);
        for (const m of set.migrations.filter((x) => x.version <= from!)) {
          await tx.run('INSERT INTO schema_migrations (component, version, name, applied_at) VALUES (?, ?, ?, ?)', [set.component, m.version, `${m.name} (adopted)`, now.toISOString()]);
        }
      }
      if (from > latest) throw tooNew(set, from, storage.description);
      const applied: string[] = [];
      for (const m of set.migrations.filter((x) => x.version > from!)) {
        try {
          await tx.exec(m.sql[storage.dialect]);
        } catch (e) {
          // A lock not granted in time or a lost connection: retrying later can help, the schema is unchanged.
          if (StorageError.is(e) && e.retryable) {
            throw new StorageError(e.code, `${set.component} migration ${m.version} (${m.name}) did not run, nothing was changed, try again later: ${e.message}`, { cause: e, ...(e.dbCode ? { dbCode: e.dbCode } : {}) });
          }
          throw new StorageError('ERR_STORAGE_MIGRATION', `${set.component} migration ${m.version} (${m.name}) failed, nothing was changed: ${e instanceof Error ? e.message : String(e)}`, { cause: e });
        }
        await tx.run('INSERT INTO schema_migrations (component, version, name, applied_at) VALUES (?, ?, ?, ?)', [set.component, m.version, m.name, now.toISOString()]);
        applied.push(`${m.version} ${m.name}`);
      }
      await set.afterMigrate?.(tx, latest);
      return { from, to: latest, applied };
    },
    { lock: 'tee-verify:schema-migrations', statementTimeoutMs: options.statementTimeoutMs ?? 0, lockTimeoutMs: options.lockTimeoutMs ?? DEFAULT_MIGRATION_LOCK_TIMEOUT_MS },
  );
}

/** The component's recorded version without changing anything (0 when never migrated); refuses a newer schema. */
export async function checkSchema(storage: Storage, set: MigrationSet): Promise<number> {
  const exists = await storage.get<{ n: number }>(
    storage.dialect === 'sqlite' ? "SELECT COUNT(*) AS n FROM sqlite_master WHERE type = 'table' AND name = 'schema_migrations'" : "SELECT COUNT(*) AS n FROM pg_tables WHERE tablename = 'schema_migrations' AND schemaname = current_schema()",
  );
  let found: number | undefined;
  if ((exists?.n ?? 0) > 0) found = await recordedVersion(storage, set.component);
  found ??= (await set.legacyVersion?.(storage)) ?? 0;
  if (found > latestVersion(set)) throw tooNew(set, found, storage.description);
  return found;
}
