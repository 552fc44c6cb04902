/**
 * Review (session 6): verifyEvidence asked the collateral service to fetch
 * before any check had run, so the FMSPC and CA kind of a made-up quote's
 * unverified PCK leaf chose what was requested from the PCS (with our
 * subscription key), once per quote. Now an Intel quote that needs a fetch
 * first passes T02–T12, which need no collateral: a chain that does not reach
 * a pinned root, or a leaf outside its validity, is refused before any
 * request. A real 127.0.0.1 PCS counts the requests.
 */
import { afterEach, describe, expect, it } from 'vitest';

import { CollateralCache, CollateralService, HttpClient, IntelPcsClient, parseEvidence, verifyEvidence, verifyIntelQuote } from '../../src/index.js';
import { createSyntheticIntelPlatform } from '../../src/testing/index.js';
import { SimulatedTeeProvider } from '../../src/tee/index.js';
import { CollateralServer } from '../helpers/collateral-server.js';

let server: CollateralServer | undefined;
afterEach(async () => {
  await server?.close();
  server = undefined;
});

async function pcsService(): Promise<CollateralService> {
  server = await CollateralServer.start([]);
  const http = new HttpClient({ retries: 0, headersTimeoutMs: 2000, bodyTimeoutMs: 2000 });
  return new CollateralService({ intel: new IntelPcsClient({ http, baseUrl: server.url }), cache: null });
}

describe('an Intel quote must chain to a pinned root before collateral is fetched for it', () => {
  const at = new Date();
  const tee = new SimulatedTeeProvider({ tee: 'tdx', at });

  it('T09: a chain to an unpinned root (production roots, test PKI quote) is refused with no request', async () => {
    const collateral = await pcsService();
    const { evidence } = await tee.getEvidence(new Uint8Array(64));
    await expect(verifyEvidence(evidence, { collateral, at })).rejects.toMatchObject({ check: 'T09', errorClass: 'CHAIN' });
    expect(server!.totalHits).toBe(0);
  });

  it('T12: a PCK leaf past its validity is refused with no request', async () => {
    const collateral = await pcsService();
    const { evidence } = await tee.getEvidence(new Uint8Array(64));
    const later = new Date(at.getTime() + 20 * 365 * 86_400_000);
    await expect(verifyEvidence(evidence, { collateral, at: later, trustRoots: tee.trustRoots })).rejects.toMatchObject({ check: 'T12', errorClass: 'EXPIRED' });
    expect(server!.totalHits).toBe(0);
  });

  it('control: the same quote with its own trust roots reaches the PCS (which has nothing for it)', async () => {
    const collateral = await pcsService();
    const { evidence } = await tee.getEvidence(new Uint8Array(64));
    await expect(verifyEvidence(evidence, { collateral, at, trustRoots: tee.trustRoots })).rejects.toMatchObject({ errorClass: 'COLLATERAL_UNAVAILABLE' });
    expect(server!.totalHits).toBeGreaterThan(0);
  });
});

describe('the first error is the one the verification itself reports first (review s6)', () => {
  it('a made-up leaf (bad signature, no SGX extension): T11, as with collateral given, not the cache lookup\'s T15; no fetch', async () => {
    const at = new Date('2026-06-01T00:00:00Z');
    const p = createSyntheticIntelPlatform({
      tee: 'tdx',
      at,
      pki: { overrides: { pck: { corruptSignature: true, extensions: (d) => d.filter((e) => !String(e.oid).startsWith('1.2.840.113741')) } } },
    });
    let full: unknown;
    try {
      verifyIntelQuote(parseEvidence(p.quote.bytes) as never, p.collateral, { at, trustRoots: p.trustRoots });
    } catch (e) {
      full = e;
    }
    expect(full).toMatchObject({ check: 'T11' });
    let fetched = 0;
    const source = new Proxy({}, { get: () => async () => { fetched++; throw new Error('not here'); } });
    const collateral = new CollateralService({ intel: source as never, cache: new CollateralCache({ directory: null }) });
    await expect(verifyEvidence(p.quote.bytes, { at, trustRoots: p.trustRoots, collateral })).rejects.toMatchObject({ check: 'T11' });
    expect(fetched).toBe(0);
  });
});
