/**
 * Verification failures. Each carries the checklist error class (§1.3), a
 * stable code derived from it (`ERR_` + class, e.g. ERR_SIG_QUOTE), and the
 * id of the checklist item that failed. verify* functions throw these; they
 * never return a result that could be mistaken for success.
 */
import { TeeVerifyError, type ErrorClass, type ErrorCode } from '../errors.js';

/** The checklist classes a verification can fail with (§1.3). */
export type VerificationErrorClass = Exclude<ErrorClass, 'PARSE' | 'ARGUMENT' | 'INTERNAL' | 'POLICY' | 'BINDING' | 'FRESHNESS'>;

export class VerificationError extends TeeVerifyError {
  constructor(errorClass: VerificationErrorClass, check: string, message: string, details: Record<string, unknown> = {}, cause?: unknown) {
    super(errorClass, `ERR_${errorClass}` as ErrorCode, `${check}: ${message}`, { check, details, ...(cause === undefined ? {} : { cause }) });
  }
}

/** Shorthand used by the check modules: `fail('CHAIN', 'T10', 'intermediate not signed by the root')`. */
export function fail(errorClass: VerificationErrorClass, check: string, message: string, details: Record<string, unknown> = {}): never {
  throw new VerificationError(errorClass, check, message, details);
}
