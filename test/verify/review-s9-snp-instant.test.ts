/**
 * Review of session 9 (verifier tests), finding 8 (S01, X01): the SEV-SNP
 * context kept the caller's Date object as its instant. A Date whose
 * getTime() moves (a subclass, or code that changes it during the call) was
 * validated at one instant and judged certificates at another. The context
 * now reads the Date's own time value once into a private copy.
 */
import { describe, expect, it } from 'vitest';

import { verifySnpReport } from '../../src/verify/snp/index.js';
import { expectError } from '../helpers/expect-error.js';
import { AT, setup } from './snp/helpers/synthetic.js';

const LATER = Date.parse('2099-01-01T00:00:00Z'); // after every synthetic certificate and the CRL

/** Holds AT; its getTime() answers AT once, then 2099, and counts the calls. */
class MovingDate extends Date {
  calls = 0;
  override getTime(): number {
    this.calls++;
    return this.calls === 1 ? AT.getTime() : LATER;
  }
  override valueOf(): number {
    return this.getTime();
  }
}

describe('review s9: one SEV-SNP instant per verification (S01)', () => {
  it('a Date whose getTime() moves: every check and result.at use the one instant it holds', () => {
    const s = setup();
    const at = new MovingDate(AT.getTime());
    const result = verifySnpReport(s.report, s.collateral, { ...s.options, at });
    expect(result.ok).toBe(true);
    expect(result.at).toBe(AT.toISOString());
    expect(result.checks.map((c) => c.id)).toEqual(['S02', 'S03', 'S04', 'S06', 'S07', 'S37', 'S08', 'S09', 'S10', 'S11', 'S12', 'S13', 'S14', 'S15', 'S16']);
    expect(at.calls).toBe(0); // read through Date.prototype, never through the caller's method
  });

  it('control: the same verification at 2099 fails EXPIRED (the moving value would have been refused)', () => {
    const s = setup();
    expectError(() => verifySnpReport(s.report, s.collateral, { ...s.options, at: new Date(LATER) }), { code: 'ERR_EXPIRED', errorClass: 'EXPIRED', check: 'S07' });
  });

  it('X01: an invalid Date whose getTime() claims a valid instant is refused at S01', () => {
    class LyingDate extends Date {
      override getTime(): number {
        return AT.getTime();
      }
    }
    const s = setup();
    expectError(() => verifySnpReport(s.report, s.collateral, { ...s.options, at: new LyingDate(Number.NaN) }), { code: 'ERR_INVALID_ARGUMENT', check: 'S01' });
  });

  it('X01: an object that only inherits from Date.prototype is refused at S01, as a typed error', () => {
    const s = setup();
    const fake = Object.create(Date.prototype) as Date;
    expectError(() => verifySnpReport(s.report, s.collateral, { ...s.options, at: fake }), { code: 'ERR_INVALID_ARGUMENT', check: 'S01' });
  });
});
