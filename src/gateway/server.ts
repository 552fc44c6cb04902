/**
 * The attested chat gateway: one HTTPS server in front of a chat backend
 * (Ollama, an OpenAI-compatible server). Routes:
 *
 *   POST /v1/attestation  {nonce}  fresh evidence bound to nonce and TLS key (no API key needed)
 *   GET  /health                    {status: "ok", tee}
 *   GET  /metrics                   Prometheus text
 *   GET  /api/v1/tee/quote, POST /tdx_attest, POST /attestation   drop-ins (dropin.ts)
 *   everything else                 streamed to the upstream; needs `Authorization: Bearer <API key>`
 *                                   unless `requireApiKey: false`
 *
 * API keys live in SQLite (store.ts) and are managed with `tee-gateway keys`.
 */
import type { IncomingMessage, ServerResponse } from 'node:http';
import { createServer, type Server } from 'node:https';
import type { AddressInfo } from 'node:net';

import type { EvidenceProvider } from '../tee/index.js';
import { answerAttestation, EvidenceRateLimiter } from './attestation.js';
import { spkiSha256 } from './binding.js';
import { GatewayError } from './errors.js';
import { proxyRequest, sendError, type ProxyOptions } from './proxy.js';
import { cubeAttestation, openWebUiQuote, tdxAttest, type QuoteVerifierOptions } from './dropin.js';
import { GatewayMetrics } from './metrics.js';
import { ApiKeyStore } from './store.js';
import { loadOrCreateTls, type TlsIdentity } from './tls.js';

export interface GatewayOptions {
  /** Base URL of the chat backend, e.g. http://127.0.0.1:11434. */
  upstream: string | URL;
  /** SQLite file of the API keys; the self-signed TLS files are created next to it. */
  db: string;
  provider: EvidenceProvider;
  /** PEM texts; default: `<db>.tls-cert.pem` / `<db>.tls-key.pem`, generated when absent. */
  tls?: TlsIdentity;
  host?: string;
  /** Default 8443; 0 for any free port. */
  port?: number;
  /** Default true: proxied paths need an active API key. */
  requireApiKey?: boolean;
  /** Fresh attestations in any one-second window, gateway-wide; default 10. */
  attestationsPerSecond?: number;
  /** Default 1 MiB. */
  maxRequestBytes?: number;
  /** Default 64 MiB. */
  maxResponseBytes?: number;
  /** Until upstream headers; default 30 s. */
  upstreamTimeoutMs?: number;
  /** Longest upstream silence while streaming; default 120 s. */
  upstreamIdleTimeoutMs?: number;
  /** Collateral, roots and policy for POST /tdx_attest; without it that route is 404. */
  quoteVerifier?: QuoteVerifierOptions;
  /** Default true: GET /metrics (Prometheus text) without an API key. */
  metrics?: boolean;
  log?: (line: string) => void;
}

export interface Gateway {
  url: string;
  port: number;
  certificatePem: string;
  /** SHA-256 of the TLS certificate's SubjectPublicKeyInfo, hex. */
  spkiSha256: string;
  keys: ApiKeyStore;
  close(): Promise<void>;
}

const ATTESTATION_BODY_LIMIT = 4096;

function readBody(req: IncomingMessage, limit: number): Promise<Buffer> {
  return new Promise((resolve, reject) => {
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
    req.on('error', reject);
  });
}

function sendJson(res: ServerResponse, status: number, body: unknown): void {
  const text = JSON.stringify(body);
  res.writeHead(status, { 'content-type': 'application/json', 'content-length': Buffer.byteLength(text), 'cache-control': 'no-store' });
  res.end(text);
}

function bearer(req: IncomingMessage): string | undefined {
  const m = /^Bearer ([A-Za-z0-9._~+/=-]+)$/.exec(req.headers.authorization ?? '');
  return m?.[1];
}

/** Starts a gateway; resolves once it listens. */
export async function startGateway(options: GatewayOptions): Promise<Gateway> {
  const upstream = new URL(options.upstream);
  if (upstream.protocol !== 'http:' && upstream.protocol !== 'https:') throw new RangeError('upstream must be an http(s) URL');
  if (!options.provider || typeof options.provider.getEvidence !== 'function') throw new TypeError('provider must be an EvidenceProvider');
  const host = options.host ?? '127.0.0.1';
  const log = options.log ?? ((l: string) => process.stderr.write(`${l}\n`));
  const tls = options.tls ?? (await loadOrCreateTls(`${options.db}.tls-cert.pem`, `${options.db}.tls-key.pem`, [host === '0.0.0.0' || host === '::' ? 'localhost' : host, 'localhost']));
  const spkiHash = spkiSha256(tls.cert);
  const keys = new ApiKeyStore(options.db);
  const attest = { provider: options.provider, certificatePem: tls.cert, spkiHash, limiter: new EvidenceRateLimiter(options.attestationsPerSecond ?? 10) };
  const proxy: ProxyOptions = {
    upstream,
    maxRequestBytes: options.maxRequestBytes ?? 1 << 20,
    maxResponseBytes: options.maxResponseBytes ?? 64 << 20,
    headersTimeoutMs: options.upstreamTimeoutMs ?? 30_000,
    idleTimeoutMs: options.upstreamIdleTimeoutMs ?? 120_000,
  };
  const requireApiKey = options.requireApiKey ?? true;
  const metrics = new GatewayMetrics();
  proxy.observe = {
    status: (c) => metrics.countProxied(c),
    error: (e) => count(e),
    start: () => void (metrics.inFlight += 1),
    end: () => void (metrics.inFlight -= 1),
  };
  const count = (e: GatewayError): void => {
    if (e.code === 'ERR_GATEWAY_RATE_LIMITED') metrics.attestationsRateLimited += 1;
    else if (e.code === 'ERR_GATEWAY_EVIDENCE_PROVIDER') metrics.attestationFailures += 1;
    else if (e.code === 'ERR_GATEWAY_UNAUTHORIZED') metrics.unauthorized += 1;
    else if (e.code === 'ERR_GATEWAY_TOO_LARGE') metrics.tooLarge += 1;
    else if (e.code === 'ERR_GATEWAY_UPSTREAM') metrics.upstreamErrors += 1;
    else if (e.code === 'ERR_GATEWAY_UPSTREAM_TIMEOUT') metrics.upstreamTimeouts += 1;
  };

  const handle = async (req: IncomingMessage, res: ServerResponse): Promise<void> => {
    const path = (req.url ?? '/').split('?')[0];
    if (path === '/v1/attestation') {
      if (req.method !== 'POST') throw new GatewayError('ERR_GATEWAY_NOT_FOUND', 405, 'POST /v1/attestation {nonce}');
      sendJson(res, 200, await answerAttestation(attest, await readBody(req, ATTESTATION_BODY_LIMIT)));
      metrics.attestations += 1;
      return;
    }
    if (path === '/api/v1/tee/quote' && req.method === 'GET') {
      const answer = await openWebUiQuote(attest, new URL(req.url ?? '/', 'https://gateway').searchParams);
      metrics.attestations += 1;
      const text = JSON.stringify(answer);
      res.writeHead(200, { 'content-type': 'application/json', 'content-length': Buffer.byteLength(text), 'cache-control': 'no-cache, no-store, must-revalidate', pragma: 'no-cache', expires: '0' });
      res.end(text);
      return;
    }
    if (path === '/tdx_attest' && req.method === 'POST') {
      sendJson(res, 200, await tdxAttest(options.quoteVerifier, await readBody(req, 64 * 1024), new Date()));
      return;
    }
    if (path === '/attestation' && req.method === 'POST') {
      const quote = await cubeAttestation(attest, await readBody(req, ATTESTATION_BODY_LIMIT));
      metrics.attestations += 1;
      res.writeHead(200, { 'content-type': 'application/octet-stream', 'content-length': quote.length, 'cache-control': 'no-store' });
      res.end(quote);
      return;
    }
    if (path === '/metrics' && req.method === 'GET' && (options.metrics ?? true)) {
      const text = metrics.render();
      res.writeHead(200, { 'content-type': 'text/plain; version=0.0.4; charset=utf-8', 'content-length': Buffer.byteLength(text) });
      res.end(text);
      return;
    }
    if (path === '/health' && req.method === 'GET') {
      sendJson(res, 200, { status: 'ok', tee: options.provider.name });
      return;
    }
    if (requireApiKey) {
      const token = bearer(req);
      if (!token || !keys.authenticate(token)) {
        req.resume();
        throw new GatewayError('ERR_GATEWAY_UNAUTHORIZED', 401, 'a valid API key is required (Authorization: Bearer <key>)', { 'WWW-Authenticate': 'Bearer' });
      }
    }
    proxyRequest(proxy, req, res);
  };

  const server: Server = createServer({ cert: tls.cert, key: tls.key, keepAliveTimeout: 30_000, requestTimeout: 0 }, (req, res) => {
    handle(req, res).catch((err: unknown) => {
      if (err instanceof GatewayError) {
        count(err);
        sendError(res, err);
      }
      else {
        log(`tee-gateway: internal error: ${(err as Error)?.message}`);
        sendError(res, new GatewayError('ERR_GATEWAY_INTERNAL', 500, 'internal error'));
      }
    });
  });
  server.maxConnections = 10_000;
  await new Promise<void>((resolve, reject) => {
    server.once('error', reject);
    server.listen(options.port ?? 8443, host, () => resolve());
  });
  const port = (server.address() as AddressInfo).port;
  const url = `https://${host.includes(':') ? `[${host}]` : host}:${port}`;
  log(`tee-gateway: listening on ${url} (upstream ${upstream.origin}, TLS SPKI SHA-256 ${spkiHash.toString('hex')})`);
  return {
    url,
    port,
    certificatePem: tls.cert,
    spkiSha256: spkiHash.toString('hex'),
    keys,
    close: () =>
      new Promise<void>((resolve) => {
        server.close(() => {
          keys.close();
          resolve();
        });
        server.closeAllConnections();
      }),
  };
}
