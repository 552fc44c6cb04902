/**
 * CollateralService.cachedFor: the synchronous answer of a warm cache. It
 * must give exactly what forQuote gives, and nothing whenever forQuote would
 * have to fetch (cold cache, refresh due, instant outside every window).
 */
import { describe, expect, it } from 'vitest';

import { BundleSource, CollateralCache, CollateralService, parseEvidence, verifyEvidence, type TdxQuote } from '../../src/index.js';
import { SimulatedTeeProvider } from '../../src/tee/index.js';

const AT = new Date('2026-06-01T12:00:00Z');
const DAY = 24 * 3600 * 1000;

describe('CollateralService.cachedFor (warm path without promises)', () => {
  const tee = new SimulatedTeeProvider({ tee: 'tdx', at: AT });
  const service = () => new CollateralService({ intel: new BundleSource([...tee.collateral]), cache: new CollateralCache({ directory: null }) });
  const quote = async () => parseEvidence((await tee.getEvidence(new Uint8Array(64))).evidence) as TdxQuote;

  it('answers nothing on a cold cache, then exactly the artifacts forQuote resolved', async () => {
    const s = service();
    const q = await quote();
    expect(s.cachedFor(q, AT)).toBeUndefined();
    const resolved = await s.forQuote(q, AT);
    const cached = s.cachedFor(q, AT);
    expect(cached).toBeDefined();
    expect(cached).toEqual(resolved);
    expect(cached!.kind === 'intel' && cached!.tcbInfo).toBe(resolved.tcbInfo);
  });

  it('answers nothing at an instant outside the cached windows (forQuote then refuses or fetches)', async () => {
    const s = service();
    const q = await quote();
    await s.forQuote(q, AT);
    const late = new Date(Date.parse((await s.forQuote(q, AT)).tcbInfo.validity.notAfter) + DAY);
    expect(s.cachedFor(q, late)).toBeUndefined();
  });

  it('answers nothing for SEV-SNP evidence or without an Intel source', async () => {
    const snp = new SimulatedTeeProvider({ tee: 'snp', at: AT });
    const report = parseEvidence((await snp.getEvidence(new Uint8Array(64))).evidence);
    expect(service().cachedFor(report, AT)).toBeUndefined();
    expect(new CollateralService({ cache: null }).cachedFor(await quote(), AT)).toBeUndefined();
  });

  it('verifyEvidence gives the same result cold (fetch) and warm (synchronous cache hit)', async () => {
    const s = service();
    const ev = (await tee.getEvidence(new Uint8Array(64))).evidence;
    const cold = await verifyEvidence(ev, { collateral: s, trustRoots: tee.trustRoots, at: AT });
    const warm = await verifyEvidence(ev, { collateral: s, trustRoots: tee.trustRoots, at: AT });
    expect(cold.checks.length).toBeGreaterThan(20);
    expect(warm.checks.map((c) => c.id)).toEqual(cold.checks.map((c) => c.id));
    expect(warm.collateral).toEqual(cold.collateral);
    expect(warm.tcbStatus).toBe(cold.tcbStatus);
  });
});
