/**
 * Review of session 9 (verifier tests), findings 1 and 2: S13 compares every
 * SPL of the certificate with REPORTED_TCB, but only snpSPL, ucodeSPL, a
 * VLEK's blSPL and Turin's fmcSPL had a negative test, and every Turin fixture
 * had BL = TEE = 1, so a swapped Turin byte layout (S46) went unnoticed.
 * Each case here differs from the report in exactly one component and asserts
 * which one S13 names; the Turin report carries five distinct values.
 */
import { describe, expect, it } from 'vitest';

import type { SnpClaims } from '../../src/verify/types.js';
import { verifySnpReport } from '../../src/verify/snp/index.js';
import { catchError } from '../helpers/expect-error.js';
import { setup, type SetupOptions } from './snp/helpers/synthetic.js';

const MILAN = { bootloader: 4, tee: 0, snp: 0x18, microcode: 0xdb };
const GENOA = { bootloader: 9, tee: 0, snp: 0x17, microcode: 0x54 };
const TURIN = { fmc: 1, bootloader: 1, tee: 1, snp: 3, microcode: 0x4f };
/** A Turin TCB whose components all differ, so a swapped byte shows (S46). */
const TURIN_DISTINCT = { fmc: 2, bootloader: 3, tee: 4, snp: 5, microcode: 0x50 };

/** S13's refusal and the certificate fields it names. */
function s13Mismatches(o: SetupOptions): { errorClass: string; check: string | undefined; fields: string[] } {
  const s = setup(o);
  const err = catchError(() => verifySnpReport(s.report, s.collateral, s.options));
  const mismatches = (err.details['mismatches'] ?? []) as { field: string }[];
  return { errorClass: err.errorClass, check: err.check, fields: mismatches.map((m) => m.field) };
}

const refusedFor = (...fields: string[]) => ({ errorClass: 'SNP_TCB', check: 'S13', fields });

describe('review s9: S13 refuses a certificate that differs from REPORTED_TCB in any one SPL', () => {
  it('Milan VCEK certified at another TEE SPL (an old VCEK for a newer report)', () => {
    expect(s13Mismatches({ pki: { tcb: { ...MILAN, tee: 1 } } })).toEqual(refusedFor('teeSPL'));
  });

  it('Milan VCEK certified at another boot loader SPL', () => {
    expect(s13Mismatches({ pki: { tcb: { ...MILAN, bootloader: 3 } } })).toEqual(refusedFor('blSPL'));
  });

  it('Milan VLEK certified at another TEE SPL', () => {
    expect(s13Mismatches({ signingKey: 'vlek', pki: { tcb: { ...MILAN, tee: 2 } } })).toEqual(refusedFor('teeSPL'));
  });

  it('Genoa VCEK certified at another TEE SPL', () => {
    expect(s13Mismatches({ product: 'Genoa', pki: { tcb: { ...GENOA, tee: 1 } } })).toEqual(refusedFor('teeSPL'));
  });

  it('Turin VCEK certified at another TEE SPL, and at another SNP SPL', () => {
    expect(s13Mismatches({ product: 'Turin', pki: { tcb: { ...TURIN, tee: 2 } } })).toEqual(refusedFor('teeSPL'));
    expect(s13Mismatches({ product: 'Turin', pki: { tcb: { ...TURIN, snp: 2 } } })).toEqual(refusedFor('snpSPL'));
  });
});

describe('review s9: the Turin TCB layout (FMC, BL, TEE, SNP, 3 reserved, ucode) with distinct components', () => {
  const report = { reportedTcb: TURIN_DISTINCT, currentTcb: TURIN_DISTINCT, committedTcb: TURIN_DISTINCT, launchTcb: TURIN_DISTINCT };

  it('verifies, and each component is read from its own byte', () => {
    const s = setup({ product: 'Turin', pki: { tcb: TURIN_DISTINCT }, report });
    expect(Array.from(s.report.reportedTcbBytes)).toEqual([2, 3, 4, 5, 0, 0, 0, 0x50]); // the builder's encoding, independent of the parser
    const claims = verifySnpReport(s.report, s.collateral, s.options).claims as SnpClaims;
    expect(claims.tcb.reported).toEqual({ raw: '0x5000000005040302', fmc: 2, bootloader: 3, tee: 4, snp: 5, microcode: 0x50 });
    expect(claims.tcb.current).toEqual(claims.tcb.reported);
  });

  it('a certificate that differs only in TEE (or only in BL) is refused at S13 naming that SPL', () => {
    expect(s13Mismatches({ product: 'Turin', pki: { tcb: { ...TURIN_DISTINCT, tee: 6 } }, report })).toEqual(refusedFor('teeSPL'));
    expect(s13Mismatches({ product: 'Turin', pki: { tcb: { ...TURIN_DISTINCT, bootloader: 6 } }, report })).toEqual(refusedFor('blSPL'));
  });
});
