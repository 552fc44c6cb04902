/**
 * Review s10, G6: `Transfer-Encoding: gzip, chunked` was accepted (Node's parser takes any codings
 * before a final chunked and undoes only the chunking) and relabelled plain chunked for the upstream,
 * which then read gzip bytes as the body; docs/gateway.md said such requests were refused. Now any
 * Transfer-Encoding but exactly `chunked` is 400 ERR_GATEWAY_BAD_REQUEST before any route, and
 * nothing reaches the upstream. Raw TLS bytes; the upstream records what it parsed.
 */
import { mkdtempSync, rmSync } from 'node:fs';
import { createServer as createHttpServer, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { connect } from 'node:tls';

import { afterAll, beforeAll, describe, expect, it } from 'vitest';

import { startGateway, type Gateway } from '../../src/gateway/index.js';
import { simulated } from './helpers.js';

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

describe('Transfer-Encoding other than exactly chunked', () => {
  let up: Server;
  let gw: Gateway;
  let dir: string;
  const seen: { url: string; te: string | undefined; body: string }[] = [];

  beforeAll(async () => {
    up = createHttpServer((req, res) => {
      let body = '';
      req.setEncoding('latin1');
      req.on('data', (d: string) => (body += d));
      req.on('end', () => {
        seen.push({ url: req.url ?? '', te: req.headers['transfer-encoding'], body });
        res.end('ok');
      });
    });
    await new Promise<void>((r) => up.listen(0, '127.0.0.1', r));
    dir = mkdtempSync(join(tmpdir(), 'tee-gateway-s10-te-'));
    gw = await startGateway({ upstream: `http://127.0.0.1:${(up.address() as AddressInfo).port}`, db: join(dir, 'gateway.sqlite'), provider: simulated, port: 0, requireApiKey: false, log: () => {} });
  });
  afterAll(async () => {
    await gw?.close();
    up?.close();
    rmSync(dir, { recursive: true, force: true });
  });

  const body = '3\r\nabc\r\n0\r\n\r\n';

  it.each(['gzip, chunked', 'deflate,chunked', 'x-custom , chunked'])('proxied, "%s": 400 ERR_GATEWAY_BAD_REQUEST, the connection closed, nothing reaches the upstream', async (te) => {
    seen.length = 0;
    const answer = await rawExchange(gw.port, `POST /api/chat HTTP/1.1\r\nHost: g\r\nTransfer-Encoding: ${te}\r\n\r\n${body}`);
    expect(answer).toMatch(/^HTTP\/1\.1 400 /);
    expect(answer).toContain('ERR_GATEWAY_BAD_REQUEST');
    expect(answer.toLowerCase()).toContain('connection: close');
    expect(seen).toEqual([]);
  });

  it.each([['chunked twice in one line', 'Transfer-Encoding: chunked, chunked'], ['two lines', 'Transfer-Encoding: chunked\r\nTransfer-Encoding: chunked']])('chunked %s: 400 (Node\'s parser refuses it first), nothing reaches the upstream', async (_name, lines) => {
    seen.length = 0;
    const answer = await rawExchange(gw.port, `POST /api/chat HTTP/1.1\r\nHost: g\r\n${lines}\r\n\r\n${body}`);
    expect(answer).toMatch(/^HTTP\/1\.1 400 /);
    expect(seen).toEqual([]);
  });

  it('the gateway\'s own routes refuse it as well (POST /v1/attestation)', async () => {
    const answer = await rawExchange(gw.port, `POST /v1/attestation HTTP/1.1\r\nHost: g\r\nTransfer-Encoding: gzip, chunked\r\n\r\n${body}`);
    expect(answer).toMatch(/^HTTP\/1\.1 400 /);
    expect(answer).toContain('ERR_GATEWAY_BAD_REQUEST');
  });

  it.each(['chunked', 'Chunked'])('"%s" alone still passes, the upstream reads the decoded body', async (te) => {
    seen.length = 0;
    const answer = await rawExchange(gw.port, `POST /api/chat HTTP/1.1\r\nHost: g\r\nTransfer-Encoding: ${te}\r\nConnection: close\r\n\r\n${body}`);
    expect(answer).toMatch(/^HTTP\/1\.1 200 /);
    expect(seen).toEqual([{ url: '/api/chat', te: 'chunked', body: 'abc' }]);
  });
});
