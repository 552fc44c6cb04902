/**
 * The key broker's schema, as versioned migrations (src/storage/migrate.ts).
 * Version 1 is the schema of the first SQLite-only broker: a database it
 * created (recorded in its `schema_version` table) is adopted as version 1
 * and migrated from there. `schema_version` is kept in step so that an older
 * broker binary refuses a database that a newer one migrated.
 */
import type { Migration, MigrationSet, SqlExecutor } from '../storage/index.js';

const V1_SQLITE = `
CREATE TABLE IF NOT EXISTS meta (name TEXT PRIMARY KEY, value TEXT NOT NULL);
CREATE TABLE IF NOT EXISTS admin_tokens (hash TEXT PRIMARY KEY, label TEXT NOT NULL, created_at TEXT NOT NULL);
CREATE TABLE IF NOT EXISTS policies (
  id TEXT PRIMARY KEY, format TEXT NOT NULL CHECK (format IN ('native', 'ita')), document TEXT NOT NULL, created_at TEXT NOT NULL);
CREATE TABLE IF NOT EXISTS keys (
  id TEXT PRIMARY KEY, policy_id TEXT NOT NULL REFERENCES policies(id), algorithm TEXT NOT NULL, key_length INTEGER NOT NULL,
  version INTEGER NOT NULL, iv BLOB NOT NULL, ciphertext BLOB NOT NULL, tag BLOB NOT NULL, created_at TEXT NOT NULL, rotated_at TEXT);
CREATE TABLE IF NOT EXISTS nonces (val TEXT PRIMARY KEY, key_id TEXT NOT NULL, iat TEXT NOT NULL, expires_at INTEGER NOT NULL, consumed_at INTEGER);
CREATE INDEX IF NOT EXISTS nonces_expiry ON nonces (expires_at);
CREATE TABLE IF NOT EXISTS attestation_log (
  seq INTEGER PRIMARY KEY AUTOINCREMENT, id TEXT NOT NULL UNIQUE, at TEXT NOT NULL, client TEXT NOT NULL, key_id TEXT,
  attestation_type TEXT, evidence TEXT, report_data TEXT, policy TEXT, claims TEXT,
  decision TEXT NOT NULL CHECK (decision IN ('released', 'refused')), error_code TEXT, error TEXT);
CREATE TRIGGER IF NOT EXISTS attestation_log_no_update BEFORE UPDATE ON attestation_log BEGIN SELECT RAISE(ABORT, 'attestation_log is append-only'); END;
CREATE TRIGGER IF NOT EXISTS attestation_log_no_delete BEFORE DELETE ON attestation_log BEGIN SELECT RAISE(ABORT, 'attestation_log is append-only'); END;
`;

const V1_POSTGRES = `
CREATE TABLE IF NOT EXISTS meta (name TEXT PRIMARY KEY, value TEXT NOT NULL);
CREATE TABLE IF NOT EXISTS admin_tokens (hash TEXT PRIMARY KEY, label TEXT NOT NULL, created_at TEXT NOT NULL);
CREATE TABLE IF NOT EXISTS policies (
  id TEXT PRIMARY KEY, format TEXT NOT NULL CHECK (format IN ('native', 'ita')), document TEXT NOT NULL, created_at TEXT NOT NULL);
CREATE TABLE IF NOT EXISTS keys (
  id TEXT PRIMARY KEY, policy_id TEXT NOT NULL REFERENCES policies(id), algorithm TEXT NOT NULL, key_length INTEGER NOT NULL,
  version INTEGER NOT NULL, iv BYTEA NOT NULL, ciphertext BYTEA NOT NULL, tag BYTEA NOT NULL, created_at TEXT NOT NULL, rotated_at TEXT);
CREATE TABLE IF NOT EXISTS nonces (val TEXT PRIMARY KEY, key_id TEXT NOT NULL, iat TEXT NOT NULL, expires_at BIGINT NOT NULL, consumed_at BIGINT);
CREATE INDEX IF NOT EXISTS nonces_expiry ON nonces (expires_at);
CREATE TABLE IF NOT EXISTS attestation_log (
  seq BIGINT GENERATED ALWAYS AS IDENTITY PRIMARY KEY, id TEXT NOT NULL UNIQUE, at TEXT NOT NULL, client TEXT NOT NULL, key_id TEXT,
  attestation_type TEXT, evidence TEXT, report_data TEXT, policy TEXT, claims TEXT,
  decision TEXT NOT NULL CHECK (decision IN ('released', 'refused')), error_code TEXT, error TEXT);
CREATE OR REPLACE FUNCTION tee_kbs_append_only() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN RAISE EXCEPTION 'attestation_log is append-only'; END $$;
CREATE TRIGGER attestation_log_no_update_delete BEFORE UPDATE OR DELETE ON attestation_log FOR EACH ROW EXECUTE FUNCTION tee_kbs_append_only();
CREATE TRIGGER attestation_log_no_truncate BEFORE TRUNCATE ON attestation_log FOR EACH STATEMENT EXECUTE FUNCTION tee_kbs_append_only();
`;

/**
 * Per-client token buckets shared by every instance (rate-limit.ts); burst and rate are stored with
 * the bucket. Losing them only resets the limits, so they cost no durable write: on PostgreSQL an
 * UNLOGGED table (no WAL; emptied after a server crash), on SQLite a table in the attached
 * `volatile` file (synchronous OFF), recreated at every start should that file be gone.
 */
const RATE_LIMITS_COLUMNS = `client TEXT PRIMARY KEY, tokens DOUBLE PRECISION NOT NULL, last_ms BIGINT NOT NULL, burst DOUBLE PRECISION NOT NULL,
  per_ms DOUBLE PRECISION NOT NULL, denied INTEGER NOT NULL DEFAULT 0`;
const RATE_LIMITS_SQLITE = `
CREATE TABLE IF NOT EXISTS volatile.rate_limits (${RATE_LIMITS_COLUMNS});
CREATE INDEX IF NOT EXISTS volatile.rate_limits_last ON rate_limits (last_ms);
`;
const RATE_LIMITS_POSTGRES = `
CREATE UNLOGGED TABLE IF NOT EXISTS rate_limits (${RATE_LIMITS_COLUMNS});
CREATE INDEX IF NOT EXISTS rate_limits_last ON rate_limits (last_ms);
`;

export const KBS_MIGRATIONS: readonly Migration[] = [
  { version: 1, name: 'key broker tables', sql: { sqlite: V1_SQLITE, postgres: V1_POSTGRES } },
  { version: 2, name: 'shared rate limits', sql: { sqlite: RATE_LIMITS_SQLITE, postgres: RATE_LIMITS_POSTGRES } },
];

async function tableExists(tx: SqlExecutor, name: string): Promise<boolean> {
  const row = await tx.get<{ n: number }>(
    tx.dialect === 'sqlite' ? "SELECT COUNT(*) AS n FROM sqlite_master WHERE type = 'table' AND name = ?" : 'SELECT COUNT(*) AS n FROM pg_tables WHERE tablename = ? AND schemaname = current_schema()',
    [name],
  );
  return (row?.n ?? 0) > 0;
}

export const KBS_SCHEMA: MigrationSet = {
  component: 'kbs',
  migrations: KBS_MIGRATIONS,
  legacyVersion: async (tx) => (await tableExists(tx, 'schema_version') ? (await tx.get<{ version: number }>('SELECT MAX(version) AS version FROM schema_version'))?.version ?? undefined : undefined),
  afterMigrate: async (tx, version) => {
    if (tx.dialect === 'sqlite') await tx.exec(RATE_LIMITS_SQLITE);
    await tx.exec('CREATE TABLE IF NOT EXISTS schema_version (version INTEGER NOT NULL)');
    await tx.run('DELETE FROM schema_version');
    await tx.run('INSERT INTO schema_version (version) VALUES (?)', [version]);
  },
};

export const SCHEMA_VERSION = KBS_MIGRATIONS.length;
