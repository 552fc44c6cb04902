/**
 * Review s13 SNP #1: a failed verification discards only the collateral item the failing check
 * judged. S10 judges the VCEK / VLEK alone: a certificate-table "VCEK" that fails S10 (sent by any
 * unauthenticated client) used to make verifyEvidence delete the cached, verified KDS cert_chain
 * too, so every such request cost one KDS fetch and, while KDS throttled, genuine reports failed
 * with COLLATERAL_UNAVAILABLE. The chain's own S10 failure (its length) names the chain; a failure
 * of the verifier's pins (S07) discards nothing cached.
 *
 * The KDS is a real HTTP server on 127.0.0.1 (AmdKdsClient), serving a test PKI's chain, CRL and VCEK.
 */
import { afterEach, describe, expect, it } from 'vitest';

import { AmdKdsClient, CollateralCache, CollateralService, HttpClient } from '../../src/collateral/index.js';
import { parseEvidence, verifyEvidence, verifySnpReport, type SnpReport } from '../../src/index.js';
import type { SnpCertificateEntry } from '../../src/evidence/cert-table.js';
import { buildSnpReport, createAmdTestPki, loadAmdRsaKeys } from '../../src/testing/index.js';
import { CollateralServer } from '../helpers/collateral-server.js';
import { expectError } from '../helpers/expect-error.js';
import { AT, buildAmdCrl, testRoots, VALIDITY } from './snp/helpers/synthetic.js';

const product = 'Milan';
const seed = 's13-snp-discard';
const pki = createAmdTestPki({ seed, product, validity: VALIDITY });
const roots = testRoots(pki);
const built = buildSnpReport({ version: 3, product, signingKey: 'vcek', key: pki.vcek.key.privateKey, seed });
const CHAIN_PATH = `/vcek/v1/${product}/cert_chain`;
const CRL_PATH = `/vcek/v1/${product}/crl`;
const VCEK_PATH = `/vcek/v1/${product}/${Buffer.from(pki.chipId).toString('hex')}`;

const servers: CollateralServer[] = [];
afterEach(async () => {
  while (servers.length) await servers.pop()!.close();
});

async function kds(): Promise<CollateralServer> {
  const s = await CollateralServer.start([
    { path: CHAIN_PATH, body: new Uint8Array(Buffer.from(pki.ask.pem + pki.ark.pem)) },
    { path: CRL_PATH, body: buildAmdCrl(pki) },
    { path: VCEK_PATH, body: pki.vcek.der },
  ]);
  servers.push(s);
  return s;
}

function serviceOf(server: CollateralServer): CollateralService {
  const http = new HttpClient({ retries: 0, headersTimeoutMs: 5000, bodyTimeoutMs: 5000 });
  return new CollateralService({ amd: new AmdKdsClient({ http, baseUrl: server.url }), cache: new CollateralCache({ directory: null }) });
}

const report = (): SnpReport => parseEvidence(built.bytes) as SnpReport;
const table = (der: Uint8Array): SnpCertificateEntry[] => [{ kind: 'vcek', der } as SnpCertificateEntry];

function refusal(p: Promise<unknown>): Promise<{ code?: string; check?: string; details?: { [k: string]: unknown } }> {
  return p.then(
    () => ({ code: 'resolved' }),
    (e: { code?: string; check?: string; details?: { [k: string]: unknown } }) => e,
  );
}

/** Certificates that fail S10 as a table VCEK: the ASK (CN SEV-Milan), and a SEV-VCEK signed by another key. */
const forged = {
  'the ASK (CN is not SEV-VCEK)': pki.ask.der,
  'a VCEK signed by a key that is not the ASK': createAmdTestPki({ seed, product, validity: VALIDITY, overrides: { vcek: { signingKey: loadAmdRsaKeys('Genoa').ask.privateKey } } }).vcek.der,
};

describe('review s13 SNP #1: an S10 failure of the leaf never discards the cached chain', () => {
  for (const [name, der] of Object.entries(forged)) {
    it(`a table VCEK that is ${name}: ERR_CHAIN S10 on the leaf; the verified KDS chain stays cached, KDS is not asked again`, async () => {
      const server = await kds();
      const service = serviceOf(server);
      expect((await verifyEvidence(built.bytes, { at: AT, trustRoots: roots, collateral: service })).ok).toBe(true);
      expect(server.hits.get(CHAIN_PATH)).toBe(1);

      for (let i = 0; i < 3; i++) {
        const e = await refusal(verifyEvidence(built.bytes, { at: AT, trustRoots: roots, collateral: service, certTable: table(der) }));
        expect(e).toMatchObject({ code: 'ERR_CHAIN', check: 'S10', details: { collateralItem: 'signingCertificate', collateralOrigin: 'evidence' } });
      }
      // The chain, the CRL and the VCEK are still in the cache: a synchronous answer, nothing fetched.
      const cached = service.cachedFor(report(), AT);
      expect(cached?.kind).toBe('amd');
      expect(server.hits.get(CHAIN_PATH)).toBe(1);

      // KDS throttles now: genuine reports still verify from the cache.
      server.faults.set(CHAIN_PATH, { kind: 'status', status: 429, retryAfter: '10' });
      server.faults.set(VCEK_PATH, { kind: 'status', status: 429, retryAfter: '10' });
      server.faults.set(CRL_PATH, { kind: 'status', status: 429, retryAfter: '10' });
      expect((await verifyEvidence(built.bytes, { at: AT, trustRoots: roots, collateral: service })).ok).toBe(true);
      expect(server.hits.get(CHAIN_PATH)).toBe(1);
      expect(server.hits.get(VCEK_PATH)).toBe(1);
    });
  }

  it('a fetched VCEK that fails S10 is discarded (it was judged), the chain is kept', async () => {
    const server = await kds();
    server.records.find((r) => r.path === VCEK_PATH)!.body = forged['a VCEK signed by a key that is not the ASK'];
    const service = serviceOf(server);
    for (let i = 0; i < 2; i++) {
      const e = await refusal(verifyEvidence(built.bytes, { at: AT, trustRoots: roots, collateral: service }));
      expect(e).toMatchObject({ code: 'ERR_CHAIN', check: 'S10', details: { collateralItem: 'signingCertificate', collateralOrigin: 'network' } });
    }
    expect(server.hits.get(VCEK_PATH)).toBe(2); // discarded after each refusal, fetched again
    expect(server.hits.get(CHAIN_PATH)).toBe(1); // never judged by S10's leaf checks: kept
  });

  it("the chain's own S10 failure (not exactly [ASK, ARK]) names the chain, not the leaf", () => {
    // A service never hands such a chain over (the artifact is refused where it enters: ERR_COLLATERAL_FORMAT),
    // so only collateral given outright reaches this check; the error names the chain for any caller.
    const collateral = { signingCertificate: pki.vcek.der, certChain: [pki.ask.der, pki.ark.der, pki.ark.der], crl: buildAmdCrl(pki) };
    const err = expectError(() => verifySnpReport(report(), collateral, { at: AT, trustRoots: roots }), { code: 'ERR_CHAIN', check: 'S10' });
    expect(err.details).toMatchObject({ collateralItem: 'certChain', collateralOrigin: 'caller' });
  });

  it('a failure of the pins (S07: trust roots without this product) discards nothing cached', async () => {
    const server = await kds();
    const service = serviceOf(server);
    expect((await verifyEvidence(built.bytes, { at: AT, trustRoots: roots, collateral: service })).ok).toBe(true);
    const noMilan = { label: 'no-milan', intelRootCas: [], amd: {} };
    const e = await refusal(verifyEvidence(built.bytes, { at: AT, trustRoots: noMilan, collateral: service }));
    expect(e).toMatchObject({ code: 'ERR_CHAIN', check: 'S07', details: { collateralItem: 'trustRoots' } });
    expect(service.cachedFor(report(), AT)?.kind).toBe('amd');
    expect((await verifyEvidence(built.bytes, { at: AT, trustRoots: roots, collateral: service })).ok).toBe(true);
    expect(server.hits.get(CHAIN_PATH)).toBe(1);
    expect(server.hits.get(VCEK_PATH)).toBe(1);
    expect(server.hits.get(CRL_PATH)).toBe(1);
  });
});
