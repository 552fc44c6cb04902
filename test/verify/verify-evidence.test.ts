/**
 * verifyEvidence end to end: evidence bytes in, collateral from the local
 * server (recorded real collateral at the real paths) through the collateral
 * service and cache, the verifier at one instant, a typed result out.
 */
import { afterEach, describe, expect, it } from 'vitest';

import {
  AmdKdsClient,
  BundleSource,
  CollateralCache,
  CollateralService,
  HttpClient,
  IntelPcsClient,
  TeeVerifyError,
  collateralArtifacts,
  exportBundle,
  importBundle,
  verifyEvidence,
} from '../../src/index.js';
import { CollateralServer } from '../helpers/collateral-server.js';
import { amdProductRecords, intelRecords, vcekRecord } from '../helpers/recorded-collateral.js';
import { HAVE_VECTORS, findEntry, readEvidenceBytes } from '../helpers/vectors.js';

const servers: CollateralServer[] = [];
afterEach(async () => {
  while (servers.length) await servers.pop()!.close();
});

async function intelService(id: string) {
  const server = await CollateralServer.start(intelRecords(findEntry(id)!));
  servers.push(server);
  const http = new HttpClient({ retries: 0 });
  return { server, service: new CollateralService({ intel: new IntelPcsClient({ http, baseUrl: server.url }), cache: new CollateralCache({ directory: null }) }) };
}

describe.skipIf(!HAVE_VECTORS)('verifyEvidence with collateral from the local PCS', () => {
  it('TDX v4 (dcap-qvl sample): UpToDate, every check recorded, at the given instant', async () => {
    const e = findEntry('phala-dcap-qvl/tdx_quote')!;
    const { service, server } = await intelService(e.id);
    const at = new Date(e.verification_time!);
    const result = await verifyEvidence(readEvidenceBytes(e), { collateral: service, at });
    expect(result).toMatchObject({ ok: true, tee: 'tdx', tcbStatus: 'UpToDate', advisoryIds: [], at: at.toISOString(), trustRoots: 'production' });
    expect(result.claims.kind).toBe('tdx');
    expect(result.checks.map((c) => c.id)).toEqual(expect.arrayContaining(['T09', 'T13', 'T14', 'T17', 'T22', 'T23', 'T26', 'T30']));
    expect(result.collateral.artifacts.map((a) => a.origin)).toEqual(['network', 'network', 'network', 'network']);
    // A warm second verification fetches nothing.
    const hits = server.totalHits;
    await verifyEvidence(readEvidenceBytes(e), { collateral: service, at });
    expect(server.totalHits).toBe(hits);
  });

  it('SGX v3 (dcap-qvl sample): the manifest status and advisories', async () => {
    const e = findEntry('phala-dcap-qvl/sgx_quote')!;
    const { service } = await intelService(e.id);
    const result = await verifyEvidence(readEvidenceBytes(e), { collateral: service, at: new Date(e.verification_time!) });
    expect(result.tee).toBe('sgx');
    expect(result.tcbStatus).toBe(e.expected.tcb_status);
    expect([...result.advisoryIds].sort()).toEqual([...e.expected.advisory_ids!].sort());
  });

  it('TDX v5 with no matching TCB level is TCB_UNSUPPORTED, never ok; the specific class survives (X12)', async () => {
    const e = findEntry('phala-dcap-qvl/tdx_quote_outdated')!;
    const { service } = await intelService(e.id);
    await expect(verifyEvidence(readEvidenceBytes(e), { collateral: service, at: new Date(e.verification_time!) })).rejects.toMatchObject({
      errorClass: 'TCB_UNSUPPORTED',
    });
  });

  it('collateral that is not valid at the instant fails closed (EXPIRED), never ok', async () => {
    const e = findEntry('phala-dcap-qvl/tdx_quote')!;
    const { service } = await intelService(e.id);
    await expect(verifyEvidence(readEvidenceBytes(e), { collateral: service, at: new Date('2026-11-29T00:00:00Z') })).rejects.toMatchObject({ errorClass: 'EXPIRED' });
  });

  it('an unreachable PCS is COLLATERAL_UNAVAILABLE (retryable), distinct from a rejection', async () => {
    const e = findEntry('phala-dcap-qvl/tdx_quote')!;
    const { service, server } = await intelService(e.id);
    await server.close();
    servers.pop();
    const err = await verifyEvidence(readEvidenceBytes(e), { collateral: service, at: new Date(e.verification_time!) }).catch((x: unknown) => x);
    expect(err).toBeInstanceOf(TeeVerifyError);
    expect(err).toMatchObject({ errorClass: 'COLLATERAL_UNAVAILABLE', retryable: true });
  });

  it('offline: a bundle exported once verifies with no server at all', async () => {
    const e = findEntry('phala-dcap-qvl/tdx_quote')!;
    const { service } = await intelService(e.id);
    const at = new Date(e.verification_time!);
    const quote = readEvidenceBytes(e);
    const { parseEvidence } = await import('../../src/index.js');
    const collateral = await service.forEvidence(parseEvidence(quote), at);
    const bundle = exportBundle(collateralArtifacts(collateral));
    const offline = new CollateralService({ intel: new BundleSource(importBundle(bundle)), cache: null });
    const result = await verifyEvidence(quote, { collateral: offline, at });
    expect(result.tcbStatus).toBe('UpToDate');
    expect(result.collateral.artifacts.every((a) => a.origin === 'bundle')).toBe(true);
  });

  it('SEV-SNP (openpcc Azure Genoa, v3) with VCEK, chain and CRL from the local KDS', async () => {
    const e = findEntry('openpcc/azure_sevsnp_genoa')!;
    const server = await CollateralServer.start([...amdProductRecords(), vcekRecord(e)!]);
    servers.push(server);
    const service = new CollateralService({ amd: new AmdKdsClient({ http: new HttpClient({ retries: 0 }), baseUrl: server.url }), cache: null });
    const result = await verifyEvidence(readEvidenceBytes(e), { collateral: service, at: new Date(e.verification_time!) });
    expect(result).toMatchObject({ ok: true, tee: 'snp', tcbStatus: undefined });
    expect(result.claims).toMatchObject({ kind: 'snp', product: 'Genoa', signingKey: 'vcek' });
    expect(result.checks.map((c) => c.id)).toEqual(expect.arrayContaining(['S07', 'S08', 'S09', 'S10', 'S11', 'S12', 'S13', 'S14']));
  });

  it('refuses collateral of the other vendor and a call without collateral', async () => {
    const e = findEntry('phala-dcap-qvl/tdx_quote')!;
    const { service } = await intelService(e.id);
    const { parseEvidence } = await import('../../src/index.js');
    const at = new Date(e.verification_time!);
    const intel = await service.forEvidence(parseEvidence(readEvidenceBytes(e)), at);
    const snp = readEvidenceBytes(findEntry('openpcc/azure_sevsnp_genoa')!);
    await expect(verifyEvidence(snp, { collateral: intel, at })).rejects.toMatchObject({ code: 'ERR_INVALID_ARGUMENT' });
    await expect(verifyEvidence(snp, undefined as never)).rejects.toMatchObject({ code: 'ERR_INVALID_ARGUMENT' });
  });
});
