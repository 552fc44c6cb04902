/**
 * s17 change review of the gateway's side of evidence in the handshake (src/gateway/handshake-server.ts):
 *
 *  #1 A --tls-cert chain file's intermediates go out with every evidence certificate (Node keeps the
 *     connection's chain from the server's own context), so evidence that fits the writer's bound for
 *     one certificate could still push the certificate message past what clients accept: the client's
 *     handshake failed (ERR_SSL_EXCESSIVE_MESSAGE_SIZE) instead of falling back. Now the chain's size
 *     counts, and such evidence gets the normal certificate.
 *  #2 The reused TLS context is handed over synchronously only while the server has no 'OCSPRequest'
 *     listener; with one, concurrent connections got each other's certificates. Now a listener means
 *     a context per connection.
 */
import { generateKeyPairSync, randomBytes } from 'node:crypto';
import { createServer as httpsServer } from 'node:https';
import type { AddressInfo } from 'node:net';
import { connect as tlsConnect, type ConnectionOptions } from 'node:tls';

import { describe, expect, it } from 'vitest';

import { EvidenceRateLimiter } from '../../src/gateway/attestation.js';
import { spkiSha256 } from '../../src/gateway/binding.js';
import { HANDSHAKE_CERTIFICATE_MAX_BYTES, evidenceCertificate, evidenceCertificateSigner, handshakeServername, readPresentedCertificate } from '../../src/gateway/handshake-evidence.js';
import { handshakeEvidenceCallback } from '../../src/gateway/handshake-server.js';
import { generateTls } from '../../src/gateway/tls.js';
import type { EvidenceProvider } from '../../src/tee/index.js';
import { basicConstraints, buildCertificate, derToPem } from '../../src/testing/x509-builder.js';
import { simulated, startHarness } from './helpers.js';

function presented(url: string, servername: string, extra: ConnectionOptions = {}): Promise<Buffer> {
  const { hostname, port } = new URL(url);
  return new Promise((resolve, reject) => {
    const s = tlsConnect({ host: hostname, port: Number(port), servername, rejectUnauthorized: false, ALPNProtocols: ['http/1.1'], ...extra });
    s.once('secureConnect', () => {
      const raw = s.getPeerX509Certificate()?.raw;
      s.destroy();
      if (raw) resolve(raw);
      else reject(new Error('no certificate'));
    });
    s.once('error', reject);
  });
}

/** A leaf for a fresh key issued by an intermediate CA, as a chain file (leaf + intermediate). */
function chainIdentity(): { key: string; cert: string } {
  const ca = generateKeyPairSync('ec', { namedCurve: 'P-256' });
  const leaf = generateKeyPairSync('ec', { namedCurve: 'P-256' });
  const now = Date.now();
  const caName = [['CN', 'operator intermediate CA']] as const;
  const base = { notBefore: new Date(now - 3_600_000), notAfter: new Date(now + 86_400_000), signingKey: ca.privateKey, signature: 'ecdsa-sha256' as const };
  const caDer = buildCertificate({ ...base, serial: randomBytes(8), issuer: caName, subject: caName, publicKey: ca.publicKey, extensions: [basicConstraints(true)] });
  const leafDer = buildCertificate({ ...base, serial: randomBytes(8), issuer: caName, subject: [['CN', '127.0.0.1']], publicKey: leaf.publicKey, extensions: [] });
  return { key: leaf.privateKey.export({ type: 'pkcs8', format: 'pem' }) as string, cert: derToPem(leafDer) + derToPem(caDer) };
}

describe('s17 change review: the gateway side of evidence in the handshake', () => {
  it('#1 a chain file: small evidence travels; evidence that fits one certificate but not with the chain gets the normal certificate, and the handshake completes', async () => {
    const tls = chainIdentity();
    const small = await startHarness({ tls });
    try {
      const der = await presented(small.gateway.url, handshakeServername(randomBytes(32)));
      expect(readPresentedCertificate(new Uint8Array(der))?.evidence?.tee).toBe('tdx');
    } finally {
      await small.close();
    }
    // Evidence sized so that the evidence certificate alone is 50 bytes under the single-certificate bound.
    const signer = evidenceCertificateSigner(tls.key, tls.cert);
    const probe = evidenceCertificate(signer, { tee: 'tdx', nonce: Buffer.alloc(32), evidence: Buffer.alloc(100_000) }, new Date());
    const size = HANDSHAKE_CERTIFICATE_MAX_BYTES - (probe.length - 100_000) - 50;
    const big: EvidenceProvider = { name: 'big', getEvidence: async (reportData) => ({ tee: 'tdx', provider: 'tdx_guest', reportData, evidence: new Uint8Array(size).fill(1) }) };
    const large = await startHarness({ tls, provider: big });
    try {
      const der = await presented(large.gateway.url, handshakeServername(randomBytes(32)));
      expect(readPresentedCertificate(new Uint8Array(der))?.evidence).toBeUndefined();
    } finally {
      await large.close();
    }
  });

  it('#2 with an OCSPRequest listener on the server, concurrent handshakes still each get their own nonce', async () => {
    const tls = await generateTls(['127.0.0.1']);
    const attest = { provider: simulated, certificatePem: tls.cert, spkiHash: spkiSha256(tls.cert), limiter: new EvidenceRateLimiter(1000, 1000) };
    const made = handshakeEvidenceCallback({ attest, tls, observe: { produced: () => {}, refused: () => {} } });
    if (!('callback' in made)) throw new Error(made.disabled);
    const server = httpsServer({ key: tls.key, cert: tls.cert, SNICallback: made.callback }, (_q, r) => r.end());
    // An OCSP stapling helper answering later: what makes Node's hand-over of the SNI context asynchronous.
    server.on('OCSPRequest', (_c: unknown, _i: unknown, cb: (e: Error | null, r: Buffer | null) => void) => void setTimeout(() => cb(null, null), 20));
    await new Promise<void>((r) => server.listen(0, '127.0.0.1', () => r()));
    try {
      const url = `https://127.0.0.1:${(server.address() as AddressInfo).port}`;
      const nonces = Array.from({ length: 12 }, () => randomBytes(32));
      const ders = await Promise.all(nonces.map((n) => presented(url, handshakeServername(n), { requestOCSP: true } as ConnectionOptions)));
      ders.forEach((der, i) => expect(readPresentedCertificate(new Uint8Array(der))?.evidence?.nonce.equals(nonces[i] as Buffer)).toBe(true));
    } finally {
      await new Promise<void>((r) => {
        server.close(() => r());
        server.closeAllConnections();
      });
    }
  });
});
