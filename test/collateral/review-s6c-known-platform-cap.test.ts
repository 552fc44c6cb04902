/**
 * Review session 6c, #1: the known-platform allowance is keyed by an
 * unverified CHIP_ID, so made-up reports copying N known chips' IDs with
 * invented TCBs got 2N fetches per window outside the budget. All known
 * platforms together now admit at most `knownPlatformKeys` new keys per
 * window (default `keys`); beyond that their keys take budget slots.
 */
import { describe, expect, it } from 'vitest';

import { ArtifactResolver, CollateralCache, artifactKey, type CollateralArtifact } from '../../src/collateral/index.js';

const NOW = new Date('2026-06-01T00:00:00Z');
const chip = (i: number) => {
  const id = new Uint8Array(64);
  new DataView(id.buffer).setUint32(0, i + 1);
  return id;
};
const vcekKey = (i: number, snp: number) => artifactKey.vcek({ product: 'Milan', hwId: chip(i), bootloader: 1, tee: 0, snp, microcode: 1 });
const answer = (key: string): CollateralArtifact => ({
  kind: 'amd-vcek',
  key,
  body: new Uint8Array([1, 2, 3]),
  validity: { notBefore: '2026-01-01T00:00:00Z', notAfter: '2027-01-01T00:00:00Z' },
  source: { origin: 'network' },
});

/** A resolver that knows platforms 0..n-1 (one verified VCEK each), with a counting source. */
async function withKnownPlatforms(n: number, budget: { keys: number; windowMs: number; knownPlatformKeys?: number }) {
  let clock = 0;
  const resolver = new ArtifactResolver({ cache: new CollateralCache({ directory: null }), fetchBudget: budget, clock: () => clock });
  // Known platforms are learned in earlier windows, each from its genuine VCEK.
  for (let i = 0; i < n; i++) {
    clock = -budget.windowMs * (i + 1);
    resolver.markVerified((await resolver.resolve(vcekKey(i, 1), async () => answer(vcekKey(i, 1)), NOW)).artifact);
  }
  clock = 0;
  const counter = { fetched: 0 };
  const fetchOf = (key: string) => async () => {
    counter.fetched++;
    return answer(key);
  };
  return { resolver, counter, fetchOf, setClock: (t: number) => (clock = t) };
}

/** Made-up reports: every known chip ID with two invented TCBs each. */
async function madeUpTcbs(resolver: ArtifactResolver, n: number, fetchOf: (key: string) => () => Promise<CollateralArtifact>): Promise<number> {
  let refused = 0;
  for (let i = 0; i < n; i++) {
    for (const snp of [100, 101]) {
      await resolver.resolve(vcekKey(i, snp), fetchOf(vcekKey(i, snp)), NOW).catch((err: { details?: { reason?: string } }) => {
        expect(err.details?.reason).toBe('fetch-budget');
        refused++;
      });
    }
  }
  return refused;
}

describe('known platforms share one cap per window (review s6c #1)', () => {
  it('300 known chips with made-up TCBs: fetches stop at knownPlatformKeys plus the global budget, not 600', async () => {
    const budget = { keys: 40, windowMs: 60_000, knownPlatformKeys: 50 };
    const { resolver, counter, fetchOf } = await withKnownPlatforms(300, budget);
    const refused = await madeUpTcbs(resolver, 300, fetchOf);
    expect(counter.fetched).toBe(budget.knownPlatformKeys + budget.keys);
    expect(refused).toBe(600 - counter.fetched);
  });

  it('the default cap is fetchBudget.keys: at most twice keys per window in all', async () => {
    const budget = { keys: 64, windowMs: 60_000 };
    const { resolver, counter, fetchOf, setClock } = await withKnownPlatforms(300, budget);
    await madeUpTcbs(resolver, 300, fetchOf);
    expect(counter.fetched).toBe(2 * budget.keys);
    // The cap is per window: the next window admits known platforms again.
    setClock(60_000);
    await resolver.resolve(vcekKey(299, 200), fetchOf(vcekKey(299, 200)), NOW);
    expect(counter.fetched).toBe(2 * budget.keys + 1);
  });

  it('a known host keeps its slots while the shared cap has room; knownPlatformKeys must be a non-negative integer', async () => {
    const { resolver, counter, fetchOf } = await withKnownPlatforms(3, { keys: 1, windowMs: 60_000, knownPlatformKeys: 4 });
    for (const i of [0, 1]) for (const snp of [2, 3]) await resolver.resolve(vcekKey(i, snp), fetchOf(vcekKey(i, snp)), NOW);
    expect(counter.fetched).toBe(4);
    // Shared cap spent: platform 2's first new key takes the one global slot, its second is refused.
    await resolver.resolve(vcekKey(2, 2), fetchOf(vcekKey(2, 2)), NOW);
    await expect(resolver.resolve(vcekKey(2, 3), fetchOf(vcekKey(2, 3)), NOW)).rejects.toMatchObject({ details: { reason: 'fetch-budget' } });
    expect(counter.fetched).toBe(5);
    expect(() => new ArtifactResolver({ fetchBudget: { keys: 1, windowMs: 1, knownPlatformKeys: -1 } })).toThrow(TypeError);
    expect(() => new ArtifactResolver({ fetchBudget: { keys: 1, windowMs: 1, knownPlatformKeys: 1.5 } })).toThrow(TypeError);
  });
});
