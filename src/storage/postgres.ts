/**
 * The shared backend: PostgreSQL through node-postgres (`pg`), a pool per
 * process. Every instance of a service points at the same database; anything
 * that must hold across instances is a statement or a transaction here.
 *
 * - `?` placeholders become `$1…$n` (outside quoted literals).
 * - BIGINT comes back as a JavaScript number (millisecond instants and
 *   sequence numbers stay far below 2^53), BYTEA as a Buffer.
 * - Connection failures are typed: ERR_STORAGE_UNREACHABLE / ERR_STORAGE_AUTH
 *   at open(), ERR_STORAGE_UNAVAILABLE (retryable) afterwards. An idle
 *   connection that dies is reported to `onError`, never thrown at the process.
 */
import { createHash } from 'node:crypto';

import type { Pool, PoolClient, PoolConfig, QueryResult } from 'pg';

import { StorageError } from './errors.js';
import type { RunResult, SqlExecutor, SqlValue, Storage, TransactionOptions } from './types.js';

export interface PostgresOptions {
  /** Pool size per process; default 10. */
  poolMax?: number;
  /** How long to wait for a connection; default 5000 ms. */
  connectTimeoutMs?: number;
  /** Server-side statement timeout; default 30 000 ms (a stuck statement fails instead of hanging a request). */
  statementTimeoutMs?: number;
  /** Shown in pg_stat_activity; default "tee-verify". */
  applicationName?: string;
  /** Errors of idle connections (server restart, network); default: ignored. */
  onError?: (e: StorageError) => void;
}

const placeholderCache = new Map<string, string>();

/** Rewrites `?` placeholders to `$n`, leaving quoted literals and identifiers alone. */
export function toPostgresPlaceholders(sql: string): string {
  const cached = placeholderCache.get(sql);
  if (cached !== undefined) return cached;
  let out = '';
  let n = 0;
  let quote: string | undefined;
  for (const ch of sql) {
    if (quote) {
      if (ch === quote) quote = undefined;
      out += ch;
    } else if (ch === "'" || ch === '"') {
      quote = ch;
      out += ch;
    } else if (ch === '?') out += `$${++n}`;
    else out += ch;
  }
  if (placeholderCache.size > 1000) placeholderCache.clear();
  placeholderCache.set(sql, out);
  return out;
}

const CONNECTION_ERRNO = new Set(['ECONNREFUSED', 'ECONNRESET', 'ENOTFOUND', 'EAI_AGAIN', 'ETIMEDOUT', 'EHOSTUNREACH', 'ENETUNREACH', 'EPIPE', 'ENOENT']);

/** Maps a pg / socket error to a StorageError. `opening`: the first connection, where unreachable means "check the URL". */
export function classifyPostgresError(e: unknown, opening: boolean, what = 'PostgreSQL'): StorageError {
  if (StorageError.is(e)) return e;
  const code = typeof (e as { code?: unknown })?.code === 'string' ? ((e as { code: string }).code) : undefined;
  const message = e instanceof Error ? e.message : String(e);
  const dbCode = code ? { dbCode: code } : {};
  if (code === '28P01' || code === '28000') return new StorageError('ERR_STORAGE_AUTH', `${what}: authentication failed (${message})`, { cause: e, ...dbCode });
  if (code === '3D000' || code === '42501') return new StorageError('ERR_STORAGE_AUTH', `${what}: ${message}`, { cause: e, ...dbCode });
  const connection =
    (code !== undefined && (CONNECTION_ERRNO.has(code) || code.startsWith('08') || code === '57P01' || code === '57P02' || code === '57P03' || code === '53300')) ||
    /timeout exceeded when trying to connect|Connection terminated|connection timeout|Client has encountered a connection error|not queryable/i.test(message);
  if (connection) return new StorageError(opening ? 'ERR_STORAGE_UNREACHABLE' : 'ERR_STORAGE_UNAVAILABLE', `${what}: ${opening ? 'cannot connect' : 'connection lost'} (${message})`, { cause: e, ...dbCode });
  if (code === '57014') return new StorageError('ERR_STORAGE_UNAVAILABLE', `${what}: statement timed out (${message})`, { cause: e, ...dbCode });
  return new StorageError('ERR_STORAGE_QUERY', `${what}: ${message}`, { cause: e, ...dbCode });
}

/** The advisory-lock key of a name: the first 8 bytes of its SHA-256 as a signed 64-bit integer. */
export function advisoryLockKey(name: string): string {
  return createHash('sha256').update(name).digest().readBigInt64BE(0).toString();
}

/** The URL with its password masked, for logs and /health. */
/** Query parameters node-postgres reads secrets from (the password may be given there instead). */
const SECRET_PARAMS = ['password', 'sslpassword', 'sslkey'];

export function redactUrl(url: string): string {
  try {
    const u = new URL(url);
    if (u.password) u.password = '***';
    for (const name of SECRET_PARAMS) if (u.searchParams.has(name)) u.searchParams.set(name, '***');
    return u.toString();
  } catch {
    // Not a URL (often an unencoded "/", "#" or "?" in the password): mask everything from the
    // colon after the user name to the last "@", whatever it holds.
    return url.replace(/^([a-z][a-z0-9+.-]*:\/\/[^:@/]*):.*@/i, '$1:***@');
  }
}

type Queryable = { query: (text: string, values?: unknown[]) => Promise<QueryResult> };

class PostgresExecutor implements SqlExecutor {
  readonly dialect = 'postgres' as const;

  constructor(protected readonly target: Queryable) {}

  protected async query(sql: string, params: readonly SqlValue[]): Promise<QueryResult> {
    try {
      return await this.target.query(toPostgresPlaceholders(sql), params as unknown[]);
    } catch (e) {
      throw classifyPostgresError(e, false);
    }
  }

  async all<Row>(sql: string, params: readonly SqlValue[] = []): Promise<Row[]> {
    return (await this.query(sql, params)).rows as Row[];
  }
  async get<Row>(sql: string, params: readonly SqlValue[] = []): Promise<Row | undefined> {
    return (await this.query(sql, params)).rows[0] as Row | undefined;
  }
  async run(sql: string, params: readonly SqlValue[] = []): Promise<RunResult> {
    return { changes: (await this.query(sql, params)).rowCount ?? 0 };
  }
  async exec(sql: string): Promise<void> {
    try {
      await this.target.query(sql);
    } catch (e) {
      throw classifyPostgresError(e, false);
    }
  }
}

export class PostgresStorage extends PostgresExecutor implements Storage {
  readonly description: string;
  readonly #pool: Pool;
  #closing: Promise<void> | undefined;

  private constructor(pool: Pool, description: string) {
    super(pool);
    this.#pool = pool;
    this.description = description;
  }

  /** Connects once (so a bad URL, password or host fails here, typed) and returns the pooled storage. */
  static async open(url: string, options: PostgresOptions = {}): Promise<PostgresStorage> {
    const description = redactUrl(url);
    const pg = (await import('pg')).default;
    const config: PoolConfig = {
      connectionString: url,
      max: options.poolMax ?? 10,
      connectionTimeoutMillis: options.connectTimeoutMs ?? 5000,
      idleTimeoutMillis: 30_000,
      statement_timeout: options.statementTimeoutMs ?? 30_000,
      application_name: options.applicationName ?? 'tee-verify',
      types: {
        getTypeParser: ((oid: number, format?: string) => (oid === 20 ? (v: string) => Number(v) : pg.types.getTypeParser(oid, format as 'text'))) as never,
      },
    };
    let pool: Pool;
    try {
      pool = new pg.Pool(config);
    } catch (e) {
      throw new StorageError('ERR_STORAGE_CONFIG', `invalid PostgreSQL URL ${description}: ${e instanceof Error ? e.message : String(e)}`, { cause: e });
    }
    const onError = options.onError ?? (() => {});
    // An idle client losing its connection emits 'error' on the pool; unhandled, it would end the process.
    pool.on('error', (e) => onError(classifyPostgresError(e, false)));
    try {
      const client = await pool.connect();
      try {
        await client.query('SELECT 1');
      } finally {
        client.release();
      }
    } catch (e) {
      await pool.end().catch(() => {});
      throw classifyPostgresError(e, true, `PostgreSQL at ${description}`);
    }
    return new PostgresStorage(pool, description);
  }

  #live(): void {
    if (this.#closing) throw new StorageError('ERR_STORAGE_CLOSED', 'the storage is closed');
  }

  protected override query(sql: string, params: readonly SqlValue[]): Promise<QueryResult> {
    this.#live();
    return super.query(sql, params);
  }

  async transaction<T>(fn: (tx: SqlExecutor) => Promise<T>, options: TransactionOptions = {}): Promise<T> {
    this.#live();
    let client: PoolClient;
    try {
      client = await this.#pool.connect();
    } catch (e) {
      throw classifyPostgresError(e, false);
    }
    const control = async (sql: string, values?: unknown[]): Promise<void> => {
      try {
        await client.query(sql, values);
      } catch (e) {
        throw classifyPostgresError(e, false);
      }
    };
    let broken: Error | undefined;
    try {
      await control('BEGIN');
      if (options.lock) await control('SELECT pg_advisory_xact_lock($1::bigint)', [advisoryLockKey(options.lock)]);
      const result = await fn(new PostgresExecutor(client));
      await control('COMMIT');
      return result;
    } catch (e) {
      try {
        await client.query('ROLLBACK');
      } catch (rollbackError) {
        broken = rollbackError instanceof Error ? rollbackError : new Error(String(rollbackError)); // do not return a dead connection to the pool
      }
      throw e;
    } finally {
      client.release(broken);
    }
  }

  async ping(): Promise<void> {
    await this.get('SELECT 1 AS ok');
  }

  /** Waits for checked-out connections to come back, then closes them all. */
  close(): Promise<void> {
    this.#closing ??= this.#pool.end().catch(() => {});
    return this.#closing;
  }
}
