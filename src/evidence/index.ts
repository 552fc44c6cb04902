/**
 * parseEvidence: one entry point for every evidence format. The family is
 * recognised from bytes 2..3 (see detectKind); the family's native parser
 * then checks versions, lengths and reserved ranges.
 */
import { EvidenceParseError, InvalidArgumentError } from '../errors.js';
import { checkOptionKeys, type OptionKeys } from '../option-keys.js';
import { NativeTrailingMode } from '../native/index.js';
import { readU16LE } from './bytes.js';
import { decodeEvidenceInput, type InputEncoding } from './decode.js';
import { buildIntelQuote, frameIntelQuote } from './intel-quote.js';
import { buildSnpReport, frameSnpReport } from './snp-report.js';
import type { Evidence, EvidenceKind, SnpProduct } from './types.js';

export interface ParseOptions {
  /** Input encoding; default "auto" (binary, hex or base64 detected). */
  encoding?: InputEncoding;
  /**
   * Expected kind; default: detected from bytes 2..3. Evidence of another
   * kind is ERR_UNKNOWN_FORMAT: another family by bytes 2..3 (0 is an SNP
   * report; a quote with attestation key type 0 is none we accept) before any
   * parsing, TDX named for an SGX quote (or the reverse) after it.
   */
  kind?: EvidenceKind;
  /**
   * Trailing bytes after the structure (T05). Default "default": all-zero
   * padding is accepted and reported in `trailing`, anything else is
   * ERR_TRAILING_DATA. "strict" rejects any trailing byte.
   * "dangerouslyLenient" ignores non-zero trailing bytes and records a warning.
   */
  trailing?: 'default' | 'strict' | 'dangerouslyLenient';
  /** SEV-SNP product. Required to decode TCBs of v2 reports; must match the CPUID of v3+. */
  snpProduct?: SnpProduct;
}

/** The keys ParseOptions accepts (the compiler keeps this list equal to the type's keys). */
const PARSE_OPTION_KEYS: OptionKeys<ParseOptions> = { encoding: true, kind: true, trailing: true, snpProduct: true };

const MODES = {
  default: NativeTrailingMode.Default,
  strict: NativeTrailingMode.Strict,
  dangerouslyLenient: NativeTrailingMode.Lenient,
} as const;

/** The parser family of each kind a caller may name. */
const FAMILY_OF_KIND: Readonly<Record<EvidenceKind, 'intel' | 'snp'>> = { tdx: 'intel', sgx: 'intel', snp: 'snp' };

/** Own keys only: "toString" or "__proto__" must not select an inherited value. */
function lookup<T>(table: Readonly<Record<string, T>>, key: unknown, option: string): T {
  if (typeof key !== 'string' || !Object.hasOwn(table, key)) {
    throw new InvalidArgumentError('ERR_INVALID_ARGUMENT', `unknown ${option} "${String(key)}"`, { details: { option } });
  }
  return table[key] as T;
}

export function detectKind(bytes: Uint8Array): 'intel' | 'snp' {
  if (bytes.length < 4) {
    throw new EvidenceParseError('ERR_TRUNCATED', 'evidence is shorter than any header', { offset: bytes.length });
  }
  // Bytes 2..3 are the quote's attestation key type (never 0 in a quote we
  // accept) and the high half of the SNP report's u32 version (always 0).
  // Version checks then happen in the parser for the family (T03 / S03).
  return readU16LE(bytes, 2) === 0 ? 'snp' : 'intel';
}

/**
 * Parses a TDX quote (v4, v5), an SGX quote (v3) or an SEV-SNP report (v2-v5).
 * Throws EvidenceParseError (class PARSE) or UnsupportedEvidenceError (class
 * UNSUPPORTED) with a stable `code`, the byte `offset` and the checklist id.
 */
export function parseEvidence(input: Uint8Array | ArrayBuffer | string, parseOptions: ParseOptions = {}): Evidence {
  // Unknown keys are ERR_INVALID_ARGUMENT, never ignored (review s12 docs #1).
  const options = checkOptionKeys(parseOptions, PARSE_OPTION_KEYS, 'parseEvidence') ?? {};
  const trailing = options.trailing ?? 'default';
  const mode = lookup(MODES, trailing, 'trailing mode');
  const named = options.kind === undefined ? undefined : lookup(FAMILY_OF_KIND, options.kind, 'evidence kind');
  const { bytes } = decodeEvidenceInput(input, options.encoding ?? 'auto');
  const detected = detectKind(bytes);
  // A named kind of another family is ERR_UNKNOWN_FORMAT, as for TDX named for an SGX quote (review s12
  // docs #5): never the other family's parser error (S03 for a quote named snp, T03 for a report named tdx).
  if (named !== undefined && named !== detected) {
    const found = detected === 'snp' ? 'bytes 2..3 are 0: an SEV-SNP report (a quote with attestation key type 0 is none we accept)' : 'an Intel quote (bytes 2..3 are its attestation key type)';
    throw new EvidenceParseError('ERR_UNKNOWN_FORMAT', `expected ${options.kind} evidence, found ${found}`, { offset: 2 });
  }
  const family = detected;
  const warnings: string[] = [];
  let evidence: Evidence;
  if (family === 'snp') {
    const frame = frameSnpReport(bytes, mode);
    if (trailing === 'dangerouslyLenient' && !frame.trailingAllZero) {
      warnings.push(`dangerouslyLenient: ignored ${frame.trailingSize} trailing bytes that are not all zero`);
    }
    evidence = buildSnpReport(bytes, frame, options.snpProduct, warnings);
  } else {
    const frame = frameIntelQuote(bytes, mode);
    if (trailing === 'dangerouslyLenient' && !frame.trailingAllZero) {
      warnings.push(`dangerouslyLenient: ignored ${frame.trailingSize} trailing bytes that are not all zero`);
    }
    evidence = buildIntelQuote(bytes, frame, warnings);
  }
  if (options.kind && options.kind !== evidence.kind) {
    throw new EvidenceParseError('ERR_UNKNOWN_FORMAT', `expected ${options.kind} evidence, found ${evidence.kind}`);
  }
  return evidence;
}

export type * from './types.js';
export { decodeEvidenceInput, type InputEncoding, type DecodedInput } from './decode.js';
export { evidenceToJSON } from './json.js';
export { parseSnpCertificateTable, guidToString, guidToBytes, SNP_CERT_GUIDS, type SnpCertificateEntry, type SnpCertificateKind } from './cert-table.js';
export { productFromCpuid, decodeTcb, SNP_PRODUCTS } from './snp-product.js';
