/**
 * `tee-gateway serve` answers a ClientHello whose server name carries a nonce with an evidence
 * certificate by default, and with its normal certificate under --no-handshake-evidence
 * (docs/gateway.md, "Evidence in the handshake").
 */
import { randomBytes, X509Certificate } from 'node:crypto';
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { connect as tlsConnect } from 'node:tls';

import { afterAll, beforeAll, describe, expect, it } from 'vitest';

import { runGatewayCli } from '../../src/gateway/cli.js';
import { handshakeServername, readPresentedCertificate } from '../../src/gateway/handshake-evidence.js';

let dir: string;
beforeAll(async () => {
  dir = await mkdtemp(join(tmpdir(), 's17-handshake-flag-'));
});
afterAll(async () => rm(dir, { recursive: true, force: true }));

/** The DER certificate the gateway at `url` presents to a ClientHello with a fresh nonce server name. */
function presentedTo(url: string): Promise<Buffer> {
  const { hostname, port } = new URL(url);
  return new Promise((resolve, reject) => {
    const s = tlsConnect({ host: hostname, port: Number(port), servername: handshakeServername(randomBytes(32)), rejectUnauthorized: false });
    s.once('secureConnect', () => {
      const raw = s.getPeerX509Certificate()?.raw;
      s.destroy();
      if (raw) resolve(raw);
      else reject(new Error('no certificate'));
    });
    s.once('error', reject);
  });
}

async function serve(name: string, extra: string[]): Promise<{ der: Buffer; certificatePem: string }> {
  const io = { stdout: () => {}, stderr: () => {}, env: {} as NodeJS.ProcessEnv };
  const r = await runGatewayCli(['serve', '--upstream', 'http://127.0.0.1:9', '--db', join(dir, `${name}.sqlite`), '--listen', '127.0.0.1:0', '--simulated-tee', ...extra], io);
  try {
    expect(r.code).toBe(0);
    return { der: await presentedTo(r.gateway!.url), certificatePem: r.gateway!.certificatePem };
  } finally {
    await r.gateway?.close();
  }
}

describe('tee-gateway serve: evidence in the handshake', () => {
  it('on by default: the nonce server name gets a certificate carrying evidence', async () => {
    const { der } = await serve('on', []);
    expect(readPresentedCertificate(new Uint8Array(der))?.evidence?.tee).toBe('tdx');
  });

  it('--no-handshake-evidence: the normal certificate, no evidence', async () => {
    const { der, certificatePem } = await serve('off', ['--no-handshake-evidence']);
    expect(readPresentedCertificate(new Uint8Array(der))?.evidence).toBeUndefined();
    expect(der.equals(new X509Certificate(certificatePem).raw)).toBe(true);
  });
});
