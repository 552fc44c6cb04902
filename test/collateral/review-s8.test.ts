/**
 * Review session 8 (collateral), findings 1-5.
 *
 * 1. A PCCS in REQ / OFFLINE caching mode answers 404 "No cache data for this
 *    platform" for TCB info it has not cached; the FMSPC comes from a PCK chain
 *    verified to the pinned root, so that is a retryable gap of the source,
 *    not a final verdict on the quote, and it is remembered for 30 s at most.
 * 2. The issuer chain is part of a cached version: one rogue answer with the
 *    genuine body and a stale chain (empty validity window) used to be cached,
 *    the genuine answer was then refused as a duplicate and the rogue copy got
 *    the verified mark. An empty window is now a format error.
 */
import { afterEach, describe, expect, it } from 'vitest';

import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';

import { CollateralCache, CollateralService, HttpClient, IntelPcsClient, verifyEvidence, type CollateralArtifact } from '../../src/index.js';
import { validateArtifactForKey } from '../../src/collateral/validate.js';
import { SimulatedTeeProvider } from '../../src/tee/index.js';
import { createSyntheticIntelPlatform } from '../../src/testing/index.js';
import { CollateralServer, type Record } from '../helpers/collateral-server.js';

const AT = new Date('2026-06-01T12:00:00Z');
const TCB_PATH = '/tdx/certification/v4/tcb';

const YEAR = 365 * 86_400_000;

const servers: CollateralServer[] = [];
const dirs: string[] = [];
afterEach(async () => {
  while (servers.length) await servers.pop()!.close();
  for (const d of dirs.splice(0)) rmSync(d, { recursive: true, force: true });
});
function tempDir(): string {
  const d = mkdtempSync(join(tmpdir(), 'tee-verify-s8-'));
  dirs.push(d);
  return d;
}

/** A TCB signing chain valid from AT - 8 years to AT - 2 years (the test PKI spans at - 1 y .. at + 5 y). */
const staleChain = () => createSyntheticIntelPlatform({ tee: 'tdx', at: new Date(AT.getTime() - 7 * YEAR), seed: 'review s8 stale chain' }).pki.tcbSigningChainPem;

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

describe('#2 the issuer chain is part of a cached version', () => {
  it('an empty validity window (a chain that expired before the document was issued) is ERR_COLLATERAL_FORMAT', async () => {
    const tcb = new SimulatedTeeProvider({ tee: 'tdx', at: AT }).collateral.find((a) => a.kind === 'intel-tcb-info')!;
    expect(() => validateArtifactForKey({ kind: tcb.kind, key: tcb.key, body: tcb.body, issuerChainPem: staleChain(), source: { origin: 'network' } })).toThrow(
      expect.objectContaining({ code: 'ERR_COLLATERAL_FORMAT', message: expect.stringContaining('validity window is empty') }),
    );
  });

  it('r1: one rogue answer with a stale chain is refused, the genuine one is cached and fetching stops', async () => {
    const tdx = new SimulatedTeeProvider({ tee: 'tdx', at: AT });
    const { evidence } = await tdx.getEvidence(new Uint8Array(64));
    const records = pccsRecords(tdx.collateral);
    const genuine = records.find((r) => r.path === TCB_PATH)!;
    const rogue = { ...genuine, headers: { 'tcb-info-issuer-chain': encodeURIComponent(staleChain()) } };
    const server = await CollateralServer.start(records.map((r) => (r === genuine ? rogue : r)));
    servers.push(server);
    const http = new HttpClient({ retries: 0 });
    const cache = new CollateralCache({ directory: tempDir() });
    const service = new CollateralService({ intel: new IntelPcsClient({ http, baseUrl: server.url }), cache });
    const verify = () => outcome(verifyEvidence(evidence, { collateral: service, trustRoots: tdx.trustRoots, at: AT }));
    try {
      expect(await verify()).toMatchObject({ code: 'ERR_COLLATERAL_FORMAT' });
      server.records.splice(server.records.indexOf(rogue), 1, genuine);
      for (let i = 0; i < 4; i++) expect(await verify()).toBe('ok');
      expect(server.hits.get(TCB_PATH)).toBe(2);
      const tcbKey = tdx.collateral.find((a) => a.kind === 'intel-tcb-info')!.key;
      const fresh = new CollateralCache({ directory: cache.directory });
      const stored = fresh.versions(tcbKey);
      expect(stored).toHaveLength(1);
      expect(stored[0]!.issuerChainPem).toBe(tdx.collateral.find((a) => a.kind === 'intel-tcb-info')!.issuerChainPem);
      expect(fresh.isVerified(stored[0]!)).toBe(true);
    } finally {
      await http.close();
    }
  });

  it('the genuine body with another chain is another version: stored, marked and discarded on its own, on disk too', () => {
    const tcb = new SimulatedTeeProvider({ tee: 'tdx', at: AT }).collateral.find((a) => a.kind === 'intel-tcb-info')!;
    const foreignChain = createSyntheticIntelPlatform({ tee: 'tdx', at: AT, seed: 'review s8 foreign chain' }).pki.tcbSigningChainPem;
    const rogue = validateArtifactForKey({ kind: tcb.kind, key: tcb.key, body: tcb.body, issuerChainPem: foreignChain, source: { origin: 'network' } });
    const genuine: CollateralArtifact = { ...tcb, source: { origin: 'network' } };
    const directory = tempDir();
    const cache = new CollateralCache({ directory });
    expect(cache.put(rogue)).toBe(true);
    expect(cache.put(genuine)).toBe(true); // was refused as "the same bytes"
    expect(cache.put({ ...genuine })).toBe(false); // the same version again
    expect(cache.versions(tcb.key)).toHaveLength(2);
    expect(cache.markVerified(genuine)).toBe(true);
    expect(cache.isVerified(rogue)).toBe(false);
    expect(cache.discard(rogue)).toBe(true);
    expect(cache.versions(tcb.key).map((a) => a.issuerChainPem)).toEqual([tcb.issuerChainPem]);
    const fresh = new CollateralCache({ directory });
    const [loaded, ...rest] = fresh.versions(tcb.key);
    expect(rest).toEqual([]);
    expect(loaded!.issuerChainPem).toBe(tcb.issuerChainPem);
    expect(fresh.isVerified(loaded!)).toBe(true);
  });
});
