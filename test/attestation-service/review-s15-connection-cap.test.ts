/**
 * s15 red team, service finding 2 (medium): `maxConnections` was the only connection bound and it
 * is global, so one client holding that many idle sockets locked every other client out. Now one
 * client (its peer address) holds at most `maxConnectionsPerClient` open connections; one more is
 * closed as soon as it is accepted, without an answer, while another client (127.0.0.2 here) is
 * still served. Peers inside trustedProxies are not capped (they carry many clients).
 */
import { mkdtempSync, rmSync } from 'node:fs';
import { connect, type Socket } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { connect as tlsConnect } from 'node:tls';

import { afterEach, describe, expect, it } from 'vitest';

import type { AttestationService } from '../../src/attestation-service/index.js';
import { parseServeArgs } from '../../src/cli/serve.js';
import { loadOrCreateTls } from '../../src/gateway/tls.js';
import { startService } from './helpers.js';

const services: AttestationService[] = [];
const sockets: Socket[] = [];
afterEach(async () => {
  // Newest first: a TLS socket before the TCP socket it wraps (the other order segfaults Node 20.20
  // once the handshake has completed).
  for (const s of sockets.splice(0).reverse()) s.destroy();
  for (const svc of services.splice(0)) await svc.close();
});

async function service(o: Parameters<typeof startService>[0]): Promise<{ svc: AttestationService; port: number }> {
  const svc = await startService(o);
  services.push(svc);
  return { svc, port: Number(new URL(svc.url).port) };
}

/** A TCP connection from `localAddress` (127.0.0.x); resolves once connected. */
function open(port: number, localAddress = '127.0.0.1'): Promise<Socket> {
  return new Promise((resolve, reject) => {
    const s = connect({ port, host: '127.0.0.1', localAddress }, () => resolve(s));
    sockets.push(s);
    s.once('error', reject);
  });
}

/**
 * Sends one GET `path` on `s`; resolves with the whole answer (head and Content-Length body), or
 * with 'closed' when the connection closes before any byte of an answer arrived.
 */
function get(s: Socket, path = '/health'): Promise<string> {
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
    s.write(`GET ${path} HTTP/1.1\r\nHost: x\r\n\r\n`);
  });
}

const OK = /^HTTP\/1\.1 200 /;

describe('s15 service #2: a per-client connection cap', () => {
  it('one client over its cap is cut at once while a second client still gets /health', async () => {
    const { port } = await service({ maxConnectionsPerClient: 2 });
    const a1 = await open(port);
    const a2 = await open(port);
    expect(await get(a1)).toMatch(OK);
    expect(await get(a2)).toMatch(OK);
    // The third connection of 127.0.0.1 gets no answer: it is closed as soon as it is accepted.
    expect(await get(await open(port))).toBe('closed');
    // Another client (127.0.0.2) is served, and so are the first client's open connections.
    const b = await open(port, '127.0.0.2');
    expect(await get(b)).toMatch(OK);
    expect(await get(a1)).toMatch(OK);
    const metrics = await get(b, '/metrics');
    expect(metrics).toMatch(/\ntee_verify_as_connections_refused_total 1\n/);
  });

  it('over HTTPS the cut comes before the TLS handshake', async () => {
    const dir = mkdtempSync(join(tmpdir(), 'tee-as-s15-cap-'));
    try {
      const tls = await loadOrCreateTls(join(dir, 'cert.pem'), join(dir, 'key.pem'), ['127.0.0.1']);
      const { port } = await service({ tls: { cert: tls.cert, key: tls.key }, maxConnectionsPerClient: 1 });
      await open(port); // holds the one slot of 127.0.0.1, sending nothing
      const outcome = await new Promise<string>((resolve) => {
        const t = tlsConnect({ port, host: '127.0.0.1', ca: tls.cert }, () => resolve('handshake completed'));
        sockets.push(t);
        t.once('error', (e: NodeJS.ErrnoException) => resolve(`refused: ${e.code ?? e.message}`));
      });
      expect(outcome).toMatch(/^refused: (ECONNRESET|EPIPE|Client network socket disconnected)/);
      const raw = await open(port, '127.0.0.2');
      const other = await new Promise<string>((resolve) => {
        const t = tlsConnect({ socket: raw, host: '127.0.0.1', ca: tls.cert }, () => resolve('handshake completed'));
        sockets.push(t);
        t.once('error', (e: NodeJS.ErrnoException) => resolve(`refused: ${e.code ?? e.message}`));
      });
      expect(other).toBe('handshake completed');
    } finally {
      rmSync(dir, { recursive: true, force: true });
    }
  });

  it('a trusted proxy peer is not capped as one client; an untrusted peer still is', async () => {
    const { port } = await service({ maxConnectionsPerClient: 1, trustedProxies: ['127.0.0.1'] });
    const proxied = [await open(port), await open(port), await open(port)];
    for (const s of proxied) expect(await get(s)).toMatch(OK);
    const b1 = await open(port, '127.0.0.2');
    expect(await get(b1)).toMatch(OK);
    expect(await get(await open(port, '127.0.0.2'))).toBe('closed');
  });

  it('maxConnectionsPerClient must be a positive integer; serve takes it as --max-connections-per-client', async () => {
    await expect(startService({ maxConnectionsPerClient: 0 })).rejects.toThrow(/maxConnectionsPerClient/);
    expect(parseServeArgs(['--max-connections-per-client', '4'])?.maxConnectionsPerClient).toBe(4);
    expect(() => parseServeArgs(['--max-connections-per-client', '0'])).toThrow();
  });
});
