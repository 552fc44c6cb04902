/**
 * CollateralService.cachedFor for SEV-SNP: the synchronous answer must be
 * exactly what forSnpReport gives, and nothing whenever forSnpReport would
 * fetch, refresh, warn or throw. The VCEK key it remembers per platform is
 * never served for a report whose chip or reported TCB differs by one byte.
 */
import { describe, expect, it } from 'vitest';

import { BundleSource, CollateralCache, CollateralService, parseEvidence, parseSnpCertificateTable, verifyEvidence, type CollateralArtifact, type SnpReport } from '../../src/index.js';
import type { AmdCollateralSource } from '../../src/collateral/source.js';
import { SimulatedTeeProvider } from '../../src/tee/index.js';

const AT = new Date('2026-06-01T12:00:00Z');
const DAY = 24 * 3600 * 1000;
const CHIP_ID_OFFSET = 0x1a0;
const REPORTED_TCB_OFFSET = 0x180;

const tee = new SimulatedTeeProvider({ tee: 'snp', at: AT });
const evidence = async (n = 0) => {
  const reportData = new Uint8Array(64);
  reportData[0] = n;
  return tee.getEvidence(reportData);
};
const report = async (n = 0) => parseEvidence((await evidence(n)).evidence) as SnpReport;
/** The same report with one byte changed (unsigned: cachedFor only looks the collateral up). */
const edited = (r: SnpReport, offset: number) => {
  const bytes = new Uint8Array(r.bytes);
  bytes[offset] = (bytes[offset] ?? 0) ^ 1;
  return parseEvidence(bytes) as SnpReport;
};

/** The bundle as a source that can only be asked with a promise. */
function promiseOnly(bundle: BundleSource): AmdCollateralSource {
  return { vcek: (r) => bundle.vcek(r), certChain: (p, k) => bundle.certChain(p, k), crl: (p, k) => bundle.crl(p, k) };
}

describe('CollateralService.cachedFor (SEV-SNP)', () => {
  it('with a cache: nothing while cold, then exactly the artifacts forSnpReport resolved', async () => {
    const s = new CollateralService({ amd: new BundleSource([...tee.collateral]), cache: new CollateralCache({ directory: null }) });
    const r = await report();
    expect(s.cachedFor(r, AT)).toBeUndefined();
    const resolved = await s.forSnpReport(r, AT);
    const cached = s.cachedFor(await report(1), AT);
    expect(cached).toEqual(resolved);
    expect(cached!.kind === 'amd' && cached!.signingCertificate).toBe(resolved.signingCertificate);
    expect(cached!.kind === 'amd' && cached!.crl).toBe(resolved.crl);
  });

  it('without a cache: an in-memory bundle answers synchronously; a source without stored() does not', async () => {
    const bundle = new BundleSource([...tee.collateral]);
    const r = await report();
    const s = new CollateralService({ amd: bundle, cache: null });
    expect(s.cachedFor(r, AT)).toEqual(await s.forSnpReport(r, AT));
    expect(new CollateralService({ amd: promiseOnly(bundle), cache: null }).cachedFor(r, AT)).toBeUndefined();
  });

  it('nothing at an instant outside a window (forSnpReport then refuses), nor without an AMD source', async () => {
    const s = new CollateralService({ amd: new BundleSource([...tee.collateral]), cache: null });
    const r = await report();
    const crl = (await s.forSnpReport(r, AT)).crl;
    const late = new Date(Date.parse(crl.validity.notAfter) + DAY);
    expect(s.cachedFor(r, late)).toBeUndefined();
    await expect(s.forSnpReport(r, late)).rejects.toMatchObject({ code: 'ERR_COLLATERAL_EXPIRED' });
    expect(new CollateralService({ cache: null }).cachedFor(r, AT)).toBeUndefined();
  });

  it('a report of another chip or another reported TCB (one byte) is not given the remembered VCEK', async () => {
    const s = new CollateralService({ amd: new BundleSource([...tee.collateral]), cache: null });
    const r = await report();
    expect(s.cachedFor(r, AT)).toBeDefined(); // the platform's VCEK key is now remembered
    expect(s.cachedFor(edited(r, CHIP_ID_OFFSET + 63), AT)).toBeUndefined();
    expect(s.cachedFor(edited(r, CHIP_ID_OFFSET), AT)).toBeUndefined();
    expect(s.cachedFor(edited(r, REPORTED_TCB_OFFSET + 7), AT)).toBeUndefined(); // microcode SPL
    await expect(s.forSnpReport(edited(r, CHIP_ID_OFFSET + 63), AT)).rejects.toMatchObject({ code: 'ERR_COLLATERAL_MISSING' });
    expect(s.cachedFor(r, AT)).toEqual(await s.forSnpReport(r, AT));
  });

  it('certificates in the table come first, as in forSnpReport; a VLEK report without its table gets nothing', async () => {
    const ev = await evidence();
    const table = parseSnpCertificateTable(ev.auxblob!);
    // The CRL never travels in the table: with only the CRL in the bundle, the table supplies the rest.
    const crlOnly = tee.collateral.filter((a) => a.kind === 'amd-crl');
    const s = new CollateralService({ amd: new BundleSource(crlOnly), cache: null });
    const r = parseEvidence(ev.evidence) as SnpReport;
    expect(s.cachedFor(r, AT)).toBeUndefined();
    const cached = s.cachedFor(r, AT, table);
    expect(cached).toEqual(await s.forSnpReport(r, AT, table));
    const amd = cached as Extract<typeof cached, { kind: 'amd' }>;
    expect(amd.signingCertificate.source.origin).toBe('evidence');
    expect(amd.certChain.source.origin).toBe('evidence');
    const vlek = { ...r, signerInfo: { ...r.signerInfo, signingKey: 'vlek' as const } };
    expect(new CollateralService({ amd: new BundleSource([...tee.collateral]), cache: null }).cachedFor(vlek, AT)).toBeUndefined();
  });

  it('verifyEvidence gives the same result through the promise path and the synchronous one', async () => {
    const ev = (await evidence()).evidence;
    const bundle = new BundleSource([...tee.collateral]);
    const options = { trustRoots: tee.trustRoots, at: AT };
    const viaPromises = await verifyEvidence(ev, { ...options, collateral: new CollateralService({ amd: promiseOnly(bundle), cache: null }) });
    const synchronous = await verifyEvidence(ev, { ...options, collateral: new CollateralService({ amd: bundle, cache: null }) });
    expect(synchronous.checks.length).toBeGreaterThan(10);
    expect(synchronous).toEqual(viaPromises);
  });
});

describe('BundleSource.stored', () => {
  it('is the artifact under exactly that key, what the fetch resolves to', async () => {
    const vcek = tee.collateral.find((a) => a.kind === 'amd-vcek') as CollateralArtifact;
    const bundle = new BundleSource([...tee.collateral]);
    expect(bundle.stored(vcek.key)).toBe(vcek);
    expect(bundle.stored(`${vcek.key}x`)).toBeUndefined();
  });
});
