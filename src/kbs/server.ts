/**
 * startKeyBroker: the HTTPS (or loopback HTTP) server in front of the store.
 * Routes: GET /version; GET /health (database reachable, not shutting down);
 * /kbs/v1/keys/{id}/transfer (attestation); the admin
 * API (admin.ts). Bodies are capped (default 1 MiB, 413 beyond); transfer and
 * token requests are rate-limited per client (rate-limit.ts); failed admin
 * logins are limited per client and instance (src/net/auth-failures.ts). A
 * client is its IPv4 address or IPv6 /64 (src/net/client-key.ts). Receiving a
 * request is bounded in time (src/net/server-timeouts.ts).
 */
import { existsSync } from 'node:fs';
import { createServer as createHttpServer, type IncomingMessage, type Server, type ServerResponse } from 'node:http';
import { createServer as createHttpsServer } from 'node:https';
import { BlockList, isIP } from 'node:net';
import type { AddressInfo } from 'node:net';

import { PRODUCTION_TRUST_ROOTS, type CollateralService, type TrustRoots } from '../index.js';
import { AuthFailureLimiter, type AuthFailureLimitOptions } from '../net/auth-failures.js';
import { clientKey } from '../net/client-key.js';
import { ConnectionCap, defaultConnectionsPerClient } from '../net/connection-cap.js';
import { TrustedProxies } from '../net/forwarded.js';
import { serverTimeoutOptions, type ServerTimeouts } from '../net/server-timeouts.js';
import { listenOn } from '../net/listen.js';
import { isPinnedProductionRoots } from '../attestation-service/appraise.js';
import { redactUrlsIn } from '../attestation-service/collateral-messages.js';
import { HealthProbe } from '../net/health-probe.js';
import { steadyClock, type LimiterClock } from '../net/steady-clock.js';
import { handleAdmin, UUID, type AdminAnswer } from './admin.js';
import { createAdminTokenFile, defaultAdminTokenFile, removeAdminTokenFile } from './admin-token-file.js';
import type { BrokerContext } from './context.js';
import { newToken } from './crypto.js';
import { openStorage, parseStorageLocation, sqliteLocation, StorageError, type Storage, type StorageLocation } from '../storage/index.js';
import { KbsError } from './errors.js';
import { loadMasterKey, MASTER_KEY_ENV, selfSignedPairOf, selfSignedTls } from './files.js';
import { resolveRefusalBounds, type RefusalLogBounds, type ResolvedRefusalBounds } from './log-bounds.js';
import { rollingUpgradeWarning } from './migrations.js';
import { RateLimiter, rateLimitOf, type RateLimitOptions } from './rate-limit.js';
import { policyWarnings, tcbDefaultNotice } from './policies.js';
import { KbsStore } from './store.js';
import { logRefusal, transferKey, type TransferRequest, type TransferTrace } from './transfer.js';

export const KBS_VERSION = '0.1.0';

/**
 * headersTimeoutMs / requestTimeoutMs / keepAliveTimeoutMs (ServerTimeouts, src/net/server-timeouts.ts): how long
 * a client may take for its TLS handshake and request head (default 20 s), its whole request (60 s), and how long
 * an idle keep-alive connection stays open (30 s).
 */
export interface KeyBrokerOptions extends ServerTimeouts {
  /** SQLite database file (created on first start); the same as `database: "sqlite:FILE"`. */
  db?: string;
  /** Where the state lives: `sqlite:PATH` or `postgres://user:password@host:port/db` (docs/scale-out.md). One of db / database. */
  database?: string;
  /** PostgreSQL connections per instance, a whole number from 1 to 1000; default 10 (else ERR_KBS_CONFIG at start). */
  databasePoolSize?: number;
  /** Default 127.0.0.1; port default 8443 (0 = any free port). */
  host?: string;
  port?: number;
  /** PEM certificate and key. Absent (and not plainHttp): SQLite only, a self-signed pair stored next to the database. */
  tls?: { cert: string; key: string };
  /** Plain HTTP: refused unless the host is a loopback address or forcePlainHttp is set. */
  plainHttp?: boolean;
  forcePlainHttp?: boolean;
  /**
   * SQLite: default `<db>.master-key`, generated on first start. PostgreSQL: required unless the
   * environment has TEE_KBS_MASTER_KEY (never generated: every instance must hold the same key).
   * The environment variable wins.
   */
  masterKeyFile?: string;
  env?: NodeJS.ProcessEnv;
  /** Where collateral comes from (PCS / PCCS or an offline bundle). Required. */
  collateral: CollateralService;
  /** Default PRODUCTION_TRUST_ROOTS. Anything else is logged loudly. */
  trustRoots?: TrustRoots;
  /**
   * Nonce lifetime in seconds, from MIN_NONCE_TTL_SECONDS (1) to MAX_NONCE_TTL_SECONDS (3600: T42 asks for
   * a TTL of minutes; longer turns freshness into a single-use token that hardly expires); default 300.
   * Anything else (0, negative, NaN, beyond the bound) refuses the start with ERR_KBS_CONFIG (review s12 kbs #2).
   */
  nonceTtlSeconds?: number;
  /**
   * Accept transfers without a nonce (CNAP / confidential-ai-loader clients send none): a relaxation,
   * default false (T42 / S30 enforced). Warned at start and recorded with every release it allows:
   * without a nonce REPORTDATA = SHA-512(user_data), so a broker a TD was sent to can relay the TD's
   * evidence here with its own nonce and the TD's key joined into one user_data (review s11 relay).
   */
  allowNoNonce?: boolean;
  /**
   * Before review s11 the switch for T42; a nonce is now required by default. `true` is accepted (the
   * default, refused together with allowNoNonce); `false` is refused: the relaxation is allowNoNonce.
   */
  requireNonce?: boolean;
  /**
   * Per-client token bucket of the transfer and token endpoints: burst a whole number from 1 to 1 000 000
   * (default 60), perSecond above 0 up to 1 000 000 (default 20). Anything else (Infinity, 0, negative, NaN)
   * refuses the start with ERR_KBS_CONFIG naming the field, before any database work (review s14 #4).
   */
  rateLimit?: RateLimitOptions;
  /**
   * Failed admin logins (admin token, bootstrap secret) per client before 429 without a lookup; default 10 in
   * any 60 000 ms, 10 000 clients tracked. In memory, per instance.
   */
  adminFailureLimit?: AuthFailureLimitOptions;
  /**
   * Request body limit (413 beyond), a whole number of bytes from MIN_MAX_BODY_BYTES (1 KiB) to
   * MAX_MAX_BODY_BYTES (64 MiB); default 1 MiB. Anything else refuses the start with ERR_KBS_CONFIG
   * (review s12 kbs #1: NaN compared false with every size, so a typo removed the limit).
   */
  maxBodyBytes?: number;
  /** Secret accepted by POST /kbs/v1/token for a new admin token; at least MIN_BOOTSTRAP_SECRET_CHARS characters (else ERR_KBS_CONFIG at start). */
  bootstrapSecret?: string;
  /**
   * Failed bootstrap-secret logins of all clients together (review s6: a chosen password must not
   * face a guess budget per address); beyond it POST /kbs/v1/token is 429 for everyone until the
   * oldest counted failure leaves the window. Default 20 in any 600 000 ms, per instance.
   */
  bootstrapFailureLimit?: { maxFailures?: number; windowMs?: number };
  /**
   * Where the first admin token of an empty database is written (created exclusively, mode 0600;
   * an existing file or symlink refuses the start). Default for SQLite `<db>.admin-token`. With
   * PostgreSQL there is no default: an empty database needs this or bootstrapSecret (then no first
   * token is minted; exchange the secret at POST /kbs/v1/token). The token never reaches the log.
   */
  adminTokenFile?: string;
  /**
   * Bounds on full attestation-log rows for refusals (log-bounds.ts): per client key and in all per
   * window; default 20 and 1000 per 3600 s. Beyond them a refusal is answered the same but stored
   * as a count (refusal_aggregates). Releases are always logged in full.
   */
  refusalLog?: RefusalLogBounds;
  /**
   * Open connections of the whole broker, a whole number from 1 to 1 000 000; default 1024 (it had
   * none before s15). Beyond it Node closes a new connection at once, whoever opens it; a memory
   * bound, while maxConnectionsPerClient keeps one client from taking all of it.
   */
  maxConnections?: number;
  /**
   * Open connections one client may hold, a whole number from 1 to 1 000 000; default a sixteenth of
   * maxConnections, at least 8 (64 with the defaults). s15 red team, service finding 2: one client
   * holding every connection locks everyone else out. A connection beyond it is closed as soon as it
   * is accepted (before the TLS handshake) and counted in KeyBroker.connectionsRefused. The client is
   * the TCP peer's client key (IPv4 address; IPv6 /64, its /56 and /48 sharing the cap), as the rate
   * limits key it; peers inside connectionCapExempt are not counted. Else ERR_KBS_CONFIG at start.
   */
  maxConnectionsPerClient?: number;
  /**
   * Peers not counted against maxConnectionsPerClient (CIDR ranges or single addresses; a malformed
   * range, host bits beyond the prefix or /0 is ERR_KBS_CONFIG). Default loopback, 127.0.0.0/8 and
   * ::1: the place of the TLS-terminating proxy that plain HTTP is meant for (and of a mesh sidecar),
   * whose connections carry every client; capping it would cap them all as one. A proxy elsewhere
   * (forcePlainHttp) is named here. `[]`: every peer counted. Only this cap reads it: the broker has
   * no trusted proxies, its rate limits key the peer (docs/kbs.md, "Connections").
   */
  connectionCapExempt?: readonly string[];
  /** SQLite synchronous mode; default FULL. */
  synchronous?: 'FULL' | 'NORMAL';
  /** How long close() lets requests in flight finish before cutting connections, 0 to 2^31 - 1 ms; default 10 000 ms (else ERR_KBS_CONFIG at start). */
  shutdownGraceMs?: number;
  /** The clock; default the wall clock. */
  now?: () => Date;
  /**
   * PostgreSQL (several instances): how far, in seconds, this instance's clock (`now`) may be from the database
   * server's clock at start; beyond it the start is refused (ERR_KBS_CONFIG). Instances judge clock-dependent rules
   * on their own clocks (nonce expiry written by one instance and checked by another, admin-token expiry, rate-limit
   * refills, refusal windows: docs/scale-out.md, Clocks), so a skewed instance stretches them by its skew (s16 F3).
   * From 1 to 86 400 s, default DEFAULT_MAX_CLOCK_SKEW_SECONDS (5); more is a relaxation, logged as a WARNING at start.
   * While serving the comparison is repeated (every clockRecheckMs, default CLOCK_RECHECK_MS, and with GET /health's database ping): beyond
   * the bound /health answers 503 and every /kbs/v1 request is refused with 503 ERR_KBS_CLOCK_SKEW until a later
   * comparison is within it again (s16 change review #3). SQLite: not checked (one instance).
   */
  maxClockSkewSeconds?: number;
  /**
   * PostgreSQL: how often, in ms, a serving instance repeats the clock comparison on its own; default CLOCK_RECHECK_MS
   * (60 000), from 0 to 2^31 - 1. 0 turns the periodic comparison off: only GET /health's ping and checkClockSkew()
   * compare (the start-up check always runs). For tests whose injected `now` is frozen or moved by hand, which the
   * timer would judge against the database's real clock whenever it fired (s16 round-2 change review #3); a deployment
   * leaves it unset (tee-kbs has no flag for it). 0 is logged as a WARNING at start.
   */
  clockRecheckMs?: number;
  /** One line per event; default stderr. Never receives secrets (the first admin token goes to adminTokenFile). */
  log?: (line: string) => void;
}

export interface KeyBroker {
  url: string;
  /**
   * The admin token created on the first start of an empty database, for the program that started
   * the broker in-process; never logged. It is in the file `adminTokenFile`.
   */
  initialAdminToken?: string;
  /** The file the first admin token was written to (only on that first start). */
  adminTokenFile?: string;
  /** Where the state lives (`sqlite:…` or the PostgreSQL URL with its password masked). */
  database: string;
  /** Connections closed at the per-client cap (maxConnectionsPerClient) since start; the broker has no /metrics. */
  readonly connectionsRefused: number;
  /**
   * Compares this instance's clock with the database server's now, as the periodic check and GET /health do, and
   * returns the verdict that now holds: beyond maxClockSkewSeconds the instance refuses /kbs/v1 requests (503
   * ERR_KBS_CLOCK_SKEW) until a later comparison is within it. `skewMs` > 0: this clock is behind. SQLite: always ok.
   */
  checkClockSkew(): Promise<{ ok: boolean; skewMs: number }>;
  /**
   * Graceful stop: no new connections, requests in flight finish (up to
   * shutdownGraceMs), then the database connections close. Idempotent.
   */
  close(): Promise<void>;
}

/** Bounds of maxBodyBytes / --max-body: below 1 KiB no transfer request fits; 64 MiB as `tee-verify serve --max-body`. */
export const MIN_MAX_BODY_BYTES = 1024;
export const MAX_MAX_BODY_BYTES = 64 * 1024 * 1024;
/** maxClockSkewSeconds / --max-clock-skew: default and bounds (s16 F3). */
export const DEFAULT_MAX_CLOCK_SKEW_SECONDS = 5;
export const MAX_MAX_CLOCK_SKEW_SECONDS = 86_400;
/** How often a serving instance compares its clock with the database server's again (s16 change review #3). */
export const CLOCK_RECHECK_MS = 60_000;
/** Bounds of nonceTtlSeconds / --nonce-ttl (T42: "TTL of minutes"); the default 300 s lies within. */
export const MIN_NONCE_TTL_SECONDS = 1;
export const MAX_NONCE_TTL_SECONDS = 3600;

/** 127.0.0.0/8 and ::1 (an IPv4-mapped ::ffff:127.x.y.z is matched against the IPv4 subnet). */
const LOOPBACK = new BlockList();
LOOPBACK.addSubnet('127.0.0.0', 8, 'ipv4');
LOOPBACK.addAddress('::1', 'ipv6');

/**
 * Whether plain HTTP may be served on `host` (and sent to it, the admin client's --url) without being
 * forced: an address literal in 127.0.0.0/8 or ::1 (brackets allowed), or the name `localhost`.
 * Decided by the address, never by the text: any other host name is not loopback, even one that begins
 * with "127." (127.mycorp.example resolves wherever its owner likes; review s14 #3). Names are not
 * resolved: what a name resolves to at the check can differ from what listen() resolves it to.
 */
export function isLoopbackHost(host: string): boolean {
  if (host === 'localhost') return true;
  const bracketed = host.startsWith('[') && host.endsWith(']'); // an IPv6 literal as a URL's hostname writes it
  const bare = bracketed ? host.slice(1, -1) : host;
  const family = isIP(bare);
  if (family === 0 || (bracketed && family !== 6)) return false;
  return LOOPBACK.check(bare, family === 6 ? 'ipv6' : 'ipv4');
}

class BodyTooLarge extends Error {}

function readBody(req: IncomingMessage, limit: number): Promise<Buffer> {
  return new Promise((resolve, reject) => {
    const declared = Number(req.headers['content-length'] ?? 0);
    if (declared > limit) return reject(new BodyTooLarge());
    const chunks: Buffer[] = [];
    let size = 0;
    req.on('data', (c: Buffer) => {
      size += c.length;
      if (size > limit) {
        req.removeAllListeners('data');
        req.resume();
        reject(new BodyTooLarge());
      } else chunks.push(c);
    });
    req.on('end', () => resolve(Buffer.concat(chunks)));
    req.on('error', reject);
  });
}

function send(res: ServerResponse, status: number, body: unknown, headers: Record<string, string> = {}, contentType = 'application/json'): void {
  const text = body === undefined ? '' : typeof body === 'string' ? body : JSON.stringify(body);
  res.writeHead(status, { ...(text ? { 'Content-Type': contentType } : {}), 'Cache-Control': 'no-store', ...headers });
  res.end(text);
}

function sendError(res: ServerResponse, err: KbsError): void {
  send(res, err.status, err.toJSON(), err.headers);
}

function checkContentType(req: IncomingMessage, body: Buffer): void {
  if (body.length === 0) return;
  const ct = (req.headers['content-type'] ?? '').split(';')[0]?.trim().toLowerCase();
  if (ct !== 'application/json') throw new KbsError('ERR_KBS_UNSUPPORTED_MEDIA_TYPE', 415, 'Content-Type must be application/json');
}

interface Runtime {
  ctx: BrokerContext;
  limiter: RateLimiter;
  /** Monotonic milliseconds for the in-memory failure limiters: a wall-clock step back must not lock admins out (review s8 D2). */
  limiterNow: LimiterClock;
  adminFailures: AuthFailureLimiter;
  /** One budget for all clients, under the key BOOTSTRAP_BUDGET. */
  bootstrapFailures: AuthFailureLimiter;
  maxBody: number;
  baseUrl: () => string;
  log: (line: string) => void;
  /** Set by close(): /health answers 503 so load balancers stop sending, responses close their connection. */
  draining: boolean;
  /** The shared database verdict of GET /health, and whether the last one failed (logged once per outage). */
  health: HealthProbe;
  healthFailing: boolean;
  /** The last comparison of this instance's clock with the database server's (PostgreSQL; always ok on SQLite). */
  clock: ClockWatch;
}

async function rateLimit(rt: Runtime, client: string): Promise<void> {
  // The shared bucket lives in the database, so it runs on the raw wall clock of each instance (rate-limit.ts).
  const wait = await rt.limiter.take(client, Date.now());
  if (wait > 0) throw new KbsError('ERR_KBS_RATE_LIMITED', 429, 'too many requests from this client', { headers: { 'Retry-After': String(wait) } });
}

/** Before any admin lookup: a client past its failed logins is refused without touching the database. */
function checkAdminFailures(rt: Runtime, client: string): void {
  const wait = rt.adminFailures.retryAfter(client, rt.limiterNow());
  if (wait > 0) throw new KbsError('ERR_KBS_TOO_MANY_AUTH_FAILURES', 429, `too many failed admin logins from this client; retry in ${wait} s`, { headers: { 'Retry-After': String(wait) } });
}

/** Before the bootstrap secret is compared: the budget shared by all clients. */
function checkBootstrapFailures(rt: Runtime): void {
  const wait = rt.bootstrapFailures.retryAfter(BOOTSTRAP_BUDGET, rt.limiterNow());
  if (wait > 0) throw new KbsError('ERR_KBS_TOO_MANY_AUTH_FAILURES', 429, `too many failed bootstrap-secret logins (all clients); retry in ${wait} s`, { headers: { 'Retry-After': String(wait) } });
}

/** The single key of the bootstrap-secret failure budget. */
const BOOTSTRAP_BUDGET = 'bootstrap-secret';

/** Shortest bootstrap secret the broker starts with (characters). */
export const MIN_BOOTSTRAP_SECRET_CHARS = 16;

/** `address`: the peer as recorded in the attestation log; `client`: its key for the rate limit. */
async function transfer(rt: Runtime, req: IncomingMessage, res: ServerResponse, keyId: string, address: string, client: string): Promise<void> {
  const header = req.headers['attestation-type'];
  const tr: TransferRequest = { keyId, attestationType: Array.isArray(header) ? header[0] : header, body: Buffer.alloc(0), client: address };
  const trace: TransferTrace = {};
  try {
    await rateLimit(rt, client);
    tr.body = await readBody(req, rt.maxBody);
    checkContentType(req, tr.body);
    const answer = await transferKey(rt.ctx, tr, trace);
    send(res, answer.status, answer.body, answer.headers);
  } catch (e) {
    const err = e instanceof BodyTooLarge ? new KbsError('ERR_KBS_BODY_TOO_LARGE', 413, `the body exceeds ${rt.maxBody} bytes`) : toKbsError(e, rt);
    // What the answer leaves out (a collateral source's URL and error text) is the operator's to see.
    if (err.detail !== undefined) rt.log(`tee-kbs: transfer of key ${keyId} refused (${err.code}): ${err.detail}`);
    try {
      // Nothing to record when the database itself is what failed.
      if (err.code !== 'ERR_KBS_RATE_LIMITED' && err.code !== 'ERR_KBS_STORAGE_UNAVAILABLE') await logRefusal(rt.ctx, tr, trace, err);
    } catch (logErr) {
      rt.log(`tee-kbs: could not log a refusal: ${String(logErr)}`);
    }
    sendError(res, err);
  }
}

function toKbsError(e: unknown, rt: Runtime): KbsError {
  if (KbsError.is(e)) {
    // A row changed outside the broker: the operator must hear of it, whoever asked.
    if (e.code === 'ERR_KBS_INTEGRITY') rt.log(`tee-kbs: INTEGRITY: ${e.message}`);
    return e;
  }
  if (StorageError.is(e)) {
    rt.log(`tee-kbs: storage error ${e.code}: ${e.message}`);
    return e.retryable
      ? new KbsError('ERR_KBS_STORAGE_UNAVAILABLE', 503, 'the database is unavailable; retry later', { headers: { 'Retry-After': '5' } })
      : new KbsError('ERR_KBS_STORAGE', 500, 'storage error');
  }
  rt.log(`tee-kbs: internal error: ${e instanceof Error ? (e.stack ?? e.message) : String(e)}`);
  return new KbsError('ERR_KBS_INTERNAL', 500, 'internal error');
}

/**
 * GET /health: 200 when this instance can reach its database, 503 otherwise or while shutting down.
 * The route needs no credentials, so the database verdict is shared (src/net/health-probe.ts, as the
 * gateway's since review s10): one ping at a time, its verdict reused for 1 s, so a flood of probes
 * is not a flood of round trips queued ahead of transfers. A failure is logged when it begins, not
 * once per probe.
 */
async function health(rt: Runtime, res: ServerResponse): Promise<void> {
  const database = rt.ctx.store.dialect;
  if (rt.draining) return send(res, 503, { status: 'shutting-down', database, code: 'ERR_KBS_SHUTTING_DOWN' });
  const verdict = await rt.health.check();
  // Shutdown may have begun while the ping ran: a balancer must not read 200 during the drain (changes-c #5).
  if (rt.draining) return send(res, 503, { status: 'shutting-down', database, code: 'ERR_KBS_SHUTTING_DOWN' });
  if (verdict.ok) {
    rt.healthFailing = false;
    // The ping (PostgreSQL) compared the clocks too; the newest comparison, from the ping or the periodic check, decides.
    if (!rt.clock.ok) return send(res, 503, { status: 'clock-skew', database, code: 'ERR_KBS_CLOCK_SKEW', skew_seconds: Number((rt.clock.skewMs / 1000).toFixed(1)) }, { 'Retry-After': '60' });
    return send(res, 200, { status: 'ok', database });
  }
  if (!rt.healthFailing) rt.log(`tee-kbs: health check failed: ${verdict.cause}: ${redactUrlsIn(rt.health.lastFailure ?? '')}`);
  rt.healthFailing = true;
  send(res, 503, { status: 'unavailable', database, code: 'ERR_KBS_STORAGE_UNAVAILABLE', cause: verdict.cause }, { 'Retry-After': '5' });
}

/** The request target's path; a target URL() refuses (`http://[::1/…`) is the client's error, not ours (review s7). */
function targetOf(req: IncomingMessage): URL {
  try {
    return new URL(req.url ?? '/', 'http://x');
  } catch {
    throw new KbsError('ERR_KBS_BAD_REQUEST', 400, 'the request target is not a valid URL');
  }
}

async function route(rt: Runtime, req: IncomingMessage, res: ServerResponse): Promise<void> {
  const url = targetOf(req);
  const address = req.socket.remoteAddress ?? 'unknown';
  // Limits count per IPv4 address or IPv6 /64: an IPv6 client picks any address of its /64 at will.
  const client = clientKey(address);
  const method = req.method ?? 'GET';
  if (url.pathname === '/version' || url.pathname === '/kbs/v1/version') return send(res, 200, { name: 'tee-kbs', version: KBS_VERSION });
  if (url.pathname === '/health' && (method === 'GET' || method === 'HEAD')) return health(rt, res);
  const parts = url.pathname.split('/').filter((p) => p.length > 0);
  if (parts[0] !== 'kbs' || parts[1] !== 'v1') throw new KbsError('ERR_KBS_NOT_FOUND', 404, 'not found');
  // Every rule of docs/scale-out.md's Clocks table (nonce and admin-token expiry, rate limits) runs on this clock:
  // while it is beyond the bound, nothing is judged here (s16 change review #3). Not logged as a refusal: the
  // log row's instant would be the skewed clock's.
  rt.clock.refuseWhenSkewed();
  const rest = parts.slice(2);
  if (rest[0] === 'keys' && rest[2] === 'transfer' && rest.length === 3 && method === 'POST') {
    const id = rest[1] as string;
    if (!UUID.test(id)) throw new KbsError('ERR_KBS_NOT_FOUND', 404, 'key ids are UUIDs');
    return transfer(rt, req, res, id.toLowerCase(), address, client);
  }
  // Everything below is the admin API: the failed-login limit comes before any statement (even the token bucket).
  checkAdminFailures(rt, client);
  if (rest[0] === 'token') {
    checkBootstrapFailures(rt);
    await rateLimit(rt, client);
  }
  let body: Buffer;
  try {
    body = await readBody(req, rt.maxBody);
  } catch (e) {
    if (e instanceof BodyTooLarge) throw new KbsError('ERR_KBS_BODY_TOO_LARGE', 413, `the body exceeds ${rt.maxBody} bytes`);
    throw e;
  }
  checkContentType(req, body);
  const json = (): unknown => {
    try {
      return JSON.parse(body.toString('utf8'));
    } catch {
      throw new KbsError('ERR_KBS_BAD_REQUEST', 400, 'the body is not JSON');
    }
  };
  const authorization = req.headers['authorization'];
  const answer = await handleAdmin(rt.ctx, { method, parts: rest.map((p, i) => (i === 1 ? p.toLowerCase() : p)), query: url.searchParams, authorization, json, emptyBody: body.length === 0, baseUrl: rt.baseUrl(), client: address }).catch((e: unknown) => {
    // A wrong, missing, expired, revoked or forged admin token, or a wrong bootstrap secret; a success resets nothing.
    if (KbsError.is(e) && e.status === 401 && (e.code === 'ERR_KBS_UNAUTHORIZED' || e.code === 'ERR_KBS_INTEGRITY')) {
      rt.adminFailures.fail(client, rt.limiterNow());
      if (rest[0] === 'token') rt.bootstrapFailures.fail(BOOTSTRAP_BUDGET, rt.limiterNow());
    }
    throw e;
  });
  if (answer.stream) {
    // Chunks and a trailer exist only in HTTP/1.1; Node refuses the trailer of a 1.0 answer (second review s7).
    if (req.httpVersionMajor === 1 && req.httpVersionMinor === 0) {
      throw new KbsError('ERR_KBS_HTTP_VERSION', 505, 'the attestation-log export is streamed (chunked, with a trailer) and needs HTTP/1.1; send the request as HTTP/1.1 (behind nginx: proxy_http_version 1.1)');
    }
    return streamExport(rt, res, answer.stream, answer.contentType ?? 'application/x-ndjson');
  }
  if (answer.text !== undefined) return send(res, answer.status, answer.text, {}, answer.contentType);
  send(res, answer.status, answer.body);
}

/** Lines are sent in chunks of about this size. */
const EXPORT_CHUNK_BYTES = 64 * 1024;

/**
 * The log export, chunked: pages are read as the client takes them (write backpressure), so memory
 * stays bounded whatever the log's size. Headers say how many refusals were stored only as counts
 * (log-bounds.ts) and the seq bound of the export; the trailer how many seq numbers up to it had no
 * row when read (store.exportBatchRecords). A failure midway cuts the connection: a truncated
 * chunked answer, never a complete-looking one.
 */
async function streamExport(rt: Runtime, res: ServerResponse, stream: NonNullable<AdminAnswer['stream']>, contentType: string): Promise<void> {
  const counted = (await rt.ctx.store.aggregatedRefusals()).refusals;
  const repeated = (await rt.ctx.store.releaseRepeats()).repeats;
  res.writeHead(200, {
    'Content-Type': contentType,
    'Cache-Control': 'no-store',
    [AGGREGATED_REFUSALS_HEADER]: String(counted),
    [RELEASE_REPEATS_HEADER]: String(repeated),
    [EXPORT_THROUGH_HEADER]: String(stream.throughSeq),
    Trailer: EXPORT_GAPS_TRAILER,
  });
  let closed = false;
  res.once('close', () => (closed = true));
  const flush = async (chunk: string): Promise<void> => {
    if (closed) throw new Error('the client went away during the log export');
    if (!res.write(chunk)) await drainOrClose(res);
  };
  let buffered = '';
  try {
    for await (const line of stream.lines) {
      buffered += `${line}\n`;
      if (buffered.length >= EXPORT_CHUNK_BYTES) {
        await flush(buffered);
        buffered = '';
      }
    }
    if (buffered) await flush(buffered);
  } catch (e) {
    if (!closed) rt.log(`tee-kbs: log export cut off: ${e instanceof Error ? e.message : String(e)}`);
    res.destroy();
    return;
  }
  res.addTrailers({ [EXPORT_GAPS_TRAILER]: String(stream.stats.gaps) });
  res.end();
}

/**
 * Resolves at the answer's next 'drain' or its 'close', whichever comes first, and removes both
 * listeners then: one wait per backpressure pause, none left behind (second review s7: a listener
 * per pause piled up to a MaxListenersExceededWarning on a slow reader).
 */
function drainOrClose(res: ServerResponse): Promise<void> {
  return new Promise((resolve) => {
    const done = (): void => {
      res.off('drain', done);
      res.off('close', done);
      resolve();
    };
    res.on('drain', done);
    res.on('close', done);
  });
}

/** Header of the log export: the highest seq it covers (rows appended later are in the next export). */
export const EXPORT_THROUGH_HEADER = 'Tee-Kbs-Export-Through-Seq';
/** Trailer of the log export: seq numbers up to that bound without a row when read (see store.exportBatchRecords). */
export const EXPORT_GAPS_TRAILER = 'Tee-Kbs-Export-Seq-Gaps';

/** Header of the log export: refusals stored only as counts, not in the export. */
export const AGGREGATED_REFUSALS_HEADER = 'Tee-Kbs-Aggregated-Refusals';
/** Header of the log export: repeats of releases without a nonce, counted on their first release's record (`repeats`), not rows (review s9 K1). */
export const RELEASE_REPEATS_HEADER = 'Tee-Kbs-Release-Repeats';

const configError = (message: string): KbsError => new KbsError('ERR_KBS_CONFIG', 500, message);

/** Where the state lives, from `database` or the older `db` file option. */
function locationOf(options: KeyBrokerOptions): StorageLocation {
  if (options.database !== undefined && options.db !== undefined) throw configError('give either db (a SQLite file) or database (sqlite:PATH | postgres://…), not both');
  if (options.database !== undefined) return parseStorageLocation(options.database);
  if (options.db !== undefined) return sqliteLocation(options.db); // the same SQLite path rules as database: 'sqlite:…' (review s13 CR #2)
  throw configError('a database is required: db (a SQLite file) or database (sqlite:PATH | postgres://…)');
}

/** The master key: next to the SQLite file by default; for PostgreSQL only from the environment or an existing file. */
/** The start-up warning of allowNoNonce / --allow-no-nonce (docs/kbs.md, "Transfers without a nonce"). */
export const NO_NONCE_WARNING =
  'tee-kbs: WARNING: --allow-no-nonce: transfers without a nonce are accepted (T42 / S30 relaxed). Without a nonce REPORTDATA binds only user_data, ' +
  "so a broker a TD is sent to can relay the TD's evidence here as one user_data made of its own nonce and the TD's key, and receive the key " +
  '(the nonce-relay of review s11); only clients that refuse such nonces (tee-model, requestKey) are safe. Use it only for clients that cannot ' +
  'fetch a nonce (CNAP / confidential-ai-loader); every such release is logged with this warning.';

/** allowNoNonce, checked against the old requireNonce switch; logs the relaxation. */
function noNonceOf(options: KeyBrokerOptions, log: (l: string) => void): boolean {
  if (options.requireNonce === false) {
    throw configError('requireNonce: false no longer relaxes T42 (a nonce is required by default since review s11); the relaxation is allowNoNonce: true (--allow-no-nonce)');
  }
  if (options.allowNoNonce !== undefined && typeof options.allowNoNonce !== 'boolean') throw configError('allowNoNonce must be true or false');
  if (options.allowNoNonce === true && options.requireNonce === true) throw configError('requireNonce and allowNoNonce exclude each other');
  if (options.allowNoNonce === true) log(NO_NONCE_WARNING);
  return options.allowNoNonce === true;
}

function masterKeyOf(options: KeyBrokerOptions, loc: StorageLocation, log: (l: string) => void): Buffer {
  const env = options.env ?? process.env;
  const file = options.masterKeyFile ?? (loc.kind === 'sqlite' ? `${loc.file}.master-key` : undefined);
  if (loc.kind === 'postgres' && !env[MASTER_KEY_ENV] && (file === undefined || !existsSync(file))) {
    throw configError(`with PostgreSQL every instance needs the same master key: set ${MASTER_KEY_ENV} or give an existing master key file (it is never generated here)`);
  }
  let master: ReturnType<typeof loadMasterKey>;
  try {
    master = loadMasterKey(file as string, env);
  } catch (e) {
    if (KbsError.is(e)) throw e;
    throw configError(`cannot read or create the master key file ${file}: ${e instanceof Error ? e.message : String(e)}`);
  }
  master.warnings.forEach((w) => log(`tee-kbs: WARNING: ${w}`));
  if (master.source === 'generated') log(`tee-kbs: generated a new master key in ${file} (mode 0600)`);
  return master.key;
}

/**
 * The first admin token of an empty database: written to its file first (exclusively, 0600, synced),
 * then stored; the instance that loses the race to store it (several starting together) removes its
 * file. The log says where the token is, never the token.
 */
async function firstStart(store: KbsStore, now: Date, log: (l: string) => void, file: string | undefined, hasBootstrapSecret: boolean): Promise<{ token: string; file: string } | undefined> {
  if (await store.adminBootstrapped()) return undefined;
  if (file === undefined) {
    if (hasBootstrapSecret) {
      log('tee-kbs: first start: no admin token minted (no admin token file); exchange the bootstrap secret at POST /kbs/v1/token');
      return undefined;
    }
    throw configError('first start of an empty PostgreSQL database: give adminTokenFile / --admin-token-file (the first admin token is written there, never logged) or a bootstrap secret');
  }
  const token = newToken();
  try {
    createAdminTokenFile(file, token);
  } catch (e) {
    // Another instance may be finishing the first start with this very path (a shared volume):
    // give its commit a moment before calling the existing file a left-over (review, session 4).
    for (let i = 0; i < 10; i++) {
      if (await store.adminBootstrapped()) return undefined;
      await new Promise((r) => setTimeout(r, 100));
    }
    if (await store.adminBootstrapped()) return undefined;
    throw e;
  }
  let stored = false;
  try {
    stored = await store.bootstrapAdminToken(token, now);
  } finally {
    if (!stored) removeAdminTokenFile(file);
  }
  if (!stored) return undefined;
  log(`tee-kbs: first start: the admin token was written to ${file} (mode 0600; only its keyed digest is stored). Read it, store it safely, then delete the file`);
  return { token, file };
}

/** At every start: rows that fail their integrity check (written outside the broker) are named in the log. */
async function reportIntegrity(store: KbsStore, log: (l: string) => void): Promise<void> {
  const policies = (await store.listPolicies()).filter((p) => !store.policyIntact(p)).map((p) => p.id);
  const tokens = (await store.listTokens()).filter((t) => !t.intact);
  if (policies.length > 0) log(`tee-kbs: INTEGRITY: ${policies.length} policy row(s) fail their integrity check (written outside the broker; their keys are refused): ${policies.slice(0, 10).join(', ')}`);
  if (tokens.length > 0) log(`tee-kbs: INTEGRITY: ${tokens.length} admin token row(s) fail their integrity check (written outside the broker; they admit no one)${tokens.some((t) => t.id) ? `: ${tokens.map((t) => t.id).filter(Boolean).slice(0, 10).join(', ')}` : ''}`);
}

/** The longest timer Node holds (2^31 - 1 ms); beyond it a timer fires at once. */
const MAX_TIMER_MS = 2 ** 31 - 1;

/** maxConnections / --max-connections: default and upper bound (maxConnectionsPerClient has the same bound). */
export const DEFAULT_MAX_CONNECTIONS = 1024;
export const MAX_CONNECTIONS = 1_000_000;
/** connectionCapExempt's default: loopback, where a TLS-terminating proxy for plain HTTP (or a sidecar) connects from. */
export const DEFAULT_CONNECTION_CAP_EXEMPT: readonly string[] = Object.freeze(['127.0.0.0/8', '::1']);

/**
 * maxBodyBytes, nonceTtlSeconds, rateLimit, shutdownGraceMs and databasePoolSize with their defaults;
 * ERR_KBS_CONFIG naming the option outside their bounds, before any database work (review s12 kbs #1,
 * #2; review s14 #4: rateLimit {burst: 0} was a raw RangeError after the first admin token was
 * minted, {burst: Infinity} a broker without a rate limit; shutdownGraceMs and databasePoolSize were
 * not checked either).
 */
function limitsOf(options: KeyBrokerOptions): { maxBody: number; nonceTtlMs: number; rateLimit: { burst: number; perSecond: number }; maxConnections: number; connectionsPerClient: number; connectionCapExempt: TrustedProxies; maxClockSkewMs: number; clockRecheckMs: number } {
  const maxBody = options.maxBodyBytes ?? 1024 * 1024;
  if (typeof maxBody !== 'number' || !Number.isSafeInteger(maxBody) || maxBody < MIN_MAX_BODY_BYTES || maxBody > MAX_MAX_BODY_BYTES) {
    throw configError(`maxBodyBytes must be a whole number of bytes from ${MIN_MAX_BODY_BYTES} to ${MAX_MAX_BODY_BYTES} (got ${String(maxBody)})`);
  }
  const ttl = options.nonceTtlSeconds ?? 300;
  if (typeof ttl !== 'number' || !Number.isFinite(ttl) || ttl < MIN_NONCE_TTL_SECONDS || ttl > MAX_NONCE_TTL_SECONDS) {
    throw configError(`nonceTtlSeconds must be a number of seconds from ${MIN_NONCE_TTL_SECONDS} to ${MAX_NONCE_TTL_SECONDS} (got ${String(ttl)})`);
  }
  let rateLimit: { burst: number; perSecond: number };
  try {
    rateLimit = rateLimitOf(options.rateLimit);
  } catch (e) {
    throw configError((e as Error).message);
  }
  const grace = options.shutdownGraceMs;
  if (grace !== undefined && (typeof grace !== 'number' || !Number.isFinite(grace) || grace < 0 || grace > MAX_TIMER_MS)) {
    throw configError(`shutdownGraceMs must be a number of milliseconds from 0 to ${MAX_TIMER_MS} (got ${String(grace)})`);
  }
  const pool = options.databasePoolSize;
  if (pool !== undefined && (typeof pool !== 'number' || !Number.isSafeInteger(pool) || pool < 1 || pool > 1000)) {
    throw configError(`databasePoolSize must be a whole number of connections from 1 to 1000 (got ${String(pool)})`);
  }
  const connections = (name: 'maxConnections' | 'maxConnectionsPerClient', v: unknown, fallback: number): number => {
    if (v === undefined) return fallback;
    if (typeof v !== 'number' || !Number.isSafeInteger(v) || v < 1 || v > MAX_CONNECTIONS) throw configError(`${name} must be a whole number of connections from 1 to ${MAX_CONNECTIONS} (got ${String(v)})`);
    return v;
  };
  const maxConnections = connections('maxConnections', options.maxConnections, DEFAULT_MAX_CONNECTIONS);
  const connectionsPerClient = connections('maxConnectionsPerClient', options.maxConnectionsPerClient, defaultConnectionsPerClient(maxConnections));
  const exempt = options.connectionCapExempt ?? DEFAULT_CONNECTION_CAP_EXEMPT;
  if (!Array.isArray(exempt)) throw configError('connectionCapExempt must be an array of CIDR ranges');
  let connectionCapExempt: TrustedProxies;
  try {
    connectionCapExempt = new TrustedProxies(exempt);
  } catch (e) {
    const reason = (e as Error).message.replace(/^trusted proxy /, '').replace(/a \/0 range would trust X-Forwarded-For from every peer/, 'a /0 range would exempt every peer (raise maxConnectionsPerClient instead)');
    throw configError(`connectionCapExempt: ${reason}`);
  }
  const skew = options.maxClockSkewSeconds ?? DEFAULT_MAX_CLOCK_SKEW_SECONDS;
  if (typeof skew !== 'number' || !Number.isFinite(skew) || skew < 1 || skew > MAX_MAX_CLOCK_SKEW_SECONDS) {
    throw configError(`maxClockSkewSeconds must be a number of seconds from 1 to ${MAX_MAX_CLOCK_SKEW_SECONDS} (got ${String(skew)})`);
  }
  const recheck = options.clockRecheckMs ?? CLOCK_RECHECK_MS;
  if (typeof recheck !== 'number' || !Number.isSafeInteger(recheck) || recheck < 0 || recheck > MAX_TIMER_MS) {
    throw configError(`clockRecheckMs must be a whole number of milliseconds from 0 (off) to ${MAX_TIMER_MS} (got ${String(recheck)})`);
  }
  return { maxBody, nonceTtlMs: Math.round(ttl * 1000), rateLimit, maxConnections, connectionsPerClient, connectionCapExempt, maxClockSkewMs: Math.round(skew * 1000), clockRecheckMs: recheck };
}

/**
 * PostgreSQL (s16 F3): this instance's clock against the database server's. The database's instant is read between
 * two readings of `now`; the skew is how far it lies outside [before, after] (the round trip is never counted as
 * skew); > 0: this clock is behind.
 */
async function measureClockSkew(storage: Storage, now: () => Date): Promise<number> {
  const before = now().getTime();
  const row = await storage.get<{ ms: string | number }>('SELECT (extract(epoch from clock_timestamp()) * 1000)::bigint AS ms');
  const after = now().getTime();
  const db = Number(row?.ms);
  if (!Number.isFinite(db)) throw new StorageError('ERR_STORAGE_UNAVAILABLE', 'the database server did not tell its clock');
  return db < before ? db - before : db > after ? db - after : 0;
}

const skewText = (skew: number): string => `${(Math.abs(skew) / 1000).toFixed(1)} s ${skew > 0 ? 'behind' : 'ahead of'} the database server's`;

/**
 * The clock comparison while serving (PostgreSQL; s16 change review #3: a clock stepped after start, a VM resumed from
 * suspend, went unnoticed). Each comparison (the periodic one, GET /health's ping, checkClockSkew) sets the verdict;
 * while it is beyond the bound every /kbs/v1 request is refused. A change of verdict is logged once.
 */
class ClockWatch {
  ok = true;
  skewMs = 0;
  readonly #storage: Storage;
  readonly #now: () => Date;
  readonly #maxSkewMs: number;
  readonly #log: (l: string) => void;
  constructor(storage: Storage, now: () => Date, maxSkewMs: number, log: (l: string) => void) {
    this.#storage = storage;
    this.#now = now;
    this.#maxSkewMs = maxSkewMs;
    this.#log = log;
  }
  async check(): Promise<{ ok: boolean; skewMs: number }> {
    if (this.#storage.dialect !== 'postgres') return { ok: true, skewMs: 0 };
    const skew = await measureClockSkew(this.#storage, this.#now);
    const ok = Math.abs(skew) <= this.#maxSkewMs;
    if (ok !== this.ok) {
      this.#log(
        ok
          ? `tee-kbs: the clock is within ${this.#maxSkewMs / 1000} s of the database server's again (${skewText(skew)}): serving again`
          : `tee-kbs: WARNING: this instance's clock is now ${skewText(skew)}, more than ${this.#maxSkewMs / 1000} s (maxClockSkewSeconds / --max-clock-skew): /health answers 503 and every /kbs/v1 request is refused (ERR_KBS_CLOCK_SKEW) until it is back within the bound. Synchronise the clocks (chrony / ntpd)`,
      );
    }
    this.ok = ok;
    this.skewMs = skew;
    return { ok, skewMs: skew };
  }
  refuseWhenSkewed(): void {
    if (this.ok) return;
    throw new KbsError(
      'ERR_KBS_CLOCK_SKEW',
      503,
      `this instance's clock is ${skewText(this.skewMs)}, more than the ${this.#maxSkewMs / 1000} s accepted: it judges nothing until its clock is corrected; retry on another instance`,
      { headers: { 'Retry-After': '60' } },
    );
  }
}

/**
 * PostgreSQL (s16 F3): this instance's clock against the database server's, at start: beyond the bound ERR_KBS_CONFIG.
 * A bound above the default is a relaxation, logged as a WARNING.
 */
async function checkClockSkew(storage: Storage, now: () => Date, maxSkewMs: number, log: (l: string) => void): Promise<void> {
  if (storage.dialect !== 'postgres') return;
  const skew = await measureClockSkew(storage, now);
  if (Math.abs(skew) > maxSkewMs) {
    throw configError(
      `this instance's clock is ${skewText(skew)}; at most ${maxSkewMs / 1000} s is accepted (maxClockSkewSeconds / --max-clock-skew), because instances judge nonce expiry, admin-token expiry and rate limits on their own clocks (docs/scale-out.md, Clocks). Synchronise the clocks (chrony / ntpd)`,
    );
  }
  if (maxSkewMs > DEFAULT_MAX_CLOCK_SKEW_SECONDS * 1000) {
    log(`tee-kbs: WARNING: clock skew against the database of up to ${maxSkewMs / 1000} s accepted (default ${DEFAULT_MAX_CLOCK_SKEW_SECONDS} s): nonces, admin-token expiry and rate limits may be judged that far apart between instances (now ${(skew / 1000).toFixed(1)} s)`);
  }
}

function refusalBoundsOf(options: KeyBrokerOptions): ResolvedRefusalBounds {
  try {
    return resolveRefusalBounds(options.refusalLog);
  } catch (e) {
    throw configError((e as Error).message);
  }
}

/**
 * Starts a key broker; resolves once it listens. Bad configuration fails here,
 * typed: KbsError ERR_KBS_CONFIG / ERR_KBS_BAD_REQUEST, StorageError
 * (ERR_STORAGE_CONFIG, _UNREACHABLE, _AUTH, _SCHEMA_TOO_NEW, _MIGRATION), and ERR_KBS_LISTEN when --listen cannot be bound.
 */
export async function startKeyBroker(options: KeyBrokerOptions): Promise<KeyBroker> {
  const log = options.log ?? ((l: string) => process.stderr.write(`${l}\n`));
  const host = options.host ?? '127.0.0.1';
  if (options.plainHttp && !isLoopbackHost(host) && !options.forcePlainHttp) {
    throw new KbsError('ERR_KBS_BAD_REQUEST', 400, `plain HTTP is only allowed on loopback (an address in 127.0.0.0/8, ::1, or localhost; a host name is never taken for one); ${host} is not (use TLS or force it explicitly)`);
  }
  if (!options.collateral) throw new KbsError('ERR_KBS_BAD_REQUEST', 400, 'a collateral service is required');
  const loc = locationOf(options);
  const { handshakeTimeout, ...httpTimeouts } = serverTimeoutOptions(options, configError);
  let adminFailures: AuthFailureLimiter;
  try {
    adminFailures = new AuthFailureLimiter(options.adminFailureLimit);
  } catch (e) {
    throw configError(`adminFailureLimit: ${(e as Error).message}`);
  }
  let bootstrapFailures: AuthFailureLimiter;
  try {
    bootstrapFailures = new AuthFailureLimiter({ maxFailures: 20, windowMs: 600_000, ...options.bootstrapFailureLimit, maxClients: 1 });
  } catch (e) {
    throw configError(`bootstrapFailureLimit: ${(e as Error).message}`);
  }
  if (options.bootstrapSecret !== undefined && (typeof options.bootstrapSecret !== 'string' || [...options.bootstrapSecret].length < MIN_BOOTSTRAP_SECRET_CHARS)) {
    throw configError(`the bootstrap secret must be at least ${MIN_BOOTSTRAP_SECRET_CHARS} characters (it is a password guarded only by rate limits); choose a long random one`);
  }
  if (loc.kind === 'postgres' && !options.tls && !options.plainHttp) {
    throw configError('with PostgreSQL give the TLS certificate and key (every instance serves the same identity) or plain HTTP behind a TLS-terminating proxy');
  }
  const trustRoots = options.trustRoots ?? PRODUCTION_TRUST_ROOTS;
  // By the certificates' bytes, as every release row's warning (transfer.ts) and `tee-verify serve`: not by object identity.
  if (!isPinnedProductionRoots(trustRoots)) {
    log(`tee-kbs: WARNING: NON-PRODUCTION TRUST ROOTS "${trustRoots.label}": evidence from test platforms will be trusted. Never use this in production.`);
  }
  const allowNoNonce = noNonceOf(options, log);
  const refusalBounds = refusalBoundsOf(options);
  const limits = limitsOf(options);
  const adminTokenFile = options.adminTokenFile ?? (loc.kind === 'sqlite' ? defaultAdminTokenFile(loc.file) : undefined);
  // Half a self-signed pair (or one that does not match) refuses the start before the database, master
  // key or admin token file is made; selfSignedTls checks again when it runs (review s14 #5).
  const selfSigned = !options.plainHttp && !options.tls && loc.kind === 'sqlite' ? { cert: `${loc.file}.tls-cert.pem`, key: `${loc.file}.tls-key.pem` } : undefined;
  if (selfSigned) selfSignedPairOf(selfSigned.cert, selfSigned.key);
  const masterKey = masterKeyOf(options, loc, log);
  const storage = await openStorage(loc, {
    sqlite: { synchronous: options.synchronous ?? 'FULL' },
    postgres: { poolMax: options.databasePoolSize ?? 10, applicationName: 'tee-kbs', onError: (e) => log(`tee-kbs: database connection error (${e.code}): ${e.message}`) },
  });
  let server: Server | undefined;
  try {
    const now = options.now ?? (() => new Date());
    // Before any migration or write: an instance far off the database's clock does not join (s16 F3).
    await checkClockSkew(storage, now, limits.maxClockSkewMs, log);
    const { store, migration } = await KbsStore.open(storage, masterKey, { refusalBounds });
    if (migration && migration.applied.length > 0) log(`tee-kbs: ${storage.description}: schema ${migration.from} -> ${migration.to} (${migration.applied.join(', ')})`);
    const rolling = migration && rollingUpgradeWarning(migration, storage.description);
    if (rolling) log(rolling);
    await reportIntegrity(store, log);
    const first = await firstStart(store, now(), log, adminTokenFile, options.bootstrapSecret !== undefined);
    // Policies stored before the broker required a pinned measurement (or an SNP TCB floor), and opted-in ones: said at every start.
    for (const row of await store.listPolicies()) {
      for (const w of policyWarnings(row)) log(`tee-kbs: WARNING: ${w}`);
      const tcb = tcbDefaultNotice(row);
      if (tcb) log(`tee-kbs: WARNING: ${tcb}`);
    }
    const ctx: BrokerContext = Object.freeze({
      store,
      masterKey,
      collateral: options.collateral,
      trustRoots,
      nonceTtlMs: limits.nonceTtlMs,
      requireNonce: !allowNoNonce,
      now,
      bootstrapSecret: options.bootstrapSecret,
      log,
    });
    let baseUrl = '';
    const limiterNow = steadyClock();
    const clock = new ClockWatch(storage, now, limits.maxClockSkewMs, log);
    // On PostgreSQL the ping is the clock comparison (one round trip either way).
    const health = new HealthProbe({ ping: storage.dialect === 'postgres' ? async () => void (await clock.check()) : () => storage.ping(), clock: limiterNow });
    const rt: Runtime = { ctx, limiter: new RateLimiter(storage, limits.rateLimit), limiterNow, adminFailures, bootstrapFailures, maxBody: limits.maxBody, baseUrl: () => baseUrl, log, draining: false, health, healthFailing: false, clock };
    const inFlight = new Set<ServerResponse>();
    let drained: (() => void) | undefined;
    const handler = (req: IncomingMessage, res: ServerResponse): void => {
      inFlight.add(res);
      res.once('close', () => {
        inFlight.delete(res);
        if (inFlight.size === 0) drained?.();
      });
      // While draining, each answer ends its keep-alive connection so clients reconnect to another instance.
      if (rt.draining) res.shouldKeepAlive = false;
      route(rt, req, res).catch((e: unknown) => {
        if (!res.headersSent) sendError(res, toKbsError(e, rt));
        else res.destroy();
      });
    };
    // Receiving a request is bounded (slowloris): handshake + head, whole request, idle keep-alive.
    if (options.plainHttp) server = createHttpServer(httpTimeouts, handler);
    else {
      const tls = options.tls ?? (await selfSignedTls(`${(loc as { file: string }).file}.tls-cert.pem`, `${(loc as { file: string }).file}.tls-key.pem`, [host === '0.0.0.0' || host === '::' ? 'localhost' : host, 'localhost']));
      server = createHttpsServer({ cert: tls.cert, key: tls.key, minVersion: 'TLSv1.2', handshakeTimeout, ...httpTimeouts }, handler);
    }
    const srv = server;
    // s15 red team, service finding 2: a global bound, and one client holds at most a share of it.
    // Attached after the server's own 'connection' listener; peers in connectionCapExempt (default
    // loopback: the TLS-terminating proxy of plain HTTP) carry many clients and are not counted.
    srv.maxConnections = limits.maxConnections;
    const connectionCap = new ConnectionCap({ perClient: limits.connectionsPerClient, exempt: (address) => limits.connectionCapExempt.contains(address) }).attach(srv);
    await listenOn(srv, options.port ?? 8443, host, (cause, message) => new KbsError('ERR_KBS_LISTEN', 500, message, { cause }));
    const port = (srv.address() as AddressInfo).port;
    baseUrl = `${options.plainHttp ? 'http' : 'https'}://${isIP(host) === 6 ? `[${host}]` : host}:${port}`;
    log(`tee-kbs: listening on ${baseUrl} (${storage.description})`);
    log(`tee-kbs: refusals logged in full: at most ${refusalBounds.perClient} per client and ${refusalBounds.total} in all per ${refusalBounds.windowMs / 1000} s, the rest counted`);
    // Compared again every clockRecheckMs, a minute by default (a failed comparison, the database unreachable, keeps the last verdict; /health says so).
    const recheck = storage.dialect === 'postgres' && limits.clockRecheckMs > 0 ? setInterval(() => void clock.check().catch(() => {}), limits.clockRecheckMs) : undefined;
    recheck?.unref();
    if (storage.dialect === 'postgres' && limits.clockRecheckMs === 0) {
      log('tee-kbs: WARNING: the periodic clock comparison is off (clockRecheckMs: 0): a clock stepped after start is noticed only by GET /health (a test setting; deployments leave it unset)');
    }
    let closing: Promise<void> | undefined;
    const close = async (): Promise<void> => {
      rt.draining = true;
      clearInterval(recheck);
      for (const res of inFlight) if (!res.headersSent) res.shouldKeepAlive = false;
      const stopped = new Promise<void>((resolve) => srv.close(() => resolve()));
      srv.closeIdleConnections();
      if (inFlight.size > 0) {
        let timer: NodeJS.Timeout | undefined;
        await Promise.race([new Promise<void>((r) => (drained = r)), new Promise<void>((r) => (timer = setTimeout(r, options.shutdownGraceMs ?? 10_000)))]);
        clearTimeout(timer);
      }
      srv.closeAllConnections();
      await stopped;
      await storage.close();
      log('tee-kbs: stopped');
    };
    return {
      url: baseUrl,
      database: storage.description,
      ...(first ? { initialAdminToken: first.token, adminTokenFile: first.file } : {}),
      get connectionsRefused() {
        return connectionCap.refused;
      },
      checkClockSkew: () => clock.check(),
      close: () => (closing ??= close()),
    };
  } catch (e) {
    server?.close();
    await storage.close();
    throw e;
  }
}
