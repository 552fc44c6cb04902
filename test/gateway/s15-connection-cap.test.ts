/**
 * s15 red team, service finding 2 (medium), applied to the gateway: its only connection bound was the
 * global `maxConnections` (10 000), so one client holding that many idle sockets locked every other
 * client out. Now one client (its TCP peer's client key) holds at most `maxConnectionsPerClient`
 * open connections (--max-connections-per-client, default 625); one more is closed as soon as it is
 * accepted, before the TLS handshake, while another client (127.0.0.2 here) is still served. Peers
 * inside trustedProxies are not capped (they carry many clients). Real servers on 127.0.0.1.
 */
import { connect, type Socket } from 'node:net';
import { connect as tlsConnect, type TLSSocket } from 'node:tls';

import { afterEach, describe, expect, it } from 'vitest';

import { runGatewayCli } from '../../src/gateway/cli.js';
import { startGateway, type Gateway } from '../../src/gateway/index.js';
import { simulated, startHarness, type Harness } from './helpers.js';

const harnesses: Harness[] = [];
const gateways: Gateway[] = [];
const sockets: Socket[] = [];
afterEach(async () => {
  // Newest first: a TLS socket before the TCP socket under it (the other order crashed Node 20 once
  // the handshake had completed).
  for (const s of sockets.splice(0).reverse()) s.destroy();
  for (const g of gateways.splice(0)) await g.close();
  for (const h of harnesses.splice(0)) await h.close();
});

async function harness(o: Parameters<typeof startHarness>[0]): Promise<Harness> {
  const h = await startHarness(o);
  harnesses.push(h);
  return h;
}

/** A TCP connection from `localAddress` (127.0.0.x) that sends nothing; resolves once connected. */
function open(port: number, localAddress = '127.0.0.1'): Promise<Socket> {
  return new Promise((resolve, reject) => {
    const s = connect({ port, host: '127.0.0.1', localAddress }, () => resolve(s));
    sockets.push(s);
    s.once('error', reject);
  });
}

/** A TLS connection from `localAddress`: the socket once the handshake completed, or the error's code when refused. */
async function openTls(port: number, localAddress = '127.0.0.1'): Promise<TLSSocket | string> {
  const raw = await open(port, localAddress);
  return new Promise((resolve) => {
    const t = tlsConnect({ socket: raw, host: '127.0.0.1', servername: 'localhost', rejectUnauthorized: false }, () => resolve(t));
    sockets.push(t);
    t.once('error', (e: NodeJS.ErrnoException) => resolve(`refused: ${e.code ?? e.message}`));
  });
}

/** One GET `path` on an open TLS connection: the whole answer (head and Content-Length body), or 'closed'. */
function get(s: TLSSocket, path = '/health'): Promise<string> {
  return new Promise((resolve) => {
    let buf = Buffer.alloc(0);
    const onData = (c: Buffer): void => {
      buf = Buffer.concat([buf, c]);
      const end = buf.indexOf('\r\n\r\n');
      if (end < 0) return;
      const length = /\r\ncontent-length: *(\d+)/i.exec(buf.subarray(0, end).toString('latin1'));
      if (!length || buf.length < end + 4 + Number(length[1])) return;
      s.off('data', onData).off('close', onClose);
      resolve(buf.subarray(0, end + 4 + Number(length[1])).toString('latin1'));
    };
    const onClose = (): void => resolve(buf.length === 0 ? 'closed' : buf.toString('latin1'));
    s.on('data', onData).once('close', onClose);
    s.on('error', () => {}); // a reset while writing: 'close' follows
    s.write(`GET ${path} HTTP/1.1\r\nHost: localhost\r\n\r\n`);
  });
}

/** GET /health over a fresh TLS connection from `localAddress`: the answer, or how the connection was refused. */
async function health(port: number, localAddress = '127.0.0.1'): Promise<string> {
  const t = await openTls(port, localAddress);
  return typeof t === 'string' ? t : get(t);
}

const OK = /^HTTP\/1\.1 200 /;
const REFUSED = /^refused: (ECONNRESET|EPIPE|Client network socket disconnected)/;

describe('s15 service #2 in the gateway: a per-client connection cap', () => {
  it('one client over its cap is cut before the TLS handshake while a second client still gets /health; counted in /metrics', async () => {
    const h = await harness({ maxConnectionsPerClient: 2 });
    const port = h.gateway.port;
    await open(port); // two idle sockets of 127.0.0.1, sending nothing
    await open(port);
    expect(await health(port)).toMatch(REFUSED);
    const b = await openTls(port, '127.0.0.2');
    expect(typeof b).not.toBe('string');
    expect(await get(b as TLSSocket)).toMatch(OK);
    expect(await get(b as TLSSocket, '/metrics')).toMatch(/\ntee_gateway_connections_refused_total 1\n/);
  });

  it('the held connections of the capped client are still served', async () => {
    const h = await harness({ maxConnectionsPerClient: 2 });
    const port = h.gateway.port;
    const a1 = await openTls(port);
    const a2 = await openTls(port);
    expect(await get(a1 as TLSSocket)).toMatch(OK);
    expect(await get(a2 as TLSSocket)).toMatch(OK);
    expect(await health(port)).toMatch(REFUSED);
    expect(await get(a1 as TLSSocket)).toMatch(OK);
  });

  it('a trusted proxy peer is not capped as one client; an untrusted peer still is', async () => {
    const h = await harness({ maxConnectionsPerClient: 1, trustedProxies: ['127.0.0.1'] });
    const port = h.gateway.port;
    const proxied = [await openTls(port), await openTls(port), await openTls(port)];
    for (const s of proxied) expect(await get(s as TLSSocket)).toMatch(OK);
    const b1 = await openTls(port, '127.0.0.2');
    expect(await get(b1 as TLSSocket)).toMatch(OK);
    expect(await health(port, '127.0.0.2')).toMatch(REFUSED);
  });

  it('maxConnectionsPerClient must be a positive integer: ERR_GATEWAY_CONFIG at start', async () => {
    const h = await harness({});
    for (const bad of [0, -1, 1.5, Number.NaN, Infinity, '4' as unknown as number]) {
      await expect(startGateway({ upstream: h.upstream.url, db: h.db, provider: simulated, port: 0, log: () => {}, maxConnectionsPerClient: bad }), String(bad)).rejects.toMatchObject({
        code: 'ERR_GATEWAY_CONFIG',
        message: expect.stringMatching(/maxConnectionsPerClient must be a positive integer/),
      });
    }
  });

  it('tee-gateway serve --max-connections-per-client: 0, negative, a fraction or text is usage (exit 2) naming the flag; a valid value reaches the server', async () => {
    const h = await harness({});
    const base = ['serve', '--upstream', h.upstream.url, '--db', h.db, '--listen', '127.0.0.1:0', '--simulated-tee'];
    for (const bad of ['0', '-1', '1.5', 'abc']) {
      let stderr = '';
      const r = await runGatewayCli([...base, `--max-connections-per-client=${bad}`], { stdout: () => {}, stderr: (t) => (stderr += t), env: {} });
      expect(r.code, `${bad}: ${stderr}`).toBe(2);
      expect(r.gateway).toBeUndefined();
      expect(stderr).toMatch(/--max-connections-per-client must be a positive (number|integer)/);
    }
    const r = await runGatewayCli([...base, '--max-connections-per-client', '1'], { stdout: () => {}, stderr: () => {}, env: {} });
    expect(r.code).toBe(0);
    gateways.push(r.gateway as Gateway);
    const port = (r.gateway as Gateway).port;
    await open(port);
    expect(await health(port)).toMatch(REFUSED);
    expect(await health(port, '127.0.0.2')).toMatch(OK);
  });
});
