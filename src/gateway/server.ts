/**
 * The attested chat gateway: one HTTPS server in front of a chat backend
 * (Ollama, an OpenAI-compatible server). Routes:
 *
 *   POST /v1/attestation  {nonce}  fresh evidence bound to nonce and TLS key (no API key needed)
 *   GET  /health                    {status: "ok", tee, database}; 503 when the database does not answer or while stopping
 *   GET  /metrics                   Prometheus text
 *   GET  /api/v1/tee/quote, POST /tdx_attest, POST /attestation   drop-ins (dropin.ts)
 *   /admin/v1/keys[/{id}]           the API-key admin API (admin.ts), admin bearer token
 *   everything else                 streamed to the upstream; needs `Authorization: Bearer <API key>`
 *                                   unless `requireApiKey: false`
 *
 * API keys and admin tokens live in the database (store.ts: an SQLite file, or PostgreSQL shared
 * by several instances) and are managed with `tee-gateway keys` or the admin API. The attestation
 * rate bound, the TLS key (fresh in memory at every start unless given) and the metrics belong to
 * the instance (each runs in its own TEE).
 */
import { createPrivateKey, X509Certificate, type KeyObject } from 'node:crypto';
import { existsSync } from 'node:fs';
import { createServer, type Server } from 'node:https';
import type { IncomingMessage, ServerResponse } from 'node:http';
import type { AddressInfo } from 'node:net';
import { createSecureContext } from 'node:tls';

import { AuthFailureLimiter, type AuthFailureLimitOptions } from '../net/auth-failures.js';
import { LookupThrottle } from '../net/lookup-throttle.js';
import { TrustedProxies } from '../net/forwarded.js';
import { serverTimeoutOptions, type ServerTimeouts } from '../net/server-timeouts.js';
import { steadyClock, type LimiterClock } from '../net/steady-clock.js';
import { parseStorageLocation, sqliteLocation, StorageError, type StorageLocation } from '../storage/index.js';
import type { EvidenceProvider } from '../tee/index.js';
import { DEFAULT_EVIDENCE_TURN_TIMEOUT_MS, EvidenceQueue, EvidenceRateLimiter } from './attestation.js';
import { spkiSha256 } from './binding.js';
import { CUBE_ATTESTATION_WARNING } from './cube-answer.js';
import { GatewayError } from './errors.js';
import { sendError, type ProxyOptions } from './proxy.js';
import { listenOn } from './listen.js';
import { createHandler } from './routes.js';
import type { QuoteVerifierOptions } from './dropin.js';
import { GatewayMetrics } from './metrics.js';
import { ConnectionCap, defaultConnectionsPerClient } from '../net/connection-cap.js';
import { ApiKeyStore } from './store.js';
import { handshakeEvidenceCallback } from './handshake-server.js';
import { generateTls, type TlsIdentity } from './tls.js';

/**
 * headersTimeoutMs / requestTimeoutMs / keepAliveTimeoutMs (ServerTimeouts, src/net/server-timeouts.ts) bound
 * how long a client may take to send its TLS handshake and request head (default 20 s), its whole request
 * (60 s), and how long an idle keep-alive connection stays open (30 s). Streamed answers are not bounded by them.
 */
export interface GatewayOptions extends ServerTimeouts {
  /** Base URL of the chat backend, e.g. http://127.0.0.1:11434. */
  upstream: string | URL;
  /** SQLite file of the API keys; the same as `database: "sqlite:FILE"`. One of db / database. */
  db?: string;
  /** Where API keys and admin tokens live: `sqlite:PATH` or `postgres://user:password@host:port/db` (docs/scale-out.md). */
  database?: string;
  /** PostgreSQL connections per instance; default 4 (one indexed lookup per proxied request). */
  databasePoolSize?: number;
  provider: EvidenceProvider;
  /**
   * PEM texts of the TLS identity. Default: a fresh key pair in memory at every start, whatever the
   * database (each process has its own key, bound by its own attestation). Given, the start logs a
   * WARNING: whoever can read this key passes the clients' binding check, so it must come from
   * storage private to the TEE. An old `<db>.tls-key.pem` next to an SQLite file is not read.
   */
  tls?: TlsIdentity;
  host?: string;
  /** Default 8443; 0 for any free port. */
  port?: number;
  /** Default true: proxied paths need an active API key. */
  requireApiKey?: boolean;
  /** Fresh attestations in any one-second window, per instance; default 10. */
  attestationsPerSecond?: number;
  /**
   * Of those, at most this many to one client (IPv4 address or IPv6 /64, and each /56 and /48 as a
   * whole; X-Forwarded-For only from trustedProxies), so that one peer cannot lock every other
   * client out of attesting; default a quarter of attestationsPerSecond, at least 1.
   */
  attestationsPerClient?: number;
  /**
   * Evidence requests (every route that makes a report: /v1/attestation, /aTLS, GET /api/v1/tee/quote,
   * Cube's POST /attestation) at the provider at once, per instance; default 1 (configfs-tsm makes one
   * report at a time anyway: more would only queue in the kernel, where a request can no longer be
   * dropped). A positive integer, else ERR_GATEWAY_CONFIG (s16 red team, providers finding 1).
   */
  evidenceInFlight?: number;
  /**
   * Evidence requests that may wait for their turn, all clients together, per instance; default 8, 0 for
   * none. Of those at most one per client (keyed as attestationsPerClient). Beyond either bound: 503
   * ERR_GATEWAY_EVIDENCE_BUSY with Retry-After 1. A waiting request whose client closed its
   * connection is dropped, without a report; an admitted request is served after at most
   * evidenceInFlight + evidenceQueue reports. An integer 0 or more, else ERR_GATEWAY_CONFIG.
   */
  evidenceQueue?: number;
  /**
   * A turn's deadline: a provider call that has not settled after this many milliseconds is abandoned,
   * its request answered 503 ERR_GATEWAY_EVIDENCE_PROVIDER (Retry-After 1), its place freed, the waiting
   * requests refused at once with the same answer, a WARNING logged and
   * tee_gateway_evidence_turn_timeouts_total counted (s16 change review of the providers fixes, #4);
   * default 60000 (above the TDX driver's and tpm2-tools' 30 s). 1 to 2^31−1, else ERR_GATEWAY_CONFIG.
   */
  evidenceTurnTimeoutMs?: number;
  /** Default 1 MiB. */
  maxRequestBytes?: number;
  /** Default 64 MiB. */
  maxResponseBytes?: number;
  /** Until upstream headers; default 30 s. Every timer bound here is 1..2^31−1 ms (MAX_TIMER_MS), else ERR_GATEWAY_CONFIG. */
  upstreamTimeoutMs?: number;
  /** Longest upstream silence while streaming; default 120 s. */
  upstreamIdleTimeoutMs?: number;
  /** Collateral, roots and policy for POST /tdx_attest; without it that route is 404. */
  quoteVerifier?: QuoteVerifierOptions;
  /**
   * POST /tdx_attest calls in any one-second window, per instance; default 20. The route needs no
   * credentials and a verification can fetch collateral, whose fetch budget the instance shares.
   */
  quoteVerificationsPerSecond?: number;
  /** Of those, at most this many to one client (as attestationsPerClient); default a quarter, at least 1. */
  quoteVerificationsPerClient?: number;
  /** Default true: the admin API under /admin/v1 (admin.ts), usable once an admin token exists. */
  adminApi?: boolean;
  /**
   * Default false: Cube's POST /attestation drop-in. It puts the caller's report_data into REPORTDATA
   * raw (Cube's protocol), which makes this TEE sign any 64 bytes anyone who reaches the route asks
   * for (no API key). That includes (1) the /v1/attestation binding of a relay's own TLS key, so with
   * it on the native binding no longer tells this gateway from a relay, and (2) a key broker's
   * binding SHA-512(val ‖ iat ‖ user_data) for the caller's own RSA key: tee-kbs, or any ITA-style
   * broker, then releases to that caller every key whose policy admits this TEE's measurements (s15
   * red team, key-broker finding 1). A TEE that serves this route must not be admitted by any
   * key-release policy. This option is not measured: a TEE with it on quotes the same measurements
   * as without it, so a key policy can exclude such a TEE only through measured content that cannot
   * have it on (the command line fixed in the measured image or kernel command line, or an init-data /
   * agent policy the measured guest enforces, hashed into the pinned MRCONFIGID / HOST_DATA); a
   * host-chosen MRCONFIGID / HOST_DATA value alone proves nothing (s15 change review of bb22d56,
   * finding 1; docs/gateway.md, "Drop-in endpoints"). Turn it on only for such a gateway, serving
   * Cube clients that do not rely on /v1/attestation.
   */
  cubeAttestation?: boolean;
  /**
   * Evidence in the TLS handshake (handshake-server.ts; docs/gateway.md, "Evidence in the handshake"):
   * a ClientHello whose server name carries a nonce is answered with a per-connection certificate for
   * the same key that carries fresh evidence, under the same rate limit and queue as /v1/attestation.
   * Default true; false answers every handshake with the normal certificate (clients attest in-band).
   */
  handshakeEvidence?: boolean;
  /**
   * Failed admin-token attempts per client (IPv4 address or IPv6 /64, src/net/client-key.ts) before the admin
   * API answers 429 without a lookup; default 10 in any 60 000 ms, 10 000 clients tracked. Per instance.
   */
  adminFailureLimit?: AuthFailureLimitOptions;
  /**
   * Proxied requests refused for a missing, malformed, unknown or revoked API key, per client, before
   * further proxied requests from that client answer 429 without a lookup; same defaults and meaning as
   * adminFailureLimit, counted separately. Per instance.
   */
  apiKeyFailureLimit?: AuthFailureLimitOptions;
  /** A client over the API-key failure limit may still have one key-shaped token looked up per this interval; default 1000 ms. */
  limitedLookupIntervalMs?: number;
  /**
   * Reverse proxies in front of the gateway (CIDR ranges or single addresses, IPv4 or IPv6). When the TCP
   * peer is inside one, the client that the failure limits count is taken from X-Forwarded-For
   * (src/net/forwarded.ts); from any other peer the header is ignored. Default: none.
   */
  trustedProxies?: readonly string[];
  /**
   * Open connections one client may hold (s15 red team, service finding 2: the gateway's only
   * connection bound was the global 10 000, so one client holding that many idle sockets locked
   * every other client out). A positive integer; default a sixteenth of the 10 000, 625: above what
   * one AttestedClient holds (its `connections`, 64 by default, plus its attestation socket, and up
   * to twice that while a replaced key's pool drains) several times over, and above a browser's 6 per
   * host for an office of ~100 behind one NAT address. A connection beyond it is closed as soon as it
   * is accepted (before the TLS handshake) and counted in tee_gateway_connections_refused_total. The
   * client is the TCP peer keyed as for attestationsPerClient (IPv4 address; IPv6 /64, its /56 and /48
   * sharing the cap), never X-Forwarded-For; peers inside trustedProxies are not counted (they carry
   * many clients). Else ERR_GATEWAY_CONFIG at start.
   */
  maxConnectionsPerClient?: number;
  /**
   * Milliseconds for the rate and failure limiters (evidence, /tdx_attest, admin tokens, API keys,
   * lookups); default performance.now(), monotonic (review s8 D2). For tests: readings that go back
   * are absorbed (src/net/steady-clock.ts), never the wall clock's steps.
   */
  limiterClock?: () => number;
  /** Default true: GET /metrics (Prometheus text) without an API key. */
  metrics?: boolean;
  /** How long close() lets requests and streams in flight finish before cutting them; default 30 000 ms, at most MAX_TIMER_MS. */
  shutdownGraceMs?: number;
  log?: (line: string) => void;
}

export interface Gateway {
  url: string;
  port: number;
  certificatePem: string;
  /** SHA-256 of the TLS certificate's SubjectPublicKeyInfo, hex. */
  spkiSha256: string;
  keys: ApiKeyStore;
  /** Where the keys live (`sqlite:…` or the PostgreSQL URL with its password masked). */
  database: string;
  /**
   * Graceful stop: no new connections, requests and streams in flight finish (up to
   * shutdownGraceMs), then the database connections close. Idempotent.
   */
  close(): Promise<void>;
}

const configError = (message: string): GatewayError => new GatewayError('ERR_GATEWAY_CONFIG', 500, message);

/** The longest delay a Node timer holds: a longer one fires after 1 ms (TimeoutOverflowWarning). */
export const MAX_TIMER_MS = 2 ** 31 - 1;

/**
 * A bound that becomes a timer (the upstream's, the shutdown grace, the server's slow-client bounds):
 * 1..MAX_TIMER_MS ms, else ERR_GATEWAY_CONFIG (review s12, finding 3: 3e9 became 1 ms, every request 504).
 */
function timerMs(name: string, v: unknown, fallback: number): number {
  if (v === undefined) return fallback;
  if (typeof v !== 'number' || !Number.isFinite(v) || v < 1 || v > MAX_TIMER_MS) throw configError(`${name} must be a number of milliseconds from 1 to ${MAX_TIMER_MS} (about 24.8 days; Node's timers hold no more)`);
  return v;
}

/** maxRequestBytes / maxResponseBytes: a positive finite number. */
function byteBound(name: string, v: unknown, fallback: number): number {
  if (v === undefined) return fallback;
  if (typeof v !== 'number' || !Number.isFinite(v) || v <= 0) throw configError(`${name} must be a positive number of bytes`);
  return v;
}

/**
 * A given TLS identity, checked before anything starts (review s12, finding 4: a key that is not the
 * certificate's, or a file that is not PEM, failed later with an untyped OpenSSL message, exit 2).
 */
function checkTls(tls: TlsIdentity): void {
  const where = 'the TLS identity (tls, --tls-cert/--tls-key)';
  if (typeof tls?.cert !== 'string' || typeof tls.key !== 'string') throw configError(`${where}: cert and key must be PEM texts`);
  const reason = (e: unknown): string => String((e as Error)?.message ?? e).split('\n')[0] as string;
  let cert: X509Certificate;
  try {
    cert = new X509Certificate(tls.cert);
  } catch (e) {
    throw configError(`${where}: the certificate is not a PEM X.509 certificate (${reason(e)})`);
  }
  let key: KeyObject;
  try {
    key = createPrivateKey(tls.key);
  } catch (e) {
    throw configError(`${where}: the key is not an unencrypted PEM private key (${reason(e)})`);
  }
  if (!cert.checkPrivateKey(key)) throw configError(`${where}: the private key does not belong to the certificate (its first certificate, the leaf)`);
  try {
    createSecureContext({ cert: tls.cert, key: tls.key });
  } catch (e) {
    throw configError(`${where}: TLS cannot use this certificate and key (${reason(e)})`);
  }
}

/** Where the keys live, from `database` or the older `db` file option. */
export function gatewayLocation(options: Pick<GatewayOptions, 'db' | 'database'>): StorageLocation {
  if (options.database !== undefined && options.db !== undefined) throw configError('give either db (an SQLite file) or database (sqlite:PATH | postgres://…), not both');
  if (options.database !== undefined) return parseStorageLocation(options.database);
  if (options.db !== undefined) return sqliteLocation(options.db); // the same SQLite path rules as database: 'sqlite:…' (review s13 CR #2)
  throw configError('a database is required: db (an SQLite file) or database (sqlite:PATH | postgres://…)');
}

function failureLimiter(name: 'adminFailureLimit' | 'apiKeyFailureLimit', o: AuthFailureLimitOptions | undefined): AuthFailureLimiter {
  try {
    return new AuthFailureLimiter(o);
  } catch (e) {
    throw configError(`${name}: ${(e as Error).message}`);
  }
}

function evidenceLimiter(o: Pick<GatewayOptions, 'attestationsPerSecond' | 'attestationsPerClient'>, clock: LimiterClock): EvidenceRateLimiter {
  try {
    return new EvidenceRateLimiter(o.attestationsPerSecond ?? 10, o.attestationsPerClient, clock);
  } catch (e) {
    throw configError((e as Error).message);
  }
}

/** The bound on evidence work in flight and waiting (attestation.ts, EvidenceQueue). */
function evidenceQueueOf(o: Pick<GatewayOptions, 'evidenceInFlight' | 'evidenceQueue' | 'evidenceTurnTimeoutMs' | 'provider'>, log: (line: string) => void): EvidenceQueue {
  const turnTimeoutMs = timerMs('evidenceTurnTimeoutMs', o.evidenceTurnTimeoutMs, DEFAULT_EVIDENCE_TURN_TIMEOUT_MS);
  const onTurnTimeout = (ms: number): void =>
    log(`tee-gateway: WARNING: evidence provider ${o.provider.name} has not answered a request within ${ms} ms: the request is answered 503, the waiting ones are refused, and its place goes to the next request (the call is abandoned; evidenceTurnTimeoutMs)`);
  try {
    return new EvidenceQueue(o.evidenceInFlight, o.evidenceQueue, { turnTimeoutMs, onTurnTimeout });
  } catch (e) {
    throw configError((e as Error).message);
  }
}

/** POST /tdx_attest's bound: the evidence limiter's sliding window and per-client shares, counted apart. */
function verificationLimiter(o: Pick<GatewayOptions, 'quoteVerificationsPerSecond' | 'quoteVerificationsPerClient'>, clock: LimiterClock): EvidenceRateLimiter {
  for (const name of ['quoteVerificationsPerSecond', 'quoteVerificationsPerClient'] as const) {
    const v = o[name];
    if (v !== undefined && (!Number.isInteger(v) || v < 1)) throw configError(`${name} must be a positive integer`);
  }
  return new EvidenceRateLimiter(o.quoteVerificationsPerSecond ?? 20, o.quoteVerificationsPerClient, clock);
}

function trustedProxiesOf(cidrs: readonly string[] | undefined): TrustedProxies {
  if (cidrs !== undefined && !Array.isArray(cidrs)) throw configError('trustedProxies must be an array of CIDR ranges');
  try {
    return new TrustedProxies(cidrs);
  } catch (e) {
    throw configError(`trustedProxies: ${(e as Error).message}`);
  }
}

/** Open connections of the whole gateway; beyond them Node closes a new connection at once, whoever opens it. */
export const GATEWAY_MAX_CONNECTIONS = 10_000;

/**
 * The per-client connection cap (src/net/connection-cap.ts; s15 red team, service finding 2): a
 * positive integer, default a sixteenth of GATEWAY_MAX_CONNECTIONS; trusted proxies are not counted.
 */
function connectionCapOf(perClient: unknown, trustedProxies: TrustedProxies): ConnectionCap {
  if (perClient !== undefined && (typeof perClient !== 'number' || !Number.isSafeInteger(perClient) || perClient < 1)) throw configError('maxConnectionsPerClient must be a positive integer');
  return new ConnectionCap({ perClient: perClient ?? defaultConnectionsPerClient(GATEWAY_MAX_CONNECTIONS), exempt: (address) => trustedProxies.contains(address) });
}

/**
 * Hosts a plain-http upstream may be on without leaving this machine (the TEE). Not `*.localhost`
 * (review s12, finding 1): Node resolves such a name with getaddrinfo, which sends it to the resolver
 * unless /etc/hosts lists it, and inside a TD the host answers DNS; no name is resolved at start
 * (an answer then says nothing about the proxy's later lookups), so such a name warns. `localhost`
 * is never looked up: the proxy connects it to loopback itself (proxy.ts, loopbackLookup).
 */
function isLoopbackHost(hostname: string): boolean {
  const h = hostname.replace(/^\[|\]$/g, '').toLowerCase();
  return h === 'localhost' || h === '::1' || /^127\.\d+\.\d+\.\d+$/.test(h) || /^::ffff:127\./.test(h) || /^::ffff:7f[0-9a-f]{2}:/.test(h);
}

/** Relaxations the operator chose, said at every start (review s8 D6): strict by default, relaxed only out loud. */
function startWarnings(options: GatewayOptions, upstream: URL): string[] {
  const out: string[] = [];
  if (options.requireApiKey === false) out.push('API keys are off (--no-api-key): anyone who can reach this port can use the upstream through it');
  if (upstream.protocol === 'http:' && !isLoopbackHost(upstream.hostname)) {
    out.push(`the upstream ${upstream.origin} is plain http to another host: prompts and answers leave the TEE unencrypted and unauthenticated (use https, or an upstream on this machine)`);
  }
  return out;
}

/** A database failure while serving: 503 + Retry-After when retrying can help, else 500. */
export function storageFailure(e: StorageError, log: (l: string) => void): GatewayError {
  log(`tee-gateway: storage error ${e.code}: ${e.message}`);
  return e.retryable
    ? new GatewayError('ERR_GATEWAY_STORAGE_UNAVAILABLE', 503, 'the key database is unavailable; retry later', { 'Retry-After': '5' })
    : new GatewayError('ERR_GATEWAY_STORAGE', 500, 'storage error');
}

/**
 * Starts a gateway; resolves once it listens. Bad configuration fails here, typed:
 * GatewayError ERR_GATEWAY_CONFIG, ERR_GATEWAY_LISTEN (the port cannot be bound), StorageError (ERR_STORAGE_CONFIG, _UNREACHABLE, _AUTH,
 * _SCHEMA_TOO_NEW, _MIGRATION); nothing stays open.
 */
export async function startGateway(options: GatewayOptions): Promise<Gateway> {
  const upstream = new URL(options.upstream);
  if (upstream.protocol !== 'http:' && upstream.protocol !== 'https:') throw new RangeError('upstream must be an http(s) URL');
  if (!options.provider || typeof options.provider.getEvidence !== 'function') throw new TypeError('provider must be an EvidenceProvider');
  const loc = gatewayLocation(options);
  for (const name of ['headersTimeoutMs', 'requestTimeoutMs', 'keepAliveTimeoutMs'] as const) timerMs(name, options[name], 1);
  const timeouts = serverTimeoutOptions(options, configError);
  const headersTimeoutMs = timerMs('upstreamTimeoutMs', options.upstreamTimeoutMs, 30_000);
  const idleTimeoutMs = timerMs('upstreamIdleTimeoutMs', options.upstreamIdleTimeoutMs, 120_000);
  const shutdownGraceMs = timerMs('shutdownGraceMs', options.shutdownGraceMs, 30_000);
  const maxRequestBytes = byteBound('maxRequestBytes', options.maxRequestBytes, 1 << 20);
  const maxResponseBytes = byteBound('maxResponseBytes', options.maxResponseBytes, 64 << 20);
  const adminFailures = failureLimiter('adminFailureLimit', options.adminFailureLimit);
  const apiKeyFailures = failureLimiter('apiKeyFailureLimit', options.apiKeyFailureLimit);
  const trustedProxies = trustedProxiesOf(options.trustedProxies);
  const connectionCap = connectionCapOf(options.maxConnectionsPerClient, trustedProxies);
  if (options.limiterClock !== undefined && typeof options.limiterClock !== 'function') throw configError('limiterClock must be a function returning milliseconds');
  const clock = steadyClock(options.limiterClock);
  const limiter = evidenceLimiter(options, clock);
  const verifyLimiter = verificationLimiter(options, clock);
  const host = options.host ?? '127.0.0.1';
  const log = options.log ?? ((l: string) => process.stderr.write(`${l}\n`));
  const queue = evidenceQueueOf(options, log);
  const names = [host === '0.0.0.0' || host === '::' ? 'localhost' : host, 'localhost'];
  // The key never touches the disk unless the operator gives one: a key file outlives the image that
  // was attested with it (another image restarted on the same disk, or the host reading it, would be
  // trusted by clients that verified the key, and a relay holding it passes every fresh check).
  if (options.tls !== undefined) checkTls(options.tls);
  const tls = options.tls ?? (await generateTls(names));
  if (options.tls) log('tee-gateway: WARNING: TLS key given (--tls-cert/--tls-key): whoever can read it can relay this gateway and read prompts while clients\' checks pass; keep it on storage private to the TEE (docs/gateway.md, "TLS identity")');
  else if (loc.kind === 'sqlite' && existsSync(`${loc.file}.tls-key.pem`)) log(`tee-gateway: WARNING: ${loc.file}.tls-key.pem is no longer read: every start uses a fresh TLS key held in memory (clients attest again). Delete the file (anyone holding it can impersonate this gateway to clients that still trust its key), or pass it with --tls-cert/--tls-key from TEE-private storage`);
  const spkiHash = spkiSha256(tls.cert);
  const keys = await ApiKeyStore.open(loc, {
    postgres: { poolMax: options.databasePoolSize ?? 4, applicationName: 'tee-gateway', onError: (e) => log(`tee-gateway: database connection error (${e.code}): ${e.message}`) },
  });
  const m = keys.migration;
  if (m && m.applied.length > 0) log(`tee-gateway: ${keys.description}: gateway schema ${m.from} -> ${m.to} (${m.applied.join(', ')})`);
  let server: Server | undefined;
  try {
    // Per instance on purpose: the bound protects this instance's TEE (its evidence provider), and each instance has its own TLS key.
    const attest = { provider: options.provider, certificatePem: tls.cert, spkiHash, limiter, queue, log };
    const proxy: ProxyOptions = {
      upstream,
      maxRequestBytes,
      maxResponseBytes,
      headersTimeoutMs,
      idleTimeoutMs,
      trustedProxies,
    };
    const metrics = new GatewayMetrics(() => connectionCap.refused, () => queue.turnsTimedOut);
    proxy.observe = {
      status: (c) => metrics.countProxied(c),
      error: (e) => metrics.countError(e.code),
      start: () => void (metrics.inFlight += 1),
      firstByte: (seconds) => metrics.upstreamFirstByte.observe(seconds),
      end: (seconds) => {
        metrics.inFlight -= 1;
        metrics.proxiedDuration.observe(seconds);
      },
      clientAbort: (stage) => metrics.countClientAbort(stage),
      cut: (reason) => metrics.countUpstreamCut(reason),
    };
    const state = { draining: false };
    const handle = createHandler({ options, attest, verifyLimiter, clock, proxy, keys, metrics, state, adminFailures, apiKeyFailures, limitedLookups: new LookupThrottle(options.limitedLookupIntervalMs ?? 1000), trustedProxies });
    const inFlight = new Set<ServerResponse>();
    let drained: (() => void) | undefined;
    /** `expectsContinue`: the client sent `Expect: 100-continue` and waits (checkContinue below). */
    const onRequest = (req: IncomingMessage, res: ServerResponse, expectsContinue = false): void => {
      inFlight.add(res);
      res.once('close', () => {
        inFlight.delete(res);
        if (inFlight.size === 0) drained?.();
      });
      // While stopping, every answer ends its keep-alive connection so the client reconnects to another instance.
      if (state.draining) res.shouldKeepAlive = false;
      handle(req, res, expectsContinue).catch((err: unknown) => {
        // A client gone mid-body is no fault of the gateway: counted, not logged, not answered (review s10, G4).
        if (err instanceof GatewayError && err.code === 'ERR_GATEWAY_CLIENT_ABORTED') {
          metrics.countClientAbort('request');
          res.destroy();
          return;
        }
        const e = StorageError.is(err) ? storageFailure(err, log) : err;
        if (res.headersSent) {
          res.destroy();
          return;
        }
        if (e instanceof GatewayError) {
          metrics.countError(e.code);
          sendError(res, e);
        } else {
          log(`tee-gateway: internal error: ${(e as Error)?.message}`);
          sendError(res, new GatewayError('ERR_GATEWAY_INTERNAL', 500, 'internal error'));
        }
      });
    };
    // Request receipt is bounded (slowloris); answers, such as a long chat stream, are not.
    const handshake = options.handshakeEvidence === false ? undefined : handshakeEvidenceCallback({
      attest,
      tls,
      observe: {
        produced: () => void (metrics.attestations += 1),
        refused: (code) => metrics.countError(code),
      },
    });
    if (handshake && 'disabled' in handshake) log(`tee-gateway: evidence in the TLS handshake is off (clients attest in-band): ${handshake.disabled}`);
    const SNICallback = handshake && 'callback' in handshake ? handshake.callback : undefined;
    const srv: Server = createServer({ cert: tls.cert, key: tls.key, ...timeouts, ...(SNICallback ? { SNICallback } : {}) }, onRequest);
    server = srv;
    srv.maxConnections = GATEWAY_MAX_CONNECTIONS;
    // After the server's own 'connection' listener: one client holds at most maxConnectionsPerClient.
    connectionCap.attach(srv);
    // `Expect: 100-continue`: Node would answer 100 at once; the handler sends it only once the request
    // passed the API-key check and its Content-Length fits, so a refused client sends no body (review s8 D7).
    srv.on('checkContinue', (req: IncomingMessage, res: ServerResponse) => onRequest(req, res, true));
    await listenOn(srv, options.port ?? 8443, host);
    const port = (srv.address() as AddressInfo).port;
    const url = `https://${host.includes(':') ? `[${host}]` : host}:${port}`;
    log(`tee-gateway: listening on ${url} (upstream ${upstream.origin}, ${keys.description}, TLS SPKI SHA-256 ${spkiHash.toString('hex')})`);
    if (options.cubeAttestation) log(`tee-gateway: WARNING: ${CUBE_ATTESTATION_WARNING}`);
    for (const warning of startWarnings(options, upstream)) log(`tee-gateway: WARNING: ${warning}`);
    const close = async (): Promise<void> => {
      state.draining = true;
      for (const res of inFlight) if (!res.headersSent) res.shouldKeepAlive = false;
      const stopped = new Promise<void>((resolve) => srv.close(() => resolve()));
      srv.closeIdleConnections();
      if (inFlight.size > 0) {
        let timer: NodeJS.Timeout | undefined;
        await Promise.race([new Promise<void>((r) => (drained = r)), new Promise<void>((r) => (timer = setTimeout(r, shutdownGraceMs)))]);
        clearTimeout(timer);
        if (inFlight.size > 0) log(`tee-gateway: shutdown grace over, cutting ${inFlight.size} request(s) in flight`);
      }
      srv.closeAllConnections();
      await stopped;
      await keys.close();
    };
    let closing: Promise<void> | undefined;
    return {
      url,
      port,
      certificatePem: tls.cert,
      spkiSha256: spkiHash.toString('hex'),
      keys,
      database: keys.description,
      close: () => (closing ??= close()),
    };
  } catch (e) {
    server?.close();
    await keys.close();
    throw e;
  }
}
