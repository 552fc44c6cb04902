/**
 * Review s10 changes A, item 5: no metric counted a proxied answer cut mid-stream (the upstream failing
 * or going silent mid-body, a body short of its Content-Length, the response limit), so real mid-stream
 * upstream failures were invisible while client aborts were counted. Now
 * tee_gateway_upstream_cuts_total{reason="error"|"idle"|"short"|"too_large"} counts each once; a client
 * abort is none of them. A reset after the status went out was counted as a 502 in
 * tee_gateway_upstream_errors_total although no 502 was sent: now it is a cut, and that counter stays 0.
 * Raw TCP upstream (it can stop mid-body, reset or stay silent), raw TLS client; every wait is for the
 * gateway closing the client's connection, or for a metric to move.
 */
import { mkdtempSync, rmSync } from 'node:fs';
import { createServer, type AddressInfo, type Server, type Socket } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { connect } from 'node:tls';

import { afterAll, beforeAll, describe, expect, it } from 'vitest';

import { startGateway, type Gateway } from '../../src/gateway/index.js';
import { simulated } from './helpers.js';

const HEAD_CL100 = 'HTTP/1.1 200 OK\r\nContent-Type: text/plain\r\nContent-Length: 100\r\n\r\n';
const HEAD_CHUNKED = 'HTTP/1.1 200 OK\r\nContent-Type: application/x-ndjson\r\nTransfer-Encoding: chunked\r\n\r\n';

/**
 * The upstream connection of a path that fails mid-body, and how it fails: done once the client has
 * seen the body's first bytes (so none are lost to a reset, and the failure is surely mid-body).
 */
let held: (() => void) | undefined;
const failHeld = (): void => {
  held?.();
  held = undefined;
};

/** What the upstream does per path once it has the request head. */
const BEHAVIOUR: Record<string, (s: Socket) => void> = {
  '/complete': (s) => s.write('HTTP/1.1 200 OK\r\nContent-Length: 5\r\n\r\nhello'),
  '/short-fin': (s) => s.end(`${HEAD_CL100}01234`),
  '/short-reset': (s) => s.write(`${HEAD_CL100}01234`, () => (held = () => s.resetAndDestroy())),
  '/chunked-reset': (s) => s.write(`${HEAD_CHUNKED}5\r\nhello\r\n`, () => (held = () => s.resetAndDestroy())),
  '/close-delimited-reset': (s) => s.write('HTTP/1.1 200 OK\r\nConnection: close\r\n\r\nhello', () => (held = () => s.resetAndDestroy())),
  '/bad-chunk': (s) => s.write(`${HEAD_CHUNKED}5\r\nhello\r\n`, () => (held = () => s.write('ZZ\r\n'))),
  '/silent': (s) => s.write(`${HEAD_CL100}01234`), // and nothing more: the idle bound cuts it
  '/too-large': (s) => s.write(`${HEAD_CL100}${'x'.repeat(100)}`),
  '/stream': (s) => s.write(`${HEAD_CHUNKED}5\r\nhello\r\n`), // stays open: the client hangs up
};

function serve(s: Socket): void {
  let head = '';
  s.setEncoding('latin1');
  s.on('error', () => {});
  s.on('data', (d: string) => {
    head += d;
    if (!head.includes('\r\n\r\n')) return;
    const path = head.split(' ')[1] as string;
    head = '';
    (BEHAVIOUR[path] ?? ((x: Socket) => x.write('HTTP/1.1 404 Not Found\r\nContent-Length: 0\r\n\r\n')))(s);
  });
}

/**
 * One GET on its own connection; everything the client received once the gateway closed it.
 * `close`: ask for Connection: close (else only a cut ends it); with `failOnBody`, the upstream's
 * connection fails (failHeld) once the client received some of the body.
 */
function exchange(port: number, path: string, close = true, failOnBody = false): Promise<string> {
  return new Promise((resolve, reject) => {
    const s = connect({ host: '127.0.0.1', port, rejectUnauthorized: false }, () => s.write(`GET ${path} HTTP/1.1\r\nHost: g\r\n${close ? 'Connection: close\r\n' : ''}\r\n`));
    let out = '';
    s.setEncoding('latin1');
    s.on('data', (d: string) => {
      out += d;
      if (failOnBody && /01234|hello/.test(out.slice(out.indexOf('\r\n\r\n') + 4))) failHeld();
    });
    s.on('close', () => resolve(out));
    s.on('error', reject);
  });
}

const REASONS = ['error', 'idle', 'short', 'too_large'] as const;

describe('tee_gateway_upstream_cuts_total', () => {
  let up: Server;
  let gw: Gateway;
  let dir: string;
  const expected: Record<(typeof REASONS)[number], number> = { error: 0, idle: 0, short: 0, too_large: 0 };

  async function metrics(): Promise<Map<string, number>> {
    const text = await exchange(gw.port, '/metrics');
    return new Map(text.split('\n').filter((l) => l.startsWith('tee_gateway_')).map((l) => [l.slice(0, l.lastIndexOf(' ')), Number(l.slice(l.lastIndexOf(' ') + 1))] as [string, number]));
  }

  /** Every reason at its expected count, no upstream error (502) and nothing left in flight. */
  async function expectCounts(): Promise<void> {
    const m = await metrics();
    for (const r of REASONS) expect(m.get(`tee_gateway_upstream_cuts_total{reason="${r}"}`), r).toBe(expected[r]);
    expect(m.get('tee_gateway_upstream_errors_total')).toBe(0);
    expect(m.get('tee_gateway_proxied_in_flight')).toBe(0);
  }

  beforeAll(async () => {
    up = createServer(serve);
    await new Promise<void>((r) => up.listen(0, '127.0.0.1', r));
    dir = mkdtempSync(join(tmpdir(), 'tee-gateway-s10b-cuts-'));
    gw = await startGateway({
      upstream: `http://127.0.0.1:${(up.address() as AddressInfo).port}`, db: join(dir, 'g.sqlite'), provider: simulated, port: 0,
      requireApiKey: false, maxResponseBytes: 50, upstreamIdleTimeoutMs: 200, log: () => {},
    });
  });
  afterAll(async () => {
    await gw?.close();
    up?.close();
    rmSync(dir, { recursive: true, force: true });
  });

  it('is exposed at 0 for every reason, and a complete answer counts none', async () => {
    expect(await exchange(gw.port, '/complete')).toContain('\r\n\r\nhello');
    await expectCounts();
  });

  it('short: a body that ends before its Content-Length, by a close or a reset', async () => {
    for (const path of ['/short-fin', '/short-reset']) {
      const answer = await exchange(gw.port, path, false, path.endsWith('-reset')); // kept alive: only the gateway's cut closes it
      expect(answer, path).toContain('content-length: 100');
      expect(answer.endsWith('01234'), path).toBe(true);
      expected.short += 1;
      await expectCounts();
    }
  });

  it('error: a reset of a chunked or close-delimited body, or a chunk framing error', async () => {
    for (const path of ['/chunked-reset', '/close-delimited-reset', '/bad-chunk']) {
      const answer = await exchange(gw.port, path, false, true);
      expect(answer, path).toContain('hello');
      expect(answer.endsWith('0\r\n\r\n'), path).toBe(false); // never the last chunk: the client sees the cut
      expected.error += 1;
      await expectCounts();
    }
  });

  it('idle: an upstream silent mid-body past upstreamIdleTimeoutMs', async () => {
    const answer = await exchange(gw.port, '/silent', false);
    expect(answer.endsWith('01234')).toBe(true);
    expected.idle += 1;
    await expectCounts();
  });

  it('too_large: a body past maxResponseBytes', async () => {
    const answer = await exchange(gw.port, '/too-large', false);
    expect(answer.length - answer.indexOf('\r\n\r\n') - 4).toBeLessThanOrEqual(50);
    expected.too_large += 1;
    await expectCounts();
  });

  it('a client that hangs up mid-stream is a client abort, no cut', async () => {
    const before = (await metrics()).get('tee_gateway_client_aborts_total{stage="streaming"}') as number;
    await new Promise<void>((resolve, reject) => {
      const s = connect({ host: '127.0.0.1', port: gw.port, rejectUnauthorized: false }, () => s.write('GET /stream HTTP/1.1\r\nHost: g\r\n\r\n'));
      s.setEncoding('latin1');
      let out = '';
      s.on('data', (d: string) => {
        out += d;
        if (out.includes('hello')) s.destroy();
      });
      s.on('close', () => resolve());
      s.on('error', reject);
    });
    while ((await metrics()).get('tee_gateway_client_aborts_total{stage="streaming"}') === before) await new Promise((r) => setTimeout(r, 20));
    expect((await metrics()).get('tee_gateway_client_aborts_total{stage="streaming"}')).toBe(before + 1);
    await expectCounts();
  });
});
