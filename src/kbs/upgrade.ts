/**
 * The operator's integrity upgrade (`tee-kbs admin upgrade-integrity`, second review s7): the one
 * step that MACs and re-seals the rows of a database from before row integrity (schema < 4), as
 * found. `serve` never does this on its own: a start that finds such rows refuses
 * (ERR_KBS_UPGRADE_REQUIRED, exit 78), so writing the database alone (dropping the integrity
 * columns, deleting migration rows) cannot make a broker trust rows of the writer's choosing.
 * One transaction: migrations, master-key check and upgrade commit together or not at all.
 */
import { existsSync } from 'node:fs';

import { openStorage, parseStorageLocation, sqliteLocation, type StorageLocation } from '../storage/index.js';
import { KbsError } from './errors.js';
import { loadMasterKey, MASTER_KEY_ENV } from './files.js';
import { rollingUpgradeWarning } from './migrations.js';
import { KbsStore, type IntegrityUpgrade } from './store.js';

export interface IntegrityUpgradeOptions {
  /** SQLite file; or `database` (`sqlite:PATH` | `postgres://…`). */
  db?: string;
  database?: string;
  /** Default `<db>.master-key` (SQLite); the environment's TEE_KBS_MASTER_KEY wins. Never generated here. */
  masterKeyFile?: string;
  env?: NodeJS.ProcessEnv;
  /** One line per event; default stderr. */
  log?: (line: string) => void;
}

export interface IntegrityUpgradeResult {
  /** The schema version before and after. */
  from: number;
  to: number;
  /** Undefined: no row needed a MAC (already upgraded, or empty). */
  upgrade?: IntegrityUpgrade;
}

const configError = (message: string): KbsError => new KbsError('ERR_KBS_CONFIG', 500, message);

function locationOf(o: IntegrityUpgradeOptions): StorageLocation {
  if (o.db !== undefined && o.database !== undefined) throw configError('give either db (a SQLite file) or database, not both');
  if (o.database !== undefined) return parseStorageLocation(o.database);
  // The same path rule as --db everywhere (review s13 storage #2): a URL given as db is refused, never a file.
  if (o.db !== undefined) return sqliteLocation(o.db);
  throw configError('a database is required: db (a SQLite file) or database (sqlite:PATH | postgres://…)');
}

/** The existing master key: the upgrade MACs rows under it, so a missing one is an error, never a new key. */
function existingMasterKey(o: IntegrityUpgradeOptions, loc: StorageLocation): Buffer {
  const env = o.env ?? process.env;
  const file = o.masterKeyFile ?? (loc.kind === 'sqlite' ? `${loc.file}.master-key` : undefined);
  if (!env[MASTER_KEY_ENV] && (file === undefined || !existsSync(file))) {
    throw configError(`the integrity upgrade needs the database's master key: set ${MASTER_KEY_ENV} or give the existing master key file${file ? ` (${file} does not exist)` : ''}`);
  }
  return loadMasterKey(file as string, env).key;
}

/**
 * Migrates the database and trusts the rows without a MAC it finds, logging each one (policy ids,
 * token labels, key ids) so the operator sees what was trusted. Refuses, like `serve`, a database
 * whose schema history was removed while rows exist (ERR_KBS_INTEGRITY), a wrong master key
 * (ERR_KBS_STORAGE) and a newer schema (ERR_STORAGE_SCHEMA_TOO_NEW).
 */
export async function upgradeIntegrity(o: IntegrityUpgradeOptions): Promise<IntegrityUpgradeResult> {
  const log = o.log ?? ((l: string) => process.stderr.write(`${l}\n`));
  const loc = locationOf(o);
  const master = existingMasterKey(o, loc);
  const storage = await openStorage(loc, { sqlite: { fileMustExist: true } });
  try {
    const { migration, upgrade } = await KbsStore.open(storage, master, { trustRowsWithoutMac: true });
    const from = migration?.from ?? 0;
    const to = migration?.to ?? from;
    if (migration && migration.applied.length > 0) log(`tee-kbs: upgrade-integrity: ${storage.description}: schema ${from} -> ${to} (${migration.applied.join(', ')})`);
    const rolling = migration && rollingUpgradeWarning(migration, storage.description);
    if (rolling) log(rolling);
    if (!upgrade) {
      // Already at schema 4: rows that fail their check now were written outside the broker (or left
      // by a crash of an older upgrade). This command trusts only rows from before schema 4, so it
      // names them and fails rather than give an all-clear.
      const { store } = await KbsStore.open(storage, master, { migrate: false });
      const policies = (await store.listPolicies()).filter((p) => !store.policyIntact(p)).map((p) => p.id);
      const tokens = (await store.listTokens()).filter((t) => !t.intact).map((t) => t.id || t.label);
      if (policies.length + tokens.length > 0) {
        throw new KbsError(
          'ERR_KBS_INTEGRITY',
          500,
          `schema ${to} already holds rows that fail their integrity check: ${policies.length} policy row(s)${policies.length ? ` (${policies.slice(0, 10).join(', ')})` : ''}, ${tokens.length} admin token row(s)${tokens.length ? ` (${tokens.slice(0, 10).join(', ')})` : ''}. upgrade-integrity trusts only rows from before schema ${to}; these stay refused: recreate them through the API or restore a backup`,
        );
      }
      log(`tee-kbs: upgrade-integrity: no row needed a MAC (schema ${to}); nothing was trusted`);
      return { from, to };
    }
    log(
      `tee-kbs: integrity upgrade (trust on upgrade, by the operator): MACs computed for ${upgrade.policies} policy row(s) and ${upgrade.tokens} admin token(s) as found now, ${upgrade.keys} key(s) re-sealed to their policy`,
    );
    if (upgrade.trusted.policies.length > 0) log(`tee-kbs: upgrade-integrity: trusted policies: ${upgrade.trusted.policies.join(', ')}`);
    if (upgrade.trusted.tokens.length > 0) log(`tee-kbs: upgrade-integrity: trusted admin tokens: ${upgrade.trusted.tokens.join(', ')}`);
    if (upgrade.trusted.keys.length > 0) log(`tee-kbs: upgrade-integrity: re-sealed keys: ${upgrade.trusted.keys.join(', ')}`);
    if (upgrade.keysNotOpened.length > 0) log(`tee-kbs: INTEGRITY: ${upgrade.keysNotOpened.length} key(s) did not open with the master key and stay refused: ${upgrade.keysNotOpened.join(', ')}`);
    return { from, to, upgrade };
  } finally {
    await storage.close();
  }
}
