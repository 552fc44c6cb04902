/**
 * T49: the quote object a caller hands over is only a carrier for its bytes.
 * Those bytes are copied first (private-bytes.ts: a typed array can lie about
 * its storage through its getters); the native parser frames the copy again
 * (T02–T07 on the bytes) and every field the verifier reads (header, body, QE
 * report, signature data) and every signed span is rebuilt from that copy, so
 * an object edited after parsing (a cleared DEBUG bit, a zeroed
 * SEAMATTRIBUTES, a raised QE ISVSVN) cannot reach a check or a claim. As the
 * SEV-SNP verifier does (src/verify/snp/structure.ts).
 */
import { EvidenceParseError } from '../../errors.js';
import { detectKind } from '../../evidence/index.js';
import { buildIntelQuote, frameIntelQuote } from '../../evidence/intel-quote.js';
import type { SgxQuote, TdxQuote } from '../../evidence/types.js';
import { NativeTrailingMode } from '../../native/index.js';
import { privateCopy } from '../private-bytes.js';
import { LENIENT_MARK, recordedLenient } from '../recorded-lenient.js';

function mismatch(check: 'T03' | 'T04', field: string, claimed: unknown, actual: unknown): never {
  throw new EvidenceParseError(
    'ERR_EVIDENCE_OBJECT_MISMATCH',
    `${check}: the quote object says ${field} ${String(claimed)}, its bytes say ${String(actual)}`,
    { check, details: { field, object: claimed, bytes: actual } },
  );
}

/** The object and its bytes must agree on what selects the layout: kind, version, TD report body type. */
function requireAgreement(input: TdxQuote | SgxQuote, rebuilt: TdxQuote | SgxQuote): void {
  if (input.kind !== rebuilt.kind) mismatch('T03', 'kind', input.kind, rebuilt.kind);
  if (input.version !== rebuilt.version) mismatch('T03', 'version', input.version, rebuilt.version);
  if (input.kind === 'tdx' && rebuilt.kind === 'tdx' && input.bodyType !== rebuilt.bodyType) mismatch('T04', 'body type', input.bodyType, rebuilt.bodyType);
}

/** T49: a quote rebuilt from a private copy of `input.bytes` alone, in the trailing mode the caller's parse recorded. */
export function quoteFromOwnBytes(input: TdxQuote | SgxQuote): TdxQuote | SgxQuote {
  return quoteFromBytes(input, privateCopy(input.bytes, 'the quote\'s bytes'));
}

/** T49: a quote rebuilt from `bytes`, which must be a private copy of `input.bytes` (quoteFromOwnBytes, verifyEvidence's snapshot). */
export function quoteFromBytes(input: TdxQuote | SgxQuote, bytes: Uint8Array): TdxQuote | SgxQuote {
  if (bytes.length >= 4 && detectKind(bytes) === 'snp') mismatch('T03', 'kind', input.kind, 'snp');
  const lenient = recordedLenient(input.warnings);
  const frame = frameIntelQuote(bytes, lenient ? NativeTrailingMode.Lenient : NativeTrailingMode.Default);
  const warnings = lenient && !frame.trailingAllZero ? [`${LENIENT_MARK} ${frame.trailingSize} trailing bytes that are not all zero`] : [];
  const rebuilt = buildIntelQuote(bytes, frame, warnings);
  requireAgreement(input, rebuilt);
  return rebuilt;
}
