/**
 * The gateway's routes (server.ts lists them). Each handler either answers
 * or throws a GatewayError; the server turns errors into JSON answers.
 */
import type { IncomingMessage, ServerResponse } from 'node:http';

import { CorsPolicy } from '../attestation-service/http.js';
import { redactUrlsIn } from '../attestation-service/collateral-messages.js';
import { ADMIN_PREFIX, handleAdmin } from './admin.js';
import { answerAttestation, evidenceTurn, type AttestationContext, type EvidenceRateLimiter } from './attestation.js';
import { answerAtls } from './atls.js';
import { cubeErrorBody } from './cube-answer.js';
import { cubeAttestationAnswer, learnTee, openWebUiQuote, tdxAttest } from './dropin.js';
import { GatewayError } from './errors.js';
import { HealthProbe } from '../net/health-probe.js';
import type { GatewayMetrics } from './metrics.js';
import type { AuthFailureLimiter } from '../net/auth-failures.js';
import { clientKey } from '../net/client-key.js';
import type { LookupThrottle } from '../net/lookup-throttle.js';
import type { LimiterClock } from '../net/steady-clock.js';
import { forwardedClient, type TrustedProxies } from '../net/forwarded.js';
import { proxyRequest, type ProxyOptions } from './proxy.js';
import { vtpmProviderOf } from './vtpm-attestation.js';
import type { VtpmEvidenceProvider } from '../tee/vtpm-types.js';
import { StorageError } from '../storage/index.js';
import type { GatewayOptions } from './server.js';
import type { ApiKeyStore } from './store.js';

export interface RouteContext {
  options: GatewayOptions;
  attest: AttestationContext;
  /** The limiters' milliseconds (monotonic, src/net/steady-clock.ts): never the wall clock. */
  clock: LimiterClock;
  /** POST /tdx_attest's own rate bound (quoteVerificationsPerSecond / PerClient), apart from the evidence rate. */
  verifyLimiter: EvidenceRateLimiter;
  proxy: ProxyOptions;
  keys: ApiKeyStore;
  metrics: GatewayMetrics;
  /** Set when shutdown began: /health answers 503 so balancers stop sending here. */
  state: { draining: boolean };
  /** Failed admin-token attempts per client key (admin.ts). */
  adminFailures: AuthFailureLimiter;
  /** Proxied requests without a valid API key, per client key (createHandler). */
  apiKeyFailures: AuthFailureLimiter;
  /** How often a limited client may still have a key-shaped token looked up. */
  limitedLookups: LookupThrottle;
  /** Peers whose X-Forwarded-For names the client (src/net/forwarded.ts). */
  trustedProxies: TrustedProxies;
}

/**
 * GET /health: 200 when this instance reaches its database, 503 otherwise or while shutting down.
 * The database verdict comes from `probe` (src/net/health-probe.ts): one ping at a time (a second only beside a hung one), reused for 1 s.
 */
async function health(ctx: RouteContext, probe: HealthProbe, res: ServerResponse): Promise<void> {
  const base = { tee: ctx.options.provider.name, database: ctx.keys.dialect };
  if (ctx.state.draining) return sendJson(res, 503, { status: 'shutting-down', ...base });
  const verdict = await probe.check();
  // Shutdown may have begun while the ping ran: a balancer must not read 200 during the drain (changes-c #5).
  if (ctx.state.draining) return sendJson(res, 503, { status: 'shutting-down', ...base });
  if (verdict.ok) return sendJson(res, 200, { status: 'ok', ...base });
  res.setHeader('retry-after', '5');
  sendJson(res, 503, { status: 'unavailable', ...base, code: 'ERR_GATEWAY_STORAGE_UNAVAILABLE', cause: verdict.cause });
}

type Handler = (req: IncomingMessage, res: ServerResponse) => Promise<void>;

const ATTESTATION_BODY_LIMIT = 4096;
const ADMIN_BODY_LIMIT = 4096;

/** The client hung up while its body arrived: nothing to answer, nothing wrong with the gateway. */
const clientAborted = (): GatewayError => new GatewayError('ERR_GATEWAY_CLIENT_ABORTED', 499, 'the client closed the connection before its request body was complete');

/** Node reports a request cut mid-body as an "aborted" error with code ECONNRESET. */
const isAbort = (e: unknown): boolean => (e as NodeJS.ErrnoException)?.code === 'ECONNRESET' || (e as Error)?.message === 'aborted';

function readBody(req: IncomingMessage, limit: number): Promise<Buffer> {
  return new Promise((resolve, reject) => {
    // Already gone (the client hung up during a lookup before the read, such as the admin token's):
    // no 'data', 'end', 'error' or 'close' comes again, so the promise would never settle.
    if (req.destroyed && !req.readableEnded) {
      reject(clientAborted());
      return;
    }
    const chunks: Buffer[] = [];
    let n = 0;
    req.on('data', (c: Buffer) => {
      n += c.length;
      if (n > limit) {
        reject(new GatewayError('ERR_GATEWAY_TOO_LARGE', 413, `the body exceeds ${limit} bytes`));
        req.resume();
        return;
      }
      chunks.push(c);
    });
    req.on('end', () => resolve(Buffer.concat(chunks)));
    req.on('error', (e) => reject(isAbort(e) ? clientAborted() : e));
    // Closed without 'end' and without an error: still an abort, and the promise must not stay pending.
    req.on('close', () => {
      if (!req.complete) reject(clientAborted());
    });
  });
}

/**
 * Aborted when the client of `res` is gone: its connection closed before the answer was sent. An
 * evidence request still waiting for its turn is then dropped, with no report made for it
 * (attestation.ts, EvidenceQueue; s16 red team, providers finding 1).
 */
function clientGone(req: IncomingMessage, res: ServerResponse): AbortSignal {
  const ac = new AbortController();
  if (req.socket.destroyed || res.destroyed) ac.abort();
  else res.once('close', () => {
    if (!res.writableFinished) ac.abort();
  });
  return ac.signal;
}

function sendJson(res: ServerResponse, status: number, body: unknown): void {
  const text = JSON.stringify(body);
  res.writeHead(status, { 'content-type': 'application/json', 'content-length': Buffer.byteLength(text), 'cache-control': 'no-store' });
  res.end(text);
}

/** The auth scheme is case-insensitive, then one or more spaces (RFC 9110 §11.1, §11.4; review s12, finding 6); the token pattern is strict. */
function bearer(req: IncomingMessage): string | undefined {
  const m = /^[Bb][Ee][Aa][Rr][Ee][Rr] +([A-Za-z0-9._~+/=-]+)$/.exec(req.headers.authorization ?? '');
  return m?.[1];
}

function send(res: ServerResponse, status: number, type: string, body: string | Buffer, headers: Record<string, string> = {}): void {
  res.writeHead(status, { 'content-type': type, 'content-length': Buffer.byteLength(body), ...headers });
  res.end(body);
}

/**
 * CORS for the unauthenticated drop-in routes that browsers call (protocols.md §8.1): the
 * open-webui page fetches GET /api/v1/tee/quote, then posts it to an attestation service such as
 * cc-zoo's, which answers CORS `*`. Any origin, no credentials: these routes take no API key and
 * set no cookie. The API-key (proxy) and admin routes never get these headers.
 */
const DROP_IN_CORS = new CorsPolicy(['*']);

/** CORS headers on every answer of `handler`, errors included, so the browser shows the page the refusal. */
function withCors(handler: Handler): Handler {
  return async (req, res) => {
    for (const [name, value] of Object.entries(DROP_IN_CORS.headers(req.headers.origin))) res.setHeader(name, value);
    return handler(req, res);
  };
}

/** OPTIONS on a drop-in route: a browser's preflight gets 204 with the allowed methods and headers; anything else 204 with Allow. */
function preflight(method: string): Handler {
  return async (req, res) => {
    req.resume();
    if (req.headers.origin !== undefined && req.headers['access-control-request-method'] !== undefined) return DROP_IN_CORS.preflight(req, res);
    res.writeHead(204, { allow: `${method}, OPTIONS`, 'content-length': '0' });
    res.end();
  };
}

/**
 * Cube's POST /attestation answers its errors as Cube's agent does, `{"error": "<message>", "code"}`
 * (cube-answer.ts), not as `{"error": {code, message}}`. Same status, headers and counting as the
 * server's other error answers; a request whose body was not read to its end closes its connection.
 */
function withCubeErrors(ctx: RouteContext, handler: Handler): Handler {
  return async (req, res) => {
    try {
      await handler(req, res);
    } catch (e) {
      answerCubeError(ctx, req, res, e);
    }
  };
}

/** Cube's route (its errors in Cube's format, also the framing refusal before routing: review s10b, item 6). */
const CUBE_ATTESTATION_ROUTE = 'POST /attestation';

/** `e` answered in Cube's error format; rethrown when the server's own handling applies. */
function answerCubeError(ctx: RouteContext, req: IncomingMessage, res: ServerResponse, e: unknown): void {
  if (res.headersSent || (e instanceof GatewayError && e.code === 'ERR_GATEWAY_CLIENT_ABORTED')) throw e; // the server's handling
  let err: GatewayError;
  if (e instanceof GatewayError) err = e;
  else if (StorageError.is(e)) throw e; // the server's storage mapping (none on this route today)
  else {
    ctx.options.log?.(`tee-gateway: internal error: ${(e as Error)?.message}`);
    err = new GatewayError('ERR_GATEWAY_INTERNAL', 500, 'internal error');
  }
  ctx.metrics.countError(err.code);
  const body = cubeErrorBody(err.code, err.message);
  res.writeHead(err.status, { 'content-type': 'application/json', 'content-length': body.length, 'cache-control': 'no-store', ...(req.complete ? {} : { connection: 'close' }), ...err.headers });
  res.end(body);
}

/**
 * POST /aTLS with only its provider call under the evidence queue, as on the other evidence routes
 * (one provider, one backlog): answerAtls answers a gateway without a vTPM 404, parses the body and
 * takes the client's rate slot first, without waiting, so a malformed body or a client whose share is
 * spent never holds a waiting place (s16 change review of the providers fixes, #2; the whole handler
 * used to wait for its turn). The queue's own answers (503 ERR_GATEWAY_EVIDENCE_BUSY, a turn past its
 * deadline, the unresponsive provider's answer; a client gone while waiting) are given as they are,
 * not as a failure of the provider, and are not logged as one.
 */
async function answerAtlsQueued(attest: AttestationContext, body: Buffer, client: string | undefined, signal: AbortSignal): Promise<Record<string, unknown>> {
  const provider = vtpmProviderOf(attest);
  if (!provider || !attest.queue) return answerAtls(attest, body, client);
  let queueAnswer: GatewayError | undefined;
  const queued: VtpmEvidenceProvider = {
    vtpm: true,
    name: provider.name,
    getEvidence: (reportData) => provider.getEvidence(reportData),
    attestationKeyPublic: () => provider.attestationKeyPublic(),
    getVtpmEvidence: (request) =>
      evidenceTurn(attest, client, signal, () => provider.getVtpmEvidence(request)).catch((e: unknown) => {
        if (e instanceof GatewayError) queueAnswer = e; // the provider's own failures are not GatewayErrors
        throw e;
      }),
  };
  const log = attest.log ?? ((line: string) => process.stderr.write(`${line}\n`));
  const ctx: AttestationContext = { ...attest, provider: queued, log: (line) => void (queueAnswer ? undefined : log(line)) };
  try {
    return await answerAtls(ctx, body, client);
  } catch (e) {
    throw queueAnswer ?? e;
  }
}

function routeTable(ctx: RouteContext): Map<string, Handler> {
  const { options, attest, metrics } = ctx;
  const routes = new Map<string, Handler>();
  /** A route browsers call from other origins: the handler with CORS, and its preflight. */
  const browserRoute = (method: 'GET' | 'POST', path: string, handler: Handler): void => {
    routes.set(`${method} ${path}`, withCors(handler));
    routes.set(`OPTIONS ${path}`, preflight(method));
  };
  routes.set('POST /v1/attestation', async (req, res) => {
    const gone = clientGone(req, res);
    const answer = await answerAttestation(attest, await readBody(req, ATTESTATION_BODY_LIMIT), clientOf(ctx, req), gone);
    learnTee(attest.provider, answer.tee); // GET /api/v1/tee/quote answers a non-TDX gateway's 404 without asking the TEE
    sendJson(res, 200, answer);
    metrics.attestations += 1;
  });
  browserRoute('GET', '/api/v1/tee/quote', async (req, res) => {
    const answer = await openWebUiQuote(attest, new URL(req.url ?? '/', 'https://gateway').searchParams, clientOf(ctx, req), clientGone(req, res));
    metrics.attestations += 1;
    send(res, 200, 'application/json', JSON.stringify(answer), { 'cache-control': 'no-cache, no-store, must-revalidate', pragma: 'no-cache', expires: '0' });
  });
  routes.set('POST /aTLS', async (req, res) => {
    const gone = clientGone(req, res);
    const body = await readBody(req, ATTESTATION_BODY_LIMIT);
    const client = clientOf(ctx, req);
    const answer = await answerAtlsQueued(attest, body, client, gone);
    sendJson(res, 200, answer);
    metrics.attestations += 1;
  });
  browserRoute('POST', '/tdx_attest', async (req, res) => {
    const body = await readBody(req, 64 * 1024);
    const answer = await tdxAttest(options.quoteVerifier, body, new Date(), { limiter: ctx.verifyLimiter, client: clientOf(ctx, req) }).catch((e: unknown) => {
      if (e instanceof GatewayError && e.code === 'ERR_GATEWAY_RATE_LIMITED') metrics.countQuoteVerification('rate_limited');
      if (e instanceof GatewayError && e.code === 'ERR_GATEWAY_COLLATERAL_UNAVAILABLE') {
        metrics.countQuoteVerification('unavailable');
        ctx.options.log?.(`tee-gateway: /tdx_attest: collateral unavailable: ${redactUrlsIn((e.cause as Error | undefined)?.message ?? '')}`);
      }
      throw e;
    });
    metrics.countQuoteVerification(answer.attestation_result === 'SUCCESS' ? 'success' : 'failed');
    sendJson(res, 200, answer);
  });
  routes.set(CUBE_ATTESTATION_ROUTE, withCubeErrors(ctx, async (req, res) => {
    if (!options.cubeAttestation) {
      req.resume();
      throw new GatewayError('ERR_GATEWAY_NOT_FOUND', 404, 'POST /attestation (Cube) is off: it would sign caller-chosen REPORTDATA, which lets any relay pass the /v1/attestation binding and anyone obtain the keys a key broker releases to this TEE; start the gateway with --cube-attestation to offer it anyway');
    }
    const gone = clientGone(req, res);
    const answer = await cubeAttestationAnswer(attest, await readBody(req, ATTESTATION_BODY_LIMIT), clientOf(ctx, req), gone);
    metrics.attestations += 1;
    send(res, 200, answer.contentType, answer.body, { 'cache-control': 'no-store' });
  }));
  if (options.metrics ?? true) routes.set('GET /metrics', async (_req, res) => send(res, 200, 'text/plain; version=0.0.4; charset=utf-8', metrics.render()));
  const probe = new HealthProbe({ ping: () => ctx.keys.ping(), clock: ctx.clock });
  routes.set('GET /health', async (_req, res) => health(ctx, probe, res));
  return routes;
}

/** Whom the failure limits and the evidence shares count this request against: the peer, or X-Forwarded-For from a trusted proxy. */
function clientOf(ctx: RouteContext, req: IncomingMessage): string {
  return clientKey(forwardedClient(req.socket.remoteAddress, req.headers['x-forwarded-for'], ctx.trustedProxies));
}

/** The shape of an API key (store.ts): "tgw_" and 43 base64url characters. */
const API_KEY_SHAPE = /^tgw_[A-Za-z0-9_-]{43}$/;

/**
 * The API key of a proxied request. Every refusal counts as a failure of its
 * client, a request without Authorization included (docs/gateway.md). A client
 * over the limit gets 429 without any lookup, unless it presents a token of an
 * API key's shape and its lookup interval has passed (one per second): that one
 * is still looked up, so that users who share an address (NAT, one IPv6 /64, an
 * unlisted proxy) with someone sending junk keep working with their valid keys;
 * a wrong one is refused with 429 again.
 */
async function requireApiKey(ctx: RouteContext, req: IncomingMessage, nowMs: number): Promise<void> {
  const client = clientOf(ctx, req);
  const wait = ctx.apiKeyFailures.retryAfter(client, nowMs);
  const token = bearer(req);
  const limited = (): GatewayError => {
    ctx.metrics.countAuthRateLimited('api_key');
    return new GatewayError('ERR_GATEWAY_TOO_MANY_AUTH_FAILURES', 429, `too many requests without a valid API key from this client; retry in ${wait} s`, { 'Retry-After': String(wait) });
  };
  // Over the limit: no lookup for junk, and at most one per interval for key-shaped tokens.
  if (wait > 0 && !(token && API_KEY_SHAPE.test(token) && ctx.limitedLookups.take(client, nowMs))) {
    req.resume(); // an unread body must not hold the connection
    throw limited();
  }
  // No cache: a key revoked through any instance is refused from the next request on.
  const key = token ? await ctx.keys.authenticate(token).catch((e: unknown) => {
    req.resume();
    throw e;
  }) : undefined;
  if (!key) {
    ctx.apiKeyFailures.fail(client, nowMs);
    req.resume();
    if (wait > 0) throw limited();
    throw new GatewayError('ERR_GATEWAY_UNAUTHORIZED', 401, 'a valid API key is required (Authorization: Bearer <key>)', { 'WWW-Authenticate': 'Bearer' });
  }
}

/**
 * A request body is framed by Content-Length or by `Transfer-Encoding: chunked` alone (review s10, G6).
 * Node's parser accepts any codings before a final chunked ("gzip, chunked") and decodes only the
 * chunking: the proxy relabelled such a body plain chunked, so the upstream took gzip bytes for the
 * body itself. No coding is undone here, so none is accepted: 400 before any route or upstream.
 */
function refuseCodings(req: IncomingMessage): void {
  const te = req.headers['transfer-encoding'];
  if (te === undefined || te.trim().toLowerCase() === 'chunked') return;
  req.resume();
  throw new GatewayError('ERR_GATEWAY_BAD_REQUEST', 400, 'Transfer-Encoding must be exactly "chunked" (no other transfer coding is supported)');
}

/**
 * The request handler: the gateway's own routes, else an API key check and the proxy.
 * `expectsContinue` (the client sent `Expect: 100-continue`): 100 Continue goes out only when the body
 * is wanted: on the gateway's own routes at once (their bodies are small and bounded), on the admin API
 * after the token check, on proxied paths after the API-key check and the Content-Length limit.
 */
export function createHandler(ctx: RouteContext): (req: IncomingMessage, res: ServerResponse, expectsContinue?: boolean) => Promise<void> {
  const routes = routeTable(ctx);
  const apiKeyRequired = ctx.options.requireApiKey ?? true;
  return async (req, res, expectsContinue = false) => {
    const path = (req.url ?? '/').split('?')[0];
    const route = `${req.method} ${path}`;
    const own = routes.get(route);
    try {
      refuseCodings(req);
    } catch (e) {
      if (route === CUBE_ATTESTATION_ROUTE) return answerCubeError(ctx, req, res, e); // Cube's clients read only Cube's format
      throw e;
    }
    if (own) {
      if (expectsContinue) res.writeContinue();
      return own(req, res);
    }
    if (path?.startsWith(ADMIN_PREFIX)) {
      if (!(ctx.options.adminApi ?? true)) throw new GatewayError('ERR_GATEWAY_NOT_FOUND', 404, 'the admin API is disabled');
      const body = (): Promise<Buffer> => {
        if (expectsContinue) res.writeContinue(); // the token was accepted: now the body
        return readBody(req, ADMIN_BODY_LIMIT);
      };
      const admin = { method: req.method ?? 'GET', path, authorization: req.headers.authorization, client: clientOf(ctx, req), limiterNowMs: ctx.clock(), body };
      const answer = await handleAdmin(ctx.keys, admin, undefined, ctx.adminFailures).catch((e: unknown) => {
        req.resume(); // an unread body must not hold the connection
        if (e instanceof GatewayError && e.code === 'ERR_GATEWAY_TOO_MANY_AUTH_FAILURES') ctx.metrics.countAuthRateLimited('admin');
        throw e;
      });
      return sendJson(res, answer.status, answer.body);
    }
    // A 405 names what the resource allows (RFC 9110 §15.5.6; review s12, finding 7), as the admin API's do.
    if (path === '/v1/attestation') throw new GatewayError('ERR_GATEWAY_NOT_FOUND', 405, 'POST /v1/attestation {nonce}', { Allow: 'POST' });
    if (apiKeyRequired) await requireApiKey(ctx, req, ctx.clock());
    proxyRequest(ctx.proxy, req, res, expectsContinue);
  };
}
