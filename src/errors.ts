/**
 * Typed errors. Every failure carries a stable string `code`, the checklist
 * error class it belongs to (verifier-checklist §1.3) and, where a rule of the
 * checklist rejected the input, that rule's id (`check`). Tests and callers
 * match on `code`, never on messages.
 */

const BRAND = Symbol.for('tee-verify.error');

/** Error classes of verifier-checklist §1.3, plus programmer and runtime faults. */
export type ErrorClass =
  | 'PARSE'
  | 'UNSUPPORTED'
  | 'SIG_QUOTE'
  | 'SIG_REPORT'
  | 'SIG_QE_REPORT'
  | 'QE_BINDING'
  | 'CHAIN'
  | 'REVOKED'
  | 'EXPIRED'
  | 'COLLATERAL_SIG'
  | 'COLLATERAL_FORMAT'
  | 'COLLATERAL_MISMATCH'
  | 'COLLATERAL_UNAVAILABLE'
  | 'QE_IDENTITY'
  | 'TDX_MODULE'
  | 'TCB_UNSUPPORTED'
  | 'TCB_STATUS'
  | 'SNP_SIGNER'
  | 'SNP_CERT'
  | 'SNP_TCB'
  | 'SNP_CHIP'
  | 'PRODUCT'
  | 'POLICY'
  | 'BINDING'
  | 'FRESHNESS'
  | 'ARGUMENT'
  | 'INTERNAL';

/** Codes produced by the native parsers (cpp/core/parse_error.cc). */
export type NativeParseCode =
  | 'ERR_INPUT_TOO_LARGE'
  | 'ERR_TRUNCATED'
  | 'ERR_LENGTH_OUT_OF_BOUNDS'
  | 'ERR_BAD_LENGTH'
  | 'ERR_TRAILING_DATA'
  | 'ERR_RESERVED_NONZERO'
  | 'ERR_BAD_FIELD_VALUE'
  | 'ERR_DUPLICATE_ENTRY'
  | 'ERR_TOO_MANY_ENTRIES'
  | 'ERR_UNSUPPORTED_VERSION'
  | 'ERR_UNSUPPORTED_KEY_TYPE'
  | 'ERR_UNSUPPORTED_TEE_TYPE'
  | 'ERR_UNSUPPORTED_QE_VENDOR'
  | 'ERR_UNSUPPORTED_BODY_TYPE'
  | 'ERR_UNSUPPORTED_CERT_DATA_TYPE'
  | 'ERR_UNSUPPORTED_SIGNATURE_ALGORITHM'
  | 'ERR_UNSUPPORTED_SIGNING_KEY'
  // vTPM evidence (docs/vtpm-formats.md)
  | 'ERR_TPM_TRUNCATED'
  | 'ERR_TPM_BAD_MAGIC'
  | 'ERR_TPM_BAD_SIZE'
  | 'ERR_TPM_BAD_VALUE'
  | 'ERR_TPM_TRAILING_DATA'
  | 'ERR_TPM_UNSUPPORTED_ATTEST_TYPE'
  | 'ERR_TPM_UNSUPPORTED_SIG_ALG'
  | 'ERR_TPM_UNSUPPORTED_KEY_TYPE'
  | 'ERR_TPM_UNSUPPORTED_SCHEME'
  | 'ERR_EVENTLOG_TRUNCATED'
  | 'ERR_EVENTLOG_BAD_SPEC_ID'
  | 'ERR_EVENTLOG_UNKNOWN_ALGORITHM'
  | 'ERR_EVENTLOG_BAD_DIGEST_COUNT'
  | 'ERR_EVENTLOG_BAD_SIZE'
  | 'ERR_EVENTLOG_TOO_MANY_EVENTS'
  | 'ERR_IMA_TRUNCATED'
  | 'ERR_IMA_BAD_SIZE'
  | 'ERR_IMA_BAD_FIELD'
  | 'ERR_IMA_TOO_MANY_ENTRIES'
  | 'ERR_HCL_TRUNCATED'
  | 'ERR_HCL_BAD_HEADER'
  | 'ERR_HCL_BAD_SIZE'
  | 'ERR_HCL_RESERVED_NONZERO'
  | 'ERR_HCL_TRAILING_DATA'
  | 'ERR_HCL_UNSUPPORTED_VERSION'
  | 'ERR_HCL_UNSUPPORTED_REPORT_TYPE'
  | 'ERR_HCL_UNSUPPORTED_HASH_TYPE'
  // the bytes changed between the addon's two passes (shared memory; X09)
  | 'ERR_INPUT_CHANGED';

/** Codes produced by the TypeScript layer. */
export type LibraryCode =
  | 'ERR_EMPTY_INPUT'
  | 'ERR_BAD_ENCODING'
  | 'ERR_AMBIGUOUS_ENCODING'
  | 'ERR_UNKNOWN_FORMAT'
  | 'ERR_PRODUCT_MISMATCH'
  | 'ERR_EVIDENCE_OBJECT_MISMATCH'
  | 'ERR_INVALID_ARGUMENT'
  | 'ERR_BAD_PUBLIC_KEY'
  | 'ERR_BAD_SIGNATURE_ENCODING'
  | 'ERR_NATIVE_LOAD'
  | 'ERR_BAD_PEM'
  | 'ERR_BAD_DER'
  | 'ERR_BAD_EXTENSION'
  | 'ERR_COLLATERAL_FORMAT'
  | 'ERR_COLLATERAL_UNAVAILABLE'
  | 'ERR_COLLATERAL_NOT_FOUND'
  | 'ERR_COLLATERAL_HTTP_STATUS'
  | 'ERR_COLLATERAL_TOO_LARGE'
  | 'ERR_COLLATERAL_EXPIRED'
  | 'ERR_COLLATERAL_MISSING'
  | 'ERR_QE_IDENTITY_LAGGING'
  | 'ERR_POLICY_INVALID'
  | 'ERR_TOKEN_MALFORMED'
  | 'ERR_TOKEN_SIGNATURE'
  | 'ERR_TOKEN_EXPIRED'
  // verifyEarJwt's issuer / nonce options, session 10 (docs/policy.md)
  | 'ERR_TOKEN_ISSUER'
  | 'ERR_TOKEN_NONCE'
  | 'ERR_INTERNAL'
  // Collateral, review session 6 (docs/error-codes.md)
  | 'ERR_COLLATERAL_TLS'
  | 'ERR_COLLATERAL_UNKNOWN_PLATFORM'
  | 'ERR_COLLATERAL_CACHE_DIR';

/** Verification failures use `ERR_` + their error class (src/verify/errors.ts). */
export type VerificationCode = `ERR_${Exclude<ErrorClass, 'PARSE' | 'ARGUMENT' | 'INTERNAL'>}`;

export type ErrorCode = NativeParseCode | LibraryCode | VerificationCode;

export interface ErrorOptions {
  check?: string;
  offset?: number;
  details?: Record<string, unknown>;
  cause?: unknown;
}

/** Base class of every error this package throws. */
export class TeeVerifyError extends Error {
  readonly code: ErrorCode;
  readonly errorClass: ErrorClass;
  /** Checklist id of the rule that failed (e.g. "T05"), when one applies. */
  readonly check: string | undefined;
  /** Byte offset in the evidence where the problem was detected, when known. */
  readonly offset: number | undefined;
  readonly details: Record<string, unknown>;

  constructor(errorClass: ErrorClass, code: ErrorCode, message: string, options: ErrorOptions = {}) {
    super(message, options.cause === undefined ? undefined : { cause: options.cause });
    this.name = new.target.name;
    this.code = code;
    this.errorClass = errorClass;
    this.check = options.check;
    this.offset = options.offset;
    this.details = options.details ?? {};
    Object.defineProperty(this, BRAND, { value: true });
  }

  /** Works across two loaded copies of the package (undici's trick). */
  static override [Symbol.hasInstance](value: unknown): boolean {
    if (this !== TeeVerifyError) return Function.prototype[Symbol.hasInstance].call(this, value);
    return typeof value === 'object' && value !== null && (value as Record<symbol, unknown>)[BRAND] === true;
  }

  toJSON(): Record<string, unknown> {
    return {
      name: this.name,
      code: this.code,
      errorClass: this.errorClass,
      check: this.check,
      offset: this.offset,
      message: this.message,
      details: this.details,
    };
  }
}

/** Malformed evidence: class PARSE. */
export class EvidenceParseError extends TeeVerifyError {
  constructor(code: ErrorCode, message: string, options: ErrorOptions = {}) {
    super('PARSE', code, message, options);
  }
}

/** Well-formed evidence of a version, type or algorithm we do not accept: class UNSUPPORTED. */
export class UnsupportedEvidenceError extends TeeVerifyError {
  constructor(code: ErrorCode, message: string, options: ErrorOptions = {}) {
    super('UNSUPPORTED', code, message, options);
  }
}

/** The CPU product named by the caller contradicts the evidence: class PRODUCT. */
export class ProductError extends TeeVerifyError {
  constructor(code: ErrorCode, message: string, options: ErrorOptions = {}) {
    super('PRODUCT', code, message, options);
  }
}

/** A caller passed something that is not a valid argument: class ARGUMENT. */
export class InvalidArgumentError extends TeeVerifyError {
  constructor(code: ErrorCode, message: string, options: ErrorOptions = {}) {
    super('ARGUMENT', code, message, options);
  }
}

/** The native addon could not be loaded or misbehaved: class INTERNAL. */
export class NativeAddonError extends TeeVerifyError {
  constructor(code: ErrorCode, message: string, options: ErrorOptions = {}) {
    super('INTERNAL', code, message, options);
  }
}

/**
 * Collateral with the wrong structure (strict JSON rules, signed-document
 * shape, fields, counts): class COLLATERAL_FORMAT (checklist §1.3, X05, T17).
 */
export class CollateralFormatError extends TeeVerifyError {
  constructor(code: ErrorCode, message: string, options: ErrorOptions = {}) {
    super('COLLATERAL_FORMAT', code, message, options);
  }
}
