/**
 * s15 red team, service finding 1 (high): over HTTPS the service set no TLS handshake timeout, so
 * Node's default of 120 s applied and a TCP connection that never sent a ClientHello held a
 * connection slot for two minutes (1024 of them locked every client out). The handshake now gets
 * the headers bound as a total (src/net/server-timeouts.ts, as the gateway and the key broker).
 *
 * No timed assertion: the idle socket must be closed by the server at all while the test waits
 * far less than Node's 120 s default (the headers bound is 1 s here).
 */
import { mkdtempSync, rmSync } from 'node:fs';
import { connect } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';

import { afterAll, beforeAll, describe, expect, it } from 'vitest';

import type { AttestationService } from '../../src/attestation-service/index.js';
import { loadOrCreateTls } from '../../src/gateway/tls.js';
import { startService } from './helpers.js';

/** Far below Node's 120 s handshake default, far above the 1 s bound configured below. */
const WAIT_MS = 40_000;

let dir: string;
let svc: AttestationService;
beforeAll(async () => {
  dir = mkdtempSync(join(tmpdir(), 'tee-as-s15-tls-'));
  const tls = await loadOrCreateTls(join(dir, 'cert.pem'), join(dir, 'key.pem'), ['127.0.0.1']);
  svc = await startService({ tls: { cert: tls.cert, key: tls.key }, headersTimeoutMs: 1_000 });
});
afterAll(async () => {
  await svc?.close();
  rmSync(dir, { recursive: true, force: true });
});

/** Opens a raw TCP connection that sends nothing; resolves 'closed' when the server closes it, 'open' after WAIT_MS. */
function silentConnection(port: number): Promise<'closed' | 'open'> {
  return new Promise((resolve) => {
    const s = connect(port, '127.0.0.1');
    const timer = setTimeout(() => {
      s.destroy();
      resolve('open');
    }, WAIT_MS);
    s.on('error', () => {}); // a reset is a close too
    s.on('connect', () => s.resume());
    s.once('close', () => {
      clearTimeout(timer);
      resolve('closed');
    });
  });
}

describe('s15 service #1: the TLS handshake is bounded by headersTimeoutMs', () => {
  it('a TCP connection that never sends a ClientHello is closed by the HTTPS service', async () => {
    expect(await silentConnection(Number(new URL(svc.url).port))).toBe('closed');
  }, WAIT_MS + 10_000);

  it('headersTimeoutMs above requestTimeoutMs is refused at start', async () => {
    await expect(startService({ headersTimeoutMs: 5_000, requestTimeoutMs: 2_000 })).rejects.toThrow(/headersTimeoutMs/);
  });
});
