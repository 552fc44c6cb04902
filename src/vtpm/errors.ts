/**
 * Typed errors of the vTPM layer (issue 9): TPM quotes, Azure CVM evidence,
 * the evidence bundle, event-log / IMA replay and acquisition. Every code has
 * one fixed error class (checklist §1.3 classes); tests and callers match on
 * `code`. New codes go in VTPM_ERROR_CLASSES and docs/error-codes.md.
 */
import { TeeVerifyError, type ErrorClass, type ErrorCode } from '../errors.js';

/** code → error class. One entry per stable code. */
export const VTPM_ERROR_CLASSES = {
  // TPM quote (src/vtpm/quote.ts)
  /** The quote's extraData is not the expected nonce. */
  ERR_VTPM_NONCE: 'FRESHNESS',
  /** The TPMT_SIGNATURE does not verify over the TPMS_ATTEST bytes with the attestation key. */
  ERR_VTPM_QUOTE_SIGNATURE: 'SIG_QUOTE',
  /** The attest structure is not a quote we accept (magic, type) or contradicts itself; or the bundle's quotes come from different boots (VT19). */
  ERR_VTPM_QUOTE: 'PARSE',
  /** The key's scheme or hash contradicts the signature's, an algorithm we do not verify, or an attestation key below the minimum strength (VT06). */
  ERR_VTPM_SCHEME: 'UNSUPPORTED',
  /** The supplied PCR values do not hash to the quote's pcrDigest. */
  ERR_VTPM_PCR_DIGEST: 'BINDING',
  /** A PCR selected by the quote has no supplied value, or a value has the wrong length. */
  ERR_VTPM_PCR_VALUES: 'BINDING',
  /** The required PCR bank (default SHA-256) is not quoted. */
  ERR_VTPM_BANK: 'POLICY',
  /** The attestation key is not the one bound by the hardware report, or qualifiedSigner is not its Name. */
  ERR_VTPM_AK: 'BINDING',
  // Azure CVM (src/vtpm/azure.ts)
  /** The hardware report_data does not commit to the HCL runtime data. */
  ERR_VTPM_RUNTIME_DATA: 'BINDING',
  /** Evidence whose hardware part cannot be verified here (for example Azure TDX without a TD quote). */
  ERR_VTPM_UNSUPPORTED: 'UNSUPPORTED',
  // Bundle (src/vtpm/bundle.ts)
  /** The evidence bundle breaks its format (unknown field, wrong type, size above the bound). */
  ERR_VTPM_BUNDLE: 'PARSE',
  // Boot event log and IMA replay, reference lists (src/vtpm/{replay-eventlog,ima-ascii,ima-replay,reference}.ts)
  /** The boot event log cannot be replayed: an event for a PCR above 23, an event without a digest of a replayed bank, no bank in common with the quote. */
  ERR_VTPM_EVENTLOG: 'PARSE',
  /** The boot event log replays to PCR values other than the quoted ones (details name the first PCR and bank that differ). */
  ERR_VTPM_EVENTLOG_MISMATCH: 'BINDING',
  /** A line of an ASCII IMA list is malformed (details.line is 1-based). */
  ERR_VTPM_IMA_SYNTAX: 'PARSE',
  /** An ASCII IMA list above its bounds: input size, line length or entry count. */
  ERR_VTPM_IMA_LIMIT: 'PARSE',
  /** An IMA template whose data cannot be rebuilt from the ASCII form, or template data that breaks its template's layout. */
  ERR_VTPM_IMA_TEMPLATE: 'UNSUPPORTED',
  /** An IMA entry's recorded template digest is not the hash of its template data. */
  ERR_VTPM_IMA_TEMPLATE_DIGEST: 'BINDING',
  /** The IMA list replays to a PCR 10 value other than the quoted one, or records an entry for another PCR (VT16). */
  ERR_VTPM_IMA_MISMATCH: 'BINDING',
  /** The boot_aggregate entry is not the hash of PCRs 0-7 (or 0-9) of its bank. */
  ERR_VTPM_BOOT_AGGREGATE: 'BINDING',
  /** A reference-value list breaks its format (details.path is the JSON pointer of the first problem). */
  ERR_VTPM_REFERENCE_INVALID: 'ARGUMENT',
  // Acquisition (src/vtpm/acquire.ts)
  /** tpm2-tools or a log file could not be used inside the CVM. */
  ERR_VTPM_ACQUIRE: 'INTERNAL',
} as const satisfies Record<string, ErrorClass>;

export type VtpmErrorCode = keyof typeof VTPM_ERROR_CLASSES;

/** The VT check (docs/vtpm.md) each code reports; codes outside a check (bundle format aside, acquisition, reference lists) have none. */
const CHECK_OF_CODE: Partial<Record<VtpmErrorCode, string>> = {
  ERR_VTPM_BUNDLE: 'VT01',
  ERR_VTPM_AK: 'VT04',
  ERR_VTPM_SCHEME: 'VT06',
  ERR_VTPM_QUOTE_SIGNATURE: 'VT07',
  ERR_VTPM_QUOTE: 'VT08',
  ERR_VTPM_NONCE: 'VT10',
  ERR_VTPM_PCR_DIGEST: 'VT11',
  ERR_VTPM_PCR_VALUES: 'VT11',
  ERR_VTPM_BANK: 'VT12',
  ERR_VTPM_EVENTLOG: 'VT15',
  ERR_VTPM_EVENTLOG_MISMATCH: 'VT15',
  ERR_VTPM_IMA_SYNTAX: 'VT16',
  ERR_VTPM_IMA_LIMIT: 'VT16',
  ERR_VTPM_IMA_TEMPLATE: 'VT16',
  ERR_VTPM_IMA_TEMPLATE_DIGEST: 'VT16',
  ERR_VTPM_IMA_MISMATCH: 'VT16',
  ERR_VTPM_BOOT_AGGREGATE: 'VT16',
};

/** The VT check a vTPM error code belongs to, if any. */
export function vtpmCheckOf(code: string): string | undefined {
  return CHECK_OF_CODE[code as VtpmErrorCode];
}

export class VtpmVerificationError extends TeeVerifyError {
  constructor(code: VtpmErrorCode, message: string, details: Record<string, unknown> = {}, options: { check?: string; cause?: unknown; offset?: number } = {}) {
    const check = options.check ?? CHECK_OF_CODE[code];
    // Our codes as ErrorCode until the union in src/errors.ts lists them.
    super(VTPM_ERROR_CLASSES[code], code as unknown as ErrorCode, message, {
      details,
      ...(check === undefined ? {} : { check }),
      ...(options.offset === undefined ? {} : { offset: options.offset }),
      ...(options.cause === undefined ? {} : { cause: options.cause }),
    });
  }
}

/** Shorthand for the check modules: `vtpmFail('ERR_VTPM_NONCE', 'extraData is not the nonce')`. */
export function vtpmFail(code: VtpmErrorCode, message: string, details: Record<string, unknown> = {}): never {
  throw new VtpmVerificationError(code, message, details);
}
