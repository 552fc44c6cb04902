/**
 * Review session 6b, #2: ERR_COLLATERAL_UNKNOWN_PLATFORM (final) only from a
 * source that serves now. With a warm cache the QE identity, CRLs and AMD
 * chain come from the cache, not from the source, so a PCCS whose database
 * was emptied (or a wrong URL after a restart) used to turn every new
 * platform's 404 into a final verdict. The source must have answered 2xx for
 * a fixed document within the liveness window of the provider clock, or
 * answer one probe; otherwise the 404 stays the retryable ERR_COLLATERAL_NOT_FOUND.
 */
import { afterEach, describe, expect, it } from 'vitest';

import { AmdKdsClient, CollateralCache, CollateralService, HttpClient, IntelPcsClient, type CollateralArtifact } from '../../src/collateral/index.js';
import { parseEvidence } from '../../src/index.js';
import { SimulatedTeeProvider } from '../../src/tee/index.js';
import { CollateralServer, type Record } from '../helpers/collateral-server.js';

const AT = new Date('2026-06-01T00:00:00Z');
const QE_PATH = '/tdx/certification/v4/qe/identity';
const AMD_CRL_PATH = '/vcek/v1/Milan/crl';

const servers: CollateralServer[] = [];
afterEach(async () => {
  while (servers.length) await servers.pop()!.close();
});

const http = () => new HttpClient({ retries: 0, headersTimeoutMs: 5000, bodyTimeoutMs: 5000 });

/** The fixed documents of `artifacts` at their real PCS / KDS paths (no TCB info, no VCEK). */
function fixedDocuments(artifacts: readonly CollateralArtifact[]): Record[] {
  const header: { [k: string]: string } = { 'intel-qe-identity': 'sgx-enclave-identity-issuer-chain', 'intel-pck-crl': 'sgx-pck-crl-issuer-chain' };
  const paths: { [k: string]: string } = {
    'intel-qe-identity': QE_PATH,
    'intel-pck-crl': '/sgx/certification/v4/pckcrl',
    'intel-root-ca-crl': '/sgx/certification/v4/rootcacrl',
    'amd-cert-chain': '/vcek/v1/Milan/cert_chain',
    'amd-crl': AMD_CRL_PATH,
  };
  return artifacts
    .filter((a) => paths[a.kind] !== undefined)
    .map((a) => {
      const name = header[a.kind];
      return { path: paths[a.kind]!, body: a.body, headers: name && a.issuerChainPem ? { [name]: encodeURIComponent(a.issuerChainPem) } : {} };
    });
}

async function serve(records: Record[]): Promise<CollateralServer> {
  const s = await CollateralServer.start(records);
  servers.push(s);
  return s;
}

function outcome(p: Promise<unknown>): Promise<{ code?: string; retryable?: boolean; details?: { reason?: string } } | 'resolved'> {
  return p.then(
    () => 'resolved' as const,
    (e: { code?: string; retryable?: boolean; details?: { reason?: string } }) => e,
  );
}

describe('unknown platform behind a warm cache (review s6b #2)', () => {
  it('Intel: never a verdict (review s8 #1): a missing TCB info is the retryable ERR_COLLATERAL_NOT_FOUND, cold or warm, without a probe', async () => {
    const tee = new SimulatedTeeProvider({ tee: 'tdx', at: AT });
    const quote = parseEvidence((await tee.getEvidence(new Uint8Array(64))).evidence) as Parameters<CollateralService['forQuote']>[0];
    const server = await serve(fixedDocuments(tee.collateral)); // everything but this FMSPC's TCB info
    const cache = new CollateralCache({ directory: null });
    let clock = 1_000_000;
    const service = (c: CollateralCache) =>
      new CollateralService({ intel: new IntelPcsClient({ http: http(), baseUrl: server.url }), cache: c, clock: () => clock, notFoundTtlMs: 0 });
    const live = service(cache);
    const notFound = { code: 'ERR_COLLATERAL_NOT_FOUND', errorClass: 'COLLATERAL_UNAVAILABLE', retryable: true, details: { reason: 'platform-not-served', status: 404 } };

    expect(await outcome(live.forQuote(quote, AT))).toMatchObject(notFound); // cold: the fixed documents are fetched and cached
    expect(server.hits.get(QE_PATH)).toBe(1);
    server.records.splice(0); // the PCCS's database is emptied
    expect(await outcome(service(cache).forQuote(quote, AT))).toMatchObject(notFound); // a new process on the warm cache
    clock += 60_000;
    for (let i = 0; i < 3; i++) expect(await outcome(live.forQuote(quote, AT))).toMatchObject(notFound);
    expect(server.hits.get(QE_PATH)).toBe(1); // no liveness probe: there is no verdict to earn
  });

  it('SEV-SNP: an emptied KDS behind a cached chain and CRL gives ERR_COLLATERAL_NOT_FOUND; a serving one the verdict', async () => {
    const tee = new SimulatedTeeProvider({ tee: 'snp', at: AT });
    const report = parseEvidence((await tee.getEvidence(new Uint8Array(64))).evidence) as Parameters<CollateralService['forSnpReport']>[0];
    expect(report.product).toBe('Milan');
    const server = await serve(fixedDocuments(tee.collateral)); // chain and CRL, no VCEK
    const cache = new CollateralCache({ directory: null });
    let clock = 0;
    const service = () => new CollateralService({ amd: new AmdKdsClient({ http: http(), baseUrl: server.url }), cache, clock: () => clock });
    expect(await outcome(service().forSnpReport(report, AT))).toMatchObject({ code: 'ERR_COLLATERAL_UNKNOWN_PLATFORM', retryable: false });
    expect(server.hits.get(AMD_CRL_PATH)).toBe(1);

    const kept = server.records.splice(0);
    expect(await outcome(service().forSnpReport(report, AT))).toMatchObject({ code: 'ERR_COLLATERAL_NOT_FOUND', retryable: true, details: { reason: 'source-not-serving' } });
    server.records.push(...kept);
    clock += 60_000;
    // A new service on the warm cache: the probe (CRL) answers, so the 404 is the verdict again.
    expect(await outcome(service().forSnpReport(report, AT))).toMatchObject({ code: 'ERR_COLLATERAL_UNKNOWN_PLATFORM', retryable: false });
    expect(server.hits.get(AMD_CRL_PATH)).toBe(3);
  });
});
