/**
 * Review s14 collateral finding 1: X03 against an explicit bundle asked
 * chainsToRoots only of the newest cached version valid at the instant. An
 * unanchored cached version with a higher sequence (a forgery from a rogue
 * PCCS, another test PKI) hid a genuine, anchored cached version newer than
 * the bundle's: the bundle's older document was served with no X03 warning.
 * The versions valid at the instant are now tried from newest to oldest,
 * skipping unanchored ones.
 */
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';

import { afterEach, describe, expect, it } from 'vitest';

import { BundleSource, CollateralCache, CollateralService, parseEvidence, type CollateralArtifact, type TdxQuote } from '../../src/index.js';
import { ArtifactResolver } from '../../src/collateral/index.js';
import { createSyntheticIntelPlatform, intelArtifact, signCollateralJson, type SyntheticIntelPlatform } from '../../src/testing/index.js';

const AT = new Date('2026-06-01T12:00:00Z');
const DAY = 86_400_000;

const dirs: string[] = [];
afterEach(() => {
  for (const d of dirs.splice(0)) rmSync(d, { recursive: true, force: true });
});
function diskCache(): CollateralCache {
  const directory = mkdtempSync(join(tmpdir(), 'tee-verify-s14-x03-'));
  dirs.push(directory);
  return new CollateralCache({ directory });
}
const platform = (seed = 'review s14 x03 mask') => createSyntheticIntelPlatform({ tee: 'tdx', at: AT, seed });
const artifactsOf = (p: SyntheticIntelPlatform): CollateralArtifact[] => Object.values(p.collateral).filter((a): a is CollateralArtifact => a !== undefined);
const iso = (ms: number) => new Date(ms).toISOString().replace(/\.\d{3}Z$/, 'Z');

/** `p`'s TCB info with another evaluation data number (and optionally window), signed by `signer`'s TCB signing key. */
function reissued(p: SyntheticIntelPlatform, evaluation: number, signer = p, window?: { issueDate: string; nextUpdate: string }): CollateralArtifact {
  const original = p.collateral.tcbInfo!;
  const body = signCollateralJson('tcbInfo', { ...p.tcbInfo, tcbEvaluationDataNumber: evaluation, ...window } as never, signer.pki.tcbSigning.key.privateKey);
  return { ...intelArtifact('intel-tcb-info', original.key, body, signer.pki.tcbSigningChainPem), source: { origin: 'network' } };
}

async function served(p: SyntheticIntelPlatform, cache: CollateralCache) {
  const bundle = new BundleSource(artifactsOf(p)); // holds eval 17
  const s = new CollateralService({ intel: bundle, cache, bundle, trustRoots: p.trustRoots });
  return s.forQuote(parseEvidence(p.quote.bytes) as TdxQuote, AT);
}

describe('review s14 collateral #1: an unanchored newest cached version does not mask a genuine newer one (X03 against a bundle)', () => {
  it('control: a genuine cached eval 18 overrules the bundle\'s eval 17, with the X03 warning', async () => {
    const p = platform();
    const cache = diskCache();
    cache.put(reissued(p, 18));
    const c = await served(p, cache);
    expect(c.tcbInfo.sequence).toBe('18');
    expect(c.warnings.some((w) => w.includes('X03'))).toBe(true);
  });

  it('a forged eval 99 (another PKI) above the genuine eval 18: eval 18 is served, with the X03 warning', async () => {
    const p = platform();
    const cache = diskCache();
    cache.put(reissued(p, 18));
    cache.put(reissued(p, 99, platform('a forger')));
    const c = await served(p, cache);
    expect(c.tcbInfo.sequence).toBe('18');
    expect(c.tcbInfo.source.origin).not.toBe('bundle');
    expect(c.warnings.filter((w) => w.includes('X03'))).toEqual([expect.stringContaining('sequence 18')]);
  });

  it('only a forged eval 99: the bundle\'s eval 17, no warning (an unanchored version never overrules the bundle)', async () => {
    const p = platform();
    const cache = diskCache();
    cache.put(reissued(p, 99, platform('a forger')));
    const c = await served(p, cache);
    expect(c.tcbInfo.sequence).toBe('17');
    expect(c.tcbInfo.source.origin).toBe('bundle');
    expect(c.warnings).toEqual([]);
  });

  it('newest first among the anchored ones; versions outside their window at the instant and older than the bundle\'s are skipped', async () => {
    const p = platform();
    const cache = new CollateralCache({ directory: null });
    const forger = platform('a forger');
    cache.put(reissued(p, 18));
    cache.put(reissued(p, 20));
    cache.put(reissued(p, 99, forger));
    cache.put(reissued(p, 98, forger));
    // Genuine and newer, but not valid at AT: never chosen.
    cache.put(reissued(p, 30, p, { issueDate: iso(AT.getTime() + DAY), nextUpdate: iso(AT.getTime() + 30 * DAY) }));
    const held = artifactsOf(p).find((a) => a.kind === 'intel-tcb-info')!;
    const anchoredAsked: string[] = [];
    const genuine = new Set(['18', '20', '30', '17']);
    const r = new ArtifactResolver({
      cache,
      bundle: new BundleSource([held]),
      anchored: (a) => {
        anchoredAsked.push(a.sequence!);
        return genuine.has(a.sequence!);
      },
    });
    const resolved = await r.resolve(held.key, () => Promise.reject(new Error('not asked')), AT);
    expect(resolved.artifact.sequence).toBe('20');
    expect(resolved.warnings).toEqual([expect.stringMatching(/sequence 17.*sequence 20.*X03/)]);
    expect(anchoredAsked).toEqual(['99', '98', '20']);
    // The sync path shares the rule: a warning means it is not a silent hit.
    expect(r.cached(held.key, AT)).toBeUndefined();
    // Older than the bundle's: never overrules it, anchored or not.
    const older = new ArtifactResolver({ cache: (() => { const c = new CollateralCache({ directory: null }); c.put(reissued(p, 16)); return c; })(), bundle: new BundleSource([held]), anchored: () => true });
    expect((await older.resolve(held.key, () => Promise.reject(new Error('not asked')), AT)).artifact).toBe(held);
  });
});
