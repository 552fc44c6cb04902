/**
 * Review finding (session 3): with a --tls-cert chain file (leaf, then more
 * certificates), the gateway named the whole file in its answers and
 * attestAtls returned it for pinning, so a client pinning it as its only
 * trust anchor (as GENXT's does) trusted every certificate in it. The answers
 * now name the leaf alone, and attestAtls returns the certificate presented
 * on the verified connection.
 */
import { randomBytes, X509Certificate } from 'node:crypto';

import { afterAll, beforeAll, describe, expect, it } from 'vitest';

import { attestAtls } from '../../src/gateway/index.js';
import { generateTls } from '../../src/gateway/tls.js';
import { SimulatedVtpmProvider } from '../../src/tee/index.js';
import { splitPemCertificates } from '../../src/x509/index.js';
import { clientOptions, mrTdOf, simulated, startHarness, tdxPolicy, type Harness } from './helpers.js';

const vtpm = new SimulatedVtpmProvider({ hardware: simulated });
let h: Harness;
let leafDer: Buffer;

beforeAll(async () => {
  const leaf = await generateTls(['127.0.0.1']);
  const other = await generateTls(['intermediate.example']);
  leafDer = new X509Certificate(leaf.cert).raw;
  h = await startHarness({ provider: vtpm, attestationsPerSecond: 10_000, tls: { cert: leaf.cert + other.cert, key: leaf.key } });
});
afterAll(async () => h?.close());

const count = (pem: string): number => splitPemCertificates(pem).length;

describe('a --tls-cert chain file: the answers name the leaf alone', () => {
  it('the gateway presents the chain file, yet POST /v1/attestation and POST /aTLS name one certificate, the leaf', async () => {
    expect(count(h.gateway.certificatePem)).toBe(2);
    const nonce = randomBytes(32).toString('base64');
    for (const path of ['/v1/attestation', '/aTLS']) {
      const r = await h.call('POST', path, { body: JSON.stringify({ nonce }), token: null });
      expect(r.status).toBe(200);
      expect(count(r.json.certificate)).toBe(1);
      expect(Buffer.from(splitPemCertificates(r.json.certificate)[0]!).equals(leafDer)).toBe(true);
    }
  });

  it('attestAtls returns the verified leaf alone for pinning', async () => {
    const options = { ...clientOptions(tdxPolicy(await mrTdOf(simulated), { vtpm: { unknownImaEntries: 'violation' } })), reference: vtpm.referenceList() };
    const v = await attestAtls(h.gateway.url, options);
    expect(count(v.certificatePem)).toBe(1);
    expect(Buffer.from(splitPemCertificates(v.certificatePem)[0]!).equals(leafDer)).toBe(true);
  });
});
