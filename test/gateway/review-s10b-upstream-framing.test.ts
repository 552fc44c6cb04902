/**
 * Review s10 changes A, items 3 and 4: how the upstream's answer is framed for the client.
 * 3. A 204 came with the upstream's Content-Length (RFC 9110 §8.6: a 204 MUST NOT have one); strict
 *    clients and balancers desync keep-alive on it. 304 and HEAD keep theirs (§8.6 allows them).
 * 4. An upstream `Transfer-Encoding: gzip` (close-delimited) was relayed as a plain chunked body of the
 *    gzip bytes: now 502 ERR_GATEWAY_UPSTREAM unless the upstream's Transfer-Encoding is absent or
 *    exactly `chunked`.
 * The upstream is a raw TCP server (so it can send what Node's http server would not), the client
 * raw TLS bytes (so no client library fills in or drops a header).
 */
import { mkdtempSync, rmSync } from 'node:fs';
import { createServer, type AddressInfo, type Server, type Socket } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { connect } from 'node:tls';

import { afterAll, beforeAll, describe, expect, it } from 'vitest';

import { startGateway, type Gateway } from '../../src/gateway/index.js';
import { simulated } from './helpers.js';

/** Upstream answers by path; `close` ones end the connection after the bytes (close-delimited bodies). */
const ANSWERS: Record<string, { bytes: string; close?: boolean }> = {
  '/204cl': { bytes: 'HTTP/1.1 204 No Content\r\nContent-Length: 5\r\n\r\n' },
  '/304cl': { bytes: 'HTTP/1.1 304 Not Modified\r\nETag: "x"\r\nContent-Length: 5\r\n\r\n' },
  '/blob': { bytes: 'HTTP/1.1 200 OK\r\nContent-Type: text/plain\r\nContent-Length: 5\r\n\r\nhello' },
  '/te-chunked': { bytes: 'HTTP/1.1 200 OK\r\nTransfer-Encoding: Chunked\r\n\r\n5\r\nhello\r\n0\r\n\r\n' },
  '/te-gzip': { bytes: 'HTTP/1.1 200 OK\r\nTransfer-Encoding: gzip\r\nConnection: close\r\n\r\nGZIPBYTES', close: true },
  '/te-gzip-chunked': { bytes: 'HTTP/1.1 200 OK\r\nTransfer-Encoding: gzip, chunked\r\n\r\n9\r\nGZIPBYTES\r\n0\r\n\r\n' },
  '/te-two-lines': { bytes: 'HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\nTransfer-Encoding: chunked\r\n\r\n5\r\nhello\r\n0\r\n\r\n' },
};

/** One keep-alive upstream connection: answers each request head by its path. */
function serve(s: Socket): void {
  let buf = '';
  s.setEncoding('latin1');
  s.on('error', () => {});
  s.on('data', (d: string) => {
    buf += d;
    let end: number;
    while ((end = buf.indexOf('\r\n\r\n')) >= 0) {
      const [method, path] = buf.split(' ') as [string, string];
      buf = buf.slice(end + 4); // the gateway sends these GET / HEAD requests without a body
      const a = ANSWERS[path] ?? { bytes: 'HTTP/1.1 404 Not Found\r\nContent-Length: 0\r\n\r\n' };
      s.write(method === 'HEAD' ? a.bytes.slice(0, a.bytes.indexOf('\r\n\r\n') + 4) : a.bytes, 'latin1');
      if (a.close) s.end();
    }
  });
}

/** Sends `requests` one after another on one TLS connection, each once the previous answer's head and `bodyBytes` arrived. */
function onOneConnection(port: number, requests: { bytes: string; bodyBytes: number }[]): Promise<string[]> {
  return new Promise((resolve, reject) => {
    const answers: string[] = [];
    let buf = '';
    let i = 0;
    const s = connect({ host: '127.0.0.1', port, rejectUnauthorized: false }, () => s.write(requests[0]!.bytes, 'latin1'));
    s.setEncoding('latin1');
    s.on('error', reject);
    s.on('close', () => resolve([...answers, ...(buf === '' ? [] : [buf])]));
    s.on('data', (d: string) => {
      buf += d;
      const head = buf.indexOf('\r\n\r\n');
      if (head < 0 || buf.length < head + 4 + requests[i]!.bodyBytes) return;
      answers.push(buf.slice(0, head + 4 + requests[i]!.bodyBytes));
      buf = buf.slice(head + 4 + requests[i]!.bodyBytes);
      i += 1;
      if (i < requests.length) s.write(requests[i]!.bytes, 'latin1');
      else s.end();
    });
  });
}

/** One request on its own connection (Connection: close); the whole answer. */
async function exchange(port: number, bytes: string): Promise<string> {
  return (await onOneConnection(port, [{ bytes, bodyBytes: Number.MAX_SAFE_INTEGER }])).join('');
}

function parse(answer: string): { status: number; headers: Map<string, string>; body: string } {
  const end = answer.indexOf('\r\n\r\n');
  const [statusLine, ...lines] = answer.slice(0, end).split('\r\n');
  const headers = new Map(lines.map((l) => [l.slice(0, l.indexOf(':')).toLowerCase(), l.slice(l.indexOf(':') + 1).trim()] as [string, string]));
  return { status: Number(statusLine!.split(' ')[1]), headers, body: answer.slice(end + 4) };
}

async function metric(gw: Gateway, series: string): Promise<number> {
  const text = await exchange(gw.port, 'GET /metrics HTTP/1.1\r\nHost: g\r\nConnection: close\r\n\r\n');
  return Number(text.split('\n').find((l) => l.startsWith(`${series} `))?.split(' ')[1]);
}

describe('the upstream\'s framing on the way to the client', () => {
  let up: Server;
  let gw: Gateway;
  let dir: string;
  beforeAll(async () => {
    up = createServer(serve);
    await new Promise<void>((r) => up.listen(0, '127.0.0.1', r));
    dir = mkdtempSync(join(tmpdir(), 'tee-gateway-s10b-framing-'));
    gw = await startGateway({ upstream: `http://127.0.0.1:${(up.address() as AddressInfo).port}`, db: join(dir, 'g.sqlite'), provider: simulated, port: 0, requireApiKey: false, log: () => {} });
  });
  afterAll(async () => {
    await gw?.close();
    up?.close();
    rmSync(dir, { recursive: true, force: true });
  });

  it('204: no Content-Length (RFC 9110 §8.6), and the same kept-alive connection answers the next request', async () => {
    const [first, second] = await onOneConnection(gw.port, [
      { bytes: 'GET /204cl HTTP/1.1\r\nHost: g\r\n\r\n', bodyBytes: 0 },
      { bytes: 'GET /blob HTTP/1.1\r\nHost: g\r\n\r\n', bodyBytes: 5 },
    ]);
    const a = parse(first!);
    expect(a.status).toBe(204);
    expect(a.headers.has('content-length')).toBe(false);
    expect(a.headers.has('transfer-encoding')).toBe(false);
    expect(a.headers.get('connection')).not.toBe('close');
    const b = parse(second!);
    expect(b.status).toBe(200);
    expect(b.headers.get('content-length')).toBe('5');
    expect(b.body).toBe('hello');
  });

  it('304 and HEAD keep the upstream\'s Content-Length, and the connection answers the next request', async () => {
    const [first, second, third] = await onOneConnection(gw.port, [
      { bytes: 'GET /304cl HTTP/1.1\r\nHost: g\r\n\r\n', bodyBytes: 0 },
      { bytes: 'HEAD /blob HTTP/1.1\r\nHost: g\r\n\r\n', bodyBytes: 0 },
      { bytes: 'GET /blob HTTP/1.1\r\nHost: g\r\n\r\n', bodyBytes: 5 },
    ]);
    const a = parse(first!);
    expect(a.status).toBe(304);
    expect(a.headers.get('content-length')).toBe('5');
    const b = parse(second!);
    expect(b.status).toBe(200);
    expect(b.headers.get('content-length')).toBe('5');
    expect(b.body).toBe('');
    expect(parse(third!).body).toBe('hello');
  });

  it('Transfer-Encoding: chunked (any case) is relayed chunked', async () => {
    const a = parse(await exchange(gw.port, 'GET /te-chunked HTTP/1.1\r\nHost: g\r\nConnection: close\r\n\r\n'));
    expect(a.status).toBe(200);
    expect(a.headers.get('transfer-encoding')).toBe('chunked');
    expect(a.body).toBe('5\r\nhello\r\n0\r\n\r\n');
  });

  it('any other upstream Transfer-Encoding is 502 ERR_GATEWAY_UPSTREAM, its bytes never relayed', async () => {
    const before = await metric(gw, 'tee_gateway_upstream_errors_total');
    for (const path of ['/te-gzip', '/te-gzip-chunked', '/te-two-lines']) {
      const a = parse(await exchange(gw.port, `GET ${path} HTTP/1.1\r\nHost: g\r\nConnection: close\r\n\r\n`));
      expect(a.status, path).toBe(502);
      expect(JSON.parse(a.body).error.code, path).toBe('ERR_GATEWAY_UPSTREAM');
      expect(a.body, path).not.toContain('GZIPBYTES');
    }
    expect(await metric(gw, 'tee_gateway_upstream_errors_total')).toBe(before + 3);
  });
});
