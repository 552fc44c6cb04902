/**
 * The admin API, shaped like Intel Trust Authority's KBS (protocols.md §4.1):
 * bearer-token auth; /token; /key-transfer-policies; /keys (register given or
 * generated material, list without material, get, PUT: rotate, or move to another policy, delete);
 * plus /attestation-log (JSONL batch records, streamed page by page) and /tokens (mint, list and
 * revoke admin tokens; an optional expiry on the broker's clock).
 */
import { randomBytes, randomUUID, timingSafeEqual, createHash } from 'node:crypto';

import { decodeStrictBase64 } from '../evidence/base64.js';
import type { BrokerContext } from './context.js';
import { newToken, policyDigest } from './crypto.js';
import { KbsError } from './errors.js';
import { parsePolicyDocument, policyWarnings } from './policies.js';
import { holdsAll, requestedScopes, requiredScope, type Scope } from './scopes.js';
import { keyInfo, type AuditActor, type PolicyRow, type TokenInfo } from './store.js';

export interface AdminRequest {
  method: string;
  /** Path segments after /kbs/v1. */
  parts: string[];
  /** The request target's query (only the log export reads one: after_seq). */
  query?: URLSearchParams;
  authorization: string | undefined;
  json: () => unknown;
  /** True when the request had no body. */
  emptyBody?: boolean;
  baseUrl: string;
  /** The peer address, for the admin audit trail. */
  client?: string;
}

export interface AdminAnswer {
  status: number;
  body?: unknown;
  text?: string;
  contentType?: string;
  /** A streamed answer (the log export): lines written as they come, never held whole. */
  stream?: { lines: AsyncIterable<string>; throughSeq: number; stats: { gaps: number } };
}

export const UUID = /^[0-9a-f]{8}-[0-9a-f]{4}-[1-8][0-9a-f]{3}-[89ab][0-9a-f]{3}-[0-9a-f]{12}$/i;

const notFound = (): KbsError => new KbsError('ERR_KBS_NOT_FOUND', 404, 'not found');
const badRequest = (m: string): KbsError => new KbsError('ERR_KBS_BAD_REQUEST', 400, m);

/** The admin token a request came with: its id and expiry (null: never), the bounds of what it may do with tokens. */
interface Caller {
  id: string;
  expiresAt: string | null;
  /** Who the admin audit trail names for this request's changes. */
  by: AuditActor;
  /** What the token may do (scopes.ts). */
  scopes: Scope[];
}

async function requireAdmin(ctx: BrokerContext, authorization: string | undefined, client: string | undefined): Promise<Caller> {
  // Three messages (review s7d): none sent, not the Bearer scheme, and a token that was sent but refused.
  if (!authorization) throw new KbsError('ERR_KBS_UNAUTHORIZED', 401, 'an admin bearer token is required (header Authorization: Bearer <token>)');
  // The scheme in any case, then one or more spaces (RFC 9110 §11.1), as the gateway's (s12 change review:
  // "bearer <token>" was refused and counted against the client's admin failure limit); the token exactly.
  if (!/^[Bb][Ee][Aa][Rr][Ee][Rr] /.test(authorization)) throw new KbsError('ERR_KBS_UNAUTHORIZED', 401, 'the Authorization header must be "Bearer <admin token>"');
  const m = /^[Bb][Ee][Aa][Rr][Ee][Rr] +([A-Za-z0-9_\-.~+/=]{16,512})$/.exec(authorization);
  if (!m) throw new KbsError('ERR_KBS_UNAUTHORIZED', 401, 'the admin token was refused: it is not of the form this broker issues');
  const found = await ctx.store.checkToken(m[1] as string, ctx.now());
  switch (found.status) {
    case 'valid':
      return { id: found.id as string, expiresAt: found.expiresAt ?? null, by: { kind: 'admin-token', tokenId: found.id as string, ...(client === undefined ? {} : { client }) }, scopes: found.scopes ?? [] };
    case 'expired':
      throw new KbsError('ERR_KBS_UNAUTHORIZED', 401, 'the admin token has expired');
    case 'tampered':
      // Written into the database by hand (no valid row MAC, or the pre-s7 SHA-256 form): never admits anyone.
      throw new KbsError('ERR_KBS_INTEGRITY', 401, `an admin token row${found.id ? ` (id ${found.id})` : ''} fails its integrity check: it was written outside the broker and admits no one`);
    default:
      throw new KbsError('ERR_KBS_UNAUTHORIZED', 401, 'the admin token was refused: unknown or revoked');
  }
}

const sameSecret = (a: string, b: string): boolean => timingSafeEqual(createHash('sha256').update(a).digest(), createHash('sha256').update(b).digest());

/** POST /token {"username","password"}: the bootstrap secret for an admin token (raw text, as ITA answers). */
async function token(ctx: BrokerContext, body: unknown, client: string | undefined): Promise<AdminAnswer> {
  const o = (typeof body === 'object' && body !== null ? body : {}) as Record<string, unknown>;
  const secret = ctx.bootstrapSecret;
  if (!secret || o['username'] !== 'admin' || typeof o['password'] !== 'string' || !sameSecret(o['password'], secret)) {
    throw new KbsError('ERR_KBS_UNAUTHORIZED', 401, 'invalid credentials');
  }
  const t = newToken();
  const now = ctx.now();
  const info = await ctx.store.transaction(async (s) => {
    const minted = await s.addToken(t, 'bootstrap', now);
    await s.appendAudit({ kind: 'bootstrap-secret', ...(client === undefined ? {} : { client }) }, 'token.mint', minted.id, { label: minted.label, expires_at: minted.expires_at, scopes: minted.scopes }, now, ctx.now);
    return minted;
  });
  ctx.log(`tee-kbs: admin token ${info.id} ("bootstrap") minted with the bootstrap secret`);
  return { status: 200, text: t, contentType: 'application/jwt' };
}

/** A stored policy as the API shows it; `warnings` names relaxations (X07 unpinned, S17 no SNP TCB floor, T33 TCB) and a failed integrity check. */
function policyView(ctx: BrokerContext, row: PolicyRow): Record<string, unknown> {
  const intact = ctx.store.policyIntact(row);
  const warnings = [...(intact ? [] : [`INTEGRITY: policy ${row.id} fails its integrity check (written outside the broker): no key is released under it`]), ...policyWarnings(row)];
  return { id: row.id, format: row.format, created_at: row.created_at, policy: JSON.parse(row.document) as unknown, warnings, ...(intact ? {} : { intact: false }) };
}

async function policies(ctx: BrokerContext, r: AdminRequest, caller: Caller): Promise<AdminAnswer> {
  // Policy changes are audited like key changes: which policy, by which admin token.
  const by = `by admin token ${caller.id}`;
  const id = r.parts[1];
  if (id === undefined) {
    if (r.method === 'GET') return { status: 200, body: (await ctx.store.listPolicies()).map((row) => policyView(ctx, row)) };
    if (r.method === 'POST') {
      const id = randomUUID();
      const parsed = parsePolicyDocument(r.json(), id);
      const now = ctx.now();
      const row = await ctx.store.transaction(async (s) => {
        const added = await s.addPolicy(parsed.format, parsed.document, now, id);
        await s.appendAudit(caller.by, 'policy.create', id, { format: added.format, document_sha256: policyDigest(added.document) }, now, ctx.now);
        return added;
      });
      ctx.log(`tee-kbs: policy ${row.id} (${row.format}) created ${by}`);
      for (const w of parsed.warnings) ctx.log(`tee-kbs: WARNING: ${w}`);
      return { status: 201, body: policyView(ctx, row) };
    }
    throw notFound();
  }
  const row = await ctx.store.getPolicy(id);
  if (!row || r.parts.length > 2) throw notFound();
  if (r.method === 'GET') return { status: 200, body: policyView(ctx, row) };
  if (r.method === 'DELETE') {
    const now = ctx.now();
    await ctx.store.transaction(async (s) => {
      if (!(await s.deletePolicy(id))) throw notFound();
      await s.appendAudit(caller.by, 'policy.delete', id, { format: row.format, document_sha256: policyDigest(row.document) }, now, ctx.now);
    });
    ctx.log(`tee-kbs: policy ${id} deleted ${by}`);
    return { status: 204 };
  }
  throw notFound();
}

/** key_information {algorithm "AES", key_length 256, key_data? (base64)}: given or generated material. */
function keyMaterial(info: unknown): { algorithm: string; material: Buffer } {
  if (info === undefined) return { algorithm: 'AES', material: randomBytes(32) };
  if (typeof info !== 'object' || info === null || Array.isArray(info)) throw badRequest('"key_information" must be an object');
  const o = info as Record<string, unknown>;
  const unknown = Object.keys(o).filter((k) => !['algorithm', 'key_length', 'key_data'].includes(k));
  if (unknown.length) throw badRequest(`unknown key_information field(s): ${unknown.join(', ')}`);
  const algorithm = o['algorithm'] ?? 'AES';
  if (algorithm !== 'AES') throw badRequest('only AES keys are supported');
  const length = o['key_length'] ?? 256;
  if (length !== 128 && length !== 192 && length !== 256) throw badRequest('key_length must be 128, 192 or 256');
  if (o['key_data'] === undefined) return { algorithm, material: randomBytes(length / 8) };
  if (typeof o['key_data'] !== 'string' || !/^[A-Za-z0-9+/]+={0,2}$/.test(o['key_data'])) throw badRequest('key_data must be standard base64');
  // Strict and canonical (padding absent or complete, unused bits zero): key material has one spelling.
  const decoded = decodeStrictBase64(o['key_data']);
  if (!decoded.ok) throw badRequest(`key_data must be canonical standard base64 (${decoded.reason})`);
  const material = Buffer.from(decoded.bytes);
  decoded.bytes.fill(0);
  if (material.length * 8 !== length) throw badRequest(`key_data holds ${material.length * 8} bits, key_length says ${length}`);
  return { algorithm, material };
}

function keyBody(body: unknown): { info: unknown; policyId: string | undefined } {
  if (typeof body !== 'object' || body === null || Array.isArray(body)) throw badRequest('the body must be a JSON object');
  const o = body as Record<string, unknown>;
  const unknown = Object.keys(o).filter((k) => k !== 'key_information' && k !== 'transfer_policy_id');
  if (unknown.length) throw badRequest(`unknown field(s): ${unknown.join(', ')}`);
  const policyId = o['transfer_policy_id'];
  if (policyId !== undefined && typeof policyId !== 'string') throw badRequest('transfer_policy_id must be a string');
  return { info: o['key_information'], policyId };
}

async function keys(ctx: BrokerContext, r: AdminRequest, caller: Caller): Promise<AdminAnswer> {
  // Every change to a key is logged with the admin token that made it (an audit trail beside the attestation log).
  const by = `by admin token ${caller.id}`;
  const id = r.parts[1];
  const now = ctx.now();
  if (id === undefined) {
    if (r.method === 'GET') return { status: 200, body: (await ctx.store.listKeys()).map((k) => keyInfo(k, r.baseUrl)) };
    if (r.method !== 'POST') throw notFound();
    const { info, policyId } = keyBody(r.json());
    if (!policyId || !(await ctx.store.getPolicy(policyId))) throw badRequest('transfer_policy_id must name an existing key-transfer policy');
    const { algorithm, material } = keyMaterial(info);
    try {
      const row = await ctx.store.transaction(async (s) => {
        const added = await s.addKey(policyId, algorithm, material, now);
        await s.appendAudit(caller.by, 'key.create', added.id, { policy_id: policyId, version: added.version, key_length: added.key_length }, now, ctx.now);
        return added;
      });
      ctx.log(`tee-kbs: key ${row.id} created under policy ${policyId} ${by}`);
      return { status: 201, body: keyInfo(row, r.baseUrl) };
    } finally {
      material.fill(0);
    }
  }
  const row = await ctx.store.getKey(id);
  if (!row || r.parts.length > 2) throw notFound();
  if (r.method === 'GET') return { status: 200, body: keyInfo(row, r.baseUrl) };
  if (r.method === 'DELETE') {
    await ctx.store.transaction(async (s) => {
      if (!(await s.deleteKey(id))) throw notFound();
      await s.appendAudit(caller.by, 'key.delete', id, { policy_id: row.policy_id, version: row.version }, now, ctx.now);
    });
    ctx.log(`tee-kbs: key ${id} deleted ${by}`);
    return { status: 204 };
  }
  if (r.method === 'PUT') {
    const { info, policyId } = keyBody(r.json());
    if (policyId !== undefined && !(await ctx.store.getPolicy(policyId))) throw badRequest('transfer_policy_id must name an existing key-transfer policy');
    // Only transfer_policy_id: a move (same material, same version). Rotation needs key_information
    // (given or, when it names no key_data, generated material) or the empty body.
    if (info === undefined && policyId !== undefined) {
      const moved = await ctx.store.transaction(async (s) => {
        const done = await s.moveKey(id, policyId);
        if (done) await s.appendAudit(caller.by, 'key.move', id, { from_policy_id: done.from, to_policy_id: policyId, version: done.row.version }, now, ctx.now);
        return done;
      });
      if (!moved) throw notFound();
      ctx.log(`tee-kbs: key ${id} moved from policy ${moved.from} to policy ${policyId} (material and version ${moved.row.version} unchanged) ${by}`);
      return { status: 200, body: keyInfo(moved.row, r.baseUrl) };
    }
    const { material } = keyMaterial(info);
    let rotated;
    try {
      rotated = await ctx.store.transaction(async (s) => {
        const done = await s.rotateKey(id, material, now, policyId);
        if (done) await s.appendAudit(caller.by, 'key.rotate', id, { from_policy_id: row.policy_id, to_policy_id: done.policy_id, version: done.version }, now, ctx.now);
        return done;
      });
    } finally {
      material.fill(0);
    }
    if (!rotated) throw notFound();
    ctx.log(`tee-kbs: key ${id} rotated to version ${rotated.version}${policyId !== undefined && policyId !== row.policy_id ? ` and moved to policy ${policyId}` : ''} (new material) ${by}`);
    return { status: 200, body: keyInfo(rotated, r.baseUrl) };
  }
  throw notFound();
}

/** Longest expiry a new admin token may have: ten years. */
const MAX_TOKEN_LIFETIME_S = 10 * 365 * 86_400;

/** POST /tokens [{label?, expires_in_seconds?}]: a new admin token, shown once. */
async function mintToken(ctx: BrokerContext, r: AdminRequest, caller: Caller): Promise<AdminAnswer> {
  const body = r.emptyBody ? {} : r.json();
  if (typeof body !== 'object' || body === null || Array.isArray(body)) throw badRequest('the body must be a JSON object');
  const o = body as Record<string, unknown>;
  const unknown = Object.keys(o).filter((k) => k !== 'label' && k !== 'expires_in_seconds' && k !== 'scopes');
  if (unknown.length) throw badRequest(`unknown field(s): ${unknown.slice(0, 5).join(', ')}`);
  const label = o['label'] ?? 'admin-api';
  if (typeof label !== 'string' || label.length === 0 || label.length > 64 || /[\u0000-\u001f\u007f]/.test(label)) throw badRequest('label must be 1-64 characters without control characters');
  const ttl = o['expires_in_seconds'];
  if (ttl !== undefined && (typeof ttl !== 'number' || !Number.isInteger(ttl) || ttl < 1 || ttl > MAX_TOKEN_LIFETIME_S)) throw badRequest(`expires_in_seconds must be a whole number from 1 to ${MAX_TOKEN_LIFETIME_S}`);
  // Absent: the caller's own scopes. A token hands out only scopes it holds (review s9 K2 b), as it hands out no more lifetime.
  const scopes = o['scopes'] === undefined ? caller.scopes : requestedScopes(o['scopes']);
  if (!holdsAll(caller.scopes, scopes)) {
    throw tokenAuthority(`this admin token holds the scopes ${caller.scopes.join(', ')}: it may mint only tokens with some of them, not ${scopes.filter((x) => !caller.scopes.includes(x)).join(', ')}`);
  }
  const now = ctx.now();
  const expires = ttl === undefined ? undefined : new Date(now.getTime() + ttl * 1000);
  // A token cannot outlive the token that minted it (second review s7: a 60 s token minted one that never expired).
  if (caller.expiresAt !== null && (expires === undefined || expires.getTime() > Date.parse(caller.expiresAt))) {
    const left = Math.floor((Date.parse(caller.expiresAt) - now.getTime()) / 1000);
    throw tokenAuthority(`this admin token expires at ${caller.expiresAt}: it may mint only tokens that expire no later (expires_in_seconds at most ${Math.max(0, left)})`);
  }
  const t = newToken();
  const info = await ctx.store.transaction(async (s) => {
    const minted = await s.addToken(t, label, now, expires, { scopes });
    await s.appendAudit(caller.by, 'token.mint', minted.id, { label: minted.label, expires_at: minted.expires_at, scopes: minted.scopes }, now, ctx.now);
    return minted;
  });
  ctx.log(`tee-kbs: admin token ${info.id} (${JSON.stringify(info.label)}${info.expires_at ? `, expires ${info.expires_at}` : ''}) minted by admin token ${caller.id}`);
  return { status: 201, body: { token: t, id: info.id, label: info.label, created_at: info.created_at, expires_at: info.expires_at, scopes: info.scopes } };
}

const tokenAuthority = (m: string): KbsError => new KbsError('ERR_KBS_TOKEN_AUTHORITY', 403, m);

/**
 * Who may revoke whom: a token that never expires, any token; a token that expires, only tokens
 * that expire no later than itself (itself included). So a short-lived token cannot remove the
 * tokens that outlive it, as it cannot mint one that does.
 */
function mayRevoke(caller: Caller): (target: TokenInfo) => void {
  return (target) => {
    // Nor can it remove a token that may do more than itself (review s9 K2 b).
    if (target.intact && !holdsAll(caller.scopes, target.scopes)) {
      throw tokenAuthority(`this admin token holds the scopes ${caller.scopes.join(', ')}: it may revoke only tokens whose scopes it holds; ${target.id} also holds ${target.scopes.filter((x) => !caller.scopes.includes(x)).join(', ')}`);
    }
    if (caller.expiresAt === null) return;
    if (target.expires_at === null || Date.parse(target.expires_at) > Date.parse(caller.expiresAt)) {
      throw tokenAuthority(`this admin token expires at ${caller.expiresAt}: it may revoke only tokens that expire no later; ${target.id} ${target.expires_at === null ? 'never expires' : `expires at ${target.expires_at}`}`);
    }
  };
}

/** /tokens: POST mints, GET lists (never a secret), DELETE /tokens/{id} revokes. */
async function tokens(ctx: BrokerContext, r: AdminRequest, caller: Caller): Promise<AdminAnswer> {
  const id = r.parts[1];
  if (id === undefined && r.method === 'POST') return mintToken(ctx, r, caller);
  if (id === undefined && r.method === 'GET') {
    const nowMs = ctx.now().getTime();
    const list = await ctx.store.listTokens();
    return { status: 200, body: list.map((t) => ({ ...t, expired: t.expires_at !== null && !(nowMs < Date.parse(t.expires_at)) })) };
  }
  if (id !== undefined && r.parts.length === 2 && r.method === 'DELETE') {
    const now = ctx.now();
    const revoked = UUID.test(id) && (await ctx.store.transaction(async (s) => {
      let target: TokenInfo | undefined;
      const allowed = mayRevoke(caller);
      const done = await s.revokeToken(id.toLowerCase(), now, (t) => {
        allowed(t);
        target = t;
      });
      if (done && target) await s.appendAudit(caller.by, 'token.revoke', target.id, { label: target.label, expires_at: target.expires_at, scopes: target.scopes }, now, ctx.now);
      return done;
    }));
    if (!revoked) throw notFound();
    ctx.log(`tee-kbs: admin token ${id.toLowerCase()} revoked by admin token ${caller.id}`);
    return { status: 204 };
  }
  throw notFound();
}

/**
 * `?after_seq=N`: export only rows with seq above N, e.g. the previous export's
 * Tee-Kbs-Export-Through-Seq (a decimal integer from 0 to 2^53 - 1; no other query parameter).
 */
function afterSeqOf(query: URLSearchParams | undefined): number {
  if (query === undefined) return 0;
  const unknown = [...new Set(query.keys())].filter((k) => k !== 'after_seq');
  if (unknown.length > 0) throw badRequest(`unknown query parameter(s): ${unknown.slice(0, 5).map((k) => JSON.stringify(k.slice(0, 64))).join(', ')}`);
  const all = query.getAll('after_seq');
  if (all.length === 0) return 0;
  const v = all[0] as string;
  if (all.length > 1 || !/^\d{1,16}$/.test(v) || !Number.isSafeInteger(Number(v))) throw badRequest('after_seq must be given once, as a whole number from 0 to 2^53 - 1');
  return Number(v);
}

/** Routes /kbs/v1/{token,tokens,key-transfer-policies,keys,attestation-log}; transfer is routed elsewhere. */
export async function handleAdmin(ctx: BrokerContext, r: AdminRequest): Promise<AdminAnswer> {
  const head = r.parts[0];
  if (head === 'token' && r.parts.length === 1 && r.method === 'POST') return token(ctx, r.json(), r.client);
  const caller = await requireAdmin(ctx, r.authorization, r.client);
  const needed = requiredScope(head, r.method);
  if (needed !== undefined && !caller.scopes.includes(needed)) {
    throw new KbsError('ERR_KBS_TOKEN_SCOPE', 403, `this admin token lacks the scope "${needed}" (it holds ${caller.scopes.join(', ')}); ${r.method} ${head} needs it`);
  }
  switch (head) {
    case 'tokens':
      return tokens(ctx, r, caller);
    case 'key-transfer-policies':
      return policies(ctx, r, caller);
    case 'keys':
      return keys(ctx, r, caller);
    case 'attestation-log':
      if (r.method !== 'GET' || r.parts.length !== 1) throw notFound();
      {
        // Streamed by the server page by page; rows after `after_seq` (default 0) up to the high-water mark read now (the export's bound).
        const afterSeq = afterSeqOf(r.query);
        const throughSeq = await ctx.store.logHighWater();
        const stats = { gaps: 0 };
        return { status: 200, stream: { lines: ctx.store.exportBatchRecords({ afterSeq, throughSeq, stats }), throughSeq, stats }, contentType: 'application/x-ndjson' };
      }
    case 'admin-audit':
      // Read-only: the trail is appended by the changes themselves and never changed through the API.
      if (r.method !== 'GET' || r.parts.length !== 1) throw notFound();
      return { status: 200, body: await ctx.store.auditEntries(afterSeqOf(r.query), AUDIT_PAGE) };
    default:
      throw notFound();
  }
}

/** Admin audit rows per answer; the next page is `?after_seq=<the last row's seq>`. */
export const AUDIT_PAGE = 500;
