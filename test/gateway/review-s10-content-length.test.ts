/**
 * Review s10, G5: the upstream's Content-Length was dropped from every answer (it was in the proxy's
 * hop-by-hop set): HEAD came back without a size (RFC 9110 §9.3.2), GET re-chunked, so downloads lost
 * their size and progress. Now the length passes, HEAD and GET, unless Transfer-Encoding frames the
 * answer; an upstream body that ends short of its length still reaches the client as a cut connection,
 * never as a complete-looking answer. Raw TLS bytes, so no client library fills in a length.
 */
import { mkdtempSync, rmSync } from 'node:fs';
import { createServer as createHttpServer, type Server } from 'node:http';
import { createServer as createNetServer, type AddressInfo, type Server as NetServer } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { connect } from 'node:tls';

import { Agent, request } from 'undici';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';

import { startGateway, type Gateway } from '../../src/gateway/index.js';
import { simulated } from './helpers.js';

const BLOB = Buffer.alloc(1234, 0x61);

function rawExchange(port: number, bytes: string): Promise<string> {
  return new Promise((resolve, reject) => {
    const s = connect({ host: '127.0.0.1', port, rejectUnauthorized: false }, () => s.write(bytes, 'latin1'));
    let out = '';
    s.setEncoding('latin1');
    s.on('data', (d: string) => (out += d));
    s.on('close', () => resolve(out));
    s.on('error', reject);
  });
}

/** The head of an answer as lower-case name -> value, and the bytes after it. */
function parse(answer: string): { status: number; headers: Map<string, string>; body: string } {
  const end = answer.indexOf('\r\n\r\n');
  const [statusLine, ...lines] = answer.slice(0, end).split('\r\n');
  const headers = new Map(lines.map((l) => [l.slice(0, l.indexOf(':')).toLowerCase(), l.slice(l.indexOf(':') + 1).trim()] as [string, string]));
  return { status: Number(statusLine!.split(' ')[1]), headers, body: answer.slice(end + 4) };
}

describe('the upstream\'s Content-Length on answers', () => {
  let up: Server;
  let short: NetServer;
  let gw: Gateway;
  let gwShort: Gateway;
  const dirs: string[] = [];
  const gatewayFor = async (upstream: string): Promise<Gateway> => {
    const dir = mkdtempSync(join(tmpdir(), 'tee-gateway-s10-cl-'));
    dirs.push(dir);
    return startGateway({ upstream, db: join(dir, 'gateway.sqlite'), provider: simulated, port: 0, requireApiKey: false, log: () => {} });
  };

  beforeAll(async () => {
    up = createHttpServer((req, res) => {
      req.resume();
      if (req.url === '/chunked') {
        res.writeHead(200, { 'content-type': 'application/x-ndjson' }); // Node frames it chunked: no length
        res.write('{"a":1}\n');
        res.end('{"b":2}\n');
        return;
      }
      res.writeHead(200, { 'content-type': 'application/octet-stream', 'content-length': BLOB.length });
      res.end(req.method === 'HEAD' ? undefined : BLOB);
    });
    await new Promise<void>((r) => up.listen(0, '127.0.0.1', r));
    // An upstream that promises 100 bytes, sends 10 and hangs up.
    short = createNetServer((s) => s.once('data', () => s.end('HTTP/1.1 200 OK\r\nContent-Type: text/plain\r\nContent-Length: 100\r\n\r\n0123456789')));
    await new Promise<void>((r) => short.listen(0, '127.0.0.1', r));
    gw = await gatewayFor(`http://127.0.0.1:${(up.address() as AddressInfo).port}`);
    gwShort = await gatewayFor(`http://127.0.0.1:${(short.address() as AddressInfo).port}`);
  });
  afterAll(async () => {
    await gw?.close();
    await gwShort?.close();
    up?.close();
    short?.close();
    for (const d of dirs) rmSync(d, { recursive: true, force: true });
  });

  it('HEAD: the upstream\'s Content-Length, no body, no Transfer-Encoding', async () => {
    const a = parse(await rawExchange(gw.port, 'HEAD /models/blob HTTP/1.1\r\nHost: g\r\nConnection: close\r\n\r\n'));
    expect(a.status).toBe(200);
    expect(a.headers.get('content-length')).toBe('1234');
    expect(a.headers.has('transfer-encoding')).toBe(false);
    expect(a.body).toBe('');
  });

  it('GET: the upstream\'s Content-Length with exactly that many bytes; the kept-alive connection serves the next request', async () => {
    // Two requests on one connection: a length that lied would desynchronise the second answer.
    const raw = await rawExchange(gw.port, 'GET /models/blob HTTP/1.1\r\nHost: g\r\n\r\nHEAD /models/blob HTTP/1.1\r\nHost: g\r\nConnection: close\r\n\r\n');
    const first = parse(raw);
    expect(first.status).toBe(200);
    expect(first.headers.get('content-length')).toBe('1234');
    expect(first.headers.has('transfer-encoding')).toBe(false);
    expect(first.body.slice(0, 1234)).toBe(BLOB.toString('latin1'));
    const second = parse(first.body.slice(1234));
    expect(second.status).toBe(200);
    expect(second.headers.get('content-length')).toBe('1234');
    expect(second.body).toBe('');
  });

  it('an upstream answer framed by Transfer-Encoding: passed on chunked, without a Content-Length', async () => {
    const a = parse(await rawExchange(gw.port, 'GET /chunked HTTP/1.1\r\nHost: g\r\nConnection: close\r\n\r\n'));
    expect(a.status).toBe(200);
    expect(a.headers.get('transfer-encoding')).toBe('chunked');
    expect(a.headers.has('content-length')).toBe(false);
    expect(a.body).toContain('{"a":1}');
  });

  it('an upstream body that ends short of its Content-Length: the client sees the cut (the body fails), not a complete answer', async () => {
    const raw = parse(await rawExchange(gwShort.port, 'GET /x HTTP/1.1\r\nHost: g\r\n\r\n')); // kept alive: only the gateway's close ends it
    expect(raw.status).toBe(200);
    expect(raw.headers.get('content-length')).toBe('100');
    expect(raw.body).toBe('0123456789');
    const agent = new Agent({ connect: { rejectUnauthorized: false } });
    try {
      const res = await request(`${gwShort.url}/x`, { dispatcher: agent });
      expect(res.statusCode).toBe(200);
      await expect(res.body.text()).rejects.toThrow();
    } finally {
      await agent.close();
    }
    // Review s10b, item 5: both cuts are counted as short, neither as an upstream error (no 502 was sent).
    const metrics = await rawExchange(gwShort.port, 'GET /metrics HTTP/1.1\r\nHost: g\r\nConnection: close\r\n\r\n');
    expect(metrics).toContain('\ntee_gateway_upstream_cuts_total{reason="short"} 2\n');
    expect(metrics).toContain('\ntee_gateway_upstream_cuts_total{reason="error"} 0\n');
    expect(metrics).toContain('\ntee_gateway_upstream_errors_total 0\n');
  });
});
