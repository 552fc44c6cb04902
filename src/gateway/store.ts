/**
 * API keys on SQLite (better-sqlite3): bearer tokens "tgw_" + 43 base64url
 * characters (32 random bytes). Only SHA-256 of a token is stored (tokens are
 * high-entropy, so a fast hash is enough); the token is shown once, on creation.
 */
import { createHash, randomBytes, randomUUID } from 'node:crypto';
import { createRequire } from 'node:module';

interface Statement<Row = unknown> {
  run(...params: unknown[]): { changes: number };
  get(...params: unknown[]): Row | undefined;
  all(...params: unknown[]): Row[];
}
interface Database {
  prepare<Row = unknown>(sql: string): Statement<Row>;
  exec(sql: string): Database;
  pragma(source: string): unknown;
  close(): void;
}

const require = createRequire(import.meta.url);

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

const SCHEMA = `
CREATE TABLE IF NOT EXISTS gateway_api_keys (
  id TEXT PRIMARY KEY,
  name TEXT NOT NULL,
  token_sha256 BLOB NOT NULL UNIQUE,
  created_at TEXT NOT NULL,
  revoked_at TEXT
);
CREATE TABLE IF NOT EXISTS gateway_admin_tokens (
  id TEXT PRIMARY KEY,
  name TEXT NOT NULL,
  token_sha256 BLOB NOT NULL UNIQUE,
  created_at TEXT NOT NULL,
  revoked_at TEXT
);`;

const hashToken = (token: string): Buffer => createHash('sha256').update(token, 'utf8').digest();
const info = (r: Row): ApiKeyInfo => ({ id: r.id, name: r.name, createdAt: r.created_at, revokedAt: r.revoked_at });

export class ApiKeyStore {
  readonly #db: Database;

  constructor(file: string) {
    const Ctor = require('better-sqlite3') as new (file: string, o?: { timeout?: number }) => Database;
    this.#db = new Ctor(file, { timeout: 5000 });
    this.#db.pragma('journal_mode = WAL');
    this.#db.exec(SCHEMA);
  }

  /** Creates a key; the returned token is never stored and cannot be shown again. */
  create(name: string, now = new Date()): ApiKeyInfo & { token: string } {
    if (typeof name !== 'string' || name.length === 0 || name.length > 200) throw new RangeError('an API key name is 1 to 200 characters');
    const token = `tgw_${randomBytes(32).toString('base64url')}`;
    const row: Row = { id: randomUUID(), name, created_at: now.toISOString(), revoked_at: null };
    this.#db.prepare('INSERT INTO gateway_api_keys (id, name, token_sha256, created_at) VALUES (?, ?, ?, ?)').run(row.id, name, hashToken(token), row.created_at);
    return { ...info(row), token };
  }

  list(): ApiKeyInfo[] {
    return this.#db.prepare<Row>('SELECT id, name, created_at, revoked_at FROM gateway_api_keys ORDER BY created_at, id').all().map(info);
  }

  /** True when a key with this id was active and is now revoked. */
  revoke(id: string, now = new Date()): boolean {
    return this.#db.prepare('UPDATE gateway_api_keys SET revoked_at = ? WHERE id = ? AND revoked_at IS NULL').run(now.toISOString(), id).changes === 1;
  }

  /** One key by id (active or revoked). */
  get(id: string): ApiKeyInfo | undefined {
    const r = this.#db.prepare<Row>('SELECT id, name, created_at, revoked_at FROM gateway_api_keys WHERE id = ?').get(id);
    return r ? info(r) : undefined;
  }

  /** Prepared once: authenticate runs on every proxied request. */
  #authenticateStatement: Statement<Row> | undefined;

  /** The active key a bearer token belongs to, if any. */
  authenticate(token: string): ApiKeyInfo | undefined {
    this.#authenticateStatement ??= this.#db.prepare<Row>('SELECT id, name, created_at, revoked_at FROM gateway_api_keys WHERE token_sha256 = ? AND revoked_at IS NULL');
    const r = this.#authenticateStatement.get(hashToken(token));
    return r ? info(r) : undefined;
  }

  // ---- admin tokens (the HTTP admin API, admin.ts): "tgwa_" + 32 random bytes, stored as SHA-256 ----

  /** Creates an admin token; the returned token is never stored and cannot be shown again. */
  createAdminToken(name: string, now = new Date()): ApiKeyInfo & { token: string } {
    if (typeof name !== 'string' || name.length === 0 || name.length > 200) throw new RangeError('an admin token name is 1 to 200 characters');
    const token = `tgwa_${randomBytes(32).toString('base64url')}`;
    const row: Row = { id: randomUUID(), name, created_at: now.toISOString(), revoked_at: null };
    this.#db.prepare('INSERT INTO gateway_admin_tokens (id, name, token_sha256, created_at) VALUES (?, ?, ?, ?)').run(row.id, name, hashToken(token), row.created_at);
    return { ...info(row), token };
  }

  listAdminTokens(): ApiKeyInfo[] {
    return this.#db.prepare<Row>('SELECT id, name, created_at, revoked_at FROM gateway_admin_tokens ORDER BY created_at, id').all().map(info);
  }

  /** True when an admin token with this id was active and is now revoked. */
  revokeAdminToken(id: string, now = new Date()): boolean {
    return this.#db.prepare('UPDATE gateway_admin_tokens SET revoked_at = ? WHERE id = ? AND revoked_at IS NULL').run(now.toISOString(), id).changes === 1;
  }

  /** The active admin token a bearer token is, if any. */
  authenticateAdmin(token: string): ApiKeyInfo | undefined {
    const r = this.#db.prepare<Row>('SELECT id, name, created_at, revoked_at FROM gateway_admin_tokens WHERE token_sha256 = ? AND revoked_at IS NULL').get(hashToken(token));
    return r ? info(r) : undefined;
  }

  close(): void {
    this.#db.close();
  }
}
