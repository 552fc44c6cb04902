/**
 * s17 finding: the client hashed the presented certificate's key with `new X509Certificate(der)`,
 * and Node's constructor tries PEM first: it scans the whole input for a "-----BEGIN CERTIFICATE-----"
 * block, so a DER certificate that carries the PEM of another certificate (in any extension) parses
 * as THAT certificate. A relay with its own TLS key presented a certificate embedding the genuine
 * gateway's PEM, forwarded the client's nonce to the gateway, and the binding "passed" against the
 * gateway's key while the TLS connection ended at the relay: the prompt went to the relay.
 *
 * Now the key is read from the DER strictly (src/gateway/presented-key.ts), checked against the key
 * OpenSSL verified the handshake with, and a certificate of another key fails the binding (T41).
 */
import { generateKeyPairSync, randomBytes } from 'node:crypto';
import { createServer, request as httpsRequest, type Server } from 'node:https';
import type { AddressInfo } from 'node:net';

import { afterAll, beforeAll, describe, expect, it } from 'vitest';

import { AttestedClient, AttestationRefusedError, spkiSha256 } from '../../src/gateway/index.js';
import { buildCertificate, derToPem } from '../../src/testing/x509-builder.js';
import { SECRET, clientOptions, mrTdOf, ollamaChat, simulated, startHarness, tdxPolicy, type Harness } from './helpers.js';

let h: Harness;
beforeAll(async () => {
  h = await startHarness();
});
afterAll(async () => h?.close());

/** A self-signed P-256 certificate for a fresh key, with `embedded` (text) in a private extension. */
function relayIdentity(embedded: string): { key: string; cert: string; der: Uint8Array } {
  const { privateKey, publicKey } = generateKeyPairSync('ec', { namedCurve: 'P-256' });
  const now = Date.now();
  const der = buildCertificate({
    serial: randomBytes(8),
    issuer: [['CN', 'relay']],
    subject: [['CN', 'relay']],
    notBefore: new Date(now - 3_600_000),
    notAfter: new Date(now + 86_400_000),
    publicKey,
    // On a line of its own: PEM readers look for the armour at the start of a line.
    extensions: [{ oid: '1.3.6.1.4.1.55555.1', critical: false, value: Buffer.from(`\n${embedded}`, 'ascii') }],
    signingKey: privateKey,
    signature: 'ecdsa-sha256',
  });
  return { key: privateKey.export({ type: 'pkcs8', format: 'pem' }) as string, cert: derToPem(der), der };
}

function post(base: string, path: string, body: string): Promise<string> {
  return new Promise((resolve, reject) => {
    const req = httpsRequest(`${base}${path}`, { method: 'POST', rejectUnauthorized: false, headers: { 'content-type': 'application/json' } }, (res) => {
      const chunks: Buffer[] = [];
      res.on('data', (c: Buffer) => chunks.push(c));
      res.on('end', () => resolve(Buffer.concat(chunks).toString('utf8')));
    });
    req.on('error', reject);
    req.end(body);
  });
}

/** The relay: attestation requests go to the genuine gateway, everything else is recorded. */
async function startRelay(identity: { key: string; cert: string }): Promise<{ url: string; received: string[]; close(): Promise<void> }> {
  const received: string[] = [];
  const server: Server = createServer({ key: identity.key, cert: identity.cert }, (req, res) => {
    const chunks: Buffer[] = [];
    req.on('data', (c: Buffer) => chunks.push(c));
    req.on('end', async () => {
      const body = Buffer.concat(chunks).toString('utf8');
      if (req.url === '/v1/attestation' || req.url === '/aTLS') {
        res.writeHead(200, { 'content-type': 'application/json' }).end(await post(h.gateway.url, req.url, body));
        return;
      }
      received.push(body);
      res.writeHead(200, { 'content-type': 'application/json' }).end('{"message":{"role":"assistant","content":"relayed"},"done":true}\n');
    });
  });
  await new Promise<void>((r) => server.listen(0, '127.0.0.1', () => r()));
  return {
    url: `https://127.0.0.1:${(server.address() as AddressInfo).port}`,
    received,
    close: () => new Promise<void>((r) => {
      server.close(() => r());
      server.closeAllConnections();
    }),
  };
}

describe('s17: a presented certificate that embeds the PEM of the genuine gateway certificate', () => {
  it('spkiSha256 of such DER is its own key, not the embedded one', () => {
    const relay = relayIdentity(h.gateway.certificatePem);
    expect(spkiSha256(relay.der).toString('hex')).not.toBe(h.gateway.spkiSha256);
    expect(spkiSha256(relay.der).equals(spkiSha256(relay.cert))).toBe(true);
  });

  for (const handshakeEvidence of [false, true]) {
    it(`a relay presenting it is refused (T41) and gets no prompt byte${handshakeEvidence ? ' (client with evidence in the handshake, relay without it)' : ''}`, async () => {
      const relay = await startRelay(relayIdentity(h.gateway.certificatePem));
      const client = new AttestedClient(relay.url, { ...clientOptions(tdxPolicy(await mrTdOf(simulated))), handshakeEvidence });
      try {
        const err = await client.fetch('/api/chat', { method: 'POST', headers: { authorization: `Bearer ${h.token}` }, body: ollamaChat(SECRET) }).then(
          () => undefined,
          (e: unknown) => e,
        );
        expect(err).toBeInstanceOf(AttestationRefusedError);
        expect((err as AttestationRefusedError).code).toBe('ERR_ATTEST_BINDING');
        expect((err as AttestationRefusedError).details.checks).toEqual(['T41']);
        expect(relay.received.some((b) => b.includes(SECRET))).toBe(false);
      } finally {
        await client.close();
        await relay.close();
      }
    });
  }
});
