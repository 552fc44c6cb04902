/**
 * Errors of the attestation service, answered as
 * `{"error": {"code", "message", "check"?}}` with a stable HTTP status.
 * Evidence the library rejects keeps the library's own code and checklist id
 * (ERR_SIG_QUOTE / T26, ERR_TRUNCATED / T02, ...); docs/error-codes.md lists
 * the service's own codes.
 */
import { TeeVerifyError } from '../errors.js';
import type { PolicyViolation } from '../policy/index.js';
import { COLLATERAL_UNAVAILABLE_MESSAGE, collateralAnswer, withoutUrls } from './collateral-messages.js';

const BRAND = Symbol.for('tee-verify.attestation-service.error');

export type AttestationServiceErrorCode =
  | 'ERR_AS_BAD_REQUEST'
  | 'ERR_AS_UNSUPPORTED_MEDIA_TYPE'
  | 'ERR_AS_CLIENT_CLOSED'
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
    readonly extra: { check?: string; violations?: PolicyViolation[]; headers?: Record<string, string>; /** For the log only, never the answer. */ detail?: string } = {},
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

export { COLLATERAL_UNAVAILABLE_MESSAGE, redactUrlsIn } from './collateral-messages.js';
export const INTERNAL_MESSAGE = 'internal error';

/**
 * The library's typed errors as service errors, by class:
 * COLLATERAL_UNAVAILABLE 503 (retryable, never a rejection), ARGUMENT 400
 * (an invalid policy document, say), INTERNAL 500, everything else (malformed
 * evidence, a failed signature, chain, collateral or TCB check) 422: the
 * request was understood and the evidence is rejected. Every COLLATERAL_*
 * class and INTERNAL answer with a fixed message (collateral-messages.ts;
 * `detail` keeps the library's, for the log): those messages name the
 * collateral source's URL (review s8 for 503, s10 A1 for the 422 of
 * ERR_COLLATERAL_UNKNOWN_PLATFORM). The other messages are answered with any
 * URL in them replaced, so a future wrap of a source error cannot leak one.
 */
export function fromLibraryError(err: TeeVerifyError): AttestationServiceError {
  const check = err.check === undefined ? {} : { check: err.check };
  const message = err.message.replace(/\s*\n\s*/g, ' ');
  const fixed = collateralAnswer(err);
  if (err.errorClass === 'COLLATERAL_UNAVAILABLE') {
    return new AttestationServiceError(err.code, 503, fixed ?? COLLATERAL_UNAVAILABLE_MESSAGE, { ...check, headers: { 'retry-after': String(COLLATERAL_RETRY_AFTER_SECONDS) }, detail: message });
  }
  if (fixed !== undefined) return new AttestationServiceError(err.code, 422, fixed, { ...check, detail: message });
  switch (err.errorClass) {
    case 'ARGUMENT':
      return new AttestationServiceError(err.code, 400, withoutUrls(message), check);
    case 'INTERNAL':
      return new AttestationServiceError(err.code, 500, INTERNAL_MESSAGE, { ...check, detail: message });
    default:
      return new AttestationServiceError(err.code, 422, withoutUrls(message), check);
  }
}

/** Node's errors for a request whose client went away mid-upload ("aborted", ECONNRESET). */
export function isClientGone(err: unknown): boolean {
  const e = err as { code?: unknown; message?: unknown } | null;
  return typeof e === 'object' && e !== null && (e.code === 'ECONNRESET' || e.code === 'ECONNABORTED' || e.code === 'EPIPE' || e.message === 'aborted');
}

/** Any thrown value as a service error; an unknown one is ERR_AS_INTERNAL without its message (no internals leak). */
export function toServiceError(err: unknown): AttestationServiceError {
  if (err instanceof AttestationServiceError) return err;
  if (err instanceof TeeVerifyError) return fromLibraryError(err);
  // 499 as nginx logs it: nobody reads the answer, and it is no fault of ours.
  if (isClientGone(err)) return new AttestationServiceError('ERR_AS_CLIENT_CLOSED', 499, 'the client closed the connection before its request was read');
  return new AttestationServiceError('ERR_AS_INTERNAL', 500, INTERNAL_MESSAGE);
}
