/**
 * Review of session 9 (verifier tests), mutation probe of vcek-match.ts.
 * S13: the reserved SPLs spl_4 (Milan / Genoa), spl_6 and spl_7 must be zero;
 * only spl_5 had a test. compareVcekTcb and compareVcekHwId are also public
 * (the CLI's demo checks call them without the verifier's earlier S11, S14 and
 * S44 gates), so the conditions those gates hide are pinned on the functions:
 * spl_4 absent on Turin, fmcSPL absent on Milan, a masked or all-zero CHIP_ID
 * never matching, and a Turin CHIP_ID with bytes after the first 8.
 */
import { describe, expect, it } from 'vitest';

import { parseEvidence, type SnpReport } from '../../src/index.js';
import { buildSnpReport } from '../../src/testing/index.js';
import { compareVcekHwId, compareVcekTcb, verifySnpReport, type MatchResult } from '../../src/verify/snp/index.js';
import { parseAmdKdsExtensions, parseCertificate, type AmdKdsExtension } from '../../src/x509/index.js';
import { catchError } from '../helpers/expect-error.js';
import { setup, type Setup, type SetupOptions } from './snp/helpers/synthetic.js';

const fields = (m: MatchResult) => m.mismatches.map((x) => x.field);

function s13Fields(o: SetupOptions) {
  const s = setup(o);
  const err = catchError(() => verifySnpReport(s.report, s.collateral, s.options));
  return { errorClass: err.errorClass, check: err.check, fields: ((err.details['mismatches'] ?? []) as { field: string }[]).map((m) => m.field) };
}

const kds = (s: Setup): AmdKdsExtension => parseAmdKdsExtensions(parseCertificate(s.collateral.signingCertificate!));

/** The setup's report rebuilt with other fields, signed by its VCEK. */
function rebuilt(s: Setup, extra: Record<string, unknown>): SnpReport {
  const product = s.pki.product;
  const built = buildSnpReport({ version: s.report.version, product, signingKey: 'vcek', key: s.pki.vcek.key.privateKey, seed: `snp-verify:${product}`, ...extra });
  return parseEvidence(built.bytes) as SnpReport;
}

describe('review s9: S13 refuses a non-zero reserved SPL (spl_4, spl_6, spl_7)', () => {
  const reserved = { spl4: 0, spl5: 0, spl6: 0, spl7: 0 };
  it.each(['spl4', 'spl6', 'spl7'] as const)('Milan VCEK with %s = 1', (spl) => {
    expect(s13Fields({ pki: { kds: { vcek: { reservedSpl: { ...reserved, [spl]: 1 } } } } })).toEqual({ errorClass: 'SNP_TCB', check: 'S13', fields: [spl.replace('spl', 'spl_')] });
  });

  it('Turin VCEK with spl_7 = 1', () => {
    expect(s13Fields({ product: 'Turin', pki: { kds: { vcek: { reservedSpl: { spl5: 0, spl6: 0, spl7: 1 } } } } })).toEqual({ errorClass: 'SNP_TCB', check: 'S13', fields: ['spl_7'] });
  });
});

describe('review s9: compareVcekTcb on its own', () => {
  it('control: the matching certificate has no mismatch (Milan, Turin)', () => {
    for (const product of ['Milan', 'Turin'] as const) {
      const s = setup({ product });
      expect(compareVcekTcb(s.report, kds(s))).toEqual({ ok: true, mismatches: [] });
    }
  });

  it('spl_4 on a Turin certificate, fmcSPL on a Milan one: a mismatch (the layout has no such SPL)', () => {
    const turin = setup({ product: 'Turin' });
    expect(fields(compareVcekTcb(turin.report, { ...kds(turin), spl4: 0 }))).toEqual(['spl_4']);
    const milan = setup();
    expect(fields(compareVcekTcb(milan.report, { ...kds(milan), fmcSPL: 0 }))).toEqual(['fmcSPL']);
  });
});

describe('review s9: compareVcekHwId on its own', () => {
  it('control: the VCEK of the chip matches (Milan, Turin)', () => {
    for (const product of ['Milan', 'Turin'] as const) {
      const s = setup({ product });
      expect(compareVcekHwId(s.report, kds(s))).toEqual({ ok: true, mismatches: [] });
    }
  });

  it('MASK_CHIP_KEY never matches, even with the chip\'s own CHIP_ID', () => {
    const s = setup();
    const masked = rebuilt(s, { maskChipKey: true, chipId: s.pki.chipId });
    expect(fields(compareVcekHwId(masked, kds(s)))).toEqual(['maskChipKey']);
  });

  it('an all-zero CHIP_ID never matches, even a certificate whose hwID is zero', () => {
    const s = setup();
    const zero = rebuilt(s, { chipId: new Uint8Array(64) });
    expect(fields(compareVcekHwId(zero, { ...kds(s), hwId: new Uint8Array(64) }))).toEqual(['chipId']);
  });

  it('a Turin CHIP_ID with bytes after the first 8 is a mismatch although the 8 bytes match', () => {
    const s = setup({ product: 'Turin' });
    const tail = rebuilt(s, { chipId: Uint8Array.from(s.pki.chipId, (b, i) => (i === 10 ? 1 : b)) });
    expect(fields(compareVcekHwId(tail, kds(s)))).toEqual(['chipId[8:64]']);
  });
});
