/**
 * Review s10 changes-c #1: a client that stops reading pauses the upstream
 * (backpressure), and the idle timer kept running, so the answer was cut and
 * counted as an idle *upstream* although the upstream had sent everything.
 * Any client could drive that counter. The silence is now the client's: the
 * window bounds the stalled reader and the cut is `client_stalled`.
 */
import { createServer, request, type IncomingMessage, type Server, type ServerResponse } from 'node:http';
import type { AddressInfo } from 'node:net';
import { Duplex } from 'node:stream';
import { afterEach, describe, expect, it } from 'vitest';

import { proxyRequest, type ProxyOptions } from '../../src/gateway/proxy.js';

const servers: Server[] = [];
afterEach(() => {
  for (const s of servers.splice(0)) s.close();
});
async function listen(s: Server): Promise<number> {
  servers.push(s);
  await new Promise<void>((r) => s.listen(0, '127.0.0.1', r));
  return (s.address() as AddressInfo).port;
}

describe('a client that stops reading mid-answer', () => {
  it('is cut as client_stalled, never as an idle upstream', async () => {
    const big = Buffer.alloc(8 * 1024 * 1024, 97);
    const upstreamPort = await listen(createServer((_req, res) => {
      res.writeHead(200, { 'content-length': String(big.length) });
      res.end(big);
    }));
    const cuts: string[] = [];
    const o: ProxyOptions = {
      upstream: new URL(`http://127.0.0.1:${upstreamPort}/`),
      maxRequestBytes: 1 << 20,
      maxResponseBytes: 64 << 20,
      headersTimeoutMs: 5000,
      idleTimeoutMs: 300,
      observe: { status() {}, error() {}, start() {}, end() {}, cut: (r) => cuts.push(r) },
    };
    const gwPort = await listen(createServer((req: IncomingMessage, res: ServerResponse) => proxyRequest(o, req, res)));
    const res = await new Promise<IncomingMessage>((resolve) => request(`http://127.0.0.1:${gwPort}/x`, resolve).end());
    res.pause(); // reads nothing until the gateway has given up on it
    await new Promise<void>((resolve) => {
      const poll = setInterval(() => {
        if (cuts.length > 0) {
          clearInterval(poll);
          resolve();
        }
      }, 20);
    });
    res.resume();
    res.on('error', () => {});
    await new Promise((r) => res.on('close', r));
    expect(cuts).toEqual(['client_stalled']);
  });

  it('a client that reads slowly but steadily is not cut', async () => {
    const chunk = Buffer.alloc(256 * 1024, 98);
    const upstreamPort = await listen(createServer((_req, res) => {
      res.writeHead(200, { 'content-length': String(chunk.length * 16) });
      for (let i = 0; i < 16; i++) res.write(chunk);
      res.end();
    }));
    const cuts: string[] = [];
    const o: ProxyOptions = {
      upstream: new URL(`http://127.0.0.1:${upstreamPort}/`),
      maxRequestBytes: 1 << 20,
      maxResponseBytes: 64 << 20,
      headersTimeoutMs: 5000,
      idleTimeoutMs: 2000,
      observe: { status() {}, error() {}, start() {}, end() {}, cut: (r) => cuts.push(r) },
    };
    const gwPort = await listen(createServer((req: IncomingMessage, res: ServerResponse) => proxyRequest(o, req, res)));
    const res = await new Promise<IncomingMessage>((resolve) => request(`http://127.0.0.1:${gwPort}/x`, resolve).end());
    let got = 0;
    res.on('data', (c: Buffer) => {
      got += c.length;
      res.pause();
      setTimeout(() => res.resume(), 5);
    });
    await new Promise((r) => res.on('end', r));
    expect(got).toBe(chunk.length * 16);
    expect(cuts).toEqual([]);
  });

  it('a client that reads nothing after the upstream has ended is cut as client_stalled too (review s10 changes-d #1)', async () => {
    // The whole answer fits the gateway's buffers, so the upstream ends while the client reads nothing:
    // the end cleared the idle timer and the connection stayed open for as long as the client liked.
    const body = Buffer.alloc(10 * 1024, 99);
    const upstreamPort = await listen(createServer((_req, res) => {
      res.writeHead(200, { 'content-length': String(body.length) });
      res.end(body);
    }));
    const cuts: string[] = [];
    const o: ProxyOptions = {
      upstream: new URL(`http://127.0.0.1:${upstreamPort}/`),
      maxRequestBytes: 1 << 20,
      maxResponseBytes: 64 << 20,
      headersTimeoutMs: 5000,
      idleTimeoutMs: 200,
      observe: { status() {}, error() {}, start() {}, end() {}, cut: (r) => cuts.push(r) },
    };
    const gw = createServer((req: IncomingMessage, res: ServerResponse) => proxyRequest(o, req, res));
    servers.push(gw);
    // The client's side of the connection: it sends its request, then never takes a byte (no write callback).
    let closed = false;
    const client = new Duplex({ read() {}, write(_chunk, _encoding, _done) {} });
    client.on('close', () => (closed = true));
    gw.emit('connection', client);
    client.push('GET /x HTTP/1.1\r\nHost: gateway\r\n\r\n');
    await new Promise<void>((resolve) => {
      const poll = setInterval(() => {
        if (cuts.length > 0 || closed) {
          clearInterval(poll);
          resolve();
        }
      }, 20);
    });
    expect(cuts).toEqual(['client_stalled']);
  });
});
