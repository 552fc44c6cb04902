/**
 * API keys and admin tokens on the storage interface (src/storage): an SQLite
 * file for one machine, PostgreSQL for several gateway instances. Tokens are
 * "tgw_" (API key) or "tgwa_" (admin) + 43 base64url characters (32 random
 * bytes); only SHA-256 of a token is stored (tokens are high-entropy, so a
 * fast hash is enough) and the token is shown once, on creation.
 *
 * Nothing is cached: every authentication is one indexed SELECT, so a key or
 * admin token revoked through any instance is refused by every instance from
 * the next request on (docs/scale-out.md, "The gateway").
 */
import { createHash, randomBytes, randomUUID } from 'node:crypto';

import { checkSchema, migrate, openStorage, type MigrationOutcome, type OpenStorageOptions, type StorageLocation, type Storage } from '../storage/index.js';
import { GATEWAY_SCHEMA } from './storage-schema.js';

export interface ApiKeyInfo {
  id: string;
  name: string;
  createdAt: string;
  revokedAt: string | null;
}

interface Row {
  id: string;
  name: string;
  created_at: string;
  revoked_at: string | null;
}

type Table = 'gateway_api_keys' | 'gateway_admin_tokens';

/** C0 controls (NUL among them), DEL and C1 controls: PostgreSQL refuses NUL in TEXT, and none belongs in a name shown in lists and logs. */
const CONTROL_CHARACTER = /[\u0000-\u001f\u007f-\u009f]/;

/** Why a key or token name is refused, or undefined when it is acceptable (1 to 200 characters, no control characters). */
export function nameProblem(name: unknown): string | undefined {
  if (typeof name !== 'string' || name.length === 0 || name.length > 200) return 'must be a string of 1 to 200 characters';
  if (CONTROL_CHARACTER.test(name)) return 'must not contain control characters (U+0000-U+001F, U+007F-U+009F)';
  return undefined;
}

const hashToken = (token: string): Buffer => createHash('sha256').update(token, 'utf8').digest();
const info = (r: Row): ApiKeyInfo => ({ id: r.id, name: r.name, createdAt: r.created_at, revokedAt: r.revoked_at });

export interface OpenApiKeyStoreOptions extends OpenStorageOptions {
  /** Default true: bring the gateway schema up to date (serialised across instances). false: only check it is not newer. */
  migrate?: boolean;
}

export class ApiKeyStore {
  readonly storage: Storage;
  /** The migration run by open(), when one ran. */
  readonly migration: MigrationOutcome | undefined;

  private constructor(storage: Storage, migration: MigrationOutcome | undefined) {
    this.storage = storage;
    this.migration = migration;
  }

  /**
   * Opens the database (`sqlite:PATH`, a plain path, or `postgres://…`) and migrates the gateway
   * schema. Fails typed (StorageError) and leaves nothing open when the database is unreachable,
   * refuses the credentials, or holds a newer gateway schema. The store owns the storage.
   */
  static async open(location: string | StorageLocation, options: OpenApiKeyStoreOptions = {}): Promise<ApiKeyStore> {
    // No volatile side file: the gateway has no state whose loss is harmless.
    const storage = await openStorage(location, { ...options, sqlite: { volatile: false, ...options.sqlite } });
    try {
      return await ApiKeyStore.on(storage, options);
    } catch (e) {
      await storage.close();
      throw e;
    }
  }

  /** The store on an already open storage (which it then owns). */
  static async on(storage: Storage, options: { migrate?: boolean } = {}): Promise<ApiKeyStore> {
    if (options.migrate === false) {
      await checkSchema(storage, GATEWAY_SCHEMA);
      return new ApiKeyStore(storage, undefined);
    }
    return new ApiKeyStore(storage, await migrate(storage, GATEWAY_SCHEMA));
  }

  get dialect(): 'sqlite' | 'postgres' {
    return this.storage.dialect;
  }

  /** Where the data lives, without secrets. */
  get description(): string {
    return this.storage.description;
  }

  async #create(table: Table, prefix: string, what: string, name: string, now: Date): Promise<ApiKeyInfo & { token: string }> {
    // Checked here, not by the database: both backends must refuse the same names (SQLite would store
    // a NUL, PostgreSQL fails the statement). The admin API checks first and answers 400.
    const problem = nameProblem(name);
    if (problem) throw new RangeError(`an ${what} name ${problem}`);
    const token = `${prefix}${randomBytes(32).toString('base64url')}`;
    const row: Row = { id: randomUUID(), name, created_at: now.toISOString(), revoked_at: null };
    // One statement: once it returns the row is committed (acknowledged = durable), on any backend.
    await this.storage.run(`INSERT INTO ${table} (id, name, token_sha256, created_at) VALUES (?, ?, ?, ?)`, [row.id, name, hashToken(token), row.created_at]);
    return { ...info(row), token };
  }

  async #list(table: Table): Promise<ApiKeyInfo[]> {
    return (await this.storage.all<Row>(`SELECT id, name, created_at, revoked_at FROM ${table} ORDER BY created_at, id`)).map(info);
  }

  async #revoke(table: Table, id: string, now: Date): Promise<boolean> {
    return (await this.storage.run(`UPDATE ${table} SET revoked_at = ? WHERE id = ? AND revoked_at IS NULL`, [now.toISOString(), id])).changes === 1;
  }

  async #authenticate(table: Table, token: string): Promise<ApiKeyInfo | undefined> {
    const r = await this.storage.get<Row>(`SELECT id, name, created_at, revoked_at FROM ${table} WHERE token_sha256 = ? AND revoked_at IS NULL`, [hashToken(token)]);
    return r ? info(r) : undefined;
  }

  /** Creates a key; the returned token is never stored and cannot be shown again. */
  create(name: string, now = new Date()): Promise<ApiKeyInfo & { token: string }> {
    return this.#create('gateway_api_keys', 'tgw_', 'API key', name, now);
  }

  list(): Promise<ApiKeyInfo[]> {
    return this.#list('gateway_api_keys');
  }

  /** True when a key with this id was active and is now revoked. */
  revoke(id: string, now = new Date()): Promise<boolean> {
    return this.#revoke('gateway_api_keys', id, now);
  }

  /** One key by id (active or revoked). */
  async get(id: string): Promise<ApiKeyInfo | undefined> {
    const r = await this.storage.get<Row>('SELECT id, name, created_at, revoked_at FROM gateway_api_keys WHERE id = ?', [id]);
    return r ? info(r) : undefined;
  }

  /** The active key a bearer token belongs to, if any (read from the database on every call). */
  authenticate(token: string): Promise<ApiKeyInfo | undefined> {
    return this.#authenticate('gateway_api_keys', token);
  }

  // ---- admin tokens (the HTTP admin API, admin.ts) ----

  /** Creates an admin token; the returned token is never stored and cannot be shown again. */
  createAdminToken(name: string, now = new Date()): Promise<ApiKeyInfo & { token: string }> {
    return this.#create('gateway_admin_tokens', 'tgwa_', 'admin token', name, now);
  }

  listAdminTokens(): Promise<ApiKeyInfo[]> {
    return this.#list('gateway_admin_tokens');
  }

  /** True when an admin token with this id was active and is now revoked. */
  revokeAdminToken(id: string, now = new Date()): Promise<boolean> {
    return this.#revoke('gateway_admin_tokens', id, now);
  }

  /** The active admin token a bearer token is, if any (read from the database on every call). */
  authenticateAdmin(token: string): Promise<ApiKeyInfo | undefined> {
    return this.#authenticate('gateway_admin_tokens', token);
  }

  /** One round trip to the database (GET /health). */
  ping(): Promise<void> {
    return this.storage.ping();
  }

  /** Waits for running statements, then closes the connection(s). Idempotent. */
  close(): Promise<void> {
    return this.storage.close();
  }
}
