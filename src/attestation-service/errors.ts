/**
 * Errors of the attestation service, answered as
 * `{"error": {"code", "message", "check"?}}` with a stable HTTP status.
 * Evidence the library rejects keeps the library's own code and checklist id
 * (ERR_SIG_QUOTE / T26, ERR_TRUNCATED / T02, ...); docs/error-codes.md lists
 * the service's own codes.
 */
import { TeeVerifyError } from '../errors.js';
import type { PolicyViolation } from '../policy/index.js';

const BRAND = Symbol.for('tee-verify.attestation-service.error');

export type AttestationServiceErrorCode =
  | 'ERR_AS_BAD_REQUEST'
  | 'ERR_AS_NOT_FOUND'
  | 'ERR_AS_METHOD_NOT_ALLOWED'
  | 'ERR_AS_TOO_LARGE'
  | 'ERR_AS_ORIGIN_NOT_ALLOWED'
  | 'ERR_AS_UNKNOWN_POLICY'
  | 'ERR_AS_UNSUPPORTED'
  | 'ERR_AS_TEE_MISMATCH'
  | 'ERR_AS_BINDING_MISMATCH'
  | 'ERR_AS_POLICY_VIOLATION'
  | 'ERR_AS_BUSY'
  | 'ERR_AS_RATE_LIMITED'
  | 'ERR_AS_INTERNAL';

export interface ServiceErrorBody {
  error: { code: string; message: string; check?: string; violations?: PolicyViolation[] };
}

export class AttestationServiceError extends Error {
  readonly [BRAND] = true;
  constructor(
    readonly code: AttestationServiceErrorCode | string,
    readonly status: number,
    message: string,
    readonly extra: { check?: string; violations?: PolicyViolation[]; headers?: Record<string, string> } = {},
  ) {
    super(message);
    this.name = 'AttestationServiceError';
  }

  static override [Symbol.hasInstance](v: unknown): boolean {
    return typeof v === 'object' && v !== null && (v as Record<symbol, unknown>)[BRAND] === true;
  }

  toJSON(): ServiceErrorBody {
    const e: ServiceErrorBody['error'] = { code: this.code, message: this.message };
    if (this.extra.check !== undefined) e.check = this.extra.check;
    if (this.extra.violations !== undefined) e.violations = this.extra.violations;
    return { error: e };
  }
}

export const badRequest = (message: string, code: AttestationServiceErrorCode = 'ERR_AS_BAD_REQUEST'): AttestationServiceError => new AttestationServiceError(code, 400, message);

/** Seconds a client should wait before retrying when collateral could not be obtained. */
export const COLLATERAL_RETRY_AFTER_SECONDS = 30;

/**
 * The library's typed errors as service errors, by class:
 * COLLATERAL_UNAVAILABLE 503 (retryable, never a rejection), ARGUMENT 400
 * (an invalid policy document, say), INTERNAL 500, everything else (malformed
 * evidence, a failed signature, chain, collateral or TCB check) 422: the
 * request was understood and the evidence is rejected.
 */
export function fromLibraryError(err: TeeVerifyError): AttestationServiceError {
  const check = err.check === undefined ? {} : { check: err.check };
  const message = err.message.replace(/\s*\n\s*/g, ' ');
  switch (err.errorClass) {
    case 'COLLATERAL_UNAVAILABLE':
      return new AttestationServiceError(err.code, 503, message, { ...check, headers: { 'retry-after': String(COLLATERAL_RETRY_AFTER_SECONDS) } });
    case 'ARGUMENT':
      return new AttestationServiceError(err.code, 400, message, check);
    case 'INTERNAL':
      return new AttestationServiceError(err.code, 500, message, check);
    default:
      return new AttestationServiceError(err.code, 422, message, check);
  }
}

/** Any thrown value as a service error; an unknown one is ERR_AS_INTERNAL without its message (no internals leak). */
export function toServiceError(err: unknown): AttestationServiceError {
  if (err instanceof AttestationServiceError) return err;
  if (err instanceof TeeVerifyError) return fromLibraryError(err);
  return new AttestationServiceError('ERR_AS_INTERNAL', 500, 'internal error');
}
