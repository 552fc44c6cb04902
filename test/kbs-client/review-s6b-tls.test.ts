/**
 * Review, session 6 (second round): a broker certificate that does not verify
 * was a network failure, retried `attempts` times with fresh evidence each
 * time. It is final: one connection, then ERR_KBS_HTTP with
 * details.reason "tls-certificate" and Node's code in details.tlsError.
 */
import 'reflect-metadata';
import { webcrypto } from 'node:crypto';
import { createServer, type Server } from 'node:https';
import type { AddressInfo } from 'node:net';
import * as x509 from '@peculiar/x509';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';

import { requestKey } from '../../src/kbs-client/index.js';
import type { EvidenceProvider } from '../../src/tee/types.js';
import { generateEcdsaCryptoKeys } from '../../src/crypto/ec-keys.js';

x509.cryptoProvider.set(webcrypto);

const KEY_ID = '0b6b4a39-4f0e-4d39-9d8a-5d6f8a1c2e3f';

interface TlsServer {
  url: string;
  certPem: string;
  connections: () => number;
  requests: () => number;
  server: Server;
}

/** A self-signed HTTPS server on 127.0.0.1 whose certificate names `san` (an IP or a DNS name). */
async function tlsServer(san: { type: 'ip' | 'dns'; value: string }): Promise<TlsServer> {
  const alg = { name: 'ECDSA', namedCurve: 'P-256', hash: 'SHA-256' };
  const keys = await generateEcdsaCryptoKeys('P-256'); // no key-generation job (docs/decisions.md, session 8)
  const cert = await x509.X509CertificateGenerator.createSelfSigned({
    serialNumber: '01',
    name: `CN=${san.value}`,
    notBefore: new Date(Date.now() - 3_600_000),
    notAfter: new Date(Date.now() + 3_600_000),
    signingAlgorithm: alg,
    keys,
    extensions: [new x509.SubjectAlternativeNameExtension([san]), new x509.BasicConstraintsExtension(true, undefined, true)],
  });
  const pkcs8 = Buffer.from(await webcrypto.subtle.exportKey('pkcs8', keys.privateKey));
  const keyPem = `-----BEGIN PRIVATE KEY-----\n${pkcs8.toString('base64')}\n-----END PRIVATE KEY-----\n`;
  const certPem = cert.toString('pem');
  let connections = 0;
  let requests = 0;
  const server = createServer({ key: keyPem, cert: certPem }, (req, res) => {
    requests++;
    req.resume();
    req.on('end', () => res.writeHead(503, { 'content-type': 'application/json' }).end('{"error":"busy"}'));
  });
  server.on('connection', () => connections++);
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  const port = (server.address() as AddressInfo).port;
  return { url: `https://127.0.0.1:${port}`, certPem, connections: () => connections, requests: () => requests, server };
}

let untrusted: TlsServer;
let otherName: TlsServer;

beforeAll(async () => {
  untrusted = await tlsServer({ type: 'ip', value: '127.0.0.1' });
  otherName = await tlsServer({ type: 'dns', value: 'broker.example' });
});

afterAll(async () => {
  for (const s of [untrusted, otherName]) {
    s.server.closeAllConnections();
    await new Promise((r) => s.server.close(r));
  }
});

function countingProvider(): { provider: EvidenceProvider; calls: () => number } {
  let calls = 0;
  const provider: EvidenceProvider = {
    name: 'fake',
    getEvidence: async (reportData) => {
      calls++;
      return { tee: 'tdx' as const, provider: 'tdx_guest', evidence: new Uint8Array(16), reportData };
    },
  };
  return { provider, calls: () => calls };
}

describe('a broker certificate that does not verify is final (review s6b)', () => {
  it('an untrusted self-signed certificate: one connection, no evidence, DEPTH_ZERO_SELF_SIGNED_CERT', async () => {
    const { provider, calls } = countingProvider();
    const before = untrusted.connections();
    const err = await requestKey({ url: untrusted.url, keyId: KEY_ID, provider, rsaBits: 2048, attempts: 3, timeoutMs: 20_000 }).catch((e: unknown) => e);
    expect(err).toMatchObject({ code: 'ERR_KBS_HTTP', details: { reason: 'tls-certificate', tlsError: 'DEPTH_ZERO_SELF_SIGNED_CERT' } });
    expect((err as Error).message).toContain('DEPTH_ZERO_SELF_SIGNED_CERT');
    expect(untrusted.connections() - before).toBe(1);
    expect(calls()).toBe(0); // the nonce request failed first: no evidence was made
  });

  it('without a nonce: evidence once, one connection', async () => {
    const { provider, calls } = countingProvider();
    const before = untrusted.connections();
    await expect(requestKey({ url: untrusted.url, keyId: KEY_ID, provider, nonce: false, rsaBits: 2048, attempts: 3, timeoutMs: 20_000 })).rejects.toMatchObject({
      code: 'ERR_KBS_HTTP',
      details: { reason: 'tls-certificate' },
    });
    expect(untrusted.connections() - before).toBe(1);
    expect(calls()).toBe(1);
  });

  it('a trusted CA but another host name: ERR_TLS_CERT_ALTNAME_INVALID, one connection', async () => {
    const { provider } = countingProvider();
    const before = otherName.connections();
    await expect(requestKey({ url: otherName.url, keyId: KEY_ID, provider, ca: otherName.certPem, rsaBits: 2048, attempts: 3, timeoutMs: 20_000 })).rejects.toMatchObject({
      code: 'ERR_KBS_HTTP',
      details: { reason: 'tls-certificate', tlsError: 'ERR_TLS_CERT_ALTNAME_INVALID' },
    });
    expect(otherName.connections() - before).toBe(1);
  });

  it('control: trusted and named right, a 503 is still retried (attempts requests)', async () => {
    const { provider } = countingProvider();
    const before = untrusted.requests();
    await expect(requestKey({ url: untrusted.url, keyId: KEY_ID, provider, ca: untrusted.certPem, nonce: false, rsaBits: 2048, attempts: 2, timeoutMs: 20_000 })).rejects.toMatchObject({
      code: 'ERR_KBS_HTTP',
      details: { status: 503 },
    });
    expect(untrusted.requests() - before).toBe(2);
  });
});
