/**
 * Review session 6b, #1: versions that verified must not lock out newer
 * genuine ones. Intel reissues TCB info and CRLs daily; once `maxVersions`
 * versions of a key were all marked verified, the newcomer was the one
 * evicted, so nothing newer was ever stored and, once the marked versions
 * expired, every verification fetched again. Eviction now drops versions
 * past their window first and protects only the newest verified version.
 */
import { describe, expect, it } from 'vitest';

import { ArtifactResolver, CollateralCache, type CollateralArtifact } from '../../src/collateral/index.js';

const KEY = 'intel/root-ca-crl';
const DAY = 86_400_000;
const T0 = Date.parse('2026-01-01T00:00:00Z');

/** Version `i`: CRL number i, valid from day `i` for `days` days. */
function version(i: number, days = 2): CollateralArtifact {
  return {
    kind: 'intel-root-ca-crl',
    key: KEY,
    body: new Uint8Array([i]),
    sequence: String(i),
    validity: { notBefore: new Date(T0 + i * DAY).toISOString(), notAfter: new Date(T0 + (i + days) * DAY).toISOString() },
    source: { origin: 'network' },
  };
}

const sequences = (cache: CollateralCache) =>
  cache
    .versions(KEY)
    .map((a) => Number(a.sequence))
    .sort((a, b) => a - b);

describe('eviction with verified versions (review s6b #1)', () => {
  it('daily versions, every one verified: each newer version is stored and fetches stay one per window', async () => {
    const cache = new CollateralCache({ directory: null, maxVersions: 3 });
    const resolver = new ArtifactResolver({ cache, fetchBudget: null });
    let fetches = 0;
    let published = 0;
    const fetch = async () => {
      fetches++;
      return version(published);
    };
    for (let day = 0; day < 8; day++) {
      published = day;
      const now = new Date(T0 + day * DAY + 12 * 3_600_000);
      for (let k = 0; k < 3; k++) {
        const got = await resolver.resolve(KEY, fetch, now);
        resolver.markVerified(got.artifact); // each verification passes
        expect(cache.isVerified(got.artifact)).toBe(true);
      }
    }
    // Windows of two days: a fetch on days 0, 2, 4 and 6 (the old rule: 9, and growing by 3 a day).
    expect(fetches).toBe(4);
    expect(sequences(cache)).toEqual([2, 4, 6]);
  });

  it('all versions still valid and verified: a newer genuine version is stored, the oldest verified one leaves', () => {
    const cache = new CollateralCache({ directory: null, maxVersions: 3 });
    const now = new Date(T0 + 3 * DAY);
    for (const i of [0, 1, 2]) {
      cache.put(version(i, 30), [], { now });
      expect(cache.markVerified(version(i, 30))).toBe(true);
    }
    expect(cache.put(version(3, 30), [], { now })).toBe(true);
    expect(sequences(cache)).toEqual([1, 2, 3]);
    expect(cache.select(KEY, now)?.sequence).toBe('3');
    // Without the lookup's instant (a caller storing by hand) the same holds.
    const plain = new CollateralCache({ directory: null, maxVersions: 2 });
    for (const i of [0, 1]) {
      plain.put(version(i, 30));
      plain.markVerified(version(i, 30));
    }
    plain.put(version(2, 30));
    expect(sequences(plain)).toEqual([1, 2]);
  });

  it('forged newcomers with higher sequences never push out the newest verified version', () => {
    // (On disk and across a restart: test/collateral/review-poison.test.ts, with real signed documents.)
    const cache = new CollateralCache({ directory: null, maxVersions: 3 });
    const now = new Date(T0 + DAY);
    const older = version(0, 30);
    const genuine = version(1, 30);
    for (const v of [older, genuine]) {
      cache.put(v, [], { now });
      cache.markVerified(v);
    }
    const forged = (n: number): CollateralArtifact => ({ ...version(1_000 + n, 30), validity: genuine.validity, body: new Uint8Array([1, n]) });
    for (let n = 0; n < 10; n++) {
      cache.put(forged(n), [], { now });
      expect(cache.versions(KEY).length).toBeLessThanOrEqual(3);
      expect(cache.versions(KEY).some((a) => a.sequence === '1')).toBe(true);
    }
    // Only the newest verified version is protected: the older verified one made room.
    expect(cache.versions(KEY).some((a) => a.sequence === '0')).toBe(false);
    // Without the lookup's instant the rule is the same.
    const plain = new CollateralCache({ directory: null, maxVersions: 2 });
    plain.put(genuine);
    plain.markVerified(genuine);
    for (let n = 0; n < 5; n++) plain.put(forged(n));
    expect(plain.versions(KEY).some((a) => a.sequence === '1')).toBe(true);
  });

  it('versions past their window (beyond grace) go first, even a verified one; within grace they are kept', () => {
    const now = new Date(T0 + 10 * DAY);
    const expired = version(5, 2); // ended on day 7
    const oldButValid = version(1, 30);
    const fresh = version(6, 30);
    const cache = new CollateralCache({ directory: null, maxVersions: 2 });
    cache.put(oldButValid, [], { now });
    cache.put(expired, [], { now });
    cache.markVerified(expired);
    cache.put(fresh, [], { now });
    expect(sequences(cache)).toEqual([1, 6]);

    const withGrace = new CollateralCache({ directory: null, maxVersions: 2 });
    withGrace.put(oldButValid, [], { now, graceMs: 5 * DAY });
    withGrace.put(expired, [], { now, graceMs: 5 * DAY });
    withGrace.markVerified(expired);
    withGrace.put(fresh, [], { now, graceMs: 5 * DAY });
    // Still usable with the grace: the newest verified one stays, the oldest other goes.
    expect(sequences(withGrace)).toEqual([5, 6]);
  });
});
