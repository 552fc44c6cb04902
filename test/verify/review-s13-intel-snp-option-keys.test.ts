/**
 * Review s13 intel #1 (the SEV-SNP half): verifySnpReport (exported from the
 * package) accepted any option key, as verifyIntelQuote did. A misspelt `at`
 * silently verified at the wall clock, a misspelt `allowedVersions` or
 * `allowedProducts` silently accepted every default version / product, while
 * verifyEvidence refused such keys. Its options, and their `relaxations`, are
 * now closed sets: ERR_INVALID_ARGUMENT naming the key (details.option).
 * verifyEvidence passes its larger options object to an internal entry that
 * does not check again (its own keys were checked as VerifyEvidenceOptions).
 */
import { describe, expect, it } from 'vitest';

import { verifySnpReport } from '../../src/index.js';
import type { SnpVerifyOptions } from '../../src/verify/snp/index.js';
import { expectError } from '../helpers/expect-error.js';
import { AT, setup } from './snp/helpers/synthetic.js';

function run(options: Record<string, unknown>) {
  const s = setup();
  return () => verifySnpReport(s.report, s.collateral, { ...s.options, ...options } as SnpVerifyOptions);
}

describe('review s13 intel #1: verifySnpReport refuses option keys its type does not name', () => {
  it('control: allowedVersions [5] refuses the v3 report at S03', () => {
    expectError(run({ allowedVersions: [5] }), { code: 'ERR_UNSUPPORTED', check: 'S03' });
  });

  for (const [key, value] of [
    ['allowedVersion', [5]],
    ['snpReportVersions', [5]], // verifyEvidence's name, not this function's
    ['allowedProduct', ['Genoa']],
    ['allowMaskedChipID', true],
    ['collateral', {}],
  ] as const) {
    it(`an unknown key (${key}) is ERR_INVALID_ARGUMENT naming it, not ignored`, () => {
      const err = expectError(run({ [key]: value }), { code: 'ERR_INVALID_ARGUMENT' });
      expect(err.details['option']).toBe(key);
    });
  }

  it('a misspelt instant (time instead of at) is refused, never the wall clock', () => {
    const s = setup();
    const err = expectError(() => verifySnpReport(s.report, s.collateral, { time: AT, trustRoots: s.roots } as SnpVerifyOptions), { code: 'ERR_INVALID_ARGUMENT' });
    expect(err.details['option']).toBe('time');
  });

  it('an unknown key of relaxations (skipCRL) is refused', () => {
    const err = expectError(run({ relaxations: { skipCRL: true } }), { code: 'ERR_INVALID_ARGUMENT' });
    expect(err.details['option']).toBe('skipCRL');
  });

  it('every key the type names is accepted', () => {
    const s = setup();
    const result = verifySnpReport(s.report, s.collateral, {
      ...s.options,
      minTcbEvaluationDataNumber: 0,
      relaxations: { skipCrl: false, skipQeIdentity: false, collateralGraceSeconds: 0 },
      memo: undefined,
      allowedVersions: [3],
      allowedProducts: ['Milan'],
      allowMaskedChipId: false,
    });
    expect(result.ok).toBe(true);
  });
});
