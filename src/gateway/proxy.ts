/**
 * The reverse proxy: every other path goes to the upstream, with the request
 * and the response streamed chunk by chunk (SSE and NDJSON are never
 * buffered whole). Limits: request body bytes (413), response body bytes
 * (the stream is cut), time to upstream headers (504) and upstream idle time
 * while streaming (the stream is cut). Upstream failures before the headers
 * are answered 502 / 504 with a JSON error.
 *
 * What goes upstream is framed by the gateway, never by the client: a body is
 * sent with its Content-Length or chunked, whatever the method (Node frames no
 * body of its own for GET / HEAD / DELETE / OPTIONS, and raw bytes on a kept-alive
 * upstream connection would be read as the next request). Request targets with
 * dot segments or backslashes are refused, so no path leaves the upstream's
 * base path. Only upstream statuses 200–599 are passed on. The upstream's Content-Length is passed
 * on with its answer (not with Transfer-Encoding, not on a 204); an answer that ends short of it is cut.
 */
import { request as httpRequest, type IncomingMessage, type ServerResponse } from 'node:http';
import { request as httpsRequest } from 'node:https';
import type { LookupAddress, LookupOptions } from 'node:dns';
import type { Socket } from 'node:net';

import type { TrustedProxies } from '../net/forwarded.js';
import { GatewayError } from './errors.js';
import type { ClientAbortStage, UpstreamCutReason } from './metrics.js';

export interface ProxyOptions {
  upstream: URL;
  maxRequestBytes: number;
  maxResponseBytes: number;
  /** Until the upstream's response headers. */
  headersTimeoutMs: number;
  /** Longest silence of the upstream while its body streams. */
  idleTimeoutMs: number;
  /** Peers whose X-Forwarded-For is extended rather than replaced (src/net/forwarded.ts); default none. */
  trustedProxies?: TrustedProxies;
  /**
   * Observers for metrics: the upstream's status, a gateway error, start and end of a proxied request;
   * `firstByte` the seconds until the upstream's response headers, `end` the seconds until the answer
   * ended or was cut (monotonic clock); `clientAbort` a client that closed its connection before its
   * answer was complete (never counted as an upstream failure: review s10, G2), with the stage it was at;
   * `cut` an answer the gateway cut mid-stream for the upstream's doing or its own limit (review s10b, item 5).
   */
  observe?: { status(code: number): void; error(err: GatewayError): void; start(): void; firstByte?(seconds: number): void; end(seconds: number): void; clientAbort?(stage: ClientAbortStage): void; cut?(reason: UpstreamCutReason): void };
}

// `expect`: the gateway answers 100-continue itself (server.ts checkContinue) and sends the body whole to the upstream.
// `content-length`: framing, set by the gateway itself both ways (the request's below, the answer's in upstreamLength).
const HOP_BY_HOP = new Set(['connection', 'proxy-connection', 'keep-alive', 'proxy-authenticate', 'proxy-authorization', 'te', 'trailer', 'transfer-encoding', 'upgrade', 'host', 'authorization', 'content-length', 'x-forwarded-for', 'forwarded', 'expect']);

/**
 * Headers by which proxies tell a backend who the client is or how it connected. A client's own
 * values would let it pose as another address or host to an upstream that trusts them, so they pass
 * only from a trusted proxy (which vouches for them); X-Forwarded-For and X-Forwarded-Proto the
 * gateway sets itself.
 */
const CLIENT_IDENTITY_HEADERS = [
  'x-real-ip', 'true-client-ip', 'x-client-ip', 'cf-connecting-ip', 'fastly-client-ip', 'x-cluster-client-ip',
  'x-originating-ip', 'x-original-forwarded-for', 'x-original-url', 'x-rewrite-url',
];

/**
 * From an untrusted peer: the listed headers, the whole X-Forwarded-* family (host, proto, prefix,
 * email, user, client certificate, ...: front ends such as open-webui can trust some of them for
 * login), and every header with an underscore in its name (CGI-style upstreams fold `_` and `-`
 * together, so X_Forwarded_For would arrive as X-Forwarded-For; nginx drops them by default).
 */
function isClientIdentityHeader(name: string): boolean {
  return name.includes('_') || name.startsWith('x-forwarded-') || CLIENT_IDENTITY_HEADERS.includes(name);
}

/**
 * X-Forwarded-For for the upstream: the peer's address appended to the chain a
 * trusted proxy sent, or the peer alone. A client's own header never reaches
 * the upstream as if the gateway vouched for it; RFC 7239 `Forwarded` is not
 * passed on at all (we do not maintain it).
 */
export function forwardedFor(req: IncomingMessage, trusted: TrustedProxies | undefined): string | undefined {
  const peer = req.socket.remoteAddress;
  if (peer === undefined) return undefined;
  const incoming = req.headers['x-forwarded-for'];
  const chain = trusted?.contains(peer) && incoming !== undefined ? (Array.isArray(incoming) ? incoming.join(', ') : incoming) : '';
  return chain.trim() === '' ? peer : `${chain}, ${peer}`;
}

/** The end-to-end headers: the fixed hop-by-hop set and every header the message names in `Connection` (RFC 9110 §7.6.1). */
function forwardHeaders(h: IncomingMessage['headers']): Record<string, string | string[]> {
  const declared = new Set((h.connection ?? '').split(',').map((t) => t.trim().toLowerCase()));
  const out: Record<string, string | string[]> = {};
  for (const [k, v] of Object.entries(h)) if (v !== undefined && !HOP_BY_HOP.has(k) && !declared.has(k)) out[k] = v;
  return out;
}

/**
 * A path segment that is "." or ".." once percent-decoded (the URL parser would resolve it), or any
 * backslash, raw or encoded (a "/" to the URL parser and to many servers). Segments are also split at
 * "%2F": an upstream that decodes before routing would otherwise resolve "..%2F" itself.
 */
function climbsOut(path: string): boolean {
  if (/\\|%5c/i.test(path)) return true;
  return path.split(/\/|%2f/i).some((seg) => {
    const s = seg.replace(/%2e/gi, '.');
    return s === '.' || s === '..';
  });
}

/**
 * The upstream's Content-Length, to be passed on with its answer (review s10, G5: HEAD answers lost
 * their size and downloads their progress), unless Transfer-Encoding frames the answer instead: then
 * the length would lie about the bytes on the wire. Node's parser has refused a malformed or doubled value.
 */
function upstreamLength(up: IncomingMessage): string | undefined {
  const length = up.headers['content-length'];
  return up.headers['transfer-encoding'] === undefined && length !== undefined && /^\d+$/.test(length) ? length : undefined;
}

/** The upstream's answer is framed by its length, by closing, or by `Transfer-Encoding: chunked` alone (any case). */
function relayableCoding(up: IncomingMessage): boolean {
  const te = up.headers['transfer-encoding'];
  return te === undefined || te.trim().toLowerCase() === 'chunked';
}

/** Statuses a final answer may have: 1xx is not a final answer (101 would hand the connection over), and Node refuses to write anything outside 100–999. */
const isFinalStatus = (code: number | undefined): code is number => code !== undefined && code >= 200 && code <= 599;

/** A refused request's body up to this size is read and dropped rather than the connection closed. */
const DRAIN_BYTES = 64 * 1024;

export function sendError(res: ServerResponse, err: GatewayError): void {
  if (res.headersSent) {
    res.destroy();
    return;
  }
  const body = JSON.stringify(err.toJSON());
  // Refused before its body was read: close rather than drain a body of any length (a refused
  // client could otherwise keep streaming until the request timeout). A small body with a declared
  // length is drained, so the connection stays usable (AttestedClient pools its connections).
  const req = res.req as IncomingMessage | undefined;
  // A client that waits for 100 Continue has sent no body and may send it after all: close too.
  const unread = req !== undefined && !req.complete && (req.headers['transfer-encoding'] !== undefined || Number(req.headers['content-length'] ?? 0) > DRAIN_BYTES || /100-continue/i.test(String(req.headers.expect ?? '')));
  res.writeHead(err.status, { 'content-type': 'application/json', 'content-length': Buffer.byteLength(body), ...(unread ? { connection: 'close' } : {}), ...err.headers });
  res.end(body);
}

const LOOPBACK: LookupAddress[] = [
  { address: '127.0.0.1', family: 4 },
  { address: '::1', family: 6 },
];

/**
 * The upstream name `localhost` is this machine, never looked up: getaddrinfo would read the TD's
 * /etc/hosts and, without an entry, ask DNS, which the host answers (review s12, change review of
 * finding 1). Both loopback families, so an upstream listening on ::1 only is reached too.
 */
export function loopbackLookup(
  _hostname: string,
  options: LookupOptions,
  callback: (err: NodeJS.ErrnoException | null, address: string | LookupAddress[], family?: number) => void,
): void {
  const family = options.family === 'IPv4' ? 4 : options.family === 'IPv6' ? 6 : options.family;
  const addresses = LOOPBACK.filter((a) => family === undefined || family === 0 || a.family === family);
  if (options.all) callback(null, addresses);
  else callback(null, addresses[0]!.address, addresses[0]!.family);
}

/** `expectsContinue`: the client waits for 100 Continue, sent once the checks before the upstream passed. */
export function proxyRequest(o: ProxyOptions, req: IncomingMessage, res: ServerResponse, expectsContinue = false): void {
  // The client hung up while its API key was looked up: 'close' has come and will not come again, so
  // nothing below would ever end the upstream request (a false 504, a gauge left up). Nothing is sent.
  if (res.closed || req.destroyed) {
    o.observe?.clientAbort?.(req.complete ? 'waiting' : 'request');
    return;
  }
  const declared = Number(req.headers['content-length'] ?? 0);
  if (declared > o.maxRequestBytes) {
    o.observe?.error(new GatewayError('ERR_GATEWAY_TOO_LARGE', 413, ''));
    sendError(res, new GatewayError('ERR_GATEWAY_TOO_LARGE', 413, `the request body exceeds ${o.maxRequestBytes} bytes`));
    req.resume();
    return;
  }
  // The target is always the upstream's origin: a request target such as "//other.host/x"
  // stays a path (new URL(reqUrl, upstream) would make it another host).
  const raw = req.url ?? '/';
  if (!raw.startsWith('/')) {
    sendError(res, new GatewayError('ERR_GATEWAY_BAD_REQUEST', 400, 'the request target must be a path'));
    req.resume();
    return;
  }
  const q = raw.indexOf('?');
  const path = q < 0 ? raw : raw.slice(0, q);
  const base = o.upstream.pathname.replace(/\/$/, '');
  const target = new URL(o.upstream.href);
  target.pathname = base + path;
  target.search = q < 0 ? '' : raw.slice(q);
  target.hash = '';
  // Both checks: the first names the reason, the second holds whatever else the URL parser may resolve.
  if (climbsOut(path) || !target.pathname.startsWith(`${base}/`)) {
    sendError(res, new GatewayError('ERR_GATEWAY_BAD_REQUEST', 400, 'the request path must not contain dot segments or backslashes'));
    req.resume();
    return;
  }
  if (expectsContinue) res.writeContinue();
  const send = target.protocol === 'https:' ? httpsRequest : httpRequest;
  const headers = forwardHeaders(req.headers);
  const xff = forwardedFor(req, o.trustedProxies);
  if (!o.trustedProxies?.contains(req.socket.remoteAddress)) {
    for (const h of Object.keys(headers)) if (isClientIdentityHeader(h)) delete headers[h];
  }
  if (xff !== undefined) headers['x-forwarded-for'] = xff;
  headers['x-forwarded-proto'] ??= 'https'; // clients reach the gateway over TLS only
  // Explicit framing for every body (Node's parser has already decoded the client's chunking
  // and refused a request with both Content-Length and Transfer-Encoding).
  if (req.headers['content-length'] !== undefined) headers['content-length'] = String(declared);
  else if (req.headers['transfer-encoding'] !== undefined) headers['transfer-encoding'] = 'chunked';
  let finished = false;
  const started = performance.now();
  const fail = (err: GatewayError): void => {
    if (finished) return;
    finished = true;
    o.observe?.error(err);
    upstream.destroy();
    sendError(res, err);
  };
  /** Set once the upstream's status went to the client: from then on a failure cuts the stream (no 502). */
  let relaying = false;
  /** Body bytes relayed, and those the upstream's Content-Length promised (undefined: framed otherwise). */
  let bytes = 0;
  let promised: number | undefined;
  /** Ends a started answer by closing the client's connection, so it never looks complete; counted once, by reason. */
  const cut = (reason: UpstreamCutReason): void => {
    if (finished) return;
    finished = true;
    o.observe?.cut?.(reason);
    upstream.destroy();
    res.destroy();
  };
  /**
   * After the upstream's end, the answer's last bytes may still wait for a client that reads nothing;
   * the same window bounds that client (review s10 changes-d #1: the end cleared the idle timer, and
   * the connection stayed open and in flight for as long as the client liked). Progress is the
   * buffered byte count falling; a window without any is a `client_stalled` cut.
   */
  const boundTheFlush = (): void => {
    const buffered = (): number => res.writableLength + (res.socket?.writableLength ?? 0);
    let last = buffered();
    const watch = setInterval(() => {
      if (res.writableFinished || res.destroyed) return clearInterval(watch);
      const now = buffered();
      if (now < last) {
        last = now;
        return;
      }
      clearInterval(watch);
      o.observe?.cut?.('client_stalled');
      res.destroy();
    }, o.idleTimeoutMs);
    res.once('close', () => clearInterval(watch));
    res.once('finish', () => clearInterval(watch));
  };
  /** An upstream failure mid-body: `short` when a Content-Length was promised and not met, else `error`. */
  const cutByUpstream = (): void => cut(promised !== undefined && bytes < promised ? 'short' : 'error');
  const viaLoopback = target.hostname.toLowerCase() === 'localhost' ? { lookup: loopbackLookup } : {};
  const upstream = send(target, { method: req.method ?? 'GET', headers, ...viaLoopback }, (up) => {
    clearTimeout(headerTimer);
    // Nothing thrown here may escape: it would be an uncaught exception in the gateway process.
    try {
      relay(up);
    } catch (e) {
      up.destroy();
      if (!res.headersSent) {
        for (const name of res.getHeaderNames()) res.removeHeader(name); // no half-copied upstream header on the error
        fail(new GatewayError('ERR_GATEWAY_UPSTREAM', 502, `the upstream's answer cannot be relayed: ${(e as NodeJS.ErrnoException).code ?? (e as Error).message}`));
      } else {
        cut('error');
      }
    }
  });
  const relay = (up: IncomingMessage): void => {
    if (!isFinalStatus(up.statusCode)) {
      up.destroy();
      fail(new GatewayError('ERR_GATEWAY_UPSTREAM', 502, `the upstream answered status ${up.statusCode ?? 'none'} (200–599 expected)`));
      return;
    }
    // Node's parser decodes only the chunking: with any other coding ("gzip", "gzip, chunked") the bytes
    // would reach the client relabelled as a plain body (review s10b, item 4; G6 on the answer side).
    if (!relayableCoding(up)) {
      up.destroy();
      fail(new GatewayError('ERR_GATEWAY_UPSTREAM', 502, 'the upstream answered a Transfer-Encoding other than "chunked"'));
      return;
    }
    o.observe?.status(up.statusCode);
    o.observe?.firstByte?.((performance.now() - started) / 1000);
    const headers = forwardHeaders(up.headers);
    const length = upstreamLength(up);
    // Never on a 204 (RFC 9110 §8.6: MUST NOT; strict clients and balancers lose the connection's framing). 304 and HEAD keep theirs.
    if (length !== undefined && up.statusCode !== 204) headers['content-length'] = length;
    // The body bytes that length promises (none for HEAD, 204, 304): an answer ending short is cut, not ended,
    // so the client sees the connection close before the promised length instead of a complete-looking answer.
    promised = length === undefined || req.method === 'HEAD' || up.statusCode === 204 || up.statusCode === 304 ? undefined : Number(length);
    res.writeHead(up.statusCode, headers);
    res.flushHeaders();
    relaying = true;
    // While the client does not read, the upstream is paused: the silence is the client's, not the
    // upstream's. The same window then bounds the client (a stalled reader holds an upstream stream),
    // and its cut says so (review s10 changes-c #1: a paused reader was counted as an idle upstream).
    let clientStalled = false;
    const idle = setTimeout(() => cut(clientStalled ? 'client_stalled' : 'idle'), o.idleTimeoutMs);
    up.on('data', (chunk: Buffer) => {
      bytes += chunk.length;
      idle.refresh(); // restart the idle window without a new timer per chunk
      if (bytes > o.maxResponseBytes) {
        cut('too_large'); // the gateway cut it, not the client
        return;
      }
      if (!res.write(chunk)) {
        up.pause();
        clientStalled = true;
        idle.refresh();
        res.once('drain', () => {
          clientStalled = false;
          idle.refresh();
          up.resume();
        });
      }
    });
    up.on('end', () => {
      clearTimeout(idle);
      if (promised !== undefined && bytes !== promised) return cut('short');
      if (finished) return;
      finished = true;
      res.end();
      if (!res.writableFinished) boundTheFlush();
    });
    up.on('error', () => {
      clearTimeout(idle);
      cutByUpstream();
    });
    up.on('close', () => {
      clearTimeout(idle);
      // Closed before its end (an upstream that hung up mid-body without an error event): cut, never left open.
      if (!up.complete) cutByUpstream();
    });
  };
  const headerTimer = setTimeout(() => fail(new GatewayError('ERR_GATEWAY_UPSTREAM_TIMEOUT', 504, `the upstream did not answer within ${o.headersTimeoutMs} ms`)), o.headersTimeoutMs);
  // A 101 with Upgrade arrives here, not in the response callback; the gateway forwards no Upgrade,
  // so the upstream has no reason to switch protocols.
  upstream.on('upgrade', (_up: IncomingMessage, socket: Socket) => {
    clearTimeout(headerTimer);
    socket.destroy();
    fail(new GatewayError('ERR_GATEWAY_UPSTREAM', 502, 'the upstream answered status 101 (200–599 expected)'));
  });
  upstream.on('error', (e) => {
    clearTimeout(headerTimer);
    // After the status went out (a reset or a framing error mid-body): a cut, not a 502 nobody receives.
    if (relaying) return cutByUpstream();
    fail(new GatewayError('ERR_GATEWAY_UPSTREAM', 502, `the upstream failed: ${(e as NodeJS.ErrnoException).code ?? e.message}`));
  });
  o.observe?.start();
  res.on('close', () => {
    o.observe?.end((performance.now() - started) / 1000);
    clearTimeout(headerTimer);
    if (res.writableFinished) {
      // The answer is complete. So is the upstream request once every byte of the body went out to the
      // upstream (the pipe ended it), and Node pools or closes its connection.
      if (upstream.writableFinished) return;
      // Answered before the whole body arrived (an early 401/404, a 502/504 of the gateway, a handler
      // that reads no body): the upstream request is half-sent and nothing would ever end it, so it
      // held an upstream connection and a gateway fd until the upstream gave up, through close() too
      // (s16 red team, proxy finding 1). It is destroyed; the rest of the client's body is read and
      // dropped, as Node's server does for a body nobody reads, within maxRequestBytes (below).
      upstream.destroy();
      req.unpipe(upstream);
      req.resume();
      return;
    }
    // The client hung up before its answer was complete. Destroying the upstream request makes it
    // fail ("socket hang up"): that is the client's doing, counted as an abort and never as a 502.
    if (!finished) {
      finished = true;
      o.observe?.clientAbort?.(!req.complete ? 'request' : res.headersSent ? 'streaming' : 'waiting');
    }
    upstream.destroy();
  });
  let sent = 0;
  req.on('data', (chunk: Buffer) => {
    sent += chunk.length;
    if (sent > o.maxRequestBytes) {
      req.unpipe(upstream);
      // Also when the answer came first (fail() then does nothing): the half-sent upstream request would never end.
      upstream.destroy();
      if (!finished) fail(new GatewayError('ERR_GATEWAY_TOO_LARGE', 413, `the request body exceeds ${o.maxRequestBytes} bytes`));
      // The answer went out whole; the rest of a body past the limit is not read (no 413 can follow it).
      else if (res.writableFinished) req.destroy();
      return;
    }
  });
  req.pipe(upstream);
}
