/**
 * The key broker's schema, as versioned migrations (src/storage/migrate.ts).
 * Version 1 is the schema of the first SQLite-only broker: a database it
 * created (recorded in its `schema_version` table) is adopted as version 1
 * and migrated from there. `schema_version` is kept in step so that an older
 * broker binary refuses a database that a newer one migrated.
 */
import type { Migration, MigrationOutcome, MigrationSet, SqlExecutor } from '../storage/index.js';

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

/**
 * Bounded refusal logging (log-bounds.ts, store.ts): `refusal_windows` counts the refusals of each
 * client key (and of all clients, client '*') per fixed window, deciding which ones still get a full
 * attestation_log row; it is bookkeeping, pruned once its window is over. `refusal_aggregates` is
 * audit data: the refusals that were answered but stored only as a count, per window, client key,
 * key id ('' unless the key exists) and error code. Its rows are never deleted and their counts only grow.
 */
const REFUSALS_SQLITE = `
CREATE TABLE IF NOT EXISTS refusal_windows (
  window_start INTEGER NOT NULL, client TEXT NOT NULL, refused INTEGER NOT NULL, PRIMARY KEY (window_start, client));
CREATE TABLE IF NOT EXISTS refusal_aggregates (
  window_start TEXT NOT NULL, client TEXT NOT NULL, key_id TEXT NOT NULL, error_code TEXT NOT NULL,
  count INTEGER NOT NULL CHECK (typeof(count) = 'integer' AND count >= 1),
  first_at TEXT NOT NULL, last_at TEXT NOT NULL, PRIMARY KEY (window_start, client, key_id, error_code));
CREATE TRIGGER IF NOT EXISTS refusal_aggregates_no_delete BEFORE DELETE ON refusal_aggregates BEGIN SELECT RAISE(ABORT, 'refusal_aggregates is append-only'); END;
CREATE TRIGGER IF NOT EXISTS refusal_aggregates_only_grow BEFORE UPDATE ON refusal_aggregates
  WHEN NEW.count < OLD.count OR NEW.window_start IS NOT OLD.window_start OR NEW.client IS NOT OLD.client OR NEW.key_id IS NOT OLD.key_id
    OR NEW.error_code IS NOT OLD.error_code OR NEW.first_at IS NOT OLD.first_at OR NEW.last_at < OLD.last_at
  BEGIN SELECT RAISE(ABORT, 'refusal_aggregates counts only grow'); END;
`;
const REFUSALS_POSTGRES = `
CREATE TABLE IF NOT EXISTS refusal_windows (
  window_start BIGINT NOT NULL, client TEXT NOT NULL, refused INTEGER NOT NULL, PRIMARY KEY (window_start, client));
CREATE TABLE IF NOT EXISTS refusal_aggregates (
  window_start TEXT NOT NULL, client TEXT NOT NULL, key_id TEXT NOT NULL, error_code TEXT NOT NULL, count BIGINT NOT NULL CHECK (count >= 1),
  first_at TEXT NOT NULL, last_at TEXT NOT NULL, PRIMARY KEY (window_start, client, key_id, error_code));
CREATE OR REPLACE FUNCTION tee_kbs_refusal_aggregates_guard() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
  IF TG_OP <> 'UPDATE' OR NEW.count < OLD.count OR NEW.window_start IS DISTINCT FROM OLD.window_start OR NEW.client IS DISTINCT FROM OLD.client
     OR NEW.key_id IS DISTINCT FROM OLD.key_id OR NEW.error_code IS DISTINCT FROM OLD.error_code OR NEW.first_at IS DISTINCT FROM OLD.first_at
     OR NEW.last_at < OLD.last_at THEN
    RAISE EXCEPTION 'refusal_aggregates is append-only; counts only grow';
  END IF;
  RETURN NEW;
END $$;
CREATE TRIGGER refusal_aggregates_guard BEFORE UPDATE OR DELETE ON refusal_aggregates FOR EACH ROW EXECUTE FUNCTION tee_kbs_refusal_aggregates_guard();
CREATE TRIGGER refusal_aggregates_no_truncate BEFORE TRUNCATE ON refusal_aggregates FOR EACH STATEMENT EXECUTE FUNCTION tee_kbs_refusal_aggregates_guard();
`;

/**
 * Row integrity (review s7): a MAC per policy row and per admin-token row (keys derived from the
 * master key), admin tokens with ids and an optional expiry, keys re-sealed with their policy in the
 * AAD (`sealed_with` 2; 1 = the first brokers' AAD), and the appraisal warnings of each logged
 * decision. Rows that exist when this migration runs get their MACs and seals in the same transaction,
 * only when the operator asks (`tee-kbs admin upgrade-integrity`; store.ts integrityOnUpgrade); a
 * start without that step refuses them.
 */
const INTEGRITY = `
ALTER TABLE policies ADD COLUMN mac TEXT;
ALTER TABLE admin_tokens ADD COLUMN id TEXT;
ALTER TABLE admin_tokens ADD COLUMN expires_at TEXT;
ALTER TABLE admin_tokens ADD COLUMN mac TEXT;
CREATE UNIQUE INDEX admin_tokens_id ON admin_tokens (id);
ALTER TABLE keys ADD COLUMN sealed_with INTEGER NOT NULL DEFAULT 1;
ALTER TABLE attestation_log ADD COLUMN warnings TEXT;
`;

/**
 * Bounded repeated releases (review s9 K1). A release without a nonce can be replayed by anyone who
 * saw its body once (CNAP / loader clients use verify=False), and each replay verified again and
 * appended a full row with its evidence. Such a release now carries `release_digest` (SHA-256 of
 * key id, version, policy id, evidence and user_data; crypto.ts releaseDigest), unique: the first
 * keeps its full row, every repeat only raises the count of its `release_repeats` row. That table is
 * audit data like refusal_aggregates: no DELETE or TRUNCATE, an UPDATE only raises the count and
 * moves last_at / last_client forward.
 */
const RELEASE_REPEATS_SQLITE = `
ALTER TABLE attestation_log ADD COLUMN release_digest TEXT;
CREATE UNIQUE INDEX attestation_log_release_digest ON attestation_log (release_digest);
CREATE TABLE release_repeats (
  release_digest TEXT PRIMARY KEY, log_id TEXT NOT NULL REFERENCES attestation_log(id), key_id TEXT NOT NULL,
  count INTEGER NOT NULL CHECK (typeof(count) = 'integer' AND count >= 1),
  first_at TEXT NOT NULL, last_at TEXT NOT NULL, last_client TEXT NOT NULL);
CREATE TRIGGER release_repeats_no_delete BEFORE DELETE ON release_repeats BEGIN SELECT RAISE(ABORT, 'release_repeats is append-only'); END;
CREATE TRIGGER release_repeats_only_grow BEFORE UPDATE ON release_repeats
  WHEN NEW.count < OLD.count OR NEW.release_digest IS NOT OLD.release_digest OR NEW.log_id IS NOT OLD.log_id OR NEW.key_id IS NOT OLD.key_id
    OR NEW.first_at IS NOT OLD.first_at OR NEW.last_at < OLD.last_at
  BEGIN SELECT RAISE(ABORT, 'release_repeats counts only grow'); END;
`;
const RELEASE_REPEATS_POSTGRES = `
ALTER TABLE attestation_log ADD COLUMN release_digest TEXT;
CREATE UNIQUE INDEX attestation_log_release_digest ON attestation_log (release_digest);
CREATE TABLE release_repeats (
  release_digest TEXT PRIMARY KEY, log_id TEXT NOT NULL REFERENCES attestation_log(id), key_id TEXT NOT NULL,
  count BIGINT NOT NULL CHECK (count >= 1), first_at TEXT NOT NULL, last_at TEXT NOT NULL, last_client TEXT NOT NULL);
CREATE OR REPLACE FUNCTION tee_kbs_release_repeats_guard() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
  IF TG_OP <> 'UPDATE' OR NEW.count < OLD.count OR NEW.release_digest IS DISTINCT FROM OLD.release_digest OR NEW.log_id IS DISTINCT FROM OLD.log_id
     OR NEW.key_id IS DISTINCT FROM OLD.key_id OR NEW.first_at IS DISTINCT FROM OLD.first_at OR NEW.last_at < OLD.last_at THEN
    RAISE EXCEPTION 'release_repeats is append-only; counts only grow';
  END IF;
  RETURN NEW;
END $$;
CREATE TRIGGER release_repeats_guard BEFORE UPDATE OR DELETE ON release_repeats FOR EACH ROW EXECUTE FUNCTION tee_kbs_release_repeats_guard();
CREATE TRIGGER release_repeats_no_truncate BEFORE TRUNCATE ON release_repeats FOR EACH STATEMENT EXECUTE FUNCTION tee_kbs_release_repeats_guard();
`;

/**
 * The admin audit trail (review s9 K2): one row per admin change (policy created or deleted, key
 * created, moved, rotated or deleted, admin token minted or revoked), written in the change's own
 * transaction, naming the admin token that made it (or the bootstrap secret, or the first start).
 * Append-only like attestation_log; the API only reads it (GET /kbs/v1/admin-audit).
 */
const ADMIN_AUDIT_COLUMNS = `id TEXT NOT NULL UNIQUE, at TEXT NOT NULL,
  actor TEXT NOT NULL CHECK (actor IN ('admin-token', 'bootstrap-secret', 'first-start')), token_id TEXT, client TEXT,
  action TEXT NOT NULL, object_id TEXT NOT NULL, detail TEXT`;
const ADMIN_AUDIT_SQLITE = `
CREATE TABLE admin_audit (seq INTEGER PRIMARY KEY AUTOINCREMENT, ${ADMIN_AUDIT_COLUMNS});
CREATE TRIGGER admin_audit_no_update BEFORE UPDATE ON admin_audit BEGIN SELECT RAISE(ABORT, 'admin_audit is append-only'); END;
CREATE TRIGGER admin_audit_no_delete BEFORE DELETE ON admin_audit BEGIN SELECT RAISE(ABORT, 'admin_audit is append-only'); END;
`;
const ADMIN_AUDIT_POSTGRES = `
CREATE TABLE admin_audit (seq BIGINT GENERATED ALWAYS AS IDENTITY PRIMARY KEY, ${ADMIN_AUDIT_COLUMNS});
CREATE OR REPLACE FUNCTION tee_kbs_admin_audit_append_only() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN RAISE EXCEPTION 'admin_audit is append-only'; END $$;
CREATE TRIGGER admin_audit_no_update_delete BEFORE UPDATE OR DELETE ON admin_audit FOR EACH ROW EXECUTE FUNCTION tee_kbs_admin_audit_append_only();
CREATE TRIGGER admin_audit_no_truncate BEFORE TRUNCATE ON admin_audit FOR EACH STATEMENT EXECUTE FUNCTION tee_kbs_admin_audit_append_only();
`;

/**
 * Admin token scopes (review s9 K2 b; scopes.ts): the scopes a token holds, covered by its row MAC.
 * Rows that exist when this migration runs are given every scope and the new MAC, in the same
 * transaction, only when their old MAC holds (store.ts scopesOnUpgrade): a row that failed its check
 * before still fails it.
 */
const TOKEN_SCOPES = `ALTER TABLE admin_tokens ADD COLUMN scopes TEXT;`;

/**
 * The SEV-SNP certificate table of a transfer (session 15; transfer.ts `cert_table`): kept with a
 * release's evidence, base64, so that `tee-kbs admin export-log` gives batch re-verification the
 * record's `auxblob` and the release is judged again with the same VLEK / VCEK. A refusal row keeps
 * NULL here (its error body has the table's SHA-256 and length; log-bounds.ts). An instance of the
 * release before exports no `auxblob` (NO_STOP_NEEDED, below).
 */
const CERT_TABLE = `ALTER TABLE attestation_log ADD COLUMN cert_table TEXT;`;

/** The first schema version with token scopes. */
export const SCOPES_VERSION = 7;

/** The first schema version with row integrity. */
export const INTEGRITY_VERSION = 4;

export const KBS_MIGRATIONS: readonly Migration[] = [
  { version: 1, name: 'key broker tables', sql: { sqlite: V1_SQLITE, postgres: V1_POSTGRES } },
  { version: 2, name: 'shared rate limits', sql: { sqlite: RATE_LIMITS_SQLITE, postgres: RATE_LIMITS_POSTGRES } },
  { version: 3, name: 'bounded refusal rows', sql: { sqlite: REFUSALS_SQLITE, postgres: REFUSALS_POSTGRES } },
  { version: 4, name: 'row integrity', sql: { sqlite: INTEGRITY, postgres: INTEGRITY } },
  { version: 5, name: 'bounded repeated releases', sql: { sqlite: RELEASE_REPEATS_SQLITE, postgres: RELEASE_REPEATS_POSTGRES } },
  { version: 6, name: 'admin audit trail', sql: { sqlite: ADMIN_AUDIT_SQLITE, postgres: ADMIN_AUDIT_POSTGRES } },
  { version: 7, name: 'admin token scopes', sql: { sqlite: TOKEN_SCOPES, postgres: TOKEN_SCOPES } },
  { version: 8, name: 'certificate table of a transfer', sql: { sqlite: CERT_TABLE, postgres: CERT_TABLE } },
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

/**
 * From this schema on, every migration changes what each instance must write or check, and an
 * instance of the release before keeps running on the old rules (review s9 changes a, R1): the
 * operator stops every instance first (docs/kbs.md, Upgrading a deployment).
 */
export const STOP_EVERY_INSTANCE_FROM = 5;

/** What an instance of an older release still running gets wrong once the schema has each version. */
const OLDER_INSTANCE_AFTER: Readonly<Record<number, string>> = {
  5: 'schema 5 adds attestation_log.release_digest (it logs every nonce-less release in a full row again, without one)',
  6: 'schema 6 adds admin_audit (admin changes made through it leave no audit row)',
  7: 'schema 7 adds admin-token scopes to the row MAC (it finds every admin token tampered, 401 ERR_KBS_INTEGRITY, and a token it mints is refused by every instance for good)',
};

/**
 * Migrations that need no stop, so a start that applies only these stays silent and a warning for
 * earlier ones does not list them. Schema 8 adds a nullable attestation_log.cert_table that an
 * instance of the release before never writes: it refuses a transfer that sends `cert_table` as an
 * unknown field (400; an upgraded client sends the body again without it when the report allows)
 * and logs its releases as it always did, so it decides and records nothing wrongly. It is not
 * harmless, though (s15 change review #2): such an instance still running serves `GET
 * /kbs/v1/attestation-log` with its own column list, so its export leaves out the `auxblob` of
 * every release made through an upgraded instance, and `tee-verify batch` refuses a VLEK-signed or
 * masked-chip one of those at S05. Nothing is lost: the rows keep the table, and an export of the
 * same range from an upgraded instance carries it. So the operator stops older instances before
 * exporting, or exports that range again once every instance is upgraded (docs/kbs.md, Upgrading a
 * deployment); the start does not warn of it.
 */
const NO_STOP_NEEDED: ReadonlySet<number> = new Set([8]);

/**
 * The start-log warning of a migration that brought an existing database (`from` >= 1) into schema
 * 5 or later, or undefined. A new database has no older instance; when another instance migrated
 * first, this start applied nothing and that one warned. No instance registry tells whether an
 * older instance is still connected, so the warning is all the broker can do (docs/decisions.md).
 */
export function rollingUpgradeWarning(m: MigrationOutcome, where: string): string | undefined {
  if (m.from < 1 || m.applied.length === 0 || m.to < STOP_EVERY_INSTANCE_FROM) return undefined;
  const changes = KBS_MIGRATIONS.filter((x) => x.version > m.from && x.version <= m.to && x.version >= STOP_EVERY_INSTANCE_FROM && !NO_STOP_NEEDED.has(x.version)).map(
    (x) => OLDER_INSTANCE_AFTER[x.version] ?? `schema ${x.version} adds ${x.name}`,
  );
  if (changes.length === 0) return undefined;
  return (
    `tee-kbs: WARNING: schema ${m.from} -> ${m.to} on ${where}: an instance of an older release still running on this database now goes wrong: ${changes.join('; ')}. ` +
    `Rule: stop every instance before starting a release that migrates to schema ${STOP_EVERY_INSTANCE_FROM} or later; stop any older instance still running now and revoke the admin tokens it minted (docs/kbs.md, Upgrading a deployment)`
  );
}
