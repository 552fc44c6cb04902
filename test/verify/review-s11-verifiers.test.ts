/**
 * Review s11 (verifiers, items 1-3): S44 for VLEK-signed Turin reports, the
 * Intel relaxation flags honoured only when exactly `true` (as on the SEV-SNP
 * side), and the SEV-SNP "non-zero trailing bytes ignored" warning decided
 * from the verifier's own framing, not from the caller's object.
 */
import { describe, expect, it } from 'vitest';

import { parseEvidence, type SnpReport } from '../../src/index.js';
import type { Relaxations } from '../../src/verify/types.js';
import { verifySnpReport } from '../../src/verify/snp/index.js';
import { catchError, expectError } from '../helpers/expect-error.js';
import { platform, verifySynthetic } from './intel/helpers/synthetic.js';
import { setup } from './snp/helpers/synthetic.js';

describe('S44: a Turin CHIP_ID has bytes 8..63 zero, whatever key signed the report', () => {
  const turinTail = (): Uint8Array => {
    const chipId = new Uint8Array(64);
    chipId.fill(0x11, 0, 8);
    chipId.fill(0x77, 8, 64);
    return chipId;
  };

  it('a VLEK-signed Turin report with a non-zero CHIP_ID tail is SNP_CHIP / S44', () => {
    const s = setup({ product: 'Turin', signingKey: 'vlek', report: { chipId: turinTail() } });
    expectError(() => verifySnpReport(s.report, s.collateral, s.options), { code: 'ERR_SNP_CHIP', errorClass: 'SNP_CHIP', check: 'S44' });
  });

  it('a VLEK-signed Turin report with an 8-byte CHIP_ID verifies and records S44 (not S14: a VLEK is not chip-bound)', () => {
    const chipId = new Uint8Array(64).fill(0x11, 0, 8);
    const s = setup({ product: 'Turin', signingKey: 'vlek', report: { chipId } });
    const ids = verifySnpReport(s.report, s.collateral, s.options).checks.map((c) => c.id);
    expect(ids).toContain('S44');
    expect(ids).not.toContain('S14');
  });

  it('a VLEK-signed Genoa report keeps its 64-byte CHIP_ID (S44 is Turin only)', () => {
    const s = setup({ product: 'Genoa', signingKey: 'vlek', report: { chipId: turinTail() } });
    expect(verifySnpReport(s.report, s.collateral, s.options).ok).toBe(true);
  });
});

describe('Intel relaxations apply only when the flag is exactly true', () => {
  const p = platform();
  const { pckCrl: _p, rootCaCrl: _r, ...noCrls } = p.collateral;
  const { qeIdentity: _q, ...noQeIdentity } = p.collateral;
  const loose = (value: unknown): Relaxations => value as Relaxations;

  for (const value of ['false', 'yes', 1]) {
    it(`skipCrl: ${JSON.stringify(value)} does not skip a missing CRL (T13)`, () => {
      const err = catchError(() => verifySynthetic(p, { collateral: noCrls, relaxations: loose({ skipCrl: value }) }));
      expect({ code: err.code, check: err.check }).toEqual({ code: 'ERR_COLLATERAL_UNAVAILABLE', check: 'T13' });
    });

    it(`skipQeIdentity: ${JSON.stringify(value)} does not skip a missing QE identity (T20)`, () => {
      const err = catchError(() => verifySynthetic(p, { collateral: noQeIdentity, relaxations: loose({ skipQeIdentity: value }) }));
      expect({ code: err.code, check: err.check }).toEqual({ code: 'ERR_COLLATERAL_UNAVAILABLE', check: 'T20' });
    });
  }

  it('the relaxations named with true still apply, each with its warnings (control)', () => {
    const r = verifySynthetic(p, { collateral: noCrls, relaxations: { skipCrl: true } });
    expect(r.warnings.map((w) => w.slice(0, 3))).toEqual(['T13', 'T14']);
    const q = verifySynthetic(p, { collateral: noQeIdentity, relaxations: { skipQeIdentity: true } });
    expect(q.warnings.map((w) => w.slice(0, 3))).toEqual(['T20', 'T21', 'T24', 'T25']);
  });
});

describe('SEV-SNP trailing bytes: the verifier decides from its own frame (S02)', () => {
  const s = setup();
  const padded = (fill: number): Uint8Array => {
    const bytes = new Uint8Array(s.bytes.length + 32).fill(fill);
    bytes.set(s.bytes);
    return bytes;
  };
  const ignoredWarning = (w: string): boolean => w.includes('non-zero trailing bytes');

  it('an object that says allZero: false over all-zero padding gets no "non-zero bytes ignored" warning', () => {
    const report = parseEvidence(padded(0)) as SnpReport;
    const edited = { ...report, trailing: { length: 32, allZero: false } } as SnpReport;
    expect(verifySnpReport(edited, s.collateral, s.options).warnings.filter(ignoredWarning)).toEqual([]);
  });

  it('an object that says allZero: false over non-zero bytes, without the lenient parse\'s record, is ERR_TRAILING_DATA', () => {
    const report = parseEvidence(padded(0)) as SnpReport;
    const edited = { ...report, bytes: padded(7), trailing: { length: 32, allZero: false } } as SnpReport;
    expectError(() => verifySnpReport(edited, s.collateral, s.options), { code: 'ERR_TRAILING_DATA', errorClass: 'PARSE', check: 'S02' });
  });

  it('a dangerouslyLenient parse of non-zero bytes verifies with the warning (control)', () => {
    const report = parseEvidence(padded(7), { trailing: 'dangerouslyLenient' }) as SnpReport;
    expect(verifySnpReport(report, s.collateral, s.options).warnings.filter(ignoredWarning)).toHaveLength(1);
  });
});
