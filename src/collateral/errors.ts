/**
 * Collateral failures. "Unavailable" (network, timeout, 5xx, 429, 404) is
 * retryable and always distinct from "the evidence was rejected": a key broker
 * answers 503 for it, never 403 (style.md, checklist X08).
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
