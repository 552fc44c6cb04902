/**
 * Review s11 changes-b #3: S44 (a Turin CHIP_ID is 8 bytes, bytes 8..63 zero) holds for every Turin
 * report, masked CHIP_ID included: MASK_CHIP_KEY must not let a VLEK report (or a VCEK report under
 * allowMaskedChipId) carry any bytes 8..63 into claims.chipId. And the attribution of a failed
 * certificate check (review s11 changes-b #1): the item it judged and that item's origin.
 */
import { describe, expect, it } from 'vitest';

import { loadAmdRsaKeys } from '../../../src/testing/index.js';
import { verifySnpReport } from '../../../src/verify/snp/index.js';
import { setup } from './helpers/synthetic.js';

function turinChipId(tail: number): Uint8Array {
  const chipId = new Uint8Array(64);
  chipId.fill(0x11, 0, 8);
  chipId.fill(tail, 8, 64);
  return chipId;
}

function outcome(run: () => unknown): { check?: string; errorClass?: string } | 'verified' {
  try {
    run();
    return 'verified';
  } catch (e) {
    const err = e as { check?: string; errorClass?: string };
    return { check: err.check, errorClass: err.errorClass };
  }
}

describe('S44 for every Turin report', () => {
  for (const [signingKey, mask] of [['vlek', true], ['vcek', true], ['vlek', false], ['vcek', false]] as const) {
    it(`${signingKey}, MASK_CHIP_KEY=${mask ? 1 : 0}, CHIP_ID[8:64] non-zero: refused at S44`, () => {
      const s = setup({ product: 'Turin', signingKey, report: { chipId: turinChipId(0x77), maskChipKey: mask } });
      expect(outcome(() => verifySnpReport(s.report, s.collateral, { ...s.options, allowMaskedChipId: true }))).toEqual({ check: 'S44', errorClass: 'SNP_CHIP' });
    });
  }

  it('control: a masked VLEK report with CHIP_ID[8:64] zero verifies, and S44 is recorded', () => {
    const s = setup({ product: 'Turin', signingKey: 'vlek', report: { chipId: turinChipId(0), maskChipKey: true } });
    const r = verifySnpReport(s.report, s.collateral, s.options);
    expect(r.checks.some((c) => c.id === 'S44')).toBe(true);
  });
});

describe('a failed certificate check names the item it judged and its origin', () => {
  it('S10 of a leaf from the evidence: signingCertificate / evidence; of a fetched leaf: network', () => {
    const s = setup();
    const other = setup({ seed: 'another PKI', pki: { rsaKeys: loadAmdRsaKeys('Genoa') } }); // not signed by this ASK
    for (const origin of ['evidence', 'network'] as const) {
      const collateral = { ...s.collateral, signingCertificate: other.collateral.signingCertificate, provenance: { signingCertificate: { origin } } };
      try {
        verifySnpReport(s.report, collateral, s.options);
        expect.unreachable();
      } catch (e) {
        expect((e as { check?: string }).check).toBe('S10');
        expect((e as { details: Record<string, unknown> }).details).toMatchObject({ collateralItem: 'signingCertificate', collateralOrigin: origin });
      }
    }
  });

  it('S12 (the report itself) names no collateral item', () => {
    const s = setup();
    const bytes = Uint8Array.from(s.bytes);
    const report = { ...s.report, bytes };
    bytes[0x2a0 + 8] = (bytes[0x2a0 + 8] ?? 0) ^ 0x01;
    try {
      verifySnpReport(report, s.collateral, s.options);
      expect.unreachable();
    } catch (e) {
      expect((e as { check?: string }).check).toBe('S12');
      expect((e as { details: Record<string, unknown> }).details['collateralItem']).toBeUndefined();
    }
  });
});
