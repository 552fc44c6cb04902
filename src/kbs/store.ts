/**
 * The broker's only state: one SQLite file in WAL mode (better-sqlite3).
 * Keys are sealed under the master key; admin tokens are stored as SHA-256
 * hashes; nonces are single-use rows consumed by one conditional UPDATE; the
 * attestation log is append-only (triggers refuse UPDATE and DELETE).
 * Nothing about a request lives in memory between requests.
 */
import { randomUUID } from 'node:crypto';

import { KbsError } from './errors.js';
import { openDatabase, type Database } from './sqlite.js';
import { openKey, sealKey, hashToken } from './crypto.js';

export const SCHEMA_VERSION = 1;

const SCHEMA_V1 = `
CREATE TABLE IF NOT EXISTS schema_version (version INTEGER NOT NULL);
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

export interface PolicyRow {
  id: string;
  format: 'native' | 'ita';
  document: string;
  created_at: string;
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
  reportData?: string;
  policy?: unknown;
  claims?: unknown;
  decision: 'released' | 'refused';
  errorCode?: string;
  error?: unknown;
}

export interface StoreOptions {
  /** SQLite synchronous mode; default FULL (an acknowledged key survives power loss, not only a crash). */
  synchronous?: 'FULL' | 'NORMAL';
}

export class KbsStore {
  readonly db: Database;
  readonly #master: Buffer;

  constructor(file: string, master: Buffer, options: StoreOptions = {}) {
    this.db = openDatabase(file);
    this.#master = master;
    this.db.pragma('journal_mode = WAL');
    this.db.pragma(`synchronous = ${options.synchronous ?? 'FULL'}`);
    this.db.pragma('foreign_keys = ON');
    this.#migrate();
  }

  #migrate(): void {
    const migrate = this.db.transaction(() => {
      this.db.exec(SCHEMA_V1);
      const row = this.db.prepare<{ version: number }>('SELECT version FROM schema_version').get();
      if (!row) this.db.prepare('INSERT INTO schema_version (version) VALUES (?)').run(SCHEMA_VERSION);
      else if (row.version > SCHEMA_VERSION) throw new KbsError('ERR_KBS_STORAGE', 500, `database schema ${row.version} is newer than this broker (${SCHEMA_VERSION})`);
    });
    migrate.immediate();
  }

  close(): void {
    if (this.db.open) this.db.close();
  }

  // ---- meta ----
  getMeta(name: string): string | undefined {
    return this.db.prepare<{ value: string }>('SELECT value FROM meta WHERE name = ?').get(name)?.value;
  }
  setMeta(name: string, value: string): void {
    this.db.prepare('INSERT INTO meta (name, value) VALUES (?, ?) ON CONFLICT(name) DO UPDATE SET value = excluded.value').run(name, value);
  }

  // ---- admin tokens ----
  tokenCount(): number {
    return (this.db.prepare<{ n: number }>('SELECT COUNT(*) AS n FROM admin_tokens').get()?.n ?? 0);
  }
  addToken(token: string, label: string, now: Date): void {
    this.db.prepare('INSERT INTO admin_tokens (hash, label, created_at) VALUES (?, ?, ?)').run(hashToken(token), label, now.toISOString());
  }
  hasToken(token: string): boolean {
    return this.db.prepare('SELECT 1 FROM admin_tokens WHERE hash = ?').get(hashToken(token)) !== undefined;
  }

  // ---- policies ----
  addPolicy(format: 'native' | 'ita', document: string, now: Date, id: string = randomUUID()): PolicyRow {
    const row: PolicyRow = { id, format, document, created_at: now.toISOString() };
    this.db.prepare('INSERT INTO policies (id, format, document, created_at) VALUES (?, ?, ?, ?)').run(row.id, row.format, row.document, row.created_at);
    return row;
  }
  getPolicy(id: string): PolicyRow | undefined {
    return this.db.prepare<PolicyRow>('SELECT * FROM policies WHERE id = ?').get(id);
  }
  listPolicies(): PolicyRow[] {
    return this.db.prepare<PolicyRow>('SELECT * FROM policies ORDER BY created_at, id').all();
  }
  deletePolicy(id: string): boolean {
    const used = this.db.prepare('SELECT 1 FROM keys WHERE policy_id = ? LIMIT 1').get(id);
    if (used) throw new KbsError('ERR_KBS_POLICY_IN_USE', 409, 'the policy is used by a key; delete or move the key first');
    return this.db.prepare('DELETE FROM policies WHERE id = ?').run(id).changes === 1;
  }

  // ---- keys ----
  addKey(policyId: string, algorithm: string, material: Uint8Array, now: Date, id: string = randomUUID()): KeyRow {
    const sealed = sealKey(this.#master, id, 1, material);
    const row: KeyRow = { id, policy_id: policyId, algorithm, key_length: material.length * 8, version: 1, ...sealed, created_at: now.toISOString(), rotated_at: null };
    this.db
      .prepare('INSERT INTO keys (id, policy_id, algorithm, key_length, version, iv, ciphertext, tag, created_at) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?)')
      .run(row.id, row.policy_id, row.algorithm, row.key_length, row.version, row.iv, row.ciphertext, row.tag, row.created_at);
    return row;
  }
  getKey(id: string): KeyRow | undefined {
    return this.db.prepare<KeyRow>('SELECT * FROM keys WHERE id = ?').get(id);
  }
  listKeys(): KeyRow[] {
    return this.db.prepare<KeyRow>('SELECT * FROM keys ORDER BY created_at, id').all();
  }
  deleteKey(id: string): boolean {
    return this.db.prepare('DELETE FROM keys WHERE id = ?').run(id).changes === 1;
  }
  /** New material (and optionally a new policy) under a new version; the old material is gone. */
  rotateKey(id: string, material: Uint8Array, now: Date, policyId?: string): KeyRow | undefined {
    const tx = this.db.transaction(() => {
      const cur = this.getKey(id);
      if (!cur) return undefined;
      const version = cur.version + 1;
      const sealed = sealKey(this.#master, id, version, material);
      const policy = policyId ?? cur.policy_id;
      this.db
        .prepare('UPDATE keys SET version = ?, iv = ?, ciphertext = ?, tag = ?, key_length = ?, policy_id = ?, rotated_at = ? WHERE id = ?')
        .run(version, sealed.iv, sealed.ciphertext, sealed.tag, material.length * 8, policy, now.toISOString(), id);
      return this.getKey(id);
    });
    return tx.immediate();
  }
  keyMaterial(row: KeyRow): Buffer {
    return openKey(this.#master, row.id, row.version, { iv: row.iv, ciphertext: row.ciphertext, tag: row.tag });
  }

  // ---- nonces (T42 / S30) ----
  addNonce(valHex: string, keyId: string, iat: string, expiresAtMs: number): void {
    this.db.prepare('INSERT INTO nonces (val, key_id, iat, expires_at) VALUES (?, ?, ?, ?)').run(valHex, keyId, iat, expiresAtMs);
  }
  getNonce(valHex: string): { val: string; key_id: string; iat: string; expires_at: number; consumed_at: number | null } | undefined {
    return this.db.prepare<{ val: string; key_id: string; iat: string; expires_at: number; consumed_at: number | null }>('SELECT * FROM nonces WHERE val = ?').get(valHex);
  }
  /** Single use: true only for the one caller whose UPDATE flips an unexpired, unconsumed nonce. */
  consumeNonce(valHex: string, keyId: string, nowMs: number): boolean {
    return this.db.prepare('UPDATE nonces SET consumed_at = ? WHERE val = ? AND key_id = ? AND consumed_at IS NULL AND expires_at > ?').run(nowMs, valHex, keyId, nowMs).changes === 1;
  }
  /** Expired nonces are useless; consumed ones are kept until they expire (a replay then reads "consumed"). */
  pruneNonces(nowMs: number): number {
    return this.db.prepare('DELETE FROM nonces WHERE expires_at <= ?').run(nowMs - 3_600_000).changes;
  }

  // ---- attestation log ----
  appendLog(e: LogEntry): void {
    const json = (v: unknown): string | null => (v === undefined ? null : JSON.stringify(v));
    this.db
      .prepare(
        'INSERT INTO attestation_log (id, at, client, key_id, attestation_type, evidence, report_data, policy, claims, decision, error_code, error) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)',
      )
      .run(e.id, e.at, e.client, e.keyId ?? null, e.attestationType ?? null, e.evidence ?? null, e.reportData ?? null, json(e.policy), json(e.claims), e.decision, e.errorCode ?? null, json(e.error));
  }

  /** The log as batch records `{id, evidence, collectedAt, reportData?, policy?}`, one JSON line each (entries without evidence are skipped). */
  *exportBatchRecords(): IterableIterator<string> {
    type Row = { id: string; at: string; evidence: string | null; report_data: string | null; policy: string | null };
    const rows = this.db.prepare<Row>('SELECT id, at, evidence, report_data, policy FROM attestation_log WHERE evidence IS NOT NULL ORDER BY seq').iterate();
    for (const r of rows) {
      if (!r.evidence) continue;
      const rec: Record<string, unknown> = { id: r.id, evidence: r.evidence, collectedAt: r.at };
      if (r.report_data) rec['reportData'] = r.report_data;
      if (r.policy) rec['policy'] = JSON.parse(r.policy);
      yield JSON.stringify(rec);
    }
  }

  logEntries(limit = 100): Record<string, unknown>[] {
    return this.db.prepare<Record<string, unknown>>('SELECT seq, id, at, client, key_id, attestation_type, report_data, decision, error_code, error FROM attestation_log ORDER BY seq DESC LIMIT ?').all(limit);
  }
}

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
