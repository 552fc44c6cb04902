/**
 * s15 red team, service finding 2 (medium), applied to the key broker: it set no connection bound at
 * all, and nothing kept one client from holding every socket the process could take. Now the broker
 * holds at most `maxConnections` (--max-connections, default 1024) and one client (its TCP peer's
 * client key) at most `maxConnectionsPerClient` of them (--max-connections-per-client, default a
 * sixteenth, at least 8); one more is closed as soon as it is accepted, before the TLS handshake,
 * while another client (127.0.0.2 here) is still served. Peers in `connectionCapExempt`
 * (--connection-cap-exempt) are not counted: by default loopback, where the TLS-terminating proxy of
 * plain HTTP sits, so most tests here pass `[]` to cap 127.0.0.x. Real servers on 127.0.0.1.
 */
import { existsSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { connect, type Socket } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { connect as tlsConnect } from 'node:tls';

import { afterAll, afterEach, describe, expect, it } from 'vitest';

import { exportBundle } from '../../src/index.js';
import { runKbsCli, startKeyBroker, type KeyBroker } from '../../src/kbs/index.js';
import { collateralOf, makePlatform, startHarness, type Harness } from './helpers.js';

const dir = mkdtempSync(join(tmpdir(), 's15-kbs-conncap-'));
afterAll(() => rmSync(dir, { recursive: true, force: true }));
const harnesses: Harness[] = [];
const brokers: KeyBroker[] = [];
const sockets: Socket[] = [];
let n = 0;
afterEach(async () => {
  // Newest first: a TLS socket before the TCP socket under it (the other order crashed Node 20 once
  // the handshake had completed).
  for (const s of sockets.splice(0).reverse()) s.destroy();
  for (const b of brokers.splice(0)) await b.close();
  for (const h of harnesses.splice(0)) await h.close();
});

async function harness(o: Parameters<typeof startHarness>[0]): Promise<{ h: Harness; port: number }> {
  const h = await startHarness(o);
  harnesses.push(h);
  return { h, port: Number(new URL(h.broker.url).port) };
}

/** A TCP connection from `localAddress` (127.0.0.x); resolves once connected. */
function open(port: number, localAddress = '127.0.0.1'): Promise<Socket> {
  return new Promise((resolve, reject) => {
    const s = connect({ port, host: '127.0.0.1', localAddress }, () => resolve(s));
    sockets.push(s);
    s.once('error', reject);
  });
}

/** One GET `path` on `s`: the whole answer (head and a Content-Length or chunked body), or 'closed' when it closed before any byte. */
function get(s: Socket, path = '/health'): Promise<string> {
  return new Promise((resolve) => {
    let buf = Buffer.alloc(0);
    const onData = (c: Buffer): void => {
      buf = Buffer.concat([buf, c]);
      const end = buf.indexOf('\r\n\r\n');
      if (end < 0) return;
      const head = buf.subarray(0, end).toString('latin1');
      const length = /\r\ncontent-length: *(\d+)/i.exec(head);
      // The broker's answers are chunked (writeHead without a length): complete at the last chunk.
      const chunked = /\r\ntransfer-encoding: *chunked/i.test(head);
      if (chunked ? !buf.subarray(end + 4).toString('latin1').endsWith('0\r\n\r\n') : !length || buf.length < end + 4 + Number(length[1])) return;
      s.off('data', onData).off('close', onClose);
      resolve(buf.toString('latin1'));
    };
    const onClose = (): void => resolve(buf.length === 0 ? 'closed' : buf.toString('latin1'));
    s.on('data', onData).once('close', onClose);
    s.on('error', () => {}); // a reset while writing: 'close' follows
    s.write(`GET ${path} HTTP/1.1\r\nHost: x\r\n\r\n`);
  });
}

/** A TLS handshake over a fresh connection from `localAddress`: 'handshake completed' or how it was refused. */
function handshake(port: number, localAddress = '127.0.0.1'): Promise<string> {
  return open(port, localAddress).then(
    (raw) =>
      new Promise((resolve) => {
        const t = tlsConnect({ socket: raw, host: '127.0.0.1', servername: 'localhost', rejectUnauthorized: false }, () => resolve('handshake completed'));
        sockets.push(t);
        t.once('error', (e: NodeJS.ErrnoException) => resolve(`refused: ${e.code ?? e.message}`));
      }),
  );
}

const OK = /^HTTP\/1\.1 200 /;

describe('s15 service #2 in the key broker: a per-client connection cap', () => {
  it('one client over its cap is cut at once while a second client still gets /health; counted in connectionsRefused', async () => {
    const { h, port } = await harness({ plainHttp: true, maxConnectionsPerClient: 2, connectionCapExempt: [] });
    const a1 = await open(port);
    const a2 = await open(port);
    expect(await get(a1)).toMatch(OK);
    expect(await get(a2)).toMatch(OK);
    expect(await get(await open(port))).toBe('closed');
    expect(await get(await open(port, '127.0.0.2'))).toMatch(OK);
    expect(await get(a1)).toMatch(OK);
    expect(h.broker.connectionsRefused).toBe(1);
  });

  it('over HTTPS the cut comes before the TLS handshake', async () => {
    const { port } = await harness({ maxConnectionsPerClient: 1, connectionCapExempt: [] });
    await open(port); // holds the one slot of 127.0.0.1, sending nothing
    expect(await handshake(port)).toMatch(/^refused: (ECONNRESET|EPIPE|Client network socket disconnected)/);
    expect(await handshake(port, '127.0.0.2')).toBe('handshake completed');
  });

  it('the default cap is a sixteenth of maxConnections (at least 8), and maxConnections bounds every client together', async () => {
    const { port } = await harness({ plainHttp: true, maxConnections: 160, connectionCapExempt: [] });
    for (let i = 0; i < 10; i++) await open(port);
    expect(await get(await open(port))).toBe('closed'); // the 11th of 127.0.0.1: 160 / 16 = 10
    expect(await get(await open(port, '127.0.0.2'))).toMatch(OK);
    const g = await harness({ plainHttp: true, maxConnections: 3, maxConnectionsPerClient: 3, connectionCapExempt: [] });
    for (let i = 0; i < 3; i++) await open(g.port);
    expect(await get(await open(g.port, '127.0.0.2'))).toBe('closed'); // the global bound, whoever asks
  });

  it('loopback peers are exempt by default (the TLS-terminating proxy of plain HTTP carries every client); a named exempt peer is not capped, another still is', async () => {
    const { port } = await harness({ plainHttp: true, maxConnectionsPerClient: 1 });
    const local = [await open(port), await open(port, '127.0.0.2'), await open(port, '127.0.0.2')];
    for (const s of local) expect(await get(s)).toMatch(OK);
    const named = await harness({ plainHttp: true, maxConnectionsPerClient: 1, connectionCapExempt: ['127.0.0.1'] });
    const proxied = [await open(named.port), await open(named.port), await open(named.port)];
    for (const s of proxied) expect(await get(s)).toMatch(OK);
    expect(await get(await open(named.port, '127.0.0.2'))).toMatch(OK);
    expect(await get(await open(named.port, '127.0.0.2'))).toBe('closed');
    expect(named.h.broker.connectionsRefused).toBe(1);
  });

  it('connectionCapExempt: a malformed range, host bits beyond the prefix or /0 is ERR_KBS_CONFIG at start', async () => {
    const p = makePlatform();
    for (const bad of [['proxy.local'], ['10.0.0.1/8'], ['0.0.0.0/0'], '127.0.0.1' as unknown as string[]]) {
      await expect(
        startKeyBroker({ db: join(dir, `lib-exempt-${n++}.sqlite`), plainHttp: true, port: 0, collateral: collateralOf(p), trustRoots: p.trustRoots, log: () => {}, connectionCapExempt: bad }),
        JSON.stringify(bad),
      ).rejects.toMatchObject({ code: 'ERR_KBS_CONFIG', message: expect.stringContaining('connectionCapExempt') });
    }
  });

  it('maxConnections and maxConnectionsPerClient must be whole numbers from 1 to 1 000 000: ERR_KBS_CONFIG at start', async () => {
    const p = makePlatform();
    for (const name of ['maxConnections', 'maxConnectionsPerClient'] as const) {
      for (const bad of [0, -1, 1.5, Number.NaN, Infinity, 1_000_001, '4' as unknown as number]) {
        await expect(
          startKeyBroker({ db: join(dir, `lib-${name}-${String(bad)}.sqlite`), plainHttp: true, port: 0, collateral: collateralOf(p), trustRoots: p.trustRoots, log: () => {}, [name]: bad }),
          `${name} ${String(bad)}`,
        ).rejects.toMatchObject({ code: 'ERR_KBS_CONFIG', message: expect.stringContaining(`${name} must be a whole number of connections from 1 to 1000000`) });
      }
    }
  });
});

describe('tee-kbs serve --max-connections, --max-connections-per-client', () => {
  const p = makePlatform();
  const c = p.collateral;
  writeFileSync(join(dir, 'bundle.json'), exportBundle([c.tcbInfo, c.qeIdentity, c.pckCrl, c.rootCaCrl].filter((a) => a !== undefined) as never));
  writeFileSync(join(dir, 'root.pem'), p.pki.root.pem);
  async function serve(extra: string[]) {
    let stderr = '';
    const db = join(dir, `cli-${n++}.sqlite`);
    const r = await runKbsCli(['serve', '--db', db, '--listen', '127.0.0.1:0', '--plain-http', '--trust-root', join(dir, 'root.pem'), '--collateral', join(dir, 'bundle.json'), ...extra], {
      stdout: () => {},
      stderr: (t) => (stderr += t),
      env: {},
    });
    if (r.broker) brokers.push(r.broker);
    return { ...r, stderr, db };
  }

  it.each(['0', '-1', '1.5', 'abc', '1e3', '1000001'].flatMap((v) => [['--max-connections', v], ['--max-connections-per-client', v]]))('%s %j: usage, exit 2, naming the flag, nothing created', async (flag, value) => {
    const r = await serve([`${flag}=${value}`]);
    expect(r.code, r.stderr).toBe(2);
    expect(r.stderr).toMatch(new RegExp(`^tee-kbs: ${flag} must be a whole number from 1 to 1000000`, 'm'));
    expect(r.broker).toBeUndefined();
    expect(existsSync(r.db)).toBe(false);
  });

  it('--connection-cap-exempt: a bad range is exit 78 (ERR_KBS_CONFIG) and nothing created; none together with a range is usage', async () => {
    for (const bad of ['proxy.local', '0.0.0.0/0']) {
      const r = await serve(['--connection-cap-exempt', bad]);
      expect(r.code, r.stderr).toBe(78);
      expect(r.stderr).toMatch(/ERR_KBS_CONFIG: connectionCapExempt/);
      expect(existsSync(r.db)).toBe(false);
    }
    const r = await serve(['--connection-cap-exempt', 'none', '--connection-cap-exempt', '10.0.0.0/8']);
    expect(r.code, r.stderr).toBe(2);
    expect(r.stderr).toMatch(/--connection-cap-exempt none/);
  });

  it('valid values reach the server', async () => {
    const r = await serve(['--max-connections', '64', '--max-connections-per-client', '1', '--connection-cap-exempt', 'none']);
    expect(r.code, r.stderr).toBe(0);
    const port = Number(new URL(r.broker!.url).port);
    await open(port);
    expect(await get(await open(port))).toBe('closed');
    expect(await get(await open(port, '127.0.0.2'))).toMatch(OK);
    const proxy = await serve(['--max-connections-per-client', '1', '--connection-cap-exempt', '127.0.0.1']);
    const proxyPort = Number(new URL(proxy.broker!.url).port);
    await open(proxyPort);
    expect(await get(await open(proxyPort))).toMatch(OK);
    await open(proxyPort, '127.0.0.2');
    expect(await get(await open(proxyPort, '127.0.0.2'))).toBe('closed');
  });
});
