/**
 * The shared backend: PostgreSQL through node-postgres (`pg`), a pool per
 * process. Every instance of a service points at the same database; anything
 * that must hold across instances is a statement or a transaction here.
 *
 * - `?` placeholders become `$1…$n`. Skipped: '…' and E'…' literals, "…"
 *   identifiers, $tag$…$tag$ bodies, -- line and slash-star block comments. Every other `?` is
 *   a placeholder, so jsonb's ?, ?| and ?& operators cannot be written: use
 *   jsonb_exists / jsonb_exists_any / jsonb_exists_all instead.
 * - BIGINT comes back as a JavaScript number (millisecond instants and
 *   sequence numbers stay far below 2^53), BYTEA as a Buffer.
 * - Connection failures are typed: ERR_STORAGE_UNREACHABLE / ERR_STORAGE_AUTH
 *   at open(), ERR_STORAGE_UNAVAILABLE (retryable) afterwards. A connection
 *   that dies, idle in the pool or inside a transaction, is reported to
 *   `onError`, never thrown at the process; the transaction rejects with
 *   ERR_STORAGE_UNAVAILABLE and its connection is discarded. Lost before
 *   COMMIT was sent, nothing was committed; lost during COMMIT, the outcome is
 *   unknown (the message says so): the caller must check, not assume.
 * - Nothing waits forever on a dead or frozen peer: TCP keepalive on every
 *   connection, a statement timeout, and an idle-in-transaction timeout after
 *   which the server ends a session that holds a transaction (and its locks)
 *   without using it. Migrations run without the statement timeout (DDL on a
 *   large table may take long), bounded by the idle timeout, and with a lock
 *   timeout: DDL that waits for a table lock another session holds (an idle
 *   psql) gives up retryably instead of queueing every other reader behind it.
 * - A statement, a nested transaction or close() through the storage from
 *   inside a transaction's body is ERR_STORAGE_QUERY, as on SQLite: it would
 *   run outside the transaction on another connection (and could wait for the
 *   transaction's own row locks or connection) (transaction-scope.ts).
 */
import { createHash } from 'node:crypto';

import type { Pool, PoolClient, PoolConfig, QueryResult } from 'pg';

import { failedStatementError, StorageError } from './errors.js';
import { refuseInsideTransaction, runTransactionBody } from './transaction-scope.js';
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
  /**
   * The server ends a session that stays idle inside a transaction this long, releasing its locks
   * (a frozen or partitioned instance must not hold the migration lock or a row lock for hours);
   * default 60 000 ms, 0 = never. Transactions must not wait on anything slow (types.ts).
   */
  idleInTransactionTimeoutMs?: number;
  /** TCP keepalive probes start after this much silence; default 30 000 ms. */
  keepAliveInitialDelayMs?: number;
  /**
   * A connection lost while idle in the pool or inside a transaction (server restart, failover,
   * pg_terminate_backend, idle-in-transaction timeout, network); default: ignored. A transaction
   * that loses its connection also rejects with the same ERR_STORAGE_UNAVAILABLE.
   */
  onError?: (e: StorageError) => void;
}

const placeholderCache = new Map<string, string>();

const IDENTIFIER_CHAR = /[A-Za-z0-9_$\u0080-\uffff]/;
const DOLLAR_TAG = /\$(?:[A-Za-z_\u0080-\uffff][A-Za-z0-9_\u0080-\uffff]*)?\$/y;

/** Where the text that opens at `i` (a literal, identifier, dollar body or comment) ends, or undefined when nothing opens there. */
function skipOpaque(sql: string, i: number): number | undefined {
  const ch = sql[i];
  const next = sql[i + 1];
  if (ch === "'" || ch === '"') {
    // E'…' strings escape with a backslash; elsewhere a doubled quote is two adjacent literals to this scan.
    const escapes = ch === "'" && i > 0 && /[eE]/.test(sql[i - 1] as string) && (i < 2 || !IDENTIFIER_CHAR.test(sql[i - 2] as string));
    for (let j = i + 1; j < sql.length; j++) {
      if (escapes && sql[j] === '\\') j++;
      else if (sql[j] === ch) return j + 1;
    }
    return sql.length;
  }
  if (ch === '-' && next === '-') {
    const eol = sql.indexOf('\n', i);
    return eol < 0 ? sql.length : eol + 1;
  }
  if (ch === '/' && next === '*') {
    // PostgreSQL block comments nest.
    let depth = 0;
    for (let j = i; j < sql.length; j++) {
      if (sql[j] === '/' && sql[j + 1] === '*') {
        depth++;
        j++;
      } else if (sql[j] === '*' && sql[j + 1] === '/') {
        j++;
        if (--depth === 0) return j + 1;
      }
    }
    return sql.length;
  }
  if (ch === '$' && (i === 0 || !IDENTIFIER_CHAR.test(sql[i - 1] as string))) {
    DOLLAR_TAG.lastIndex = i;
    const tag = DOLLAR_TAG.exec(sql)?.[0];
    if (tag === undefined) return undefined; // $1 (a numbered parameter) or a lone $
    const close = sql.indexOf(tag, i + tag.length);
    return close < 0 ? sql.length : close + tag.length;
  }
  return undefined;
}

/**
 * Rewrites `?` placeholders to `$n`, leaving literals, quoted identifiers, dollar-quoted bodies and
 * comments alone. Every other `?` is a placeholder (see the module comment on jsonb operators).
 */
export function toPostgresPlaceholders(sql: string): string {
  const cached = placeholderCache.get(sql);
  if (cached !== undefined) return cached;
  let out = '';
  let n = 0;
  let i = 0;
  while (i < sql.length) {
    const end = skipOpaque(sql, i);
    if (end !== undefined) {
      out += sql.slice(i, end);
      i = end;
    } else {
      out += sql[i] === '?' ? `$${++n}` : sql[i];
      i++;
    }
  }
  if (placeholderCache.size > 1000) placeholderCache.clear();
  placeholderCache.set(sql, out);
  return out;
}

const CONNECTION_ERRNO = new Set(['ECONNREFUSED', 'ECONNRESET', 'ENOTFOUND', 'EAI_AGAIN', 'ETIMEDOUT', 'EHOSTUNREACH', 'ENETUNREACH', 'EPIPE', 'ENOENT']);

/** SQLSTATEs of a session the server ended or could not start: admin shutdown / crash / not yet accepting, idle-in-transaction and idle-session timeouts, too many connections. */
const CONNECTION_SQLSTATE = new Set(['57P01', '57P02', '57P03', '57P05', '25P03', '53300']);

/** A local file could not be opened or read (an errno of the open / read syscall, not of a socket). */
function isFileReadError(e: unknown): boolean {
  const syscall = (e as { syscall?: unknown })?.syscall;
  return syscall === 'open' || syscall === 'read';
}

/** Maps a pg / socket error to a StorageError. `opening`: the first connection, where unreachable means "check the URL". */
export function classifyPostgresError(e: unknown, opening: boolean, what = 'PostgreSQL'): StorageError {
  if (StorageError.is(e)) return e;
  const code = typeof (e as { code?: unknown })?.code === 'string' ? ((e as { code: string }).code) : undefined;
  const message = e instanceof Error ? e.message : String(e);
  const dbCode = code ? { dbCode: code } : {};
  if (code === '28P01' || code === '28000') return new StorageError('ERR_STORAGE_AUTH', `${what}: authentication failed (${message})`, { cause: e, ...dbCode });
  if (code === '3D000') return new StorageError('ERR_STORAGE_AUTH', `${what}: ${message}`, { cause: e, ...dbCode });
  if (code === '42501') return new StorageError('ERR_STORAGE_AUTH', `${what}: permission denied: the database role lacks a privilege this software needs, grant it (${message})`, { cause: e, ...dbCode });
  if (/Cannot use a pool after calling end on the pool/i.test(message)) return new StorageError('ERR_STORAGE_CLOSED', 'the storage is closed', { cause: e });
  // node-postgres reads the files of sslrootcert / sslcert / sslkey when it connects: one that is missing or
  // unreadable is configuration (78), not an unreachable server (75, "retry later"; review s12 docs #4). The
  // path is not shown (an sslkey path is masked in URLs); the URL in `what` names the files.
  if (opening && code !== undefined && isFileReadError(e)) {
    return new StorageError('ERR_STORAGE_CONFIG', `${what}: cannot read a file the URL names (sslrootcert, sslcert or sslkey): ${code}; fix the path or the file's permissions`, { cause: e, ...dbCode });
  }
  const connection =
    (code !== undefined && (CONNECTION_ERRNO.has(code) || code.startsWith('08') || CONNECTION_SQLSTATE.has(code))) ||
    /timeout exceeded when trying to connect|Connection terminated|connection timeout|Client has encountered a connection error|not queryable/i.test(message);
  if (connection) return new StorageError(opening ? 'ERR_STORAGE_UNREACHABLE' : 'ERR_STORAGE_UNAVAILABLE', `${what}: ${opening ? 'cannot connect' : 'connection lost'} (${message})`, { cause: e, ...dbCode });
  if (code === '57014') return new StorageError('ERR_STORAGE_UNAVAILABLE', `${what}: statement timed out (${message})`, { cause: e, ...dbCode });
  // lock_timeout (or NOWAIT): another session holds the lock now; the same statement may succeed later.
  if (code === '55P03') return new StorageError('ERR_STORAGE_UNAVAILABLE', `${what}: a lock another session holds was not granted in time (${message})`, { cause: e, ...dbCode });
  if (code === '53100' || code === '58030') return new StorageError('ERR_STORAGE_IO', `${what}: ${code === '53100' ? 'the server\'s disk is full' : 'the server had an I/O error'} (${message})`, { cause: e, ...dbCode });
  return new StorageError('ERR_STORAGE_QUERY', `${what}: ${message}`, { cause: e, ...dbCode });
}

/** The connection under a transaction died: always the retryable ERR_STORAGE_UNAVAILABLE, whatever the cause looked like. */
function connectionLost(e: unknown): StorageError {
  const classified = classifyPostgresError(e, false);
  if (classified.code === 'ERR_STORAGE_UNAVAILABLE') return classified;
  return new StorageError('ERR_STORAGE_UNAVAILABLE', `PostgreSQL: the connection of a transaction was lost (${classified.message})`, { cause: e, ...(classified.dbCode ? { dbCode: classified.dbCode } : {}) });
}

/** The advisory-lock key of a name: the first 8 bytes of its SHA-256 as a signed 64-bit integer. */
export function advisoryLockKey(name: string): string {
  return createHash('sha256').update(name).digest().readBigInt64BE(0).toString();
}

/** Query parameters node-postgres reads secrets from (the password may be given there instead). */
const SECRET_PARAMS = ['password', 'sslpassword', 'sslkey'];

/**
 * A secret parameter in the raw text, wherever a URL parser might put it (query or fragment). Its
 * value ends at "&", "#" or "@": an "@" after it is left for the userinfo rule below, which then
 * masks up to it, or for the URL parser, which reads it as part of the value it masks; so a value
 * with an "@" is never shown either.
 */
const SECRET_PARAM_TEXT = new RegExp(`([?&#;])(${SECRET_PARAMS.join('|')})=[^&#@]*`, 'gi');

/**
 * Where the userinfo's password starts (the index of its ":" in `rest`, the text after `scheme://`)
 * when a URL parser could show part of it, or undefined when the parser reads it as written. A
 * password may hold "/", "?", "#" or "@" unencoded; a parser then ends the authority at the first
 * "/", "?" or "#" and reads the rest of the password as port, path, query or fragment. That is
 * possible only when an "@" follows that character, and then:
 * - the authority (up to that character) holds an "@": its userinfo (up to its last "@") has a
 *   password when it holds a ":"; a ":" after that "@" is the host's port or inside an IPv6
 *   address (`user@host:5432/db?application_name=x@y` has no password) when it is followed by a
 *   port and the next "@" is in a query parameter (after "?" and "=", before any "#"); otherwise
 *   it starts a password of a user name with an "@": `user@corp:pa/ss@host` and
 *   `user@corp:80/s#s@host` are the user `user@corp` with the password `pa/ss` or `80/s#s`.
 *   (`user@corp:80?s=s@host` cannot be told from a port and a query parameter and shows `s=s`:
 *   such a password must be percent-encoded to be read right anyway.)
 * - it holds no "@": a ":" before the last "@" may start a password that holds one of those
 *   characters (`user:8080/pw@host`), except in an authority that is an IPv6 address with an
 *   optional port (`[::1]:5432`), which no user name looks like.
 */
function ambiguousPassword(rest: string): { colon: number; user: string } | undefined {
  const lastAt = rest.lastIndexOf('@');
  const authorityEnd = rest.search(/[/?#]/);
  if (lastAt < 0 || authorityEnd < 0 || lastAt < authorityEnd) return undefined;
  const authority = rest.slice(0, authorityEnd);
  const hostAt = authority.lastIndexOf('@');
  const colon = rest.indexOf(':');
  if (colon < 0 || colon > lastAt) return undefined;
  const user = colon < authorityEnd ? rest.slice(0, colon) : '';
  if (hostAt >= 0) {
    if (colon < hostAt) return { colon, user };
    // A port, when what follows the authority puts its first "@" in a query parameter (`?name=…@…`; a database name has none).
    const atInQueryValue = /^[^?#@]*\?[^#@]*=[^#@]*@/.test(rest.slice(authorityEnd));
    return atInQueryValue && HOST_AND_PORT.test(authority.slice(hostAt + 1)) ? undefined : { colon, user };
  }
  return /^\[/.test(authority) && HOST_AND_PORT.test(authority) ? undefined : { colon, user };
}

/** A host (a name, or an IPv6 address in brackets) and an optional port: its ":" starts no password. */
const HOST_AND_PORT = /^(?:\[[^\]@]*\]|[^:[\]@]*)(?::\d*)?$/;

/**
 * The URL with its passwords masked, for logs and /health. First every password / sslpassword /
 * sslkey parameter value in the raw text. Then the userinfo: when a URL parser could read part of
 * a password as the host, port, path, query or fragment (ambiguousPassword), everything from the
 * colon to the last "@" is masked (this may hide the host too: the safe side). A ":" that is a
 * port's or an IPv6 address's after the userinfo's "@" is no password, so
 * `user@host:5432/db?application_name=kbs@eu` keeps its host, as does a URL without userinfo.
 */
export function redactUrl(url: string): string {
  url = url.replace(SECRET_PARAM_TEXT, '$1$2=***');
  const m = /^([a-z][a-z0-9+.-]*:\/\/)([^]*)$/i.exec(url);
  if (m) {
    const scheme = m[1] as string;
    const rest = m[2] as string;
    const password = ambiguousPassword(rest);
    if (password) url = `${scheme}${password.user ? `${password.user}:` : ''}***@${rest.slice(rest.lastIndexOf('@') + 1)}`;
  }
  try {
    const u = new URL(url);
    if (u.password) u.password = '***';
    for (const name of SECRET_PARAMS) if (u.searchParams.has(name)) u.searchParams.set(name, '***');
    return u.toString();
  } catch {
    // Not a URL even so: mask everything from the colon after the user name to the last "@".
    return url.replace(/^([a-z][a-z0-9+.-]*:\/\/[^:@/]*):.*@/i, '$1:***@');
  }
}

type Queryable = { query: (text: string, values?: unknown[]) => Promise<QueryResult> };

class PostgresExecutor implements SqlExecutor {
  readonly dialect = 'postgres' as const;

  constructor(protected readonly target: Queryable) {}

  /** Throws when statements may no longer run here (a closed storage, an ended or broken transaction). */
  protected guard(): void {}

  /** Told of every statement the server (or the connection) refused; a transaction's tx records the first. */
  protected statementFailed(_e: StorageError): void {}

  protected async send(text: string, values?: unknown[]): Promise<QueryResult> {
    this.guard();
    try {
      return await this.target.query(text, values);
    } catch (e) {
      const classified = classifyPostgresError(e, false);
      this.statementFailed(classified);
      throw classified;
    }
  }

  async all<Row>(sql: string, params: readonly SqlValue[] = []): Promise<Row[]> {
    return (await this.send(toPostgresPlaceholders(sql), params as unknown[])).rows as Row[];
  }
  async get<Row>(sql: string, params: readonly SqlValue[] = []): Promise<Row | undefined> {
    return (await this.send(toPostgresPlaceholders(sql), params as unknown[])).rows[0] as Row | undefined;
  }
  async run(sql: string, params: readonly SqlValue[] = []): Promise<RunResult> {
    return { changes: (await this.send(toPostgresPlaceholders(sql), params as unknown[])).rowCount ?? 0 };
  }
  async exec(sql: string): Promise<void> {
    await this.send(sql);
  }
}

/** The `tx` of one transaction: refuses statements once its connection is lost or the transaction has ended. */
class TransactionExecutor extends PostgresExecutor {
  /** Set by the client's 'error' listener: the connection is gone, nothing more can run on it. */
  lost: StorageError | undefined;
  ended = false;
  /**
   * The first statement of the transaction that failed. PostgreSQL then aborts the transaction: every
   * later statement fails and COMMIT is answered ROLLBACK (without an error). A body that caught the
   * error and resolved must not be reported as committed (review s13 #1).
   */
  failed: StorageError | undefined;

  protected override statementFailed(e: StorageError): void {
    this.failed ??= e;
  }

  protected override guard(): void {
    if (this.lost) throw this.lost;
    // A statement through a stale tx would run on a pooled connection that may now serve another transaction.
    if (this.ended) throw new StorageError('ERR_STORAGE_CLOSED', 'the transaction has ended: statements after it go through the storage, not its tx');
  }

  /** BEGIN, COMMIT and the lock: parameters as given, no placeholder rewriting. */
  control(sql: string, values?: unknown[]): Promise<QueryResult> {
    return this.send(sql, values);
  }
}

export class PostgresStorage extends PostgresExecutor implements Storage {
  readonly description: string;
  readonly #pool: Pool;
  readonly #onError: (e: StorageError) => void;
  #closing: Promise<void> | undefined;

  private constructor(pool: Pool, description: string, onError: (e: StorageError) => void) {
    super(pool);
    this.#pool = pool;
    this.description = description;
    this.#onError = onError;
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
      idle_in_transaction_session_timeout: options.idleInTransactionTimeoutMs ?? 60_000,
      keepAlive: true,
      keepAliveInitialDelayMillis: options.keepAliveInitialDelayMs ?? 30_000,
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
    return new PostgresStorage(pool, description, onError);
  }

  protected override guard(): void {
    if (this.#closing) throw new StorageError('ERR_STORAGE_CLOSED', 'the storage is closed');
    // From inside a transaction's body it would run outside the transaction, on another connection (transaction-scope.ts).
    refuseInsideTransaction(this, 'a statement');
  }

  async transaction<T>(fn: (tx: SqlExecutor) => Promise<T>, options: TransactionOptions = {}): Promise<T> {
    refuseInsideTransaction(this, 'a nested transaction');
    this.guard();
    let client: PoolClient;
    try {
      client = await this.#pool.connect();
    } catch (e) {
      throw classifyPostgresError(e, false);
    }
    const tx = new TransactionExecutor(client);
    // While a client is checked out the pool does not listen to it: without this listener a server
    // restart or a terminated session mid-transaction would be an unhandled 'error' that ends the process.
    const onClientError = (e: unknown): void => {
      if (tx.lost) return;
      tx.lost = connectionLost(e);
      this.#onError(tx.lost);
    };
    client.on('error', onClientError);
    let broken: Error | undefined;
    try {
      await tx.control('BEGIN');
      const timeout = options.statementTimeoutMs;
      if (timeout !== undefined) await tx.control(`SET LOCAL statement_timeout = ${Math.max(0, Math.floor(timeout))}`);
      if (options.lock) await tx.control('SELECT pg_advisory_xact_lock($1::bigint)', [advisoryLockKey(options.lock)]);
      // After the advisory lock: an instance waiting for another's migration must not give up, but DDL must not queue forever behind a table lock.
      if (options.lockTimeoutMs !== undefined) await tx.control(`SET LOCAL lock_timeout = ${Math.max(0, Math.floor(options.lockTimeoutMs))}`);
      const result = await runTransactionBody(this, () => fn(tx));
      if (tx.lost) throw tx.lost; // lost before COMMIT was sent: nothing was committed
      // A statement failed and the body went on: the server has aborted the transaction; roll back (below) and say so.
      if (tx.failed) throw failedStatementError(tx.failed);
      let commit: QueryResult;
      try {
        commit = await tx.control('COMMIT');
      } catch (e) {
        // The server may have committed before the connection (or the statement) was cut: the caller must not assume either way.
        if (StorageError.is(e) && e.code === 'ERR_STORAGE_UNAVAILABLE') {
          throw new StorageError('ERR_STORAGE_UNAVAILABLE', `PostgreSQL: COMMIT did not complete, the transaction may or may not have been committed (${e.message})`, { cause: e, ...(e.dbCode ? { dbCode: e.dbCode } : {}) });
        }
        throw e;
      }
      // The server's answer to COMMIT in an aborted transaction is the command tag ROLLBACK, not an error.
      if (commit.command !== 'COMMIT') {
        throw new StorageError('ERR_STORAGE_QUERY', `PostgreSQL: COMMIT was answered ${commit.command ?? 'without a command tag'}: the transaction was rolled back, nothing was committed`);
      }
      return result;
    } catch (e) {
      if (!tx.lost) {
        try {
          await client.query('ROLLBACK');
        } catch (rollbackError) {
          broken = rollbackError instanceof Error ? rollbackError : new Error(String(rollbackError)); // do not return a dead connection to the pool
        }
      }
      throw e;
    } finally {
      tx.ended = true;
      client.removeListener('error', onClientError);
      // With an error the pool discards the client instead of handing a dead connection to the next caller.
      client.release(tx.lost ?? broken);
    }
  }

  async ping(): Promise<void> {
    await this.get('SELECT 1 AS ok');
  }

  /** Waits for checked-out connections to come back, then closes them all. Refused inside a transaction's body, whose connection would never come back. */
  close(): Promise<void> {
    try {
      refuseInsideTransaction(this, 'close()');
    } catch (e) {
      return Promise.reject(e);
    }
    this.#closing ??= this.#pool.end().catch(() => {});
    return this.#closing;
  }
}
