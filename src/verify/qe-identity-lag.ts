/**
 * T21 recovery inside verifyEvidence. A PCCS refreshes TCB info and QE
 * identity separately, so for a while it can serve a QE identity older than
 * its TCB info, which the verifier refuses (qe-identity.ts). Refetching the
 * channel's latest would only get the same old document again. Instead,
 * verifyEvidence asks the collateral service once for the QE identity at the
 * TCB info's evaluation data number (PCS v4 and PCCS serve
 * `qe/identity?tcbEvaluationDataNumber=N`) and verifies again at the same
 * instant. When that fails too, the outcome is "collateral not available now"
 * (retryable), never a verdict on the evidence.
 */
import { CollateralUnavailableError } from '../collateral/errors.js';
import type { CollateralService, IntelCollateral } from '../collateral/service.js';
import type { SgxQuote, TdxQuote } from '../evidence/types.js';
import { TeeVerifyError } from '../errors.js';
import { QE_IDENTITY_OLDER_THAN_TCB_INFO } from './intel/qe-identity.js';
import type { VerificationResult } from './types.js';

export interface QeIdentityLag {
  /** The refused QE identity's tcbEvaluationDataNumber. */
  evaluation: number;
  /** The TCB info's, which the QE identity must reach. */
  tcbInfoEvaluation: number;
}

/** The pairing refusal of T21 (a QE identity older than the TCB info), else undefined. */
export function qeIdentityLag(err: unknown): QeIdentityLag | undefined {
  if (!(err instanceof TeeVerifyError) || err.check !== 'T21' || err.details['reason'] !== QE_IDENTITY_OLDER_THAN_TCB_INFO) return undefined;
  const { evaluation, tcbInfoEvaluation } = err.details;
  return typeof evaluation === 'number' && typeof tcbInfoEvaluation === 'number' ? { evaluation, tcbInfoEvaluation } : undefined;
}

/** T21's "retry later": the source serves a QE identity older than its TCB info; `outcome` says what was tried. */
export function lagging(lag: QeIdentityLag, outcome: string, cause: unknown): CollateralUnavailableError {
  return new CollateralUnavailableError(
    'ERR_QE_IDENTITY_LAGGING',
    `T21: the collateral source serves QE identity evaluation data number ${lag.evaluation}, older than its TCB info's ${lag.tcbInfoEvaluation}, and ${outcome}; retry later (the source has not caught up yet)`,
    { evaluation: lag.evaluation, tcbInfoEvaluation: lag.tcbInfoEvaluation },
    cause,
    'T21',
  );
}

export interface Recovered {
  result: VerificationResult;
  collateral: IntelCollateral;
}

/**
 * One more verification with the QE identity asked for at the TCB info's
 * number. `verify` is the caller's verification of its own snapshot at the
 * same instant; `discard` forgets what that second verification rejected.
 * Any other failure of the second verification is its verdict, thrown as is.
 */
export async function recoverQeIdentity(
  service: CollateralService,
  quote: TdxQuote | SgxQuote,
  at: Date,
  lag: QeIdentityLag,
  verify: (collateral: IntelCollateral) => VerificationResult,
  discard: (collateral: IntelCollateral, err: unknown) => void,
): Promise<Recovered> {
  if (typeof service.forQuoteWithQeIdentityAt !== 'function') {
    throw lagging(lag, 'the collateral service cannot ask for a QE identity by evaluation data number', undefined);
  }
  let collateral: IntelCollateral;
  try {
    collateral = await service.forQuoteWithQeIdentityAt(quote, at, lag.tcbInfoEvaluation);
  } catch (err) {
    throw lagging(lag, `asking it for number ${lag.tcbInfoEvaluation} failed (${err instanceof Error ? err.message : String(err)})`, err);
  }
  try {
    return { result: verify(collateral), collateral };
  } catch (err) {
    discard(collateral, err); // a document that is not what its key asked for is never served again
    const again = qeIdentityLag(err);
    if (again) throw lagging(lag, `asked for number ${lag.tcbInfoEvaluation} it answered ${again.evaluation}`, err);
    throw err;
  }
}
