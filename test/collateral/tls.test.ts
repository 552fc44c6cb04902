/**
 * X15: collateral only over verified TLS (or plain http to loopback / when
 * explicitly allowed). A server with a certificate the client does not trust
 * is unreachable, never silently accepted.
 */
import 'reflect-metadata';
import { webcrypto } from 'node:crypto';
import { createServer } from 'node:https';
import type { AddressInfo } from 'node:net';
import * as x509 from '@peculiar/x509';
import { Agent } from 'undici';
import { describe, expect, it } from 'vitest';

import { AmdKdsClient, HttpClient, IntelPcsClient } from '../../src/index.js';
import { generateEcdsaCryptoKeys } from '../../src/crypto/ec-keys.js';

x509.cryptoProvider.set(webcrypto);

async function selfSignedServer(): Promise<{ url: string; certPem: string; close: () => Promise<void> }> {
  const alg = { name: 'ECDSA', namedCurve: 'P-256', hash: 'SHA-256' };
  const keys = await generateEcdsaCryptoKeys('P-256'); // no key-generation job (docs/decisions.md, session 8)
  const cert = await x509.X509CertificateGenerator.createSelfSigned({
    serialNumber: '01',
    name: 'CN=127.0.0.1',
    notBefore: new Date(Date.now() - 60_000),
    notAfter: new Date(Date.now() + 3_600_000),
    signingAlgorithm: alg,
    keys,
    extensions: [new x509.SubjectAlternativeNameExtension([{ type: 'ip', value: '127.0.0.1' }])],
  });
  const pkcs8 = Buffer.from(await webcrypto.subtle.exportKey('pkcs8', keys.privateKey));
  const keyPem = `-----BEGIN PRIVATE KEY-----\n${pkcs8.toString('base64')}\n-----END PRIVATE KEY-----\n`;
  const certPem = cert.toString('pem');
  const server = createServer({ key: keyPem, cert: certPem }, (_req, res) => res.end('collateral'));
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  const port = (server.address() as AddressInfo).port;
  return { url: `https://127.0.0.1:${port}`, certPem, close: () => new Promise((r) => server.close(() => r())) };
}

describe('TLS to collateral services (X15)', () => {
  it('refuses a server whose certificate is not trusted, and works once its CA is trusted', async () => {
    const server = await selfSignedServer();
    try {
      // Not transient: no retry however many are allowed (review session 6).
      const untrusting = new HttpClient({ retries: 3, sleep: async () => {} });
      await expect(untrusting.get(`${server.url}/x`)).rejects.toMatchObject({ code: 'ERR_COLLATERAL_TLS', errorClass: 'COLLATERAL_UNAVAILABLE', details: { attempts: 1 } });
      const trusting = new HttpClient({ retries: 0, dispatcher: new Agent({ connect: { ca: server.certPem } }) });
      const res = await trusting.get(`${server.url}/x`);
      expect(Buffer.from(res.body).toString()).toBe('collateral');
    } finally {
      await server.close();
    }
  });

  it('plain http only to loopback or when explicitly allowed', () => {
    const http = new HttpClient();
    expect(() => new IntelPcsClient({ http, baseUrl: 'http://pccs.internal:8081' })).toThrow(expect.objectContaining({ code: 'ERR_INVALID_ARGUMENT', check: 'X15' }));
    expect(() => new AmdKdsClient({ http, baseUrl: 'http://kds.example' })).toThrow(expect.objectContaining({ check: 'X15' }));
    expect(() => new IntelPcsClient({ http, baseUrl: 'ftp://pccs.internal' })).toThrow(expect.objectContaining({ check: 'X15' }));
    expect(new IntelPcsClient({ http, baseUrl: 'http://127.0.0.1:8081' }).baseUrl).toBe('http://127.0.0.1:8081');
    expect(new IntelPcsClient({ http, baseUrl: 'http://localhost:8081' }).baseUrl).toBe('http://localhost:8081');
    expect(new IntelPcsClient({ http, baseUrl: 'http://pccs.internal:8081', allowPlainHttp: true }).baseUrl).toBe('http://pccs.internal:8081');
    expect(new AmdKdsClient({ http }).baseUrl).toBe('https://kdsintf.amd.com');
  });
});
