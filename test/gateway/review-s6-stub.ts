/**
 * A stand-in gateway for the review session 6 client tests: a real HTTPS server on 127.0.0.1 with
 * its own TLS key, answering POST /v1/attestation with genuine simulated evidence bound to that key
 * (the gateway's own answerAttestation), and any other path with 200 "ok". Each test decides per
 * attestation request what happens (`onAttestation`): answer it, answer 429, hold it until some
 * condition, close after it. It records connections and requests so tests can say which connection
 * carried what.
 */
import type { IncomingMessage, ServerResponse } from 'node:http';
import { createServer, type Server } from 'node:https';
import type { AddressInfo, Socket } from 'node:net';

import { answerAttestation, EvidenceRateLimiter } from '../../src/gateway/attestation.js';
import { spkiSha256 } from '../../src/gateway/binding.js';
import { generateTls } from '../../src/gateway/tls.js';
import type { EvidenceProvider } from '../../src/tee/index.js';
import { simulated } from './helpers.js';

export interface StubRequest {
  method: string;
  path: string;
  body: string;
  /** 1-based index of the TLS connection that carried it. */
  connection: number;
}

export interface AttestationTurn {
  /** 1-based index of this attestation request. */
  n: number;
  req: IncomingMessage;
  res: ServerResponse;
  /** Answers with genuine evidence (extra headers, e.g. Connection: close). */
  answer(headers?: Record<string, string>): Promise<void>;
  /** Answers 429 ERR_GATEWAY_RATE_LIMITED with this Retry-After (seconds). */
  tooMany(retryAfterSeconds: number): void;
}

export interface Stub {
  url: string;
  spkiSha256: string;
  requests: StubRequest[];
  /** TLS connections completed so far, in order. */
  sockets: Socket[];
  /** Resolves once `n` TLS connections have completed. */
  connections(n: number): Promise<void>;
  close(): Promise<void>;
}

export async function startStub(onAttestation: (t: AttestationTurn) => void | Promise<void> = (t) => t.answer(), provider: EvidenceProvider = simulated): Promise<Stub> {
  const tls = await generateTls(['127.0.0.1']);
  const spkiHash = spkiSha256(tls.cert);
  const ctx = { provider, certificatePem: tls.cert, spkiHash, limiter: new EvidenceRateLimiter(1_000_000) };
  const sockets: Socket[] = [];
  const requests: StubRequest[] = [];
  const waiting: { n: number; resolve: () => void }[] = [];
  let attestations = 0;
  const server: Server = createServer({ cert: tls.cert, key: tls.key }, (req, res) => {
    const chunks: Buffer[] = [];
    req.on('data', (c: Buffer) => chunks.push(c));
    req.on('end', () => {
      const body = Buffer.concat(chunks);
      const path = (req.url ?? '/').split('?')[0] as string;
      requests.push({ method: req.method ?? '', path, body: body.toString('utf8'), connection: sockets.indexOf(req.socket) + 1 });
      if (req.method === 'POST' && path === '/v1/attestation') {
        attestations += 1;
        const turn: AttestationTurn = {
          n: attestations,
          req,
          res,
          answer: async (headers = {}) => {
            const text = JSON.stringify(await answerAttestation(ctx, body));
            res.writeHead(200, { 'content-type': 'application/json', 'content-length': Buffer.byteLength(text), ...headers });
            res.end(text);
          },
          tooMany: (s) => {
            const text = JSON.stringify({ error: { code: 'ERR_GATEWAY_RATE_LIMITED', message: 'too many fresh attestations; retry later' } });
            res.writeHead(429, { 'content-type': 'application/json', 'content-length': Buffer.byteLength(text), 'retry-after': String(s) });
            res.end(text);
          },
        };
        void Promise.resolve(onAttestation(turn)).catch(() => res.destroy());
        return;
      }
      res.writeHead(200, { 'content-type': 'text/plain', 'content-length': 2 });
      res.end('ok');
    });
  });
  // Keep-Alive: timeout=60: a parked spare outlives any test here unless the client drops it itself.
  server.keepAliveTimeout = 60_000;
  server.on('secureConnection', (s: Socket) => {
    sockets.push(s);
    for (const w of waiting.filter((x) => sockets.length >= x.n)) {
      waiting.splice(waiting.indexOf(w), 1);
      w.resolve();
    }
  });
  await new Promise<void>((r) => server.listen(0, '127.0.0.1', () => r()));
  return {
    url: `https://127.0.0.1:${(server.address() as AddressInfo).port}`,
    spkiSha256: spkiHash.toString('hex'),
    requests,
    sockets,
    connections: (n) => new Promise<void>((resolve) => (sockets.length >= n ? resolve() : waiting.push({ n, resolve }))),
    close: () =>
      new Promise<void>((r) => {
        server.close(() => r());
        server.closeAllConnections();
      }),
  };
}
