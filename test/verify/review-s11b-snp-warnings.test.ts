/**
 * Review s11 changes-b #7 (second half): the SEV-SNP structure check rebuilt
 * the report from its own bytes yet copied the caller's `warnings` into it,
 * so a "dangerouslyLenient: ignored" mark forged on the object (over bytes
 * with no trailing data, or all-zero padding) reached the result as if the
 * verifier had ignored unsigned bytes. The rebuilt report now carries only
 * the mark its own frame justifies, as the Intel path does (T49, S33).
 */
import { describe, expect, it } from 'vitest';

import { parseEvidence, type SnpReport } from '../../src/index.js';
import { LENIENT_MARK } from '../../src/verify/recorded-lenient.js';
import { verifySnpReport } from '../../src/verify/snp/index.js';
import { setup } from './snp/helpers/synthetic.js';

describe('SEV-SNP: the result carries no warning copied from the caller\'s report object', () => {
  const s = setup();
  const padded = (fill: number): Uint8Array => {
    const bytes = new Uint8Array(s.bytes.length + 32).fill(fill);
    bytes.set(s.bytes);
    return bytes;
  };
  const forgedMark = `${LENIENT_MARK} 32 trailing bytes that are not all zero`;

  it('a forged lenient mark over a report without trailing bytes is not in the result', () => {
    const forged = { ...s.report, warnings: [forgedMark, 'the caller says anything'] } as SnpReport;
    const result = verifySnpReport(forged, s.collateral, s.options);
    expect(result.warnings).not.toContain(forgedMark);
    expect(result.warnings).not.toContain('the caller says anything');
    expect(result.warnings.filter((w) => w.startsWith('dangerouslyLenient'))).toEqual([]);
  });

  it('a forged lenient mark over all-zero padding is not in the result either', () => {
    const report = parseEvidence(padded(0)) as SnpReport;
    const forged = { ...report, warnings: [forgedMark] } as SnpReport;
    expect(verifySnpReport(forged, s.collateral, s.options).warnings.filter((w) => w.startsWith('dangerouslyLenient'))).toEqual([]);
  });

  it('a dangerouslyLenient parse of non-zero trailing bytes keeps its mark, once, stated by the verifier (control)', () => {
    const report = parseEvidence(padded(7), { trailing: 'dangerouslyLenient' }) as SnpReport;
    const edited = { ...report, warnings: [`${LENIENT_MARK} 999 bytes, says the caller`] } as SnpReport;
    const marks = verifySnpReport(edited, s.collateral, s.options).warnings.filter((w) => w.startsWith(LENIENT_MARK));
    expect(marks).toEqual([`${LENIENT_MARK} 32 trailing bytes that are not all zero`]);
  });
});
