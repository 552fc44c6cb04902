/**
 * The synthetic platform for negative tests: a defect with valid signatures
 * around it. `expectSyntheticFailure` asserts the class and check id under
 * the platform's own test root, then runs the same quote and collateral
 * against PRODUCTION_TRUST_ROOTS, where it must fail with CHAIN (checklist §7):
 * a synthetic chain never passes for Intel's.
 */
import { expect } from 'vitest';

import { parseEvidence, type SgxQuote, type TdxQuote } from '../../../../src/index.js';
import { createSyntheticIntelPlatform, type SyntheticIntelPlatform, type SyntheticIntelPlatformOptions } from '../../../../src/testing/index.js';
import { verifyIntelQuote, type IntelCollateralInput } from '../../../../src/verify/intel/index.js';
import { PRODUCTION_TRUST_ROOTS } from '../../../../src/verify/roots/index.js';
import type { Relaxations, VerificationResult } from '../../../../src/verify/types.js';
import { catchError } from '../../../helpers/expect-error.js';

/** A fixed instant: nothing in these tests reads the clock. */
export const AT = new Date('2026-01-15T12:00:00Z');

export type PlatformOptions = Omit<SyntheticIntelPlatformOptions, 'at' | 'tee'> & { tee?: 'tdx' | 'sgx'; at?: Date };

export function platform(o: PlatformOptions = {}): SyntheticIntelPlatform {
  return createSyntheticIntelPlatform({ tee: 'tdx', at: AT, ...o });
}

export function parsed(p: SyntheticIntelPlatform): TdxQuote | SgxQuote {
  const q = parseEvidence(p.quote.bytes);
  if (q.kind === 'snp') throw new Error('not an Intel quote');
  return q;
}

export interface RunOptions {
  relaxations?: Relaxations;
  minTcbEvaluationDataNumber?: number;
  collateral?: IntelCollateralInput;
  quote?: TdxQuote | SgxQuote;
}

export function verifySynthetic(p: SyntheticIntelPlatform, o: RunOptions = {}, trustRoots = p.trustRoots): VerificationResult {
  return verifyIntelQuote(o.quote ?? parsed(p), o.collateral ?? p.collateral, {
    at: p.at,
    trustRoots,
    ...(o.relaxations ? { relaxations: o.relaxations } : {}),
    ...(o.minTcbEvaluationDataNumber === undefined ? {} : { minTcbEvaluationDataNumber: o.minTcbEvaluationDataNumber }),
  });
}

/** The check runs before T09 (structure): production roots cannot change its outcome. */
const BEFORE_T09 = new Set(['T01', 'T02', 'T03', 'T04', 'T05', 'T06', 'T07', 'T08']);

export function expectSyntheticFailure(p: SyntheticIntelPlatform, expected: { errorClass: string; check: string }, o: RunOptions = {}): void {
  const err = catchError(() => verifySynthetic(p, o));
  expect({ errorClass: err.errorClass, check: err.check }).toEqual(expected);
  const prod = catchError(() => verifySynthetic(p, o, PRODUCTION_TRUST_ROOTS));
  if (BEFORE_T09.has(expected.check)) expect({ errorClass: prod.errorClass, check: prod.check }).toEqual(expected);
  else expect({ errorClass: prod.errorClass, check: prod.check }).toEqual({ errorClass: 'CHAIN', check: 'T09' });
}
