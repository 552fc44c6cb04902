/**
 * Review session 6, #3: refresh attempts are spaced by refreshIntervalMs
 * (verification clock) whether they succeed or fail. During an outage in the
 * refresh zone, the first verification tries and serves the cached copy with
 * a warning; the next ones at that instant use the copy without asking again.
 */
import { describe, expect, it } from 'vitest';

import { ArtifactResolver, CollateralCache, type CollateralArtifact } from '../../src/collateral/index.js';

const artifact: CollateralArtifact = {
  kind: 'amd-crl',
  key: 'amd/crl/Milan/vcek',
  body: new Uint8Array([1]),
  validity: { notBefore: '2026-01-01T00:00:00.000Z', notAfter: '2026-01-11T00:00:00.000Z' },
  source: { origin: 'network' },
};

function outage() {
  let attempts = 0;
  return {
    fetch: async (): Promise<CollateralArtifact> => {
      attempts++;
      throw new Error('PCCS down');
    },
    attempts: () => attempts,
  };
}

describe('failed refreshes are spaced like successful ones', () => {
  it('5 verifications at one instant in the refresh zone during an outage: 1 fetch attempt, the copy served each time', async () => {
    const cache = new CollateralCache({ directory: null });
    cache.put(artifact);
    const resolver = new ArtifactResolver({ cache });
    const source = outage();
    const now = new Date('2026-01-10T23:30:00.000Z'); // 30 minutes left: refresh zone, still valid
    const results = [];
    for (let i = 0; i < 5; i++) results.push(await resolver.resolve(artifact.key, source.fetch, now));
    expect(source.attempts()).toBe(1);
    expect(results.every((r) => r.artifact === artifact)).toBe(true);
    expect(results[0]!.warnings).toEqual([expect.stringContaining('refresh of amd/crl/Milan/vcek failed, serving the cached copy (PCCS down)')]);
    // The synchronous warm path answers too, without a promise.
    expect(resolver.cached(artifact.key, now)?.artifact).toBe(artifact);
  });

  it('the next attempt comes once refreshIntervalMs has passed on the verification clock', async () => {
    const cache = new CollateralCache({ directory: null });
    cache.put(artifact);
    const resolver = new ArtifactResolver({ cache, refreshIntervalMs: 60_000 });
    const source = outage();
    const t = Date.parse('2026-01-10T23:30:00.000Z');
    await resolver.resolve(artifact.key, source.fetch, new Date(t));
    await resolver.resolve(artifact.key, source.fetch, new Date(t + 59_999));
    expect(source.attempts()).toBe(1);
    await resolver.resolve(artifact.key, source.fetch, new Date(t + 60_000));
    expect(source.attempts()).toBe(2);
  });

  it('with a grace period, an expired copy served after a failed refresh is not re-fetched at that instant either', async () => {
    const cache = new CollateralCache({ directory: null });
    cache.put(artifact);
    const resolver = new ArtifactResolver({ cache, graceMs: 24 * 3_600_000 });
    const source = outage();
    const now = new Date('2026-01-11T06:00:00.000Z'); // 6 h past notAfter, inside the grace
    const results = [];
    for (let i = 0; i < 5; i++) results.push(await resolver.resolve(artifact.key, source.fetch, now));
    expect(source.attempts()).toBe(1);
    // Every use of the grace is reported.
    for (const r of results) expect(r.warnings).toContainEqual(expect.stringContaining('grace period used'));
  });
});
