/** Converts a native parse failure into the matching typed error. */
import { EvidenceParseError, UnsupportedEvidenceError, type ErrorCode, type TeeVerifyError } from '../errors.js';
import type { NativeParseFailure } from '../native/index.js';

const MESSAGES: Record<string, string> = {
  ERR_INPUT_TOO_LARGE: 'evidence is larger than the parser accepts',
  ERR_TRUNCATED: 'evidence ends inside a fixed-size field',
  ERR_LENGTH_OUT_OF_BOUNDS: 'a length field points past the end of the evidence',
  ERR_BAD_LENGTH: 'a length field is inconsistent with the structure',
  ERR_TRAILING_DATA: 'bytes follow the end of the structure',
  ERR_RESERVED_NONZERO: 'a reserved range that must be zero is not',
  ERR_BAD_FIELD_VALUE: 'a field holds a value the format forbids',
  ERR_DUPLICATE_ENTRY: 'a table repeats an entry',
  ERR_TOO_MANY_ENTRIES: 'a table has more entries than allowed',
  ERR_UNSUPPORTED_VERSION: 'unsupported version',
  ERR_UNSUPPORTED_KEY_TYPE: 'unsupported attestation key type',
  ERR_UNSUPPORTED_TEE_TYPE: 'unsupported TEE type',
  ERR_UNSUPPORTED_QE_VENDOR: 'quoting enclave vendor is not Intel',
  ERR_UNSUPPORTED_BODY_TYPE: 'unsupported quote body type',
  ERR_UNSUPPORTED_CERT_DATA_TYPE: 'unsupported certification data type',
  ERR_UNSUPPORTED_SIGNATURE_ALGORITHM: 'unsupported signature algorithm',
  ERR_UNSUPPORTED_SIGNING_KEY: 'unsupported signing key',
};

export function errorFromNative(failure: NativeParseFailure, what: string): TeeVerifyError {
  const code = failure.code as ErrorCode;
  const text = MESSAGES[failure.code] ?? failure.code;
  const message = `${what}: ${text} (at byte ${failure.offset}, ${failure.check})`;
  const options = { check: failure.check, offset: failure.offset };
  return failure.unsupported
    ? new UnsupportedEvidenceError(code, message, options)
    : new EvidenceParseError(code, message, options);
}
