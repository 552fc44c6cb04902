/**
 * Collateral failures. "Unavailable" (network, timeout, 5xx, 429, a 404 for
 * a fixed artifact) is retryable and always distinct from "the evidence was
 * rejected": a key broker answers 503 for it, never 403 (style.md, checklist
 * X08). The one exception is an issuer that answers 404 for the platform the
 * evidence names (UnknownPlatformError): asking again cannot help that
 * evidence, so it is a verdict, not an outage.
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
 * The issuer (PCS / PCCS, KDS) answered 404 for an artifact named by the
 * evidence itself: TCB info for the FMSPC of its PCK certificate, the VCEK
 * for its CHIP_ID and REPORTED_TCB. No collateral exists for the platform
 * the evidence claims, so the evidence cannot verify; retrying it is
 * pointless (ERR_COLLATERAL_UNKNOWN_PLATFORM, class COLLATERAL_MISMATCH, not
 * retryable).
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

/** Rethrows a 404 for an evidence-derived artifact as UnknownPlatformError; anything else as is. */
export function unknownPlatformOn404(err: unknown, what: string, artifact: string): never {
  if (err instanceof CollateralUnavailableError && err.code === 'ERR_COLLATERAL_NOT_FOUND') {
    throw new UnknownPlatformError(`the issuer has no ${what} (404): ${err.message}`, { ...err.details, artifact }, err);
  }
  throw err;
}
