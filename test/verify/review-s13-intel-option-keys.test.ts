/**
 * Review s13 intel #1: verifyIntelQuote (exported from the package) accepted
 * any option key. A misspelt `minTcbEvaluationDataNumber` silently dropped the
 * T18 / T21 anti-rollback floor (collateral the right key rejects verified as
 * UpToDate), and a misspelt `at` silently verified at the wall clock, while
 * verifyEvidence refused both. Its options, and their `relaxations`, are now
 * closed sets as verifyEvidence's are: ERR_INVALID_ARGUMENT naming the key.
 */
import { describe, expect, it } from 'vitest';

import { verifyEvidence } from '../../src/index.js';
import type { IntelCollateral } from '../../src/collateral/service.js';
import { verifyIntelQuote, type IntelCollateralInput } from '../../src/verify/intel/index.js';
import type { IntelVerifyOptions } from '../../src/verify/intel/context.js';
import { expectError } from '../helpers/expect-error.js';
import { AT, parsed, platform } from './intel/helpers/synthetic.js';

/** The synthetic collateral's evaluation data number is 17: a floor of 18 is T18. */
const ABOVE = 18;

function run(extra: Record<string, unknown>) {
  const p = platform();
  return () => verifyIntelQuote(parsed(p), p.collateral, { at: AT, trustRoots: p.trustRoots, ...extra } as IntelVerifyOptions);
}

describe('review s13 intel #1: verifyIntelQuote refuses option keys its type does not name', () => {
  it('control: the correct floor key rejects the collateral at T18', () => {
    expectError(run({ minTcbEvaluationDataNumber: ABOVE }), { code: 'ERR_COLLATERAL_MISMATCH', check: 'T18' });
  });

  it('a misspelt floor (minTcbEvaluationDataNumer) is ERR_INVALID_ARGUMENT naming it, not a silent UpToDate', () => {
    const err = expectError(run({ minTcbEvaluationDataNumer: ABOVE }), { code: 'ERR_INVALID_ARGUMENT' });
    expect(err.details['option']).toBe('minTcbEvaluationDataNumer');
  });

  it('a misspelt instant (time instead of at) is refused, never the wall clock', () => {
    const p = platform();
    const err = expectError(() => verifyIntelQuote(parsed(p), p.collateral, { time: AT, trustRoots: p.trustRoots } as IntelVerifyOptions), { code: 'ERR_INVALID_ARGUMENT' });
    expect(err.details['option']).toBe('time');
  });

  it('an unknown key of relaxations (skipCRL) and a misspelt relaxations key are refused', () => {
    const inner = expectError(run({ relaxations: { skipCRL: true } }), { code: 'ERR_INVALID_ARGUMENT' });
    expect(inner.details['option']).toBe('skipCRL');
    const outer = expectError(run({ relaxation: { skipCrl: true } }), { code: 'ERR_INVALID_ARGUMENT' });
    expect(outer.details['option']).toBe('relaxation');
  });

  it('a non-enumerable unknown key is refused too', () => {
    const p = platform();
    const options = { at: AT, trustRoots: p.trustRoots };
    Object.defineProperty(options, 'minTcbEvaluationDataNumer', { value: ABOVE, enumerable: false });
    const err = expectError(() => verifyIntelQuote(parsed(p), p.collateral, options), { code: 'ERR_INVALID_ARGUMENT' });
    expect(err.details['option']).toBe('minTcbEvaluationDataNumer');
  });

  it('every key the type names is accepted (at, trustRoots, minTcbEvaluationDataNumber, relaxations, memo)', () => {
    const p = platform();
    const result = verifyIntelQuote(parsed(p), p.collateral, {
      at: AT,
      trustRoots: p.trustRoots,
      minTcbEvaluationDataNumber: 17,
      relaxations: { skipCrl: false, skipQeIdentity: false, collateralGraceSeconds: 0 },
      memo: undefined,
    });
    expect(result.ok).toBe(true);
    expect(result.warnings).toEqual([]);
  });

  it('verifyEvidence still passes its larger options object through the Intel verifier', async () => {
    const p = platform();
    const collateral: IntelCollateral = {
      kind: 'intel',
      tee: 'tdx',
      fmspc: Buffer.from(p.pki.sgx.fmspc).toString('hex'),
      pckCa: p.pki.caType,
      ...(p.collateral as Required<IntelCollateralInput>),
      warnings: [],
    };
    const result = await verifyEvidence(p.quote.bytes, { collateral, at: AT, trustRoots: p.trustRoots, parse: {}, memo: undefined });
    expect(result.ok).toBe(true);
  });
});
