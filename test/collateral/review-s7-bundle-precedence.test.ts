/**
 * Review s7 item 1: an explicit bundle comes before the cache for the keys it
 * holds. The test PKI gets new keys on every run while its FMSPC stays, so a
 * cache filled by one run held another PKI's TCB info under the same key and
 * won over the bundle (T16 "issuer chain root is not the pinned root").
 * X03 stays: a cached version newer (evaluation data number or CRL number,
 * then start of validity: isOlder) that chains to the verification's roots
 * overrules the bundle, with a warning; one that does not chain to them never
 * does.
 */
import { mkdtempSync, readdirSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';

import { afterEach, describe, expect, it } from 'vitest';

import { BundleSource, CollateralCache, CollateralService, PRODUCTION_TRUST_ROOTS, parseEvidence, verifyEvidence, type CollateralArtifact, type TdxQuote } from '../../src/index.js';
import { ArtifactResolver, chainsToRoots } from '../../src/collateral/index.js';
import { SimulatedTeeProvider } from '../../src/tee/index.js';
import { buildTestCrl, createSyntheticIntelPlatform, intelArtifact, signCollateralJson, type SyntheticIntelPlatform } from '../../src/testing/index.js';

const AT = new Date('2026-06-01T12:00:00Z');
const DAY = 86_400_000;

const dirs: string[] = [];
afterEach(() => {
  for (const d of dirs.splice(0)) rmSync(d, { recursive: true, force: true });
});
function diskCache(): { cache: CollateralCache; directory: string } {
  const directory = mkdtempSync(join(tmpdir(), 'tee-verify-s7-bundle-'));
  dirs.push(directory);
  return { cache: new CollateralCache({ directory }), directory };
}
const files = (directory: string) => readdirSync(join(directory, 'v1')).filter((n) => n.endsWith('.json'));

function platform(seed = 'review s7 bundle'): SyntheticIntelPlatform {
  return createSyntheticIntelPlatform({ tee: 'tdx', at: AT, seed });
}
const artifactsOf = (p: SyntheticIntelPlatform): CollateralArtifact[] => Object.values(p.collateral).filter((a): a is CollateralArtifact => a !== undefined);

/** `p`'s TCB info or QE identity at another evaluation number, signed by `signer`'s TCB signing key and chain. */
function reissued(p: SyntheticIntelPlatform, member: 'tcbInfo' | 'enclaveIdentity', evaluation: number, signer = p, fields: Record<string, unknown> = {}): CollateralArtifact {
  const original = member === 'tcbInfo' ? p.collateral.tcbInfo! : p.collateral.qeIdentity!;
  const doc = { ...(member === 'tcbInfo' ? p.tcbInfo : p.qeIdentity), tcbEvaluationDataNumber: evaluation, ...fields };
  const body = signCollateralJson(member, doc as never, signer.pki.tcbSigning.key.privateKey);
  const a = intelArtifact(original.kind as Parameters<typeof intelArtifact>[0], original.key, body, signer.pki.tcbSigningChainPem);
  return { ...a, source: { origin: 'network' } };
}

function service(p: SyntheticIntelPlatform, cache: CollateralCache, trustRoots = p.trustRoots): CollateralService {
  const bundle = new BundleSource(artifactsOf(p));
  return new CollateralService({ intel: bundle, cache, bundle, trustRoots });
}

const quoteOf = (p: SyntheticIntelPlatform) => parseEvidence(p.quote.bytes) as TdxQuote;

describe('explicit bundle before the cache (review s7 item 1)', () => {
  it('two test PKIs with one FMSPC: the second bundle verifies although the cache holds the first PKI\'s collateral', async () => {
    const first = platform();
    const second = platform();
    expect(second.collateral.tcbInfo!.key).toBe(first.collateral.tcbInfo!.key);
    const { cache } = diskCache();
    expect((await verifyEvidence(first.quote.bytes, { collateral: service(first, cache), trustRoots: first.trustRoots, at: AT })).ok).toBe(true);
    const result = await verifyEvidence(second.quote.bytes, { collateral: service(second, cache), trustRoots: second.trustRoots, at: AT });
    expect(result.ok).toBe(true);
    expect(result.warnings.filter((w) => w.includes('collateral bundle'))).toEqual([]);
  });

  it('bundle artifacts are never written to the cache (nor served from it to a later run without the bundle)', async () => {
    const p = platform();
    const { cache, directory } = diskCache();
    const c = await service(p, cache).forQuote(quoteOf(p), AT);
    expect(c.tcbInfo).toBe(new BundleSource(artifactsOf(p)).lookup(c.tcbInfo.key) ?? c.tcbInfo);
    expect(c.tcbInfo.source.origin).toBe('bundle');
    expect(files(directory)).toEqual([]);
    for (const a of artifactsOf(p)) expect(cache.versions(a.key)).toHaveLength(0);
  });

  it('the synchronous warm path answers from the bundle too (no cache needed)', () => {
    const p = platform();
    const s = service(p, new CollateralCache({ directory: null }));
    const warm = s.cachedFor(quoteOf(p), AT);
    expect(warm?.kind === 'intel' && warm.tcbInfo.source.origin).toBe('bundle');
  });
});

describe('X03 against an explicit bundle', () => {
  it('a cached TCB info and QE identity newer by evaluation number that chain to the roots overrule the bundle, with a warning', async () => {
    const p = platform();
    const { cache } = diskCache();
    cache.put(reissued(p, 'tcbInfo', 18));
    cache.put(reissued(p, 'enclaveIdentity', 18));
    const s = service(p, cache);
    const c = await s.forQuote(quoteOf(p), AT);
    expect([c.tcbInfo.sequence, c.qeIdentity.sequence]).toEqual(['18', '18']);
    expect(c.warnings).toHaveLength(2);
    for (const w of c.warnings) expect(w).toMatch(/\(sequence 17, valid from [^)]*\) is older than the cached version \(sequence 18, .* chains to the trust roots; using the cached one \(X03: no rollback\)/);
    // The synchronous path never hides that warning: it leaves such a lookup to forQuote.
    expect(s.cachedFor(quoteOf(p), AT)).toBeUndefined();

    const result = await verifyEvidence(p.quote.bytes, { collateral: s, trustRoots: p.trustRoots, at: AT });
    expect(result.ok).toBe(true);
    expect(result.collateral?.tcbEvaluationDataNumber).toBe(18);
    expect(result.warnings.filter((w) => w.includes('X03'))).toHaveLength(2);
  });

  it('a newer cached version that does not chain to the roots (another PKI, a forgery) does not overrule the bundle', async () => {
    const p = platform();
    const other = platform('another PKI');
    const { cache } = diskCache();
    cache.put(reissued(p, 'tcbInfo', 99, other));
    expect(cache.select(p.collateral.tcbInfo!.key, AT)?.sequence).toBe('99');
    const c = await service(p, cache).forQuote(quoteOf(p), AT);
    expect(c.tcbInfo.sequence).toBe('17');
    expect(c.tcbInfo.source.origin).toBe('bundle');
    expect(c.warnings).toEqual([]);
  });

  it('ranked against the roots passed to the service: the same newer version does not count under the production roots', async () => {
    const p = platform();
    const { cache } = diskCache();
    cache.put(reissued(p, 'tcbInfo', 18));
    const c = await service(p, cache, PRODUCTION_TRUST_ROOTS).forQuote(quoteOf(p), AT);
    expect(c.tcbInfo.sequence).toBe('17');
  });

  it('an equal evaluation number with a later issue date is newer (X03): the later-issued cached copy overrules the bundle, with a warning', async () => {
    const p = platform();
    const { cache } = diskCache();
    const later = reissued(p, 'tcbInfo', 17, p, { issueDate: new Date(AT.getTime() - DAY / 2).toISOString().replace(/\.\d{3}Z$/, 'Z') });
    cache.put(later);
    expect(cache.select(later.key, AT)).toBeDefined();
    const c = await service(p, cache).forQuote(quoteOf(p), AT);
    expect(c.tcbInfo.body).toEqual(later.body);
    expect(c.tcbInfo.source.origin).not.toBe('bundle');
    expect(c.warnings).toEqual([expect.stringMatching(/\(sequence 17, valid from [^)]*\) is older than the cached version \(sequence 17, valid from .*\(X03: no rollback\)$/)]);
  });

  it('an equal evaluation number with an earlier issue date is older: the bundle wins, no warning', async () => {
    const p = platform();
    const { cache } = diskCache();
    const earlier = reissued(p, 'tcbInfo', 17, p, { issueDate: new Date(Date.parse(p.collateral.tcbInfo!.validity.notBefore) - DAY).toISOString().replace(/\.\d{3}Z$/, 'Z') });
    cache.put(earlier);
    expect(cache.select(earlier.key, AT)).toBeDefined();
    const c = await service(p, cache).forQuote(quoteOf(p), AT);
    expect(c.tcbInfo.source.origin).toBe('bundle');
    expect(c.warnings).toEqual([]);
  });
});

describe('X03 for CRLs: Intel\'s PCK and Root CA CRLs all carry CRL number 1 (review s7 item 1b)', () => {
  const p = platform('review s7 crl rollback');
  const orig = p.collateral.pckCrl!;
  /** A PCK CRL of `p` issued at `thisUpdate` (CRL number 1, valid 30 days) revoking `revoked`. */
  const pckCrl = (thisUpdate: Date, revoked: string[]): CollateralArtifact => {
    const nextUpdate = new Date(thisUpdate.getTime() + 30 * DAY);
    const body = buildTestCrl(p.pki.pckCa, { thisUpdate, nextUpdate, revokedSerials: revoked, crlNumber: 1 });
    const a = intelArtifact(orig.kind as Parameters<typeof intelArtifact>[0], orig.key, body, p.pki.pckCa.pem + p.pki.root.pem, { window: { notBefore: thisUpdate, notAfter: nextUpdate } });
    return { ...a, source: { origin: 'network' } };
  };
  const older = pckCrl(new Date(AT.getTime() - 20 * DAY), []); // the bundle's: 20 days old, still valid
  const newer = pckCrl(new Date(AT.getTime() - DAY), [p.pki.pck.serialHex]); // the cache's: yesterday's, revokes the PCK
  const bundled = () => [p.collateral.tcbInfo!, p.collateral.qeIdentity!, older, p.collateral.rootCaCrl!];
  const withBundle = (cache: CollateralCache, trustRoots = p.trustRoots) => {
    const bundle = new BundleSource(bundled());
    return new CollateralService({ intel: bundle, cache, bundle, trustRoots });
  };

  it('the newer cached CRL with the same number overrules the older bundle CRL: the revocation is found (T14)', async () => {
    expect([older.sequence, newer.sequence]).toEqual(['1', '1']);
    const cache = new CollateralCache({ directory: null });
    cache.put(newer);
    const c = await withBundle(cache).forQuote(quoteOf(p), AT);
    expect(c.pckCrl.body).toEqual(newer.body);
    expect(c.warnings).toEqual([expect.stringMatching(/^collateral bundle: .* \(sequence 1, valid from [^)]*\) is older than the cached version \(sequence 1, .*\(X03: no rollback\)$/)]);
    await expect(verifyEvidence(p.quote.bytes, { collateral: withBundle(cache), trustRoots: p.trustRoots, at: AT })).rejects.toMatchObject({ code: 'ERR_REVOKED', check: 'T14' });
  });

  it('without the newer CRL in the cache the bundle verifies (the revocation above is the cached CRL\'s doing)', async () => {
    const result = await verifyEvidence(p.quote.bytes, { collateral: withBundle(new CollateralCache({ directory: null })), trustRoots: p.trustRoots, at: AT });
    expect(result.ok).toBe(true);
  });

  it('a newer cached CRL that does not chain to the roots does not overrule the bundle', async () => {
    const cache = new CollateralCache({ directory: null });
    cache.put(newer);
    const c = await withBundle(cache, PRODUCTION_TRUST_ROOTS).forQuote(quoteOf(p), AT);
    expect(c.pckCrl.body).toEqual(older.body);
    expect(c.warnings).toEqual([]);
  });
});

describe('a bundle artifact outside its window at the instant', () => {
  const p = platform();
  const held = p.collateral.tcbInfo!;
  const late = new Date(Date.parse(held.validity.notAfter) + DAY);
  const bundle = new BundleSource([held]);

  it('the cache\'s version valid then is used, with a warning naming the bundle\'s window', async () => {
    const current = reissued(p, 'tcbInfo', 17, p, {
      issueDate: new Date(late.getTime() - DAY).toISOString().replace(/\.\d{3}Z$/, 'Z'),
      nextUpdate: new Date(late.getTime() + DAY).toISOString().replace(/\.\d{3}Z$/, 'Z'),
    });
    const cache = new CollateralCache({ directory: null });
    cache.put(current);
    const r = new ArtifactResolver({ cache, bundle, anchored: () => true });
    const resolved = await r.resolve(held.key, () => Promise.resolve(held), late);
    expect(resolved.artifact).toBe(current);
    expect(resolved.warnings).toEqual([expect.stringMatching(/^collateral bundle: .* is valid .* not at .*; using the (cache|network) copy$/)]);
    expect(r.cached(held.key, late)).toBeUndefined();
  });

  it('with nothing else, the bundle\'s own artifact is the answer: expired (X02), and not cached', async () => {
    const cache = new CollateralCache({ directory: null });
    const r = new ArtifactResolver({ cache, bundle });
    await expect(r.resolve(held.key, () => Promise.resolve(held), late)).rejects.toMatchObject({ code: 'ERR_COLLATERAL_EXPIRED', check: 'X02' });
    expect(cache.versions(held.key)).toHaveLength(0);
  });
});

describe('chainsToRoots', () => {
  it('Intel: every artifact of a platform chains to its own root, none to another PKI\'s or the production root', () => {
    const p = platform();
    const other = platform('another PKI');
    for (const a of artifactsOf(p)) {
      expect(chainsToRoots(a, p.trustRoots), a.kind).toBe(true);
      // Roots with no AMD anchors at all.
      expect(chainsToRoots(a, { label: 'no AMD', intelRootCas: [], amd: {} }), a.kind).toBe(false);
      expect(chainsToRoots(a, PRODUCTION_TRUST_ROOTS), a.kind).toBe(false);
    }
    expect(chainsToRoots(reissued(p, 'tcbInfo', 18, other), p.trustRoots)).toBe(false);
  });

  // Simulated SEV-SNP platforms of one process share their RSA keys (ARK, ASK), so no second PKI here.
  it('SEV-SNP: the VCEK, the cert_chain and the CRL chain to the product anchors', () => {
    const snp = new SimulatedTeeProvider({ tee: 'snp', at: AT });
    expect(snp.collateral.length).toBeGreaterThanOrEqual(3);
    for (const a of snp.collateral) {
      expect(chainsToRoots(a, snp.trustRoots), a.kind).toBe(true);
      expect(chainsToRoots(a, PRODUCTION_TRUST_ROOTS), a.kind).toBe(false);
      // Roots with no AMD anchors at all.
      expect(chainsToRoots(a, { label: 'no AMD', intelRootCas: [], amd: {} }), a.kind).toBe(false);
    }
  });
});
