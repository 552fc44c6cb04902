/**
 * Errors of the policy layer. A bad policy document is the caller's input
 * error (class ARGUMENT, code ERR_POLICY_INVALID) with `details.path`, the
 * JSON pointer of the offending field. EAR tokens that do not verify are
 * EarTokenError. Evaluation itself never throws for a failed rule: rules
 * become violations.
 */
import { TeeVerifyError, type ErrorClass, type ErrorCode, type ErrorOptions } from '../errors.js';

/** Codes of this layer, not yet in src/errors.ts's LibraryCode union (the lead adds them there). */
export type PolicyErrorCode = 'ERR_POLICY_INVALID';
export type EarTokenErrorCode = 'ERR_TOKEN_MALFORMED' | 'ERR_TOKEN_SIGNATURE' | 'ERR_TOKEN_EXPIRED';

/** Our codes as ErrorCode until the union in src/errors.ts lists them. */
function asErrorCode(code: PolicyErrorCode | EarTokenErrorCode): ErrorCode {
  return code as unknown as ErrorCode;
}

export interface PolicyProblem {
  /** JSON pointer into the document ("" = the whole document). */
  path: string;
  message: string;
  /** The schema keyword or rule that failed ("additionalProperties", "pattern", "minItems", ...). */
  keyword: string;
}

/** An invalid policy document (X07): class ARGUMENT, code ERR_POLICY_INVALID, details.path / details.problems. */
export class PolicyError extends TeeVerifyError {
  constructor(problems: readonly PolicyProblem[], options: Omit<ErrorOptions, 'details'> = {}) {
    const first = problems[0] ?? { path: '', message: 'invalid policy', keyword: 'invalid' };
    const more = problems.length > 1 ? ` (and ${problems.length - 1} more problem${problems.length > 2 ? 's' : ''})` : '';
    super('ARGUMENT', asErrorCode('ERR_POLICY_INVALID'), `invalid policy at ${first.path === '' ? '/' : first.path}: ${first.message}${more}`, {
      check: options.check ?? 'X07',
      ...(options.cause === undefined ? {} : { cause: options.cause }),
      details: { path: first.path, keyword: first.keyword, problems: problems.map((p) => ({ ...p })) },
    });
  }
}

/** A token that is malformed (ARGUMENT), badly signed (ARGUMENT) or expired (FRESHNESS). */
export class EarTokenError extends TeeVerifyError {
  constructor(code: EarTokenErrorCode, message: string, details: Record<string, unknown> = {}) {
    const errorClass: ErrorClass = code === 'ERR_TOKEN_EXPIRED' ? 'FRESHNESS' : 'ARGUMENT';
    super(errorClass, asErrorCode(code), message, { details });
  }
}
