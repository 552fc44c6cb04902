/**
 * The reverse proxy: every other path goes to the upstream, with the request
 * and the response streamed chunk by chunk (SSE and NDJSON are never
 * buffered whole). Limits: request body bytes (413), response body bytes
 * (the stream is cut), time to upstream headers (504) and upstream idle time
 * while streaming (the stream is cut). Upstream failures before the headers
 * are answered 502 / 504 with a JSON error.
 */
import { request as httpRequest, type IncomingMessage, type ServerResponse } from 'node:http';
import { request as httpsRequest } from 'node:https';

import { GatewayError } from './errors.js';

export interface ProxyOptions {
  upstream: URL;
  maxRequestBytes: number;
  maxResponseBytes: number;
  /** Until the upstream's response headers. */
  headersTimeoutMs: number;
  /** Longest silence of the upstream while its body streams. */
  idleTimeoutMs: number;
  /** Observers for metrics: the upstream's status, a gateway error, start and end of a proxied request. */
  observe?: { status(code: number): void; error(err: GatewayError): void; start(): void; end(): void };
}

const HOP_BY_HOP = new Set(['connection', 'keep-alive', 'proxy-authenticate', 'proxy-authorization', 'te', 'trailer', 'transfer-encoding', 'upgrade', 'host', 'authorization', 'content-length']);

function forwardHeaders(h: IncomingMessage['headers']): Record<string, string | string[]> {
  const out: Record<string, string | string[]> = {};
  for (const [k, v] of Object.entries(h)) if (v !== undefined && !HOP_BY_HOP.has(k)) out[k] = v;
  return out;
}

export function sendError(res: ServerResponse, err: GatewayError): void {
  if (res.headersSent) {
    res.destroy();
    return;
  }
  const body = JSON.stringify(err.toJSON());
  res.writeHead(err.status, { 'content-type': 'application/json', 'content-length': Buffer.byteLength(body), ...err.headers });
  res.end(body);
}

export function proxyRequest(o: ProxyOptions, req: IncomingMessage, res: ServerResponse): void {
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
  const target = new URL(o.upstream.href);
  target.pathname = o.upstream.pathname.replace(/\/$/, '') + (q < 0 ? raw : raw.slice(0, q));
  target.search = q < 0 ? '' : raw.slice(q);
  target.hash = '';
  const send = target.protocol === 'https:' ? httpsRequest : httpRequest;
  const headers = forwardHeaders(req.headers);
  if (req.headers['content-length'] !== undefined) headers['content-length'] = String(declared);
  let finished = false;
  const fail = (err: GatewayError): void => {
    if (finished) return;
    finished = true;
    o.observe?.error(err);
    upstream.destroy();
    sendError(res, err);
  };
  const upstream = send(target, { method: req.method ?? 'GET', headers }, (up) => {
    clearTimeout(headerTimer);
    o.observe?.status(up.statusCode ?? 502);
    res.writeHead(up.statusCode ?? 502, forwardHeaders(up.headers));
    res.flushHeaders();
    let bytes = 0;
    const idle = setTimeout(() => up.destroy(new Error('idle')), o.idleTimeoutMs);
    up.on('data', (chunk: Buffer) => {
      bytes += chunk.length;
      idle.refresh(); // restart the idle window without a new timer per chunk
      if (bytes > o.maxResponseBytes) {
        up.destroy();
        res.destroy();
        return;
      }
      if (!res.write(chunk)) {
        up.pause();
        res.once('drain', () => up.resume());
      }
    });
    up.on('end', () => {
      clearTimeout(idle);
      finished = true;
      res.end();
    });
    up.on('error', () => {
      clearTimeout(idle);
      finished = true;
      res.destroy();
    });
    up.on('close', () => clearTimeout(idle));
  });
  const headerTimer = setTimeout(() => fail(new GatewayError('ERR_GATEWAY_UPSTREAM_TIMEOUT', 504, `the upstream did not answer within ${o.headersTimeoutMs} ms`)), o.headersTimeoutMs);
  upstream.on('error', (e) => {
    clearTimeout(headerTimer);
    fail(new GatewayError('ERR_GATEWAY_UPSTREAM', 502, `the upstream failed: ${(e as NodeJS.ErrnoException).code ?? e.message}`));
  });
  o.observe?.start();
  res.on('close', () => {
    o.observe?.end();
    if (!res.writableFinished) upstream.destroy();
  });
  let sent = 0;
  req.on('data', (chunk: Buffer) => {
    sent += chunk.length;
    if (sent > o.maxRequestBytes) {
      req.unpipe(upstream);
      fail(new GatewayError('ERR_GATEWAY_TOO_LARGE', 413, `the request body exceeds ${o.maxRequestBytes} bytes`));
      return;
    }
  });
  req.pipe(upstream);
}
