/**
 * Review s13 SNP #2: a report whose leaf no source can serve (VLEK-signed: KDS serves no VLEK; a
 * VCEK report with MASK_CHIP_KEY set or an all-zero CHIP_ID: it names no chip) and that comes
 * without that leaf in its certificate table is the S05 verdict ERR_SNP_SIGNER (not retryable) from
 * verifyEvidence, for every caller (attestation service, key broker, CLI), as the gateway client
 * already had it (review s11 changes-c #2). Before, it was the retryable ERR_COLLATERAL_MISSING
 * ("no collateral source configured", 503 / exit 3), and the masked report sent KDS a request for
 * hwID 00..00. No source is asked.
 *
 * The KDS is a real HTTP server on 127.0.0.1 (AmdKdsClient) that counts every request.
 */
import { afterEach, describe, expect, it } from 'vitest';

import { startAttestationService } from '../../src/attestation-service/index.js';
import { AmdKdsClient, CollateralCache, CollateralService, HttpClient } from '../../src/collateral/index.js';
import { verifyEvidence } from '../../src/index.js';
import type { SnpCertificateEntry } from '../../src/evidence/cert-table.js';
import { buildSnpReport, createAmdTestPki } from '../../src/testing/index.js';
import { post } from '../attestation-service/helpers.js';
import { CollateralServer } from '../helpers/collateral-server.js';
import { AT, buildAmdCrl, testRoots, VALIDITY } from './snp/helpers/synthetic.js';

const product = 'Milan';
const seed = 's13-snp-leaf-source';
const pki = createAmdTestPki({ seed, product, validity: VALIDITY });
const roots = testRoots(pki);
const ZERO_CHIP = new Uint8Array(64);

const vlekReport = buildSnpReport({ version: 3, product, signingKey: 'vlek', key: pki.vlek.key.privateKey, seed }).bytes;
const maskedReport = buildSnpReport({ version: 3, product, signingKey: 'vcek', key: pki.vcek.key.privateKey, seed, maskChipKey: true, chipId: ZERO_CHIP }).bytes;
const zeroChipReport = buildSnpReport({ version: 3, product, signingKey: 'vcek', key: pki.vcek.key.privateKey, seed, chipId: ZERO_CHIP }).bytes;

const servers: CollateralServer[] = [];
afterEach(async () => {
  while (servers.length) await servers.pop()!.close();
});

/** A KDS with everything but VLEKs (KDS serves none) and the VCEK of hwID 00..00 (no such chip). */
async function kds(): Promise<CollateralServer> {
  const s = await CollateralServer.start([
    { path: `/vcek/v1/${product}/cert_chain`, body: new Uint8Array(Buffer.from(pki.ask.pem + pki.ark.pem)) },
    { path: `/vcek/v1/${product}/crl`, body: buildAmdCrl(pki) },
    { path: `/vlek/v1/${product}/cert_chain`, body: new Uint8Array(Buffer.from(pki.asvk.pem + pki.ark.pem)) },
    { path: `/vlek/v1/${product}/crl`, body: buildAmdCrl(pki) },
  ]);
  servers.push(s);
  return s;
}

function serviceOf(server: CollateralServer): CollateralService {
  const http = new HttpClient({ retries: 0, headersTimeoutMs: 5000, bodyTimeoutMs: 5000 });
  return new CollateralService({ amd: new AmdKdsClient({ http, baseUrl: server.url }), cache: new CollateralCache({ directory: null }) });
}

function refusal(p: Promise<unknown>): Promise<{ code?: string; errorClass?: string; check?: string; retryable?: boolean; details?: { [k: string]: unknown } }> {
  return p.then(
    () => ({ code: 'resolved' }),
    (e: { code?: string }) => e,
  );
}

const cases: { name: string; bytes: Uint8Array; kind: 'vcek' | 'vlek'; leaf: Uint8Array }[] = [
  { name: 'a VLEK-signed report', bytes: vlekReport, kind: 'vlek', leaf: pki.vlek.der },
  { name: 'a VCEK report with MASK_CHIP_KEY set', bytes: maskedReport, kind: 'vcek', leaf: pki.vcek.der },
  { name: 'a VCEK report with an all-zero CHIP_ID', bytes: zeroChipReport, kind: 'vcek', leaf: pki.vcek.der },
];

describe('review s13 SNP #2: a leaf no source serves must come with the evidence (S05), for every verifyEvidence caller', () => {
  for (const c of cases) {
    it(`${c.name} without its leaf in the table: ERR_SNP_SIGNER at S05, not retryable, no source asked`, async () => {
      const server = await kds();
      const service = serviceOf(server);
      for (const certTable of [undefined, [{ kind: 'ask', der: pki.ask.der } as SnpCertificateEntry]]) {
        const e = await refusal(verifyEvidence(c.bytes, { at: AT, trustRoots: roots, collateral: service, ...(certTable ? { certTable } : {}) }));
        expect(e).toMatchObject({
          code: 'ERR_SNP_SIGNER',
          errorClass: 'SNP_SIGNER',
          check: 'S05',
          details: { signingKey: c.kind, reason: certTable ? 'leaf-not-in-table' : 'no-certificate-table' },
        });
        expect(e.retryable ?? false).toBe(false);
      }
      expect(server.totalHits).toBe(0);
    });

    it(`${c.name} with its leaf in the table reaches the verifier (the chain and CRL from KDS, no VCEK asked)`, async () => {
      const server = await kds();
      const certTable = [{ kind: c.kind, der: c.leaf } as SnpCertificateEntry];
      const outcome = verifyEvidence(c.bytes, { at: AT, trustRoots: roots, collateral: serviceOf(server), certTable });
      // A masked or zero CHIP_ID binds the report to no chip: S14 refuses it by default (allowMaskedChipId).
      if (c.kind === 'vlek') expect((await outcome).ok).toBe(true);
      else expect(await refusal(outcome)).toMatchObject({ code: 'ERR_SNP_CHIP', check: 'S14' });
      expect(server.hits.get(`/vcek/v1/${product}/cert_chain`) ?? server.hits.get(`/vlek/v1/${product}/cert_chain`)).toBe(1);
      expect(server.hits.get(`/vcek/v1/${product}/${Buffer.from(ZERO_CHIP).toString('hex')}`)).toBeUndefined();
    });
  }

  it('the attestation service answers 422 with ERR_SNP_SIGNER (a verdict), not 503 "retry"', async () => {
    const server = await kds();
    const svc = await startAttestationService({ collateral: serviceOf(server), trustRoots: roots, port: 0, now: () => AT, log: () => {} });
    try {
      const r = await post(svc.url, '/v1/verify', { evidence: Buffer.from(vlekReport).toString('base64') });
      expect(r.status).toBe(422);
      expect(r.json.error).toMatchObject({ code: 'ERR_SNP_SIGNER', check: 'S05' });
      expect(r.headers['retry-after']).toBeUndefined();
    } finally {
      await svc.close();
    }
    expect(server.totalHits).toBe(0);
  });
});
