/**
 * s16 red team, proxy finding 1 (medium): when the upstream answered before it had read the whole
 * request body (node:http, uvicorn and hyper servers do for an unknown route, a 401/404, or any handler
 * that reads no body), the half-sent upstream request was never ended nor destroyed once the client
 * then hung up or passed maxRequestBytes: res 'close' returned early because the answer had finished,
 * and fail() did nothing once `finished` was set. One upstream connection (and one gateway fd) per
 * request stayed open until the upstream gave up (node:http: 300 s; uvicorn: never), through close()
 * too. Now the upstream request is destroyed whenever the answer is complete and the body is not all
 * sent, and on the body limit whatever the answer's state.
 *
 * A stock node:http upstream answers 404 at once without reading the body; it counts the sockets it
 * holds ('connection' minus 'close'). Every wait is a bounded number of gateway round trips (or of
 * event-loop turns once the gateway is closed), never wall time.
 */
import { mkdtempSync, rmSync } from 'node:fs';
import { createServer as createHttpServer, type Server } from 'node:http';
import type { AddressInfo, Socket } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { connect, type TLSSocket } from 'node:tls';

import { afterAll, beforeAll, describe, expect, it } from 'vitest';

import { startGateway, type Gateway } from '../../src/gateway/index.js';
import { simulated } from './helpers.js';

const LIMIT = 1000;

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

describe('an upstream that answers before it read the body keeps no connection from the gateway', () => {
  let upstream: Server;
  const open = new Set<Socket>();
  let accepted = 0;
  let gw: Gateway;
  let key: string;
  let dir: string;

  beforeAll(async () => {
    upstream = createHttpServer((_req, res) => {
      res.writeHead(404, { 'content-type': 'text/plain', 'content-length': '9' });
      res.end('not found');
    });
    upstream.on('connection', (s: Socket) => {
      accepted += 1;
      open.add(s);
      s.once('close', () => open.delete(s));
    });
    await new Promise<void>((r) => upstream.listen(0, '127.0.0.1', r));
    dir = mkdtempSync(join(tmpdir(), 'tee-gateway-s16-early-'));
    gw = await startGateway({
      upstream: `http://127.0.0.1:${(upstream.address() as AddressInfo).port}`,
      db: join(dir, 'gateway.sqlite'),
      provider: simulated,
      port: 0,
      maxRequestBytes: LIMIT,
      log: () => {},
    });
    key = (await gw.keys.create('s16')).token;
  });
  afterAll(async () => {
    await gw?.close();
    upstream?.closeAllConnections();
    await new Promise<void>((r) => upstream?.close(() => r()));
    rmSync(dir, { recursive: true, force: true });
  });

  /** Up to 200 gateway round trips (each a /metrics request) until the upstream holds no socket. */
  async function upstreamSettled(): Promise<number> {
    for (let i = 0; i < 200 && open.size > 0; i++) await exchange(gw.port, 'GET /metrics HTTP/1.1\r\nHost: g\r\nConnection: close\r\n\r\n');
    return open.size;
  }

  /** Sends `head` and `first`, reads the upstream's whole 404 through the gateway; the connection stays open mid-body. */
  async function answeredMidBody(head: string, first: string): Promise<TLSSocket> {
    const s = await tlsTo(gw.port);
    s.on('error', () => {});
    await new Promise<void>((resolve, reject) => {
      let got = '';
      s.setEncoding('latin1');
      s.on('data', (d: string) => {
        got += d;
        if (got.includes('not found')) resolve();
      });
      s.once('close', () => reject(new Error(`closed before the answer: ${JSON.stringify(got)}`)));
      s.write(`POST /v1/unknown HTTP/1.1\r\nHost: g\r\nAuthorization: Bearer ${key}\r\n${head}\r\n${first}`, 'latin1');
    });
    expect(s.destroyed).toBe(false);
    return s;
  }

  it('clients that abort mid-body after the early answer (chunked and Content-Length): every upstream connection closes', async () => {
    const before = accepted;
    for (let i = 0; i < 10; i++) (await answeredMidBody('Transfer-Encoding: chunked\r\n', '5\r\nhello\r\n')).destroy();
    for (let i = 0; i < 10; i++) (await answeredMidBody('Content-Length: 900\r\n', 'x'.repeat(100))).destroy();
    expect(accepted - before).toBeGreaterThanOrEqual(1);
    expect(await upstreamSettled()).toBe(0);
  });

  it('a client whose body passes maxRequestBytes after the early answer: the upstream connection closes, and so does the client\'s', async () => {
    const before = accepted;
    const clients: { closed: boolean }[] = [];
    for (let i = 0; i < 5; i++) {
      const s = await answeredMidBody('Transfer-Encoding: chunked\r\n', '5\r\nhello\r\n');
      const client = { closed: false };
      s.once('close', () => (client.closed = true));
      clients.push(client);
      // 2 000 bytes more than the limit allows, in chunks; no abort by the client.
      for (let c = 0; c < 4; c++) s.write(`1f4\r\n${'y'.repeat(500)}\r\n`, 'latin1');
    }
    expect(accepted - before).toBeGreaterThanOrEqual(1);
    expect(await upstreamSettled()).toBe(0);
    // The gateway read past the limit after the whole answer went out: it closes the client's connection.
    for (let i = 0; i < 200 && clients.some((c) => !c.closed); i++) await exchange(gw.port, 'GET /metrics HTTP/1.1\r\nHost: g\r\nConnection: close\r\n\r\n');
    expect(clients.map((c) => c.closed)).toEqual([true, true, true, true, true]);
  });

  it('a client that got the early answer and keeps sending within the limit keeps its connection; the upstream one closes', async () => {
    const s = await answeredMidBody('Transfer-Encoding: chunked\r\n', '5\r\nhello\r\n');
    expect(await upstreamSettled()).toBe(0);
    // The rest of the body is read and dropped; the connection then serves the next request.
    const next = new Promise<string>((resolve) => {
      let got = '';
      s.on('data', (d: string) => {
        got += d;
        if (/HTTP\/1\.1 200 [\s\S]*tee_gateway_/.test(got)) resolve(got);
      });
    });
    s.write(`5\r\nworld\r\n0\r\n\r\nGET /metrics HTTP/1.1\r\nHost: g\r\n\r\n`, 'latin1');
    expect(await next).toContain('tee_gateway_proxied_in_flight 0');
    s.destroy();
  });

  it('gateway close() leaves no upstream connection, with a client still mid-body', async () => {
    const s = await answeredMidBody('Content-Length: 900\r\n', 'x'.repeat(100));
    let clientClosed = false;
    s.once('close', () => (clientClosed = true));
    await gw.close();
    // Bounded event-loop turns (the gateway can no longer be asked): loopback closes arrive within a few.
    for (let i = 0; i < 1000 && (open.size > 0 || !clientClosed); i++) await new Promise((r) => setImmediate(r));
    expect(open.size).toBe(0);
    expect(clientClosed).toBe(true);
  });
});
