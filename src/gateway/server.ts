/**
 * The attested chat gateway: one HTTPS server in front of a chat backend
 * (Ollama, an OpenAI-compatible server). Routes:
 *
 *   POST /v1/attestation  {nonce}  fresh evidence bound to nonce and TLS key (no API key needed)
 *   GET  /health                    {status: "ok", tee}
 *   GET  /metrics                   Prometheus text
 *   GET  /api/v1/tee/quote, POST /tdx_attest, POST /attestation   drop-ins (dropin.ts)
 *   /admin/v1/keys[/{id}]           the API-key admin API (admin.ts), admin bearer token
 *   everything else                 streamed to the upstream; needs `Authorization: Bearer <API key>`
 *                                   unless `requireApiKey: false`
 *
 * API keys live in SQLite (store.ts) and are managed with `tee-gateway keys` or the admin API.
 */
import { createServer, type Server } from 'node:https';
import type { AddressInfo } from 'node:net';

import type { EvidenceProvider } from '../tee/index.js';
import { EvidenceRateLimiter } from './attestation.js';
import { spkiSha256 } from './binding.js';
import { GatewayError } from './errors.js';
import { sendError, type ProxyOptions } from './proxy.js';
import { createHandler } from './routes.js';
import type { QuoteVerifierOptions } from './dropin.js';
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
  /** Default true: the admin API under /admin/v1 (admin.ts), usable once an admin token exists. */
  adminApi?: boolean;
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
  const metrics = new GatewayMetrics();
  proxy.observe = {
    status: (c) => metrics.countProxied(c),
    error: (e) => metrics.countError(e.code),
    start: () => void (metrics.inFlight += 1),
    end: () => void (metrics.inFlight -= 1),
  };
  const handle = createHandler({ options, attest, proxy, keys, metrics });

  const server: Server = createServer({ cert: tls.cert, key: tls.key, keepAliveTimeout: 30_000, requestTimeout: 0 }, (req, res) => {
    handle(req, res).catch((err: unknown) => {
      if (err instanceof GatewayError) {
        metrics.countError(err.code);
        sendError(res, err);
      } else {
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
