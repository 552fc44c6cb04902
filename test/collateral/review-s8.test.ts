/**
 * Review session 8 (collateral), findings 1-5.
 *
 * 1. A PCCS in REQ / OFFLINE caching mode answers 404 "No cache data for this
 *    platform" for TCB info it has not cached; the FMSPC comes from a PCK chain
 *    verified to the pinned root, so that is a retryable gap of the source,
 *    not a final verdict on the quote, and it is remembered for 30 s at most.
 */
import { afterEach, describe, expect, it } from 'vitest';

import { CollateralCache, CollateralService, HttpClient, IntelPcsClient, verifyEvidence, type CollateralArtifact } from '../../src/index.js';
import { SimulatedTeeProvider } from '../../src/tee/index.js';
import { CollateralServer, type Record } from '../helpers/collateral-server.js';

const AT = new Date('2026-06-01T12:00:00Z');
const TCB_PATH = '/tdx/certification/v4/tcb';

const servers: CollateralServer[] = [];
afterEach(async () => {
  while (servers.length) await servers.pop()!.close();
});

/** Intel collateral at the PCCS paths, issuer chains URL-encoded in their headers. */
function pccsRecords(artifacts: readonly CollateralArtifact[]): Record[] {
  const where: { [kind: string]: [string, string | undefined] } = {
    'intel-tcb-info': [TCB_PATH, 'tcb-info-issuer-chain'],
    'intel-qe-identity': ['/tdx/certification/v4/qe/identity', 'sgx-enclave-identity-issuer-chain'],
    'intel-pck-crl': ['/sgx/certification/v4/pckcrl', 'sgx-pck-crl-issuer-chain'],
    'intel-root-ca-crl': ['/sgx/certification/v4/rootcacrl', undefined],
  };
  return artifacts.map((a) => {
    const [path, header] = where[a.kind]!;
    return { path, body: a.body, headers: header && a.issuerChainPem ? { [header]: encodeURIComponent(a.issuerChainPem) } : {} };
  });
}

function outcome(p: Promise<unknown>): Promise<{ code?: string; errorClass?: string; retryable?: boolean; details?: { reason?: string } } | 'ok'> {
  return p.then(
    () => 'ok' as const,
    (e: { code?: string; errorClass?: string; retryable?: boolean; details?: { reason?: string } }) => e,
  );
}

describe('#1 a PCCS that has not cached the platform\'s TCB info', () => {
  it('is the retryable ERR_COLLATERAL_NOT_FOUND, remembered 30 s at most, and verifies once the PCCS is filled', async () => {
    const tdx = new SimulatedTeeProvider({ tee: 'tdx', at: AT });
    const { evidence } = await tdx.getEvidence(new Uint8Array(64));
    const records = pccsRecords(tdx.collateral);
    const tcbRecord = records.find((r) => r.path === TCB_PATH)!;
    // REQ / OFFLINE mode: everything but this FMSPC's TCB info (the PCCS answers 404 for it without asking Intel).
    const server = await CollateralServer.start(records.filter((r) => r !== tcbRecord));
    servers.push(server);
    let clock = 1_000_000;
    const http = new HttpClient({ retries: 0 });
    // notFoundTtlMs stays at its default (5 min): the TCB info's own cap applies.
    const service = new CollateralService({ intel: new IntelPcsClient({ http, baseUrl: server.url }), cache: new CollateralCache({ directory: null }), clock: () => clock });
    const verify = () => outcome(verifyEvidence(evidence, { collateral: service, trustRoots: tdx.trustRoots, at: AT }));
    try {
      const expected = { code: 'ERR_COLLATERAL_NOT_FOUND', errorClass: 'COLLATERAL_UNAVAILABLE', retryable: true, details: { reason: 'platform-not-served' } };
      expect(await verify()).toMatchObject(expected);
      expect(await verify()).toMatchObject(expected);
      expect(server.hits.get(TCB_PATH)).toBe(1); // the second answer came from the negative cache

      server.records.push(tcbRecord); // the platform registers; the PCCS now holds its TCB info
      clock += 29_999;
      expect(await verify()).toMatchObject(expected);
      expect(server.hits.get(TCB_PATH)).toBe(1);
      clock += 1;
      expect(await verify()).toBe('ok');
      expect(server.hits.get(TCB_PATH)).toBe(2);
    } finally {
      await http.close();
    }
  });
});
