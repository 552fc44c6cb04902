/** Shared pieces of the vTPM parsers: argument checks, native failures as typed errors, algorithm names. */
import {
  EvidenceParseError,
  InvalidArgumentError,
  UnsupportedEvidenceError,
  type NativeParseCode,
  type TeeVerifyError,
} from '../errors.js';
import type { NativeParseFailure } from '../native/index.js';
import { privateCopy } from '../verify/private-bytes.js';
import { TpmAlg, type TpmHashName } from './types.js';

const MESSAGES: Partial<Record<NativeParseCode, string>> = {
  ERR_INPUT_TOO_LARGE: 'input is larger than the parser accepts',
  ERR_TPM_TRUNCATED: 'TPM structure ends inside a field',
  ERR_TPM_BAD_MAGIC: 'TPMS_ATTEST magic is not TPM_GENERATED_VALUE',
  ERR_TPM_BAD_SIZE: 'a TPM size or count field is outside its bound',
  ERR_TPM_BAD_VALUE: 'a TPM field holds a value the specification forbids',
  ERR_TPM_TRAILING_DATA: 'bytes follow the TPM structure',
  ERR_TPM_UNSUPPORTED_ATTEST_TYPE: 'TPMS_ATTEST is not a quote (TPM_ST_ATTEST_QUOTE)',
  ERR_TPM_UNSUPPORTED_SIG_ALG: 'signature algorithm is not RSASSA, RSAPSS or ECDSA',
  ERR_TPM_UNSUPPORTED_KEY_TYPE: 'key type is not RSA or ECC',
  ERR_TPM_UNSUPPORTED_SCHEME: 'key scheme, symmetric or KDF algorithm is not supported',
  ERR_EVENTLOG_TRUNCATED: 'event log ends inside an event',
  ERR_EVENTLOG_BAD_SPEC_ID: 'malformed Spec ID Event03 header event',
  ERR_EVENTLOG_UNKNOWN_ALGORITHM: 'an event digest uses an algorithm the header does not declare',
  ERR_EVENTLOG_BAD_DIGEST_COUNT: 'an event does not carry one digest per declared algorithm',
  ERR_EVENTLOG_BAD_SIZE: 'event data is larger than the parser accepts',
  ERR_EVENTLOG_TOO_MANY_EVENTS: 'event log has more events than the parser accepts',
  ERR_IMA_TRUNCATED: 'IMA measurement list ends inside an entry',
  ERR_IMA_BAD_SIZE: 'IMA template name or data length is outside its bound',
  ERR_IMA_BAD_FIELD: 'IMA template data does not match its template',
  ERR_IMA_TOO_MANY_ENTRIES: 'IMA measurement list has more entries than the parser accepts',
  ERR_HCL_TRUNCATED: 'HCL report ends early',
  ERR_HCL_BAD_HEADER: 'not an HCL report ("HCLA" header)',
  ERR_HCL_BAD_SIZE: 'HCL report sizes are inconsistent',
  ERR_HCL_RESERVED_NONZERO: 'HCL padding after the TD report is not zero',
  ERR_HCL_TRAILING_DATA: 'non-zero bytes follow the HCL report',
  ERR_HCL_UNSUPPORTED_VERSION: 'unsupported HCL report version',
  ERR_HCL_UNSUPPORTED_REPORT_TYPE: 'HCL hardware report is neither SEV-SNP nor TDX',
  ERR_HCL_UNSUPPORTED_HASH_TYPE: 'unsupported HCL report_data hash type',
  ERR_INPUT_CHANGED: 'the input changed while it was parsed (shared memory written by another thread)',
};

/** The native failure as EvidenceParseError (PARSE) or UnsupportedEvidenceError (UNSUPPORTED). */
export function vtpmError(failure: NativeParseFailure, what: string): TeeVerifyError {
  const code = failure.code as NativeParseCode;
  const message = `${what}: ${MESSAGES[code] ?? code} (at byte ${failure.offset}, ${failure.check})`;
  const options = { check: failure.check, offset: failure.offset };
  return failure.unsupported
    ? new UnsupportedEvidenceError(code, message, options)
    : new EvidenceParseError(code, message, options);
}

/**
 * T49 (review s8, finding 2): the parsers work on a private copy of the
 * caller's bytes, as verifySnp / verifyIntel do. The native parser reads the
 * real storage, the field views are built through `subarray`; an input that
 * overrides `subarray` (or is a SharedArrayBuffer another thread writes)
 * would otherwise get fields that are not the bytes that were checked.
 */
export function requireBytes(bytes: unknown, what: string): Uint8Array {
  if (bytes instanceof Uint8Array && OWNED.has(bytes)) return bytes;
  if (!(bytes instanceof Uint8Array)) throw new InvalidArgumentError('ERR_INVALID_ARGUMENT', `${what} must be a Uint8Array`);
  return privateCopy(bytes, what);
}

/**
 * Review s14 (vTPM #1, T49 "one copy"): the private copies verifyVtpmEvidence takes of a bundle's
 * event log and IMA list on entry (or the fresh arrays its own parse of bundle bytes made). The
 * parsers take such an array as it is instead of copying it again, so every later step (replay,
 * boot_aggregate, the entries the policy judges) reads that one copy. Only arrays no caller holds
 * are registered: the verifier never hands these objects out (its results hold views, other objects).
 */
const OWNED = new WeakSet<Uint8Array>();

/** A private copy of `value` (privateCopy: internal slots, never getters) that the parsers take as is. */
export function ownedCopy(value: unknown, what: string): Uint8Array {
  const copy = privateCopy(value, what);
  OWNED.add(copy);
  return copy;
}

/** Registers an array this module's caller made itself and holds alone (parseVtpmBundle's fresh output). */
export function adoptOwned(fresh: Uint8Array): Uint8Array {
  OWNED.add(fresh);
  return fresh;
}

const HASH_NAMES = new Map<number, TpmHashName>([
  [TpmAlg.SHA1, 'sha1'],
  [TpmAlg.SHA256, 'sha256'],
  [TpmAlg.SHA384, 'sha384'],
  [TpmAlg.SHA512, 'sha512'],
  [TpmAlg.SM3_256, 'sm3_256'],
]);

/** Known name of a TPM_ALG_ID hash, undefined for anything else. */
export function hashName(alg: number): TpmHashName | undefined {
  return HASH_NAMES.get(alg);
}

export function view(bytes: Uint8Array, offset: number, size: number): Uint8Array {
  return bytes.subarray(offset, offset + size);
}
