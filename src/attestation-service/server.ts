/**
 * `startAttestationService(options)`: an HTTP(S) verification service.
 *
 *   POST /v1/verify                  plain or trustee body → JSON: the verification result and the EAR JWT
 *   POST /attestation, /v1/attestation   trustee restful AS: the EAR JWT as the body (application/jwt),
 *                                    only when ok; otherwise a typed error
 *   GET  /jwks.json, /.well-known/jwks.json   the token verification key (JWKS)
 *   GET  /health                     {status: "ok", alg, kid}
 *   GET  /metrics                    Prometheus text (unless metrics: false)
 *   OPTIONS *                        CORS preflight
 *
 * Errors are `{"error": {"code", "message", "check"?}}` with a stable status
 * (docs/attestation-service.md). Every request reads the clock once.
 */
import { createServer as createHttpServer, type IncomingMessage, type Server, type ServerResponse } from 'node:http';
import { createServer as createHttpsServer } from 'node:https';
import type { AddressInfo } from 'node:net';
import { readFileSync } from 'node:fs';
import type { KeyObject } from 'node:crypto';

import type { CollateralService, Relaxations, TrustRoots } from '../index.js';
import { InvalidArgumentError } from '../errors.js';
import type { PolicyTee } from '../policy/types.js';
import { appraise, checkTrustRootsLabel, type Appraisal, type AppraiseContext } from './appraise.js';
import { AttestationServiceError, redactUrlsIn, toServiceError } from './errors.js';
import { CorsPolicy, readBody, requireJsonContentType, send, sendJson } from './http.js';
import { clientKey } from '../net/client-key.js';
import { ConnectionCap, defaultConnectionsPerClient } from '../net/connection-cap.js';
import { TrustedProxies, forwardedClient } from '../net/forwarded.js';
import { listenOn } from '../net/listen.js';
import { serverTimeoutOptions } from '../net/server-timeouts.js';
import { ConcurrencyLimiter } from './limiter.js';
import { isLoopbackHost, plainHttpWarning } from './loopback.js';
import { ServiceMetrics } from './metrics.js';
import { PolicySet, type PolicyInput } from './policies.js';
import { parseJsonBody, parseRequest } from './requests.js';
import { TokenSigner, type Jwk } from './signer.js';

export interface AttestationServiceOptions {
  /** Collateral for every request (cache + sources, or a bundle). */
  collateral: CollateralService;
  /**
   * Default: the production roots (Intel SGX Root CA, AMD ARK / ASK / ASVK). Other certificates add a
   * warning to every result (decided by DER, not by label); the label "production" on them is refused.
   */
  trustRoots?: TrustRoots;
  /** Named policies requests may select ("policy": "<name>", "policy_ids": ["<name>"]). */
  policies?: Record<string, PolicyInput>;
  /** Per TEE: the name of a policy above, or a policy; default the library's defaultPolicy(tee). */
  defaultPolicies?: Partial<Record<PolicyTee, string | PolicyInput>>;
  /** Default true: plain bodies may carry a policy document. */
  allowInlinePolicies?: boolean;
  /**
   * Names of `policies` whose passing tokens carry open-webui's claims (`tee`, `tcb-status`), as
   * the default policies' do; tokens of any other named policy lack them. Default none.
   */
  openWebUiPolicies?: string[];
  /** EC private key (P-256 → ES256, P-384 → ES384), PEM or KeyObject; default a P-256 key generated now. */
  signingKey?: KeyObject | string;
  /** Default 300 s, never beyond the collateral's earliest expiry. */
  tokenTtlSeconds?: number;
  /** The token's iss; default "tee-verify attestation service". */
  issuer?: string;
  /** Explicit relaxations (each reported as a warning in the result and token). */
  relaxations?: Relaxations;
  snpReportVersions?: number[];
  /**
   * Default 127.0.0.1. Without `tls` only a loopback host (127.0.0.0/8, ::1, `localhost`) is
   * accepted unless `forcePlainHttp` is set (s16 red team, env finding 1).
   */
  host?: string;
  /** Default 8080; 0 for any free port. */
  port?: number;
  /** PEM texts; with them the service speaks HTTPS. */
  tls?: { cert: string; key: string };
  /**
   * Serve plain HTTP (no `tls`) on a host that is not loopback, behind a TLS-terminating proxy
   * (`serve --force-plain-http`). A relaxation: logged as a WARNING at start. Without it such a
   * start is refused (ERR_INVALID_ARGUMENT): the verdicts, the tokens and the JWKS would travel in
   * cleartext to and from every network the host is on.
   */
  forcePlainHttp?: boolean;
  /** Origins allowed by CORS (exact "scheme://host[:port]", or "*"); default none. */
  corsOrigins?: string[];
  /** Default 512 KiB. */
  maxBodyBytes?: number;
  /** Appraisals at once; default 16. */
  maxConcurrent?: number;
  /** Appraisals waiting for a slot before 503; default 256. */
  maxQueued?: number;
  /**
   * Appraisals one client key may have running or waiting; default a quarter of maxConcurrent
   * (at least 1). Beyond it 429 ERR_AS_RATE_LIMITED. The key is the peer's address (IPv4, or the
   * IPv6 /64, its /56 and /48 sharing the limit), or the client X-Forwarded-For names when the
   * peer is a trusted proxy.
   */
  maxPerClient?: number;
  /** Proxies whose X-Forwarded-For is believed (CIDR ranges); default none (the peer address counts). */
  trustedProxies?: readonly string[];
  /**
   * Open connections at most; default 1024. Request bodies are read before an appraisal slot is
   * taken, so this bounds the memory slow uploaders can hold (connections × maxBodyBytes).
   */
  maxConnections?: number;
  /**
   * Open connections one client may hold (s15 red team #2: one client could fill maxConnections and
   * lock everyone out); default a sixteenth of maxConnections, at least 8 (64 with the defaults).
   * A connection beyond it is closed as soon as it is accepted. The client is the TCP peer keyed as
   * for maxPerClient (IPv4 address; IPv6 /64, its /56 and /48 sharing the cap); peers inside
   * trustedProxies are not counted (they carry many clients), X-Forwarded-For is not read for it.
   */
  maxConnectionsPerClient?: number;
  /**
   * The whole request (headers and body) within this many milliseconds, else 408; default 30 000.
   * Node checks it every second (connectionsCheckingInterval), so a slow upload is cut within
   * about a second of it (Node's default check interval of 30 s made it up to 60 s).
   */
  requestTimeoutMs?: number;
  /**
   * The request head within this many milliseconds of the connection (or of the request's first
   * byte on a kept-alive one), and over HTTPS the TLS handshake within it too, as a total (s15 red
   * team #1: without it Node waited 120 s for a handshake); default 10 000, not above
   * requestTimeoutMs (default then the smaller of the two).
   */
  headersTimeoutMs?: number;
  /** Default true. */
  metrics?: boolean;
  /** The clock, read once per request; tests inject a fixed instant. */
  now?: () => Date;
  /**
   * Judge every request at this instant instead of the clock (`serve --at`: recorded collateral,
   * demos). A relaxation: every result carries fixedInstantWarning(at), so its EAR is at most
   * "warning", and the token's iat / exp follow this instant. Refused at start when later than the
   * wall clock (a token dated in the future) or given together with `now`.
   */
  fixedInstant?: Date;
  log?: (line: string) => void;
}

export interface AttestationService {
  url: string;
  port: number;
  /** The JWKS served at /jwks.json. */
  jwks: { keys: Jwk[] };
  /** The token verification key. */
  publicKey: KeyObject;
  alg: 'ES256' | 'ES384';
  close(): Promise<void>;
}

type Route = 'verify' | 'trustee' | 'jwks' | 'health' | 'metrics' | 'preflight' | 'other';

const ROUTES: Record<string, { method: string; route: Route }> = {
  '/v1/verify': { method: 'POST', route: 'verify' },
  '/attestation': { method: 'POST', route: 'trustee' },
  '/v1/attestation': { method: 'POST', route: 'trustee' },
  '/jwks.json': { method: 'GET', route: 'jwks' },
  '/.well-known/jwks.json': { method: 'GET', route: 'jwks' },
  '/health': { method: 'GET', route: 'health' },
  '/metrics': { method: 'GET', route: 'metrics' },
};

function packageVersion(): string {
  try {
    const pkg = JSON.parse(readFileSync(new URL('../../package.json', import.meta.url), 'utf8')) as { version?: string };
    return `tee-verify ${pkg.version ?? 'unknown'}`;
  } catch {
    return 'tee-verify';
  }
}

function positiveInteger(value: number | undefined, fallback: number, name: string): number {
  const v = value ?? fallback;
  if (!Number.isSafeInteger(v) || v < 1) throw new RangeError(`${name} must be a positive integer`);
  return v;
}

interface Context {
  appraisal: AppraiseContext;
  cors: CorsPolicy;
  limiter: ConcurrencyLimiter;
  trustedProxies: TrustedProxies;
  metrics: ServiceMetrics;
  signer: TokenSigner;
  maxBodyBytes: number;
  metricsEnabled: boolean;
  now: () => Date;
}

async function appraiseBody(ctx: Context, req: IncomingMessage, route: 'verify' | 'trustee'): Promise<Appraisal> {
  requireJsonContentType(req);
  const body = await readBody(req, ctx.maxBodyBytes);
  const client = clientKey(forwardedClient(req.socket.remoteAddress, req.headers['x-forwarded-for'], ctx.trustedProxies));
  // The body is parsed inside the limiter (s15 red team, service #3): its parse is the client's work
  // too, counted against its share like the appraisal (a client over its share gets 429 unparsed).
  return ctx.limiter.run(async () => {
    const request = parseRequest(parseJsonBody(body));
    // The trustee routes answer with a bare token whose readers (open-webui) look at its top-level
    // claims only, never at the policy id in the EAR: a token judged under a policy the client sent
    // would be indistinguishable from one judged under the service's. Only configured policies there.
    if (route === 'trustee' && request.policy.kind === 'inline') {
      throw new AttestationServiceError('ERR_AS_UNKNOWN_POLICY', 400, 'the trustee routes judge only the policies configured on this service (send a policy name, or use POST /v1/verify)');
    }
    const now = ctx.now(); // the one clock reading of this request
    const t0 = process.hrtime.bigint();
    try {
      const a = await appraise(ctx.appraisal, request, now);
      ctx.metrics.countAppraisal(a.ok ? 'ok' : 'policy', Number(process.hrtime.bigint() - t0) / 1e9);
      return a;
    } catch (err) {
      ctx.metrics.countAppraisal('rejected', Number(process.hrtime.bigint() - t0) / 1e9, toServiceError(err).code);
      throw err;
    }
  }, client);
}

/** POST /attestation: trustee answers with the token text; here only when everything passed. */
function trusteeAnswer(res: ServerResponse, a: Appraisal, cors: Record<string, string>): number {
  if (!a.ok) {
    const first = a.policy.violations[0];
    const err = new AttestationServiceError('ERR_AS_POLICY_VIOLATION', 403, `the evidence verifies but does not meet policy ${a.policy.id}: ${a.policy.violations.map((v) => `${v.check} ${v.path}`).join(', ')}`, {
      ...(first ? { check: first.check } : {}),
      violations: a.policy.violations,
    });
    sendJson(res, err.status, err.toJSON(), cors);
    return err.status;
  }
  send(res, 200, 'application/jwt', a.token, cors);
  return 200;
}

async function handle(ctx: Context, req: IncomingMessage, res: ServerResponse): Promise<{ route: Route; status: number }> {
  const path = (req.url ?? '/').split('?')[0] ?? '/';
  const cors = ctx.cors.headers(req.headers.origin);
  if (req.method === 'OPTIONS' && req.headers['access-control-request-method'] !== undefined) {
    ctx.cors.preflight(req, res);
    return { route: 'preflight', status: res.statusCode };
  }
  const entry = ROUTES[path];
  if (!entry || (entry.route === 'metrics' && !ctx.metricsEnabled)) throw new AttestationServiceError('ERR_AS_NOT_FOUND', 404, `no route ${path.slice(0, 200)}`);
  if (req.method !== entry.method) throw new AttestationServiceError('ERR_AS_METHOD_NOT_ALLOWED', 405, `${path} takes ${entry.method}`, { headers: { allow: `${entry.method}, OPTIONS` } });
  switch (entry.route) {
    case 'verify': {
      const a = await appraiseBody(ctx, req, 'verify');
      sendJson(res, 200, a, cors);
      return { route: 'verify', status: 200 };
    }
    case 'trustee':
      return { route: 'trustee', status: trusteeAnswer(res, await appraiseBody(ctx, req, 'trustee'), cors) };
    case 'jwks':
      sendJson(res, 200, ctx.signer.jwks(), { ...cors, 'cache-control': 'public, max-age=300' });
      return { route: 'jwks', status: 200 };
    case 'health':
      sendJson(res, 200, { status: 'ok', alg: ctx.signer.alg, kid: ctx.signer.kid, jwks: '/jwks.json' }, cors);
      return { route: 'health', status: 200 };
    default:
      send(res, 200, 'text/plain; version=0.0.4; charset=utf-8', ctx.metrics.render(), cors);
      return { route: 'metrics', status: 200 };
  }
}

function routeOf(req: IncomingMessage): Route {
  return ROUTES[(req.url ?? '/').split('?')[0] ?? '/']?.route ?? 'other';
}

/** options.fixedInstant, checked: a valid instant, not after the wall clock at start, not with `now`. */
function fixedInstantOf(options: AttestationServiceOptions): Date | undefined {
  const at = options.fixedInstant;
  if (at === undefined) return undefined;
  if (!(at instanceof Date) || Number.isNaN(at.getTime())) throw new TypeError('fixedInstant must be a valid Date');
  if (options.now !== undefined) throw new TypeError('fixedInstant and now exclude each other');
  // A token is never dated after its signing: iat / exp follow the judged instant (review s10 A2).
  if (at.getTime() > Date.now()) throw new RangeError(`fixedInstant ${at.toISOString()} is in the future: the tokens would be dated after their signing`);
  return new Date(at.getTime());
}

/** Starts the service; resolves once it listens. */
export async function startAttestationService(options: AttestationServiceOptions): Promise<AttestationService> {
  if (!options?.collateral || typeof options.collateral.forEvidence !== 'function') throw new TypeError('collateral must be a CollateralService');
  const host = options.host ?? '127.0.0.1';
  // s16 red team, env finding 1: plain HTTP beyond loopback only when forced, as tee-kbs's --plain-http.
  const plainElsewhere = !options.tls && !isLoopbackHost(host);
  if (plainElsewhere && options.forcePlainHttp !== true) {
    throw new InvalidArgumentError(
      'ERR_INVALID_ARGUMENT',
      `plain HTTP is only served on loopback (an address in 127.0.0.0/8, ::1, or localhost; a host name is never taken for one); ${host} is not: give tls (--tls-cert/--tls-key), or forcePlainHttp (--force-plain-http) behind a TLS-terminating proxy`,
    );
  }
  const fixed = fixedInstantOf(options);
  checkTrustRootsLabel(options.trustRoots);
  const signer = new TokenSigner(options.signingKey);
  const log = options.log ?? ((l: string) => process.stderr.write(`${l}\n`));
  const limiter = new ConcurrencyLimiter(positiveInteger(options.maxConcurrent, 16, 'maxConcurrent'), options.maxQueued ?? 256, options.maxPerClient);
  const requestTimeout = positiveInteger(options.requestTimeoutMs, 30_000, 'requestTimeoutMs');
  const maxConnections = positiveInteger(options.maxConnections, 1024, 'maxConnections');
  const trustedProxies = new TrustedProxies(options.trustedProxies);
  // A trusted proxy's connections carry many clients: not capped as one (docs/attestation-service.md).
  const connectionCap = new ConnectionCap({
    perClient: positiveInteger(options.maxConnectionsPerClient, defaultConnectionsPerClient(maxConnections), 'maxConnectionsPerClient'),
    exempt: (address) => trustedProxies.contains(address),
  });
  const ctx: Context = {
    appraisal: {
      collateral: options.collateral,
      ...(options.trustRoots ? { trustRoots: options.trustRoots } : {}),
      policies: new PolicySet(options.policies, options.defaultPolicies, options.allowInlinePolicies ?? true, options.openWebUiPolicies ?? []),
      signer,
      tokenTtlSeconds: positiveInteger(options.tokenTtlSeconds, 300, 'tokenTtlSeconds'),
      verifierBuild: packageVersion(),
      issuer: options.issuer ?? 'tee-verify attestation service',
      ...(options.relaxations ? { relaxations: options.relaxations } : {}),
      ...(options.snpReportVersions ? { snpReportVersions: options.snpReportVersions } : {}),
      ...(fixed ? { fixedInstant: true } : {}),
    },
    cors: new CorsPolicy(options.corsOrigins),
    limiter,
    trustedProxies,
    // The gauges are read from the limiter when scraped: a request refused with 429 / 503 never
    // ran, so nothing it set could be left behind (review s8: queued stuck at 1).
    metrics: new ServiceMetrics(() => ({ running: limiter.running, waiting: limiter.waiting, connectionsRefused: connectionCap.refused })),
    signer,
    maxBodyBytes: positiveInteger(options.maxBodyBytes, 512 * 1024, 'maxBodyBytes'),
    metricsEnabled: options.metrics ?? true,
    now: fixed ? () => new Date(fixed.getTime()) : (options.now ?? (() => new Date())),
  };

  const listener = (req: IncomingMessage, res: ServerResponse): void => {
    handle(ctx, req, res).then(
      ({ route, status }) => ctx.metrics.countRequest(route, status),
      (err: unknown) => {
        const e = toServiceError(err);
        if (e.code === 'ERR_AS_CLIENT_CLOSED') {
          // A client event, not a fault: nothing to answer, nothing to log as internal.
          ctx.metrics.countRequest(routeOf(req), e.status);
          res.destroy();
          return;
        }
        // The answer's message is fixed for these; the detail (URLs with credentials masked) is logged.
        if (e.code === 'ERR_AS_INTERNAL') log(`tee-verify serve: internal error: ${redactUrlsIn((err as Error)?.stack ?? String(err))}`);
        else if (e.extra.detail !== undefined) log(`tee-verify serve: ${e.code} (${e.status}): ${redactUrlsIn(e.extra.detail)}`);
        sendJson(res, e.status, e.toJSON(), { ...ctx.cors.headers(req.headers.origin), ...(e.extra.headers ?? {}) });
        ctx.metrics.countRequest(routeOf(req), e.status);
      },
    );
  };
  // One set of bounds for HTTP and HTTPS (src/net/server-timeouts.ts, as the gateway and the key
  // broker): over TLS the handshake gets the headers bound as a total; Node's default was 120 s, so a
  // socket that sent nothing held a connection slot for two minutes (s15 red team #1).
  const headersTimeout = positiveInteger(options.headersTimeoutMs, Math.min(10_000, requestTimeout), 'headersTimeoutMs');
  const { handshakeTimeout, ...httpTimeouts } = serverTimeoutOptions({ headersTimeoutMs: headersTimeout, requestTimeoutMs: requestTimeout, keepAliveTimeoutMs: 30_000 }, (m) => new RangeError(m));
  // How often Node looks for requests past their timeouts (its default of 30 s made a 30 s limit up to
  // 60 s): at least every second, so a trickled upload is cut within about a second of its bound.
  httpTimeouts.connectionsCheckingInterval = Math.min(1_000, httpTimeouts.connectionsCheckingInterval);
  const server: Server = options.tls ? createHttpsServer({ cert: options.tls.cert, key: options.tls.key, handshakeTimeout, ...httpTimeouts }, listener) : createHttpServer(httpTimeouts, listener);
  server.maxConnections = maxConnections;
  connectionCap.attach(server);
  if (plainElsewhere) log(plainHttpWarning(host));
  // Review s10, L1: a bind failure is typed, the errno its cause (tee-verify serve exits 75 / 78 on it).
  await listenOn(server, options.port ?? 8080, host, (cause, message) => Object.assign(new AttestationServiceError('ERR_AS_LISTEN', 500, message), { cause }));
  const port = (server.address() as AddressInfo).port;
  const url = `${options.tls ? 'https' : 'http'}://${host.includes(':') ? `[${host}]` : host}:${port}`;
  log(`tee-verify serve: listening on ${url} (tokens ${signer.alg}, kid ${signer.kid}${signer.generated ? ', key generated at start' : ''})`);
  return {
    url,
    port,
    jwks: signer.jwks(),
    publicKey: signer.publicKey,
    alg: signer.alg,
    close: () =>
      new Promise<void>((resolve) => {
        server.close(() => resolve());
        server.closeAllConnections();
      }),
  };
}
