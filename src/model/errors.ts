/**
 * Typed errors of the model container, the evidence providers and the key
 * broker client. They carry a stable string `code` (tests match on it, never
 * on messages) and `details`. They do not extend TeeVerifyError because its
 * code union belongs to the verifier; the brand lets `isModelError` work across
 * two loaded copies of the package.
 */

const BRAND = Symbol.for('tee-verify.model-error');

export type ModelErrorCode =
  // container
  | 'ERR_MODEL_TOO_LARGE'
  | 'ERR_MODEL_TRUNCATED'
  | 'ERR_MODEL_HEADER'
  | 'ERR_MODEL_UNSUPPORTED'
  | 'ERR_MODEL_AUTH_FAILED'
  | 'ERR_MODEL_LENGTH_MISMATCH'
  | 'ERR_MODEL_KEY'
  | 'ERR_MODEL_CONFIG'
  | 'ERR_MODEL_IO'
  // model directory against its list and the TEE's own configuration
  | 'ERR_MODEL_UNLISTED_FILE'
  | 'ERR_MODEL_MISSING_FILE'
  | 'ERR_MODEL_KBS_MISMATCH'
  | 'ERR_MODEL_KEY_ID_MISMATCH'
  // where decrypted files go
  | 'ERR_MODEL_OUTPUT'
  // evidence providers
  | 'ERR_TSM_UNAVAILABLE'
  | 'ERR_TSM_GENERATION_RACE'
  | 'ERR_TSM_IO'
  | 'ERR_TSM_PROVIDER'
  | 'ERR_TEE_REPORT_DATA'
  // key broker client
  | 'ERR_KBS_HTTP'
  | 'ERR_KBS_RESPONSE'
  | 'ERR_KBS_UNWRAP'
  | 'ERR_KBS_ARGUMENT'
  | 'ERR_KBS_INSECURE_TRANSPORT';

export class ModelError extends Error {
  readonly code: ModelErrorCode;
  readonly details: Record<string, unknown>;

  constructor(code: ModelErrorCode, message: string, options: { details?: Record<string, unknown>; cause?: unknown } = {}) {
    super(message, options.cause === undefined ? undefined : { cause: options.cause });
    this.name = new.target.name;
    this.code = code;
    this.details = options.details ?? {};
    Object.defineProperty(this, BRAND, { value: true });
  }

  toJSON(): Record<string, unknown> {
    return { name: this.name, code: this.code, message: this.message, details: this.details };
  }
}

/** Container format or authentication failures (a wrong key shows up as ERR_MODEL_AUTH_FAILED). */
export class ModelFormatError extends ModelError {}
/** configfs-tsm / simulated TEE failures. */
export class EvidenceProviderError extends ModelError {}
/** Key broker transfer failures. */
export class KeyBrokerClientError extends ModelError {}

export function isModelError(value: unknown): value is ModelError {
  return typeof value === 'object' && value !== null && (value as Record<symbol, unknown>)[BRAND] === true;
}
