/**
 * Errors of the policy layer. A bad policy document is the caller's input
 * error (class ARGUMENT, code ERR_POLICY_INVALID) with `details.path`, the
 * JSON pointer of the offending field. EAR tokens that do not verify are
 * EarTokenError. Evaluation itself never throws for a failed rule: rules
 * become violations.
 */
import { TeeVerifyError, type ErrorClass, type ErrorCode, type ErrorOptions } from '../errors.js';

/** Codes of this layer (all listed in src/errors.ts's LibraryCode). */
export type PolicyErrorCode = Extract<ErrorCode, 'ERR_POLICY_INVALID'>;
export type EarTokenErrorCode = Extract<ErrorCode, 'ERR_TOKEN_MALFORMED' | 'ERR_TOKEN_SIGNATURE' | 'ERR_TOKEN_EXPIRED' | 'ERR_TOKEN_ISSUER' | 'ERR_TOKEN_NONCE'>;

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
    super('ARGUMENT', 'ERR_POLICY_INVALID', `invalid policy at ${first.path === '' ? '/' : first.path}: ${first.message}${more}`, {
      check: options.check ?? 'X07',
      ...(options.cause === undefined ? {} : { cause: options.cause }),
      details: { path: first.path, keyword: first.keyword, problems: problems.map((p) => ({ ...p })) },
    });
  }
}

/**
 * Class of each token code. A wrong `iss` is a well-formed, genuinely signed token that misses the
 * relying party's pinned value, like a reference value: POLICY. A wrong `eat_nonce` means the token
 * was made for another challenge, so it is not fresh for this one: FRESHNESS, as for `exp`.
 */
const TOKEN_CLASS: Record<EarTokenErrorCode, ErrorClass> = {
  ERR_TOKEN_MALFORMED: 'ARGUMENT',
  ERR_TOKEN_SIGNATURE: 'ARGUMENT',
  ERR_TOKEN_EXPIRED: 'FRESHNESS',
  ERR_TOKEN_ISSUER: 'POLICY',
  ERR_TOKEN_NONCE: 'FRESHNESS',
};

/** A token that is malformed or badly signed (ARGUMENT), expired or for another nonce (FRESHNESS), or from another issuer (POLICY). */
export class EarTokenError extends TeeVerifyError {
  constructor(code: EarTokenErrorCode, message: string, details: Record<string, unknown> = {}) {
    super(TOKEN_CLASS[code], code, message, { details });
  }
}
