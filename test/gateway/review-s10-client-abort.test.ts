/**
 * Review s10, G2: a client that hung up before the upstream's headers was counted as an upstream
 * failure (res 'close' destroyed the upstream request, whose "socket hang up" went to fail() as
 * ERR_GATEWAY_UPSTREAM): tee_gateway_upstream_errors_total rose with no upstream at fault. Now it
 * counts tee_gateway_client_aborts_total{stage} instead. Also the metric values no test asserted
 * before (reviewer's note): upstream_errors_total, upstream_timeouts_total, too_large_total.
 * Raw TLS clients; every wait is for an event (the upstream seeing its request, or its close).
 */
import { mkdtempSync, rmSync } from 'node:fs';
import { createServer as createHttpServer, type IncomingMessage, type Server, type ServerResponse } from 'node:http';
import type { AddressInfo } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { connect, type TLSSocket } from 'node:tls';

import { afterAll, describe, expect, it } from 'vitest';

import { startGateway, type Gateway, type GatewayOptions } from '../../src/gateway/index.js';
import { simulated } from './helpers.js';

const dirs: string[] = [];
const closers: (() => Promise<void> | void)[] = [];
afterAll(async () => {
  for (const c of closers.reverse()) await c();
  for (const d of dirs) rmSync(d, { recursive: true, force: true });
});

async function gatewayFor(upstream: string, o: Partial<GatewayOptions> = {}): Promise<Gateway> {
  const dir = mkdtempSync(join(tmpdir(), 'tee-gateway-s10-abort-'));
  dirs.push(dir);
  const gw = await startGateway({ upstream, db: join(dir, 'gateway.sqlite'), provider: simulated, port: 0, requireApiKey: false, log: () => {}, ...o });
  closers.push(() => gw.close());
  return gw;
}

/** An upstream whose handler the test supplies; `requests` and `closed` resolve per request as they happen. */
async function upstreamWith(handler: (req: IncomingMessage, res: ServerResponse) => void): Promise<{ url: string; server: Server }> {
  const server = createHttpServer(handler);
  await new Promise<void>((r) => server.listen(0, '127.0.0.1', r));
  closers.push(() => {
    server.closeAllConnections();
    server.close();
  });
  return { url: `http://127.0.0.1:${(server.address() as AddressInfo).port}`, server };
}

function tlsTo(port: number): Promise<TLSSocket> {
  return new Promise((resolve, reject) => {
    const s = connect({ host: '127.0.0.1', port, rejectUnauthorized: false }, () => resolve(s));
    s.once('error', reject);
  });
}

/** One request on its own connection; the whole answer once the gateway closes. */
async function exchange(port: number, bytes: string): Promise<string> {
  const s = await tlsTo(port);
  return new Promise((resolve) => {
    let out = '';
    s.setEncoding('latin1');
    s.on('data', (d: string) => (out += d));
    s.on('close', () => resolve(out));
    s.on('error', () => {});
    s.write(bytes, 'latin1');
  });
}

async function metric(gw: Gateway, series: string): Promise<number | undefined> {
  const text = await exchange(gw.port, 'GET /metrics HTTP/1.1\r\nHost: g\r\nConnection: close\r\n\r\n');
  const line = text.split('\n').find((l) => l.startsWith(`${series} `));
  return line === undefined ? undefined : Number(line.slice(series.length + 1));
}

describe('a client that hangs up is not an upstream failure', () => {
  it('before the upstream answered: upstream_errors_total stays 0, client_aborts_total{stage="waiting"} is 1', async () => {
    let seen!: () => void;
    let upstreamSawClose!: () => void;
    const requestSeen = new Promise<void>((r) => (seen = r));
    const requestClosed = new Promise<void>((r) => (upstreamSawClose = r));
    const up = await upstreamWith((req) => {
      req.resume();
      req.on('end', seen);
      req.socket.on('close', upstreamSawClose); // never answers
    });
    const gw = await gatewayFor(up.url);
    const client = await tlsTo(gw.port);
    client.on('error', () => {});
    client.write('POST /api/chat HTTP/1.1\r\nHost: g\r\nContent-Length: 2\r\n\r\n{}');
    await requestSeen;
    client.destroy(); // the user's Ctrl-C, a client timeout
    await requestClosed; // the gateway dropped the upstream request: its failure has been handled by now
    expect(await metric(gw, 'tee_gateway_upstream_errors_total')).toBe(0);
    expect(await metric(gw, 'tee_gateway_upstream_timeouts_total')).toBe(0);
    expect(await metric(gw, 'tee_gateway_client_aborts_total{stage="waiting"}')).toBe(1);
    expect(await metric(gw, 'tee_gateway_client_aborts_total{stage="streaming"}')).toBe(0);
    expect(await metric(gw, 'tee_gateway_proxied_in_flight')).toBe(0);
  });

  it('while the answer streams: counted as stage="streaming", not as an upstream error', async () => {
    let upstreamSawClose!: () => void;
    const requestClosed = new Promise<void>((r) => (upstreamSawClose = r));
    const up = await upstreamWith((req, res) => {
      req.resume();
      req.socket.on('close', upstreamSawClose);
      res.writeHead(200, { 'content-type': 'application/x-ndjson' });
      res.write('{"message":{"content":"first"}}\n'); // and then holds the stream open
    });
    const gw = await gatewayFor(up.url);
    const client = await tlsTo(gw.port);
    client.on('error', () => {});
    client.setEncoding('latin1');
    let got = '';
    const firstChunk = new Promise<void>((r) => client.on('data', (d: string) => {
      got += d;
      if (got.includes('first')) r();
    }));
    client.write('GET /api/chat HTTP/1.1\r\nHost: g\r\n\r\n');
    await firstChunk;
    client.destroy();
    await requestClosed;
    expect(await metric(gw, 'tee_gateway_upstream_errors_total')).toBe(0);
    expect(await metric(gw, 'tee_gateway_client_aborts_total{stage="streaming"}')).toBe(1);
    expect(await metric(gw, 'tee_gateway_client_aborts_total{stage="waiting"}')).toBe(0);
    expect(await metric(gw, 'tee_gateway_proxied_requests_total{class="2xx"}')).toBe(1);
    // Review s10b, item 5: the client's hang-up is no cut of the upstream's doing.
    for (const reason of ['error', 'idle', 'short', 'too_large']) expect(await metric(gw, `tee_gateway_upstream_cuts_total{reason="${reason}"}`), reason).toBe(0);
  });
});

describe('metric values of the proxy\'s refusals', () => {
  it('an upstream that refuses the connection: 502, upstream_errors_total 1, no client abort', async () => {
    const probe = createHttpServer();
    await new Promise<void>((r) => probe.listen(0, '127.0.0.1', r));
    const port = (probe.address() as AddressInfo).port;
    await new Promise<void>((r) => probe.close(() => r())); // nothing listens there now
    const gw = await gatewayFor(`http://127.0.0.1:${port}`);
    const answer = await exchange(gw.port, 'GET /api/tags HTTP/1.1\r\nHost: g\r\nConnection: close\r\n\r\n');
    expect(answer).toMatch(/^HTTP\/1\.1 502 /);
    expect(answer).toContain('ERR_GATEWAY_UPSTREAM');
    expect(await metric(gw, 'tee_gateway_upstream_errors_total')).toBe(1);
    expect(await metric(gw, 'tee_gateway_client_aborts_total{stage="waiting"}')).toBe(0);
  });

  it('an upstream without headers within upstreamTimeoutMs: 504, upstream_timeouts_total 1, upstream_errors_total 0', async () => {
    const up = await upstreamWith((req) => req.resume()); // never answers
    const gw = await gatewayFor(up.url, { upstreamTimeoutMs: 20 });
    const answer = await exchange(gw.port, 'GET /api/tags HTTP/1.1\r\nHost: g\r\nConnection: close\r\n\r\n');
    expect(answer).toMatch(/^HTTP\/1\.1 504 /);
    expect(await metric(gw, 'tee_gateway_upstream_timeouts_total')).toBe(1);
    expect(await metric(gw, 'tee_gateway_upstream_errors_total')).toBe(0);
  });

  it('a body over maxRequestBytes, by Content-Length and while streaming chunked: 413 each, too_large_total 2', async () => {
    const up = await upstreamWith((req, res) => {
      req.resume();
      req.on('end', () => res.end('ok'));
    });
    const gw = await gatewayFor(up.url, { maxRequestBytes: 8 });
    const declared = await exchange(gw.port, 'POST /api/chat HTTP/1.1\r\nHost: g\r\nContent-Length: 9\r\nConnection: close\r\n\r\n123456789');
    expect(declared).toMatch(/^HTTP\/1\.1 413 /);
    expect(await metric(gw, 'tee_gateway_too_large_total')).toBe(1);
    const streamed = await exchange(gw.port, 'POST /api/chat HTTP/1.1\r\nHost: g\r\nTransfer-Encoding: chunked\r\nConnection: close\r\n\r\n9\r\n123456789\r\n0\r\n\r\n');
    expect(streamed).toMatch(/^HTTP\/1\.1 413 /);
    expect(await metric(gw, 'tee_gateway_too_large_total')).toBe(2);
    expect(await metric(gw, 'tee_gateway_upstream_errors_total')).toBe(0);
  });
});
