/**
 * Review s9 (attested client): a stand-in gateway on 127.0.0.1 that answers /v1/attestation with
 * genuine simulated evidence bound to its current TLS key, and records every other request with the
 * connection and the key that connection presented. Its TEE (`provider`) and its TLS key
 * (`rotateKey()`, new connections only) can change while connections stay open; `handler` answers
 * the test's own routes.
 */
import { createServer, type Server } from 'node:https';
import type { AddressInfo } from 'node:net';
import type { IncomingMessage, ServerResponse } from 'node:http';
import type { TLSSocket } from 'node:tls';

import { answerAttestation, EvidenceRateLimiter } from '../../src/gateway/attestation.js';
import { spkiSha256 } from '../../src/gateway/binding.js';
import { generateTls } from '../../src/gateway/tls.js';
import type { EvidenceProvider } from '../../src/tee/index.js';
import { simulated } from './helpers.js';

export interface SeenRequest {
  method: string;
  url: string;
  body: string;
  /** 1 for the first TLS connection the server accepted, ... */
  conn: number;
  /** SPKI SHA-256 (hex) of the key the connection presented. */
  key: string;
}

export interface Stub {
  url: string;
  port: number;
  provider: EvidenceProvider;
  /** Requests other than /v1/attestation, once their body has arrived. */
  seen: SeenRequest[];
  /** SPKI SHA-256 (hex) of the key new connections present. */
  readonly key: string;
  /** New connections present a new TLS key from now on (open ones keep theirs). */
  rotateKey(): Promise<void>;
  close(): Promise<void>;
}

type Handler = (req: IncomingMessage, res: ServerResponse, body: Buffer) => boolean | Promise<boolean>;

export async function startStub(handler: Handler = () => false): Promise<Stub> {
  let tls = await generateTls(['127.0.0.1']);
  let key = spkiSha256(tls.cert).toString('hex');
  const limiter = new EvidenceRateLimiter(1_000_000);
  const sockets: TLSSocket[] = [];
  const keyOf = new Map<TLSSocket, { cert: string; key: string }>();
  const stub = { provider: simulated as EvidenceProvider, seen: [] as SeenRequest[] };
  const server: Server = createServer({ cert: tls.cert, key: tls.key }, (req, res) => {
    const chunks: Buffer[] = [];
    req.on('data', (c: Buffer) => chunks.push(c));
    req.on('end', () => {
      void (async () => {
        const body = Buffer.concat(chunks);
        const socket = req.socket as TLSSocket;
        const identity = keyOf.get(socket)!;
        if (req.method === 'POST' && req.url === '/v1/attestation') {
          // Bound to the key THIS connection presents (a rotation does not change open connections).
          const ctx = { provider: stub.provider, certificatePem: identity.cert, spkiHash: Buffer.from(identity.key, 'hex'), limiter };
          const text = JSON.stringify(await answerAttestation(ctx, body));
          res.writeHead(200, { 'content-type': 'application/json', 'content-length': Buffer.byteLength(text) }).end(text);
          return;
        }
        stub.seen.push({ method: req.method ?? '', url: req.url ?? '', body: body.toString(), conn: sockets.indexOf(socket) + 1, key: identity.key });
        if (await handler(req, res, body)) return;
        res.writeHead(200, { 'content-type': 'text/plain', 'content-length': 2 }).end('ok');
      })();
    });
  });
  server.keepAliveTimeout = 60_000;
  server.on('secureConnection', (s: TLSSocket) => {
    sockets.push(s);
    keyOf.set(s, { cert: tls.cert, key });
  });
  await new Promise<void>((ok) => server.listen(0, '127.0.0.1', () => ok()));
  const port = (server.address() as AddressInfo).port;
  // Not Object.assign: it would copy the getter's value, not the getter.
  return {
    get provider() {
      return stub.provider;
    },
    set provider(p) {
      stub.provider = p;
    },
    seen: stub.seen,
    url: `https://127.0.0.1:${port}`,
    port,
    get key() {
      return key;
    },
    async rotateKey() {
      tls = await generateTls(['127.0.0.1']);
      key = spkiSha256(tls.cert).toString('hex');
      server.setSecureContext({ cert: tls.cert, key: tls.key });
    },
    close: () =>
      new Promise<void>((ok) => {
        server.closeAllConnections();
        server.close(() => ok());
      }),
  };
}
