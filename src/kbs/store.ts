/**
 * The broker's state, on the storage interface (src/storage): SQLite for one
 * machine, PostgreSQL for several instances. Keys are sealed under the master
 * key, bound to their policy; policy and admin-token rows carry a MAC under keys derived from the
 * master key, checked wherever they decide something (review s7: write access to the database
 * alone must not release a key or admit an admin); admin tokens are stored as
 * HMAC(SHA-256(token)); nonces are single-use rows
 * consumed by one conditional UPDATE (PostgreSQL re-checks the WHERE clause
 * after a concurrent writer commits, so exactly one consumer wins, on any
 * instance); the attestation log is append-only (triggers refuse UPDATE and
 * DELETE). Refusals beyond the bounds of log-bounds.ts are stored as counts
 * (refusal_aggregates) instead of rows. No instance keeps anything in memory
 * that another one needs.
 */
import { createHash, createHmac, randomUUID } from 'node:crypto';

import { clientKey } from '../net/client-key.js';
import { checkSchema, migrate, StorageError, type MigrationOutcome, type MigrationSet, type SqlExecutor, type Storage } from '../storage/index.js';
import { hashToken, integrityKeys, openKey, policyDigest, policyMac, sameMac, sealKey, tokenDigest, tokenRowMac, tokenRowMacV1, type IntegrityKeys, type SealBinding } from './crypto.js';
import { KbsError } from './errors.js';
import { DEFAULT_REFUSAL_BOUNDS, type ResolvedRefusalBounds } from './log-bounds.js';
import { INTEGRITY_VERSION, KBS_SCHEMA, SCHEMA_VERSION, SCOPES_VERSION } from './migrations.js';
import { ALL_SCOPES, holdsAll, scopesOf, scopesText, type Scope } from './scopes.js';

export { SCHEMA_VERSION };

export interface PolicyRow {
  id: string;
  format: 'native' | 'ita';
  document: string;
  created_at: string;
  /** HMAC of id, format and document (policyMac); NULL only on a row written outside the broker. */
  mac: string | null;
}

declare const VERIFIED: unique symbol;
/** A policy row whose MAC was checked (KbsStore.verifiedPolicy): the only kind a release decision reads. */
export type VerifiedPolicyRow = PolicyRow & { readonly [VERIFIED]: true };

/** What the admin API shows of an admin token: never the token or its digest. */
export interface TokenInfo {
  id: string;
  label: string;
  created_at: string;
  expires_at: string | null;
  /** False: the row fails its MAC (written outside the broker); it admits no one. */
  intact: boolean;
  /** What the token may do (scopes.ts); [] on a row that fails its MAC. */
  scopes: Scope[];
}

/** What the operator's integrity upgrade (tee-kbs admin upgrade-integrity) did to the rows it found. */
export interface IntegrityUpgrade {
  policies: number;
  tokens: number;
  keys: number;
  /** The rows it trusted as found: policy ids, admin-token labels (with their new ids), key ids. */
  trusted: { policies: string[]; tokens: string[]; keys: string[] };
  /** Keys whose material did not open with the first brokers' AAD: left as they are, refused at use. */
  keysNotOpened: string[];
}

export interface KeyRow {
  id: string;
  policy_id: string;
  algorithm: string;
  key_length: number;
  version: number;
  iv: Buffer;
  ciphertext: Buffer;
  tag: Buffer;
  created_at: string;
  rotated_at: string | null;
}

export interface NonceRow {
  val: string;
  key_id: string;
  iat: string;
  expires_at: number;
  consumed_at: number | null;
}

/** What the admin API shows of a key: never its material. */
export interface KeyInfo {
  id: string;
  key_info: { algorithm: string; key_length: number; version: number };
  transfer_policy_id: string;
  transfer_link: string;
  created_at: string;
  rotated_at?: string;
}

export interface LogEntry {
  id: string;
  at: string;
  client: string;
  keyId?: string;
  attestationType?: string;
  evidence?: string;
  /** base64 of the SEV-SNP certificate table sent with `evidence` (`cert_table`, schema 8), only in a release row (a refusal row keeps its SHA-256 and length in `error`). */
  certTable?: string;
  reportData?: string;
  policy?: unknown;
  claims?: unknown;
  decision: 'released' | 'refused';
  errorCode?: string;
  error?: unknown;
  /** Relaxations the decision relied on (policy and appraisal warnings, e.g. T33 OutOfDate accepted). */
  warnings?: string[];
  /** A release without a nonce: its releaseDigest (crypto.ts). A repeat of it is counted, not logged again. */
  releaseDigest?: string;
}

/** Who made an admin change (review s9 K2): an admin token (its id), the bootstrap secret, or the first start. */
export interface AuditActor {
  kind: 'admin-token' | 'bootstrap-secret' | 'first-start';
  tokenId?: string;
  /** The peer address of the request. */
  client?: string;
}

export type AuditAction = 'policy.create' | 'policy.delete' | 'key.create' | 'key.move' | 'key.rotate' | 'key.delete' | 'token.mint' | 'token.revoke';

/** One admin_audit row as the API shows it. */
export interface AuditEntry {
  seq: number;
  id: string;
  at: string;
  actor: AuditActor['kind'];
  token_id: string | null;
  client: string | null;
  action: AuditAction;
  object_id: string;
  detail: unknown;
}

/** What every view of one store shares (the transaction views too). */
interface SharedState {
  readonly refusalBounds: ResolvedRefusalBounds;
  /** When this instance last dropped finished refusal windows (ms). */
  lastWindowPrune: number;
  readonly integrity: IntegrityKeys;
}

/**
 * Refusals raised only after the evidence verified and its REPORTDATA binding held (transfer.ts
 * steps 6 and 7): the policy, the result's usable window, the nonce's consumption, the key moved.
 */
/** Window counters younger than this are never pruned (see #appendRefusal). */
const PRUNE_HORIZON_MS = 86_400_000;

const BOUND_REFUSALS: ReadonlySet<string> = new Set(['ERR_KBS_POLICY', 'ERR_KBS_WINDOW', 'ERR_KBS_NONCE', 'ERR_KBS_NOT_FOUND']);

/**
 * How a decision was stored: a full attestation_log row, a refusal only as a count in
 * refusal_aggregates, or a repeated release without a nonce only as a count in release_repeats.
 */
export type RefusalStorage = 'row' | 'aggregated' | 'repeat';

/** Counts one refusal of `client` ('*': of every client) in a window; returns the count so far. */
const COUNT_REFUSAL = `INSERT INTO refusal_windows (window_start, client, refused) VALUES (?, ?, 1)
ON CONFLICT (window_start, client) DO UPDATE SET refused = refusal_windows.refused + 1
RETURNING refused`;

const AGGREGATE_REFUSAL = `INSERT INTO refusal_aggregates (window_start, client, key_id, error_code, count, first_at, last_at) VALUES (?, ?, ?, ?, 1, ?, ?)
ON CONFLICT (window_start, client, key_id, error_code) DO UPDATE SET count = refusal_aggregates.count + 1,
  last_at = CASE WHEN excluded.last_at > refusal_aggregates.last_at THEN excluded.last_at ELSE refusal_aggregates.last_at END`;

/** One more repeat of the release with this digest (whose full row is log_id). */
const COUNT_REPEAT = `INSERT INTO release_repeats (release_digest, log_id, key_id, count, first_at, last_at, last_client) VALUES (?, ?, ?, 1, ?, ?, ?)
ON CONFLICT (release_digest) DO UPDATE SET count = release_repeats.count + 1,
  last_at = CASE WHEN excluded.last_at > release_repeats.last_at THEN excluded.last_at ELSE release_repeats.last_at END,
  last_client = excluded.last_client`;

/** The admin token row a change reads again in its transaction (appendAudit). */
type TokenRowForChange = { id: string | null; hash: string; created_at: string; expires_at: string | null; scopes: string | null; mac: string | null };

/**
 * The advisory-lock key that orders admin_audit inserts on PostgreSQL (appendAudit): SHA-256 of
 * "tee-kbs:admin-audit-order", first 8 bytes as a signed 64-bit integer (storage's advisoryLockKey form).
 */
const AUDIT_ORDER_LOCK = createHash('sha256').update('tee-kbs:admin-audit-order').digest().readBigInt64BE(0).toString();

/**
 * The advisory-lock key of one key on PostgreSQL (lockKey): SHA-256 of "tee-kbs:key:" + the key's id, first 8 bytes as
 * a signed 64-bit integer. Two ids that share one (2^-64) only wait for each other more than they need.
 */
const keyLockOf = (id: string): string => createHash('sha256').update(`tee-kbs:key:${id}`).digest().readBigInt64BE(0).toString();
/**
 * How long a move, rotation or deletion waits for the key's exclusive lock (lockKey) on PostgreSQL, i.e. for the
 * releases of that key in flight, before it fails with 503 and lets the releases queued behind it go on.
 */
export const KEY_CHANGE_LOCK_TIMEOUT_MS = 5000;

const isForeignKeyViolation = (e: unknown): boolean => StorageError.is(e) && (e.dbCode === '23503' || e.dbCode === 'SQLITE_CONSTRAINT_FOREIGNKEY');

export class KbsStore {
  readonly storage: Storage;
  readonly #master: Buffer;
  /** The storage itself, or the transaction this view is bound to. */
  readonly #q: SqlExecutor;
  readonly #shared: SharedState;

  /** `refusalBounds`: resolved by resolveRefusalBounds (log-bounds.ts); default DEFAULT_REFUSAL_BOUNDS. */
  constructor(storage: Storage, master: Buffer, executor: SqlExecutor = storage, refusalBounds: ResolvedRefusalBounds | SharedState = DEFAULT_REFUSAL_BOUNDS) {
    this.storage = storage;
    this.#master = master;
    this.#q = executor;
    this.#shared = 'integrity' in refusalBounds ? refusalBounds : { refusalBounds, lastWindowPrune: 0, integrity: integrityKeys(master) };
  }

  /**
   * Runs the key broker's migrations (serialised across instances) and returns the store. In the
   * same transaction: the master key is checked against the database, and when this start brings a
   * database from before row integrity (schema < 4) up to date, the rows without a MAC are either
   * refused (default: ERR_KBS_UPGRADE_REQUIRED, nothing changes) or, with `trustRowsWithoutMac`
   * (the operator's `tee-kbs admin upgrade-integrity`), MACed and re-sealed as found (trust on
   * upgrade, review s7). Database state alone never starts the upgrade (second review s7).
   */
  static async open(
    storage: Storage,
    master: Buffer,
    options: { migrate?: boolean; refusalBounds?: ResolvedRefusalBounds; trustRowsWithoutMac?: boolean } = {},
  ): Promise<{ store: KbsStore; migration?: MigrationOutcome; upgrade?: IntegrityUpgrade }> {
    const make = (): KbsStore => new KbsStore(storage, master, storage, options.refusalBounds);
    if (options.migrate === false) {
      await checkSchema(storage, KBS_SCHEMA);
      return { store: make() };
    }
    // The version before this start (read outside the migration lock: if another instance migrates
    // meanwhile, the check below finds the rows it MACed and nothing else).
    const before = await checkSchema(storage, withHistoryCheck(KBS_SCHEMA));
    let upgrade: IntegrityUpgrade | undefined;
    const set: MigrationSet = {
      ...withHistoryCheck(KBS_SCHEMA),
      afterMigrate: async (tx, version) => {
        await KBS_SCHEMA.afterMigrate?.(tx, version);
        await checkMasterKey(tx, master);
        if (before < INTEGRITY_VERSION) upgrade = await integrityOnUpgrade(tx, master, integrityKeys(master), options.trustRowsWithoutMac === true);
        if (before < SCOPES_VERSION) await scopesOnUpgrade(tx, integrityKeys(master));
      },
    };
    const migration = await migrate(storage, set);
    return { store: make(), migration, ...(upgrade ? { upgrade } : {}) };
  }

  /** `fn` runs in one transaction, on a view of the store bound to it. */
  transaction<T>(fn: (store: KbsStore) => Promise<T>): Promise<T> {
    return this.storage.transaction((tx) => fn(new KbsStore(this.storage, this.#master, tx, this.#shared)));
  }

  /** True on a view bound to a transaction. */
  get inTransaction(): boolean {
    return this.#q !== this.storage;
  }

  /** `fn` in this view's transaction, or in a new one: a change that must be atomic with the caller's audit row nests here instead of waiting on it. */
  #atomically<T>(fn: (store: KbsStore) => Promise<T>): Promise<T> {
    return this.inTransaction ? fn(this) : this.transaction(fn);
  }

  // ---- admin audit trail (review s9 K2; append-only) ----
  /**
   * Appends the audit row of an admin change; only inside the change's own transaction, so both commit or neither.
   * The admin token named as the actor is read again here, in that transaction (FOR SHARE on PostgreSQL, held to
   * COMMIT): a token revoked since the request's check refuses the change, and a revocation on any instance waits
   * until a change it authorised committed (s16 F1: the check at the request ran outside the change's transaction).
   * The row is locked where revocation ordering needs it (before the audit-order lock, as revokeToken takes its locks),
   * but the token is judged only after the audit-order lock, the last lock the change takes: intact, and unexpired on
   * `clock` (the broker's one clock, ctx.now) read again then, so a token that expired while its change waited for
   * any lock (the audit-order lock included) refuses it (s16 change review #2: it was judged at the request's instant,
   * `at`, which stays the audit row's instant; s16 r2 change review #1: then before the audit-order lock's wait).
   * A token revoking itself deleted its own row in this transaction, after locking it: that is the one change its row
   * is not read again for.
   */
  async appendAudit(by: AuditActor, action: AuditAction, objectId: string, detail: Record<string, unknown>, at: Date, clock: () => Date): Promise<void> {
    if (!this.inTransaction) throw new KbsError('ERR_KBS_INTERNAL', 500, 'an admin audit row is written only in the transaction of its change');
    const token = by.kind === 'admin-token' && !(action === 'token.revoke' && objectId === by.tokenId) ? await this.#lockToken(by.tokenId) : undefined;
    // PostgreSQL (s16 F2): audit inserts one at a time, each holding this transaction-level lock from just before it takes
    // its seq to its COMMIT (the lock is released after the commit is visible). So seq order is commit order: a reader
    // paging with after_seq = the last seq read never passes a row that commits later. Taken last, after every other
    // lock of the change, so it never waits while holding it; admin changes are rare, the wait costs nothing.
    // (SQLite: a transaction holds the write lock to COMMIT, so the order holds anyway.)
    if (this.dialect === 'postgres') await this.#q.run(`SELECT pg_advisory_xact_lock(${AUDIT_ORDER_LOCK})`);
    // After the last lock of the change (s16 r2 change review #1): nothing the change does from here on waits for
    // another session, so the clock read now is the one its commit is judged by.
    if (token) this.#tokenStillAdmits(token, clock);
    await this.#q.run('INSERT INTO admin_audit (id, at, actor, token_id, client, action, object_id, detail) VALUES (?, ?, ?, ?, ?, ?, ?, ?)', [
      randomUUID(), at.toISOString(), by.kind, by.tokenId ?? null, by.client ?? null, action, objectId, JSON.stringify(detail),
    ]);
  }
  /**
   * Audit rows with seq above `afterSeq`, oldest first, at most `limit`. Paging with `afterSeq` = the last seq read
   * misses no row, on any number of instances: seq order is commit order (appendAudit; s16 F2).
   */
  async auditEntries(afterSeq = 0, limit = 500): Promise<AuditEntry[]> {
    type Row = Omit<AuditEntry, 'seq' | 'detail'> & { seq: number | string; detail: string | null };
    const rows = await this.#q.all<Row>('SELECT seq, id, at, actor, token_id, client, action, object_id, detail FROM admin_audit WHERE seq > ? ORDER BY seq LIMIT ?', [afterSeq, limit]);
    return rows.map((r) => ({ ...r, seq: Number(r.seq), detail: r.detail === null ? null : (JSON.parse(r.detail) as unknown) }));
  }

  get refusalBounds(): ResolvedRefusalBounds {
    return this.#shared.refusalBounds;
  }

  get dialect(): 'sqlite' | 'postgres' {
    return this.storage.dialect;
  }

  close(): Promise<void> {
    return this.storage.close();
  }

  // ---- meta ----
  async getMeta(name: string): Promise<string | undefined> {
    return (await this.#q.get<{ value: string }>('SELECT value FROM meta WHERE name = ?', [name]))?.value;
  }
  /** Sets `name` unless it is set already; returns the value now stored (first writer wins, on any instance). */
  async initMeta(name: string, value: string): Promise<string> {
    await this.#q.run('INSERT INTO meta (name, value) VALUES (?, ?) ON CONFLICT (name) DO NOTHING', [name, value]);
    return (await this.getMeta(name)) ?? value;
  }

  // ---- admin tokens: stored as HMAC(SHA-256(token)), each row MACed ----
  /** True once the first admin token was minted (or tokens exist by other means): no first-start token is due. */
  async adminBootstrapped(): Promise<boolean> {
    return (await this.getMeta('admin_bootstrapped')) !== undefined || (await this.tokenCount()) > 0;
  }
  async tokenCount(): Promise<number> {
    return Number((await this.#q.get<{ n: number }>('SELECT COUNT(*) AS n FROM admin_tokens'))?.n ?? 0);
  }
  /** Stores a new admin token; `expiresAt` absent: it never expires; `scopes` absent: all of them. */
  async addToken(token: string, label: string, now: Date, expiresAt?: Date, o: { id?: string; scopes?: readonly Scope[] } = {}): Promise<TokenInfo> {
    const k = this.#shared.integrity;
    const id = o.id ?? randomUUID();
    const digest = tokenDigest(k, hashToken(token));
    const created = now.toISOString();
    const expires = expiresAt ? expiresAt.toISOString() : null;
    const scopes = scopesText(o.scopes ?? ALL_SCOPES);
    await this.#q.run('INSERT INTO admin_tokens (id, hash, label, created_at, expires_at, scopes, mac) VALUES (?, ?, ?, ?, ?, ?, ?)', [
      id, digest, label, created, expires, scopes, tokenRowMac(k, id, digest, created, expires, scopes),
    ]);
    return { id, label, created_at: created, expires_at: expires, intact: true, scopes: scopesOf(scopes) ?? [] };
  }
  /** The row's scopes when its MAC (which covers them) holds, else undefined: the row admits no one. */
  #verifiedScopes(r: { id: string | null; hash: string; created_at: string; expires_at: string | null; scopes: string | null; mac: string | null }): Scope[] | undefined {
    if (r.id === null || r.scopes === null) return undefined;
    if (!sameMac(r.mac, tokenRowMac(this.#shared.integrity, r.id, r.hash, r.created_at, r.expires_at, r.scopes))) return undefined;
    return scopesOf(r.scopes);
  }
  /**
   * The admin token's row: 'valid', 'expired' (on the broker's clock), 'unknown', or 'tampered' (its
   * row fails its MAC, or a row of the pre-s7 SHA-256 form matches: both written outside the broker).
   */
  async checkToken(token: string, now: Date): Promise<{ status: 'valid' | 'expired' | 'unknown' | 'tampered'; id?: string; expiresAt?: string | null; scopes?: Scope[] }> {
    const k = this.#shared.integrity;
    const sha = hashToken(token);
    const digest = tokenDigest(k, sha);
    type Row = { id: string | null; hash: string; created_at: string; expires_at: string | null; scopes: string | null; mac: string | null };
    const row = await this.#q.get<Row>('SELECT id, hash, created_at, expires_at, scopes, mac FROM admin_tokens WHERE hash = ?', [digest]);
    if (!row) {
      // After the integrity upgrade no row holds a bare SHA-256: one that matches was inserted by hand.
      if (await this.#q.get('SELECT 1 AS ok FROM admin_tokens WHERE hash = ?', [sha])) return { status: 'tampered' };
      return { status: 'unknown' };
    }
    const scopes = this.#verifiedScopes(row);
    if (row.id === null || scopes === undefined) return { status: 'tampered', ...(row.id ? { id: row.id } : {}) };
    if (row.expires_at !== null && !(now.getTime() < Date.parse(row.expires_at))) return { status: 'expired', id: row.id };
    return { status: 'valid', id: row.id, expiresAt: row.expires_at, scopes };
  }
  /**
   * In a change's transaction: the caller's token row, locked FOR SHARE (PostgreSQL) to COMMIT, so no revocation on any
   * instance deletes it before this change committed. Judged later, by #tokenStillAdmits.
   */
  async #lockToken(id: string | undefined): Promise<{ row: TokenRowForChange | undefined }> {
    const lock = this.dialect === 'postgres' ? ' FOR SHARE' : '';
    return { row: id === undefined ? undefined : await this.#q.get<TokenRowForChange>(`SELECT id, hash, created_at, expires_at, scopes, mac FROM admin_tokens WHERE id = ?${lock}`, [id]) };
  }
  /**
   * The token row #lockToken read (it cannot change while that lock is held): still there and intact, and unexpired on
   * the broker's clock read now, after the change's last lock (so after any wait of the change); else 401.
   */
  #tokenStillAdmits(token: { row: TokenRowForChange | undefined }, clock: () => Date): void {
    const { row } = token;
    if (!row || this.#verifiedScopes(row) === undefined) throw new KbsError('ERR_KBS_UNAUTHORIZED', 401, 'the admin token was refused: revoked while this change was being made; nothing was changed');
    if (row.expires_at !== null && !(clock().getTime() < Date.parse(row.expires_at))) {
      throw new KbsError('ERR_KBS_UNAUTHORIZED', 401, 'the admin token has expired (while this change was being made; nothing was changed)');
    }
  }
  /** Every admin token (ids, labels, instants, whether the row is intact), oldest first. */
  async listTokens(): Promise<TokenInfo[]> {
    type Row = { id: string | null; hash: string; label: string; created_at: string; expires_at: string | null; scopes: string | null; mac: string | null };
    const rows = await this.#q.all<Row>('SELECT id, hash, label, created_at, expires_at, scopes, mac FROM admin_tokens ORDER BY created_at, id');
    return rows.map((r) => {
      const scopes = this.#verifiedScopes(r);
      return { id: r.id ?? '', label: r.label, created_at: r.created_at, expires_at: r.expires_at, intact: scopes !== undefined, scopes: scopes ?? [] };
    });
  }
  /**
   * Deletes the admin token `id` unless it is the last intact, unexpired token with every scope (409
   * ERR_KBS_LAST_TOKEN: nothing could do everything through the admin API any more). `mayRevoke` decides on the row
   * (the caller's authority, admin.ts); it throws to refuse. One transaction; on PostgreSQL the
   * token rows are locked first, so two instances cannot each revoke one of the last two.
   * Returns false when there is no such token.
   */
  async revokeToken(id: string, now: Date, mayRevoke: (target: TokenInfo) => void = () => {}): Promise<boolean> {
    return this.#atomically(async (s) => {
      if (s.dialect === 'postgres') await s.#q.all('SELECT id FROM admin_tokens FOR UPDATE');
      const all = await s.listTokens();
      const target = all.find((t) => t.id === id);
      if (!target) return false;
      mayRevoke(target);
      // With scopes (review s9), only a token holding all of them can still do everything: one must remain.
      // Only revoking such a token can lower their number; anything else (a leaked read-only token,
      // an expired or tampered row) may go even when none is left (review s9 changes a, R2).
      const usable = (t: TokenInfo): boolean => t.intact && (t.expires_at === null || now.getTime() < Date.parse(t.expires_at)) && holdsAll(t.scopes, ALL_SCOPES);
      if (usable(target) && !all.some((t) => t.id !== id && usable(t))) {
        throw new KbsError('ERR_KBS_LAST_TOKEN', 409, 'this is the last intact, unexpired admin token with every scope: revoking it would leave no way to do everything through the admin API; mint another first (docs/kbs.md, Admin tokens)');
      }
      return (await s.#q.run('DELETE FROM admin_tokens WHERE id = ?', [id])).changes === 1;
    });
  }
  /**
   * The first admin token of an empty database, created by exactly one of the
   * instances that start together (the one whose marker insert wins).
   */
  async bootstrapAdminToken(token: string, now: Date): Promise<boolean> {
    return this.#atomically(async (s) => {
      if ((await s.tokenCount()) > 0) {
        await s.#q.run("INSERT INTO meta (name, value) VALUES ('admin_bootstrapped', ?) ON CONFLICT (name) DO NOTHING", [now.toISOString()]);
        return false;
      }
      const won = await s.#q.run("INSERT INTO meta (name, value) VALUES ('admin_bootstrapped', ?) ON CONFLICT (name) DO NOTHING", [now.toISOString()]);
      if (won.changes !== 1) return false;
      const info = await s.addToken(token, 'first-start', now);
      // Scopes as in every other token.mint row (review s10): the trail alone says what each token may do.
      await s.appendAudit({ kind: 'first-start' }, 'token.mint', info.id, { label: info.label, expires_at: info.expires_at, scopes: info.scopes }, now, () => now);
      return true;
    });
  }

  // ---- policies ----
  async addPolicy(format: 'native' | 'ita', document: string, now: Date, id: string = randomUUID()): Promise<PolicyRow> {
    const row: PolicyRow = { id, format, document, created_at: now.toISOString(), mac: policyMac(this.#shared.integrity, id, format, document) };
    await this.#q.run('INSERT INTO policies (id, format, document, created_at, mac) VALUES (?, ?, ?, ?, ?)', [row.id, row.format, row.document, row.created_at, row.mac]);
    return row;
  }
  getPolicy(id: string): Promise<PolicyRow | undefined> {
    return this.#q.get<PolicyRow>('SELECT id, format, document, created_at, mac FROM policies WHERE id = ?', [id]);
  }
  listPolicies(): Promise<PolicyRow[]> {
    return this.#q.all<PolicyRow>('SELECT id, format, document, created_at, mac FROM policies ORDER BY created_at, id');
  }
  /** True when the row's MAC matches its id, format and document. */
  policyIntact(row: PolicyRow): boolean {
    return sameMac(row.mac, policyMac(this.#shared.integrity, row.id, row.format, row.document));
  }
  /** The row, checked: ERR_KBS_INTEGRITY when it was written outside the broker. */
  verifiedPolicy(row: PolicyRow): VerifiedPolicyRow {
    if (!this.policyIntact(row)) {
      throw new KbsError('ERR_KBS_INTEGRITY', 500, `policy ${row.id} fails its integrity check (${row.mac === null ? 'no MAC' : 'MAC mismatch'}): the row was written outside the broker; no key is released under it`);
    }
    return row as VerifiedPolicyRow;
  }
  async deletePolicy(id: string): Promise<boolean> {
    const inUse = (): KbsError => new KbsError('ERR_KBS_POLICY_IN_USE', 409, 'the policy is used by a key; delete or move the key first');
    if (await this.#q.get('SELECT 1 AS ok FROM keys WHERE policy_id = ? LIMIT 1', [id])) throw inUse();
    try {
      return (await this.#q.run('DELETE FROM policies WHERE id = ?', [id])).changes === 1;
    } catch (e) {
      // A key registered meanwhile (on any instance): the foreign key refuses the delete.
      if (isForeignKeyViolation(e)) throw inUse();
      throw e;
    }
  }

  // ---- keys ----
  /** The checked policy a key is (to be) sealed to; 400 when it does not exist. */
  async #sealingPolicy(policyId: string): Promise<VerifiedPolicyRow> {
    const row = await this.getPolicy(policyId);
    if (!row) throw new KbsError('ERR_KBS_BAD_REQUEST', 400, 'transfer_policy_id must name an existing key-transfer policy');
    return this.verifiedPolicy(row);
  }
  async addKey(policyId: string, algorithm: string, material: Uint8Array, now: Date, id: string = randomUUID()): Promise<KeyRow> {
    const policy = await this.#sealingPolicy(policyId);
    const sealed = sealKey(this.#master, id, 1, material, bindingOf(policy));
    const row: KeyRow = { id, policy_id: policyId, algorithm, key_length: material.length * 8, version: 1, ...sealed, created_at: now.toISOString(), rotated_at: null };
    try {
      await this.#q.run('INSERT INTO keys (id, policy_id, algorithm, key_length, version, iv, ciphertext, tag, created_at, sealed_with) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, 2)', [
        row.id, row.policy_id, row.algorithm, row.key_length, row.version, row.iv, row.ciphertext, row.tag, row.created_at,
      ]);
    } catch (e) {
      if (isForeignKeyViolation(e)) throw new KbsError('ERR_KBS_BAD_REQUEST', 400, 'transfer_policy_id must name an existing key-transfer policy');
      throw e;
    }
    return row;
  }
  /**
   * PostgreSQL (s16 change review #1): the key's transaction-level advisory lock, taken before any other lock of the
   * transaction that touches the key: shared for a release (releases of one key do not wait for each other),
   * exclusive for a move, rotation or deletion. PostgreSQL's lock manager queues a new request behind a waiting one it
   * conflicts with, which a row lock does not do (a new FOR SHARE locker gets the row past a queued FOR UPDATE or
   * DELETE). So a release that begins after a change is waiting waits for that change and then sees it (404, or the
   * new version), and a stream of overlapping releases cannot hold a change off until statement_timeout. Lock order,
   * everywhere: this key lock, then rows (nonce, key, token), then the audit-order lock last (appendAudit); no
   * transaction takes the key lock after another lock of these. SQLite: nothing (a write transaction is exclusive).
   *
   * The trade-off (s16 r2 change review #2): while a change waits for the releases in flight, the releases that begin
   * after it wait behind it. So a change waits for the exclusive lock at most KEY_CHANGE_LOCK_TIMEOUT_MS (lock_timeout,
   * for that statement only); then it fails with 503 ERR_KBS_STORAGE_UNAVAILABLE (retryable, nothing changed) and the
   * releases queued behind it go on. A stalled release (a frozen instance mid-transaction) would otherwise hold every
   * later release of the key until the change's statement_timeout (30 s). A release's shared lock waits as before.
   */
  async lockKey(id: string, mode: 'release' | 'change'): Promise<void> {
    if (!this.inTransaction) throw new KbsError('ERR_KBS_INTERNAL', 500, 'a key lock is taken only inside a transaction');
    if (this.dialect !== 'postgres') return;
    if (mode === 'release') {
      await this.#q.run(`SELECT pg_advisory_xact_lock_shared(${keyLockOf(id)})`);
      return;
    }
    const before = (await this.#q.get<{ v: string }>("SELECT current_setting('lock_timeout') AS v"))?.v ?? '0';
    await this.#q.run(`SET LOCAL lock_timeout = ${KEY_CHANGE_LOCK_TIMEOUT_MS}`);
    try {
      await this.#q.run(`SELECT pg_advisory_xact_lock(${keyLockOf(id)})`);
    } catch (e) {
      if (StorageError.is(e) && e.dbCode === '55P03') {
        throw new KbsError(
          'ERR_KBS_STORAGE_UNAVAILABLE',
          503,
          `releases of this key in flight did not finish within ${KEY_CHANGE_LOCK_TIMEOUT_MS / 1000} s; nothing was changed; retry later`,
          { headers: { 'Retry-After': '5' }, cause: e },
        );
      }
      throw e;
    }
    // The rest of the transaction (row locks, the audit-order lock) waits as before.
    await this.#q.run("SELECT set_config('lock_timeout', ?, true)", [before]);
  }
  /**
   * `lock` (PostgreSQL; an SQLite transaction is exclusive anyway), held to the end of the transaction, always after
   * lockKey (which orders the waiters fairly; the row lock alone does not):
   * `true` (FOR UPDATE, a rotation or move): another rotation, move or release of the key waits for it;
   * `'share'` (FOR SHARE, a release): a rotation, move or deletion on any instance waits until the
   * release committed, and a release that comes after one re-reads the committed row (READ COMMITTED
   * re-fetches a row it waited for), while releases of one key do not wait for each other (s16 F1).
   */
  getKey(id: string, options: { lock?: boolean | 'share' } = {}): Promise<KeyRow | undefined> {
    const lock = options.lock && this.dialect === 'postgres' ? (options.lock === 'share' ? ' FOR SHARE' : ' FOR UPDATE') : '';
    return this.#q.get<KeyRow>(`SELECT id, policy_id, algorithm, key_length, version, iv, ciphertext, tag, created_at, rotated_at FROM keys WHERE id = ?${lock}`, [id]);
  }
  /**
   * The key and its policy in one round trip, both checked: the policy row's MAC, and the key's seal
   * against this policy (so a key pointed at another policy is refused before anything else, nonce
   * requests included). ERR_KBS_INTEGRITY when either fails.
   */
  async getKeyWithPolicy(id: string): Promise<{ key: KeyRow; policy: VerifiedPolicyRow | undefined } | undefined> {
    type Row = KeyRow & { p_id: string | null; p_format: 'native' | 'ita' | null; p_document: string | null; p_created_at: string | null; p_mac: string | null };
    const r = await this.#q.get<Row>(
      'SELECT k.id, k.policy_id, k.algorithm, k.key_length, k.version, k.iv, k.ciphertext, k.tag, k.created_at, k.rotated_at, p.id AS p_id, p.format AS p_format, p.document AS p_document, p.created_at AS p_created_at, p.mac AS p_mac FROM keys k LEFT JOIN policies p ON p.id = k.policy_id WHERE k.id = ?',
      [id],
    );
    if (!r) return undefined;
    const { p_id, p_format, p_document, p_created_at, p_mac, ...key } = r;
    if (!(p_id && p_format && p_document !== null && p_created_at)) return { key, policy: undefined };
    const policy = this.verifiedPolicy({ id: p_id, format: p_format, document: p_document, created_at: p_created_at, mac: p_mac });
    this.keyMaterial(key, policy).fill(0);
    return { key, policy };
  }
  listKeys(): Promise<KeyRow[]> {
    return this.#q.all<KeyRow>('SELECT id, policy_id, algorithm, key_length, version, iv, ciphertext, tag, created_at, rotated_at FROM keys ORDER BY created_at, id');
  }
  deleteKey(id: string): Promise<boolean> {
    return this.#atomically(async (s) => {
      await s.lockKey(id, 'change');
      return (await s.#q.run('DELETE FROM keys WHERE id = ?', [id])).changes === 1;
    });
  }
  /** New material (and optionally a new policy) under a new version, sealed to the (new) policy; the old material is gone. */
  rotateKey(id: string, material: Uint8Array, now: Date, policyId?: string): Promise<KeyRow | undefined> {
    return this.#atomically(async (s) => {
      await s.lockKey(id, 'change');
      const cur = await s.getKey(id, { lock: true });
      if (!cur) return undefined;
      const version = cur.version + 1;
      const target = policyId ?? cur.policy_id;
      const sealed = sealKey(this.#master, id, version, material, bindingOf(await s.#sealingPolicy(target)));
      try {
        await s.#q.run('UPDATE keys SET version = ?, iv = ?, ciphertext = ?, tag = ?, key_length = ?, policy_id = ?, rotated_at = ?, sealed_with = 2 WHERE id = ?', [
          version, sealed.iv, sealed.ciphertext, sealed.tag, material.length * 8, target, now.toISOString(), id,
        ]);
      } catch (e) {
        if (isForeignKeyViolation(e)) throw new KbsError('ERR_KBS_BAD_REQUEST', 400, 'transfer_policy_id must name an existing key-transfer policy');
        throw e;
      }
      return s.getKey(id);
    });
  }
  /**
   * The same material under the same version, re-sealed to another policy (review s7d: a move used to
   * rotate, so models encrypted under the key no longer decrypted). The current seal is opened for the
   * checked policy the row names first: a row that fails its integrity check is not moved (rotate it).
   */
  moveKey(id: string, policyId: string): Promise<{ row: KeyRow; from: string } | undefined> {
    return this.#atomically(async (s) => {
      await s.lockKey(id, 'change');
      const cur = await s.getKey(id, { lock: true });
      if (!cur) return undefined;
      const from = await s.getPolicy(cur.policy_id);
      if (!from) throw new KbsError('ERR_KBS_INTEGRITY', 500, `key ${id}: its policy ${cur.policy_id} is missing`);
      const target = await s.#sealingPolicy(policyId);
      const material = s.keyMaterial(cur, s.verifiedPolicy(from));
      let sealed;
      try {
        sealed = sealKey(this.#master, id, cur.version, material, bindingOf(target));
      } finally {
        material.fill(0);
      }
      try {
        await s.#q.run('UPDATE keys SET iv = ?, ciphertext = ?, tag = ?, policy_id = ?, sealed_with = 2 WHERE id = ?', [sealed.iv, sealed.ciphertext, sealed.tag, target.id, id]);
      } catch (e) {
        if (isForeignKeyViolation(e)) throw new KbsError('ERR_KBS_BAD_REQUEST', 400, 'transfer_policy_id must name an existing key-transfer policy');
        throw e;
      }
      const row = await s.getKey(id);
      return row ? { row, from: cur.policy_id } : undefined;
    });
  }
  /** The key's material, opened for the checked policy it names (ERR_KBS_INTEGRITY when the seal says otherwise). */
  keyMaterial(row: KeyRow, policy: VerifiedPolicyRow): Buffer {
    if (policy.id !== row.policy_id) throw new KbsError('ERR_KBS_INTEGRITY', 500, `key ${row.id}: opened for policy ${policy.id}, but the row names ${row.policy_id}`);
    return openKey(this.#master, row.id, row.version, { iv: row.iv, ciphertext: row.ciphertext, tag: row.tag }, bindingOf(policy));
  }

  // ---- nonces (T42 / S30) ----
  async addNonce(valHex: string, keyId: string, iat: string, expiresAtMs: number): Promise<void> {
    await this.#q.run('INSERT INTO nonces (val, key_id, iat, expires_at) VALUES (?, ?, ?, ?)', [valHex, keyId, iat, expiresAtMs]);
  }
  getNonce(valHex: string): Promise<NonceRow | undefined> {
    return this.#q.get<NonceRow>('SELECT val, key_id, iat, expires_at, consumed_at FROM nonces WHERE val = ?', [valHex]);
  }
  /** Single use: true only for the one caller (of any instance) whose UPDATE flips an unexpired, unconsumed nonce. */
  async consumeNonce(valHex: string, keyId: string, nowMs: number): Promise<boolean> {
    const r = await this.#q.run('UPDATE nonces SET consumed_at = ? WHERE val = ? AND key_id = ? AND consumed_at IS NULL AND expires_at > ?', [nowMs, valHex, keyId, nowMs]);
    return r.changes === 1;
  }
  /** Expired nonces are useless; consumed ones are kept until they expire (a replay then reads "consumed"). */
  async pruneNonces(nowMs: number): Promise<number> {
    return (await this.#q.run('DELETE FROM nonces WHERE expires_at <= ?', [nowMs - 3_600_000])).changes;
  }

  // ---- attestation log (append-only) ----
  /**
   * A release always gets its row, except a repeat of a release without a nonce (the same
   * releaseDigest: a replayed body), which only raises the count of the first one's release_repeats
   * row (review s9 K1; call it in the release's transaction). A refusal gets one while its client key and all clients are
   * within the window's bounds (log-bounds.ts), else only a count in refusal_aggregates. Each
   * counter is one atomic upsert that returns its new value, so the bounds are exact across
   * instances without a transaction around the refusal: on PostgreSQL a flood of refusals then
   * holds the shared total's row lock for one statement at a time, not across the log insert
   * (review, session 4); on SQLite the refusal is one transaction (one sync instead of three).
   * The answer is sent after the row or count is stored; a crash in between loses one refusal's
   * record, as a crash before logging always did.
   */
  async appendLog(e: LogEntry): Promise<RefusalStorage> {
    if (e.decision !== 'refused') {
      if (e.releaseDigest !== undefined) return this.#appendRelease(e, e.releaseDigest);
      await this.#insertLog(e);
      return 'row';
    }
    // SQLite: one transaction, one WAL flush (BEGIN IMMEDIATE serialises writers anyway). PostgreSQL:
    // each counter an autocommit upsert, so no lock on the shared total outlives its statement.
    if (this.storage.dialect === 'sqlite' && this.#q === this.storage) return this.transaction((s) => s.#appendRefusal(e));
    return this.#appendRefusal(e);
  }

  async #appendRefusal(e: LogEntry): Promise<RefusalStorage> {
    const { perClient, total, windowMs } = this.#shared.refusalBounds;
    const atMs = Date.parse(e.at);
    if (!Number.isFinite(atMs)) throw new KbsError('ERR_KBS_INTERNAL', 500, 'a log entry without a valid instant');
    const windowStart = Math.floor(atMs / windowMs) * windowMs;
    // The rate limiter's key: an IPv6 client may use any address of its /64.
    const client = clientKey(e.client);
    const count = async (who: string): Promise<number> => Number((await this.#q.get<{ refused: number }>(COUNT_REFUSAL, [windowStart, who]))?.refused ?? Infinity);
    // Two budgets: refusals of evidence that verified AND was bound to this request (a genuine TEE
    // asking for a key it may not have: the ones an audit needs) never compete for rows with the
    // rest, which anyone can send (a replayed public quote verifies but fails its binding).
    const budget = e.claims !== undefined && BOUND_REFUSALS.has(e.errorCode ?? '') ? 'verified' : 'other';
    // The total counts only refusals within their client's own bound: one client cannot use up everyone's rows.
    const full = (await count(`${budget}:${client}`)) <= perClient && (await count(`${budget}:*`)) <= total;
    if (full) await this.#insertLog(e);
    else {
      // Key ids are not secret: a refusal counts under its key id only when that key exists (its policy
      // was read); any other id, random ones included, shares the count of ''.
      const keyId = e.policy !== undefined && e.keyId !== undefined ? e.keyId : '';
      await this.#q.run(AGGREGATE_REFUSAL, [new Date(windowStart).toISOString(), client, keyId, e.errorCode ?? '', e.at, e.at]);
    }
    if (atMs - this.#shared.lastWindowPrune > 60_000) {
      this.#shared.lastWindowPrune = atMs;
      // Counters of finished windows decide nothing any more: one window of slack for instances whose
      // clocks differ, and at least a day, so that an instance configured with a shorter window does
      // not drop the live counters of one with a longer window (up to a day) on the same database.
      await this.#q.run('DELETE FROM refusal_windows WHERE window_start < ?', [windowStart - Math.max(windowMs, PRUNE_HORIZON_MS)]);
    }
    return full ? 'row' : 'aggregated';
  }

  /**
   * The first release with this digest gets its full row; any later one a count. The unique index
   * decides between instances: an insert that finds the digest taken (on PostgreSQL, once the other
   * transaction committed) does nothing and becomes a count. The row is looked up first, so a repeat
   * costs no insert attempt (on PostgreSQL that would use up an identity value: a seq gap).
   */
  async #appendRelease(e: LogEntry, digest: string): Promise<RefusalStorage> {
    const firstRow = async (): Promise<string | undefined> => (await this.#q.get<{ id: string }>('SELECT id FROM attestation_log WHERE release_digest = ?', [digest]))?.id;
    let first = await firstRow();
    if (first === undefined) {
      if ((await this.#insertLog(e, digest)) === 1) return 'row';
      first = await firstRow();
      if (first === undefined) throw new KbsError('ERR_KBS_INTERNAL', 500, 'a release row was neither inserted nor found');
    }
    await this.#q.run(COUNT_REPEAT, [digest, first, e.keyId ?? '', e.at, e.at, e.client]);
    return 'repeat';
  }

  /** Inserts the row; with a release digest, nothing when that digest has a row already. Returns the rows inserted. */
  async #insertLog(e: LogEntry, releaseDigest?: string): Promise<number> {
    const json = (v: unknown): string | null => (v === undefined ? null : JSON.stringify(v));
    const columns = ['id', 'at', 'client', 'key_id', 'attestation_type', 'evidence', 'report_data', 'policy', 'claims', 'decision', 'error_code', 'error', 'warnings'];
    const values: (string | null)[] = [
      e.id, e.at, e.client, e.keyId ?? null, e.attestationType ?? null, e.evidence ?? null, e.reportData ?? null, json(e.policy), json(e.claims), e.decision, e.errorCode ?? null, json(e.error),
      e.warnings && e.warnings.length > 0 ? JSON.stringify(e.warnings) : null,
    ];
    if (releaseDigest !== undefined) {
      columns.push('release_digest');
      values.push(releaseDigest);
    }
    if (e.certTable !== undefined) {
      columns.push('cert_table');
      values.push(e.certTable);
    }
    const onConflict = releaseDigest === undefined ? '' : ' ON CONFLICT (release_digest) DO NOTHING';
    return (await this.#q.run(`INSERT INTO attestation_log (${columns.join(', ')}) VALUES (${columns.map(() => '?').join(', ')})${onConflict}`, values)).changes;
  }

  /** The highest seq in the log now (0 when empty): the bound of an export started now. */
  async logHighWater(): Promise<number> {
    return Number((await this.#q.get<{ m: number | string | null }>('SELECT MAX(seq) AS m FROM attestation_log'))?.m ?? 0);
  }

  /**
   * The log as batch records `{id, evidence, collectedAt, reportData?, policy?, auxblob?}`, one JSON line each
   * (`auxblob`: the SEV-SNP certificate table the transfer sent, schema 8, batch's own record field)
   * (entries without evidence are skipped), read in pages so a long log never sits in memory at once.
   * Only rows up to `throughSeq` (default: the high-water mark when the export starts), so rows
   * appended meanwhile do not make it run on. The storage has no read-only snapshot transaction to
   * hold across pages (an SQLite transaction here is a write lock), so `stats.gaps` counts the seq
   * numbers up to the bound that no row had when its page was read: a rolled-back insert, or on
   * PostgreSQL a row whose transaction committed only after its page was read (not exported; its
   * seq is at or below this export's bound, so only an export of the same range again has it).
   */
  async *exportBatchRecords(o: { afterSeq?: number; throughSeq?: number; stats?: { gaps: number }; pageSize?: number } = {}): AsyncIterableIterator<string> {
    type Row = { seq: number | string; id: string; at: string; evidence: string | null; cert_table?: string | null; report_data: string | null; policy: string | null; repeats?: number | string | null; repeat_last_at?: string | null };
    const through = o.throughSeq ?? (await this.logHighWater());
    const pageSize = o.pageSize ?? 256;
    // `afterSeq`: start after this seq (an increment after a previous export's bound; a row that committed late, below that bound, is not in it).
    let after = o.afterSeq ?? 0;
    // A release's repeats (review s9 K1) as counted when its page is read; none on a schema before 5 (export-log reads without migrating).
    // The certificate table from schema 8 on; a database before it has none to export.
    const table = (await columnExists(this.#q, 'attestation_log', 'cert_table')) ? ', l.cert_table' : '';
    const sql = (await tableExists(this.#q, 'release_repeats'))
      ? `SELECT l.seq, l.id, l.at, l.evidence${table}, l.report_data, l.policy, r.count AS repeats, r.last_at AS repeat_last_at FROM attestation_log l LEFT JOIN release_repeats r ON r.log_id = l.id WHERE l.seq > ? AND l.seq <= ? ORDER BY l.seq LIMIT ?`
      : `SELECT l.seq, l.id, l.at, l.evidence${table}, l.report_data, l.policy FROM attestation_log l WHERE l.seq > ? AND l.seq <= ? ORDER BY l.seq LIMIT ?`;
    for (;;) {
      const rows = await this.#q.all<Row>(sql, [after, through, pageSize]);
      for (const r of rows) {
        const seq = Number(r.seq);
        if (o.stats && seq > after + 1) o.stats.gaps += seq - after - 1;
        after = seq;
        if (!r.evidence) continue;
        const rec: Record<string, unknown> = { id: r.id, evidence: r.evidence, collectedAt: r.at };
        if (r.report_data) rec['reportData'] = r.report_data;
        if (r.policy) rec['policy'] = JSON.parse(r.policy);
        // batch's own name for the table (src/batch/verify-record.ts): the release is judged again with it.
        if (r.cert_table) rec['auxblob'] = r.cert_table;
        // batch ignores unknown keys: the record stays a batch record.
        if (r.repeats !== undefined && r.repeats !== null) rec['repeats'] = { count: Number(r.repeats), lastAt: r.repeat_last_at };
        yield JSON.stringify(rec);
      }
      if (rows.length < pageSize) {
        if (o.stats && through > after) o.stats.gaps += through - after;
        return;
      }
    }
  }

  /**
   * Refusals stored only as counts: how many, in how many (window, client, key id) groups. Zero on a
   * database of a schema before version 3 (export-log reads without migrating).
   */
  async aggregatedRefusals(): Promise<{ refusals: number; groups: number }> {
    const exists = await this.#q.get<{ n: number }>(
      this.dialect === 'sqlite' ? "SELECT COUNT(*) AS n FROM sqlite_master WHERE type = 'table' AND name = 'refusal_aggregates'" : "SELECT COUNT(*) AS n FROM pg_tables WHERE tablename = 'refusal_aggregates' AND schemaname = current_schema()",
    );
    if (Number(exists?.n ?? 0) === 0) return { refusals: 0, groups: 0 };
    const r = await this.#q.get<{ refusals: number | string | null; n_groups: number | string }>('SELECT SUM(count) AS refusals, COUNT(*) AS n_groups FROM refusal_aggregates');
    return { refusals: Number(r?.refusals ?? 0), groups: Number(r?.n_groups ?? 0) };
  }

  /**
   * Releases without a nonce that were repeated (review s9 K1): how many repeats in all, over how
   * many first releases. Zero on a schema before version 5 (export-log reads without migrating).
   */
  async releaseRepeats(): Promise<{ repeats: number; releases: number }> {
    if (!(await tableExists(this.#q, 'release_repeats'))) return { repeats: 0, releases: 0 };
    const r = await this.#q.get<{ repeats: number | string | null; n: number | string }>('SELECT SUM(count) AS repeats, COUNT(*) AS n FROM release_repeats');
    return { repeats: Number(r?.repeats ?? 0), releases: Number(r?.n ?? 0) };
  }

  /** The refusal counts, newest window first. */
  async refusalAggregates(limit = 100): Promise<{ window_start: string; client: string; key_id: string; error_code: string; count: number; first_at: string; last_at: string }[]> {
    type Row = { window_start: string; client: string; key_id: string; error_code: string; count: number | string; first_at: string; last_at: string };
    const rows = await this.#q.all<Row>('SELECT window_start, client, key_id, error_code, count, first_at, last_at FROM refusal_aggregates ORDER BY window_start DESC, client, key_id, error_code LIMIT ?', [limit]);
    return rows.map((r) => ({ ...r, count: Number(r.count) }));
  }

  logEntries(limit = 100): Promise<Record<string, unknown>[]> {
    return this.#q.all('SELECT seq, id, at, client, key_id, attestation_type, report_data, decision, error_code, error FROM attestation_log ORDER BY seq DESC LIMIT ?', [limit]);
  }
}

const bindingOf = (policy: VerifiedPolicyRow): SealBinding => ({ policyId: policy.id, policyDigest: policyDigest(policy.document) });

export function keyInfo(row: KeyRow, baseUrl: string): KeyInfo {
  return {
    id: row.id,
    key_info: { algorithm: row.algorithm, key_length: row.key_length, version: row.version },
    transfer_policy_id: row.policy_id,
    transfer_link: `${baseUrl}/kbs/v1/keys/${row.id}/transfer`,
    created_at: row.created_at,
    ...(row.rotated_at ? { rotated_at: row.rotated_at } : {}),
  };
}

// ---- schema history and the integrity upgrade (schema 4) ----

async function tableExists(tx: SqlExecutor, name: string): Promise<boolean> {
  const row = await tx.get<{ n: number | string }>(
    tx.dialect === 'sqlite' ? "SELECT COUNT(*) AS n FROM sqlite_master WHERE type = 'table' AND name = ?" : 'SELECT COUNT(*) AS n FROM pg_tables WHERE tablename = ? AND schemaname = current_schema()',
    [name],
  );
  return Number(row?.n ?? 0) > 0;
}

async function columnExists(tx: SqlExecutor, table: string, column: string): Promise<boolean> {
  const row = await tx.get<{ n: number | string }>(
    tx.dialect === 'sqlite'
      ? 'SELECT COUNT(*) AS n FROM pragma_table_info(?) WHERE name = ?'
      : 'SELECT COUNT(*) AS n FROM information_schema.columns WHERE table_name = ? AND column_name = ? AND table_schema = current_schema()',
    [table, column],
  );
  return Number(row?.n ?? 0) > 0;
}

async function rowCount(tx: SqlExecutor, table: 'admin_tokens' | 'policies' | 'keys'): Promise<number> {
  if (!(await tableExists(tx, table))) return 0;
  return Number((await tx.get<{ n: number | string }>(`SELECT COUNT(*) AS n FROM ${table}`))?.n ?? 0);
}

/**
 * The schema set with one more rule: a database without any kbs schema history (no schema_migrations
 * rows, no schema_version) must be empty. A broker records its migrations before it writes a row, so
 * keys, policies or admin tokens there mean the history was removed outside the broker, to make a
 * start take the rows for new ones (second review s7, r1 "from = 0"): ERR_KBS_INTEGRITY, always.
 */
function withHistoryCheck(set: MigrationSet): MigrationSet {
  return {
    ...set,
    legacyVersion: async (tx) => {
      const v = await set.legacyVersion?.(tx);
      if (v !== undefined) return v;
      const [keys, policies, tokens] = [await rowCount(tx, 'keys'), await rowCount(tx, 'policies'), await rowCount(tx, 'admin_tokens')];
      if (keys + policies + tokens > 0) {
        // Outside the migration lock (checkSchema at start) each statement sees what was committed
        // before it: another instance may have migrated and written its first rows between the first
        // look at the history and the counts. History is committed before any row, so a second look
        // after the counts sees it whenever those rows are genuine.
        const recorded = await historyVersion(tx, set);
        if (recorded !== undefined) return recorded;
        throw new KbsError(
          'ERR_KBS_INTEGRITY',
          500,
          `the database holds ${keys} key(s), ${policies} policy row(s) and ${tokens} admin token(s) but no kbs schema history (no schema_migrations rows, no schema_version): it was removed outside the broker; nothing was changed and no row is trusted. Restore the database from a backup`,
        );
      }
      return undefined;
    },
  };
}

/** The component's schema history as recorded (schema_migrations, else the legacy schema_version), undefined when there is none. */
async function historyVersion(tx: SqlExecutor, set: MigrationSet): Promise<number | undefined> {
  if (await tableExists(tx, 'schema_migrations')) {
    const row = await tx.get<{ v: number | string | null }>('SELECT MAX(version) AS v FROM schema_migrations WHERE component = ?', [set.component]);
    if (row?.v !== null && row?.v !== undefined) return Number(row.v);
  }
  return set.legacyVersion?.(tx);
}

/** A database opened with another master key fails at start (first instance to write the check value wins). */
async function checkMasterKey(tx: SqlExecutor, master: Buffer): Promise<void> {
  const check = createHmac('sha256', master).update('tee-kbs master key check').digest('hex');
  await tx.run('INSERT INTO meta (name, value) VALUES (?, ?) ON CONFLICT (name) DO NOTHING', ['master_key_check', check]);
  const stored = (await tx.get<{ value: string }>('SELECT value FROM meta WHERE name = ?', ['master_key_check']))?.value;
  if (stored !== check) throw new KbsError('ERR_KBS_STORAGE', 500, 'the master key does not match this database');
}

/**
 * The scopes migration's second half, in the migration's transaction: every admin-token row whose
 * MAC (the form before scopes) holds keeps full authority: all scopes, MACed with them. A row whose
 * MAC fails is left as it is and fails the new check too: nothing is laundered (review s9 K2 b).
 */
async function scopesOnUpgrade(tx: SqlExecutor, k: IntegrityKeys): Promise<void> {
  const scopes = scopesText(ALL_SCOPES);
  type Row = { id: string | null; hash: string; created_at: string; expires_at: string | null; mac: string | null };
  for (const t of await tx.all<Row>('SELECT id, hash, created_at, expires_at, mac FROM admin_tokens WHERE scopes IS NULL')) {
    if (t.id === null || !sameMac(t.mac, tokenRowMacV1(k, t.id, t.hash, t.created_at, t.expires_at))) continue;
    await tx.run('UPDATE admin_tokens SET scopes = ?, mac = ? WHERE id = ?', [scopes, tokenRowMac(k, t.id, t.hash, t.created_at, t.expires_at, scopes), t.id]);
  }
}

/** Rows the integrity upgrade would MAC or re-seal: policies and admin tokens without a MAC, keys sealed without their policy. */
async function rowsWithoutMac(tx: SqlExecutor): Promise<{ policies: string[]; tokens: string[]; keys: string[] }> {
  const policies = (await tx.all<{ id: string }>('SELECT id FROM policies WHERE mac IS NULL ORDER BY id')).map((r) => r.id);
  const tokens = (await tx.all<{ label: string }>('SELECT label FROM admin_tokens WHERE mac IS NULL ORDER BY created_at, label')).map((r) => r.label);
  const keys = (await tx.all<{ id: string }>('SELECT id FROM keys WHERE sealed_with = 1 ORDER BY id')).map((r) => r.id);
  return { policies, tokens, keys };
}

const some = (xs: string[]): string => `${xs.slice(0, 10).map((x) => JSON.stringify(x)).join(', ')}${xs.length > 10 ? `, … (${xs.length - 10} more)` : ''}`;

/** "2 policy row(s) (ids …), 1 admin token(s) (labels …), 1 key(s) (ids …)": what the upgrade found. */
export function describeRowsWithoutMac(found: { policies: string[]; tokens: string[]; keys: string[] }): string {
  const parts: string[] = [];
  if (found.policies.length > 0) parts.push(`${found.policies.length} policy row(s) without a MAC (ids ${some(found.policies)})`);
  if (found.tokens.length > 0) parts.push(`${found.tokens.length} admin token row(s) without a MAC (labels ${some(found.tokens)})`);
  if (found.keys.length > 0) parts.push(`${found.keys.length} key(s) sealed without their policy (ids ${some(found.keys)})`);
  return parts.join(', ');
}

/**
 * The integrity migration's second half, in the migration's transaction (so no crash can leave the
 * schema upgraded and the rows unMACed). Without the operator's word (`trust`) rows without a MAC
 * refuse the start, naming them, and the whole migration rolls back. With it: the MACs of the policy
 * and admin-token rows as found, SHA-256 token rows converted to the keyed digest, every key
 * re-sealed with its policy in the AAD. Returns undefined when there was nothing to upgrade.
 */
async function integrityOnUpgrade(tx: SqlExecutor, master: Buffer, k: IntegrityKeys, trust: boolean): Promise<IntegrityUpgrade | undefined> {
  const found = await rowsWithoutMac(tx);
  if (found.policies.length + found.tokens.length + found.keys.length === 0) return undefined;
  if (!trust) {
    throw new KbsError(
      'ERR_KBS_UPGRADE_REQUIRED',
      500,
      `the row-integrity migration (schema ${INTEGRITY_VERSION}) finds ${describeRowsWithoutMac(found)}. The broker never trusts them on its own: check them, then run \`tee-kbs admin upgrade-integrity\` once, which MACs them as found (docs/kbs.md, Row integrity). Nothing was changed`,
    );
  }
  const out: IntegrityUpgrade = { policies: 0, tokens: 0, keys: 0, trusted: { policies: [], tokens: [], keys: [] }, keysNotOpened: [] };
  for (const p of await tx.all<PolicyRow>('SELECT id, format, document, created_at, mac FROM policies WHERE mac IS NULL ORDER BY id')) {
    await tx.run('UPDATE policies SET mac = ? WHERE id = ?', [policyMac(k, p.id, p.format, p.document), p.id]);
    out.policies++;
    out.trusted.policies.push(p.id);
  }
  for (const t of await tx.all<{ hash: string; label: string; created_at: string }>('SELECT hash, label, created_at FROM admin_tokens WHERE mac IS NULL ORDER BY created_at, label')) {
    const id = randomUUID();
    const digest = tokenDigest(k, t.hash);
    // The schema-7 form directly (all scopes, as every token of that era had): scopesOnUpgrade then has nothing left to do for it.
    const scopes = scopesText(ALL_SCOPES);
    await tx.run('UPDATE admin_tokens SET id = ?, hash = ?, scopes = ?, mac = ? WHERE hash = ?', [id, digest, scopes, tokenRowMac(k, id, digest, t.created_at, null, scopes), t.hash]);
    out.tokens++;
    out.trusted.tokens.push(`${t.label} (id ${id})`);
  }
  const keys = await tx.all<KeyRow & { document: string }>('SELECT k.id, k.policy_id, k.version, k.iv, k.ciphertext, k.tag, p.document FROM keys k JOIN policies p ON p.id = k.policy_id WHERE k.sealed_with = 1 ORDER BY k.id');
  for (const key of keys) {
    let material: Buffer;
    try {
      material = openKey(master, key.id, key.version, key);
    } catch {
      out.keysNotOpened.push(key.id);
      continue;
    }
    try {
      const sealed = sealKey(master, key.id, key.version, material, { policyId: key.policy_id, policyDigest: policyDigest(key.document) });
      await tx.run('UPDATE keys SET iv = ?, ciphertext = ?, tag = ?, sealed_with = 2 WHERE id = ?', [sealed.iv, sealed.ciphertext, sealed.tag, key.id]);
      out.keys++;
      out.trusted.keys.push(key.id);
    } finally {
      material.fill(0);
    }
  }
  return out;
}
