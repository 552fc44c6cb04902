/**
 * Collateral failures. "Unavailable" (network, timeout, 5xx, 429, a 404 for
 * a fixed artifact or for Intel TCB info) is retryable and always distinct
 * from "the evidence was rejected": a key broker answers 503 for it, never
 * 403 (style.md, checklist X08). The one exception is AMD's KDS answering 404
 * for the VCEK the report names (UnknownPlatformError): asking again cannot
 * help that evidence, so it is a verdict, not an outage.
 */
import { TeeVerifyError, type ErrorCode } from '../errors.js';

export interface CollateralErrorDetails {
  url?: string;
  status?: number;
  attempts?: number;
  artifact?: string;
  [key: string]: unknown;
}

/** Collateral could not be obtained: class COLLATERAL_UNAVAILABLE, retryable. */
export class CollateralUnavailableError extends TeeVerifyError {
  readonly retryable = true;
  constructor(code: ErrorCode, message: string, details: CollateralErrorDetails = {}, cause?: unknown, check?: string) {
    super('COLLATERAL_UNAVAILABLE', code, message, { details, cause, ...(check === undefined ? {} : { check }) });
  }
}

/**
 * AMD's KDS answered 404 for the VCEK the report names (its CHIP_ID and
 * REPORTED_TCB): no collateral exists for the platform the evidence claims,
 * so the evidence cannot verify; retrying it is pointless
 * (ERR_COLLATERAL_UNKNOWN_PLATFORM, class COLLATERAL_MISMATCH, not
 * retryable). Never raised for Intel (see notServedForPlatform).
 */
export class UnknownPlatformError extends TeeVerifyError {
  readonly retryable = false;
  constructor(message: string, details: CollateralErrorDetails, cause: unknown) {
    super('COLLATERAL_MISMATCH', 'ERR_COLLATERAL_UNKNOWN_PLATFORM', message, { details, cause });
  }
}

/** A 404 answer from a source: remembered for a while by the provider (negative cache). */
export function isNotFound(err: unknown): err is TeeVerifyError {
  return err instanceof TeeVerifyError && (err.code === 'ERR_COLLATERAL_NOT_FOUND' || err.code === 'ERR_COLLATERAL_UNKNOWN_PLATFORM');
}

/**
 * How long a negative cache keeps a notServedForPlatform answer (provider
 * clock), at most: a PCCS in REQ or OFFLINE mode fills the platform's TCB
 * info when the platform registers or an operator imports it, and the key
 * broker tells clients to retry after 30 s.
 */
export const PLATFORM_NOT_SERVED_TTL_MS = 30_000;

/** details.reason of a 404 for Intel TCB info of the quote's FMSPC. */
export const PLATFORM_NOT_SERVED = 'platform-not-served';

/**
 * Rethrows a 404 for Intel TCB info of a channel (the quote's FMSPC) as the
 * retryable ERR_COLLATERAL_NOT_FOUND, `details.reason` "platform-not-served"
 * (review s8 #1). A PCCS in REQ or OFFLINE caching mode answers 404 "No cache
 * data for this platform" for an FMSPC it has not cached yet, without asking
 * Intel, and verifyEvidence fetches only for a PCK chain that verified to a
 * pinned root (T08-T12), so the FMSPC is Intel's: the source lags, the
 * platform exists. Anything else is rethrown as is.
 */
export function notServedForPlatform(err: unknown, what: string, artifact: string): never {
  if (err instanceof CollateralUnavailableError && err.code === 'ERR_COLLATERAL_NOT_FOUND') {
    throw new CollateralUnavailableError(
      'ERR_COLLATERAL_NOT_FOUND',
      `the source has no ${what} (404); a PCCS in REQ or OFFLINE mode has not cached this platform yet (register it or import its collateral); retry later: ${err.message}`,
      { ...err.details, artifact, reason: PLATFORM_NOT_SERVED },
      err,
    );
  }
  throw err;
}

/** A notServedForPlatform answer (remembered for a shorter time by the provider). */
export function isPlatformNotServed(err: unknown): boolean {
  return err instanceof CollateralUnavailableError && err.code === 'ERR_COLLATERAL_NOT_FOUND' && err.details['reason'] === PLATFORM_NOT_SERVED;
}

/** Rethrows a 404 for the VCEK a report names as UnknownPlatformError; anything else as is. */
export function unknownPlatformOn404(err: unknown, what: string, artifact: string): never {
  if (err instanceof CollateralUnavailableError && err.code === 'ERR_COLLATERAL_NOT_FOUND') {
    throw new UnknownPlatformError(`the issuer has no ${what} (404): ${err.message}`, { ...err.details, artifact }, err);
  }
  throw err;
}
