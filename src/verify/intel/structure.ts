/**
 * Section A of the checklist (T02–T07) on the quote the verifier rebuilt
 * from its bytes (carrier.ts, T49). The native parser enforces these on the
 * bytes (cpp/core/intel_quote.cc); they are asserted again here on the
 * rebuilt quote, so a change to the parser cannot drop one unnoticed, and
 * recorded in the result. Offsets and sizes: checklist §2.1 and §3.
 */
import { EvidenceParseError, UnsupportedEvidenceError, type ErrorCode } from '../../errors.js';
import type { SgxQuote, TdxQuote } from '../../evidence/types.js';
import { toHex } from './bytes.js';
import { passed, type VerifyContext } from './context.js';

/** T02: the parser's hard cap (cpp/core/intel_quote.h kMaxQuoteSize). */
export const MAX_QUOTE_BYTES = 64 * 1024;
/** T02: header + body + fixed signature data + type-5 header (TDX v4: 0x4CA; SGX v3: 0x3FC). */
const MIN_QUOTE_BYTES = { tdx: 0x4ca, sgx: 0x3fc } as const;
const INTEL_QE_VENDOR_ID = '939a7233f79c4ca9940a0db3957f0607';
const TD_BODY_SIZE = { 2: 584, 3: 648 } as const;
const SGX_REPORT_SIZE = 384;
/** SGX v3: 48-byte header + 384-byte report body. */
const SGX_SIGNED_LENGTH = 0x1b0;

function parseError(check: string, code: ErrorCode, message: string, details: Record<string, unknown> = {}): never {
  throw new EvidenceParseError(code, `${check}: ${message}`, { check, details });
}

function unsupported(check: string, code: ErrorCode, message: string, details: Record<string, unknown> = {}): never {
  throw new UnsupportedEvidenceError(code, `${check}: ${message}`, { check, details });
}

function checkSize(ctx: VerifyContext, quote: TdxQuote | SgxQuote): void {
  const n = quote.bytes.length;
  if (n > MAX_QUOTE_BYTES) parseError('T02', 'ERR_INPUT_TOO_LARGE', `quote of ${n} bytes exceeds ${MAX_QUOTE_BYTES}`); // T02: cap
  if (n < MIN_QUOTE_BYTES[quote.kind]) parseError('T02', 'ERR_TRUNCATED', `quote of ${n} bytes is below the minimum`); // T02: minimum
  passed(ctx, 'T02', `quote length ${n} within [${MIN_QUOTE_BYTES[quote.kind]}, ${MAX_QUOTE_BYTES}]`);
}

function checkHeader(ctx: VerifyContext, quote: TdxQuote | SgxQuote): void {
  const h = quote.header;
  const version: number = quote.version;
  if (quote.kind === 'tdx') {
    // T03: TDX quotes are v4 / v5 with tee_type 0x81.
    if (version !== 4 && version !== 5) unsupported('T03', 'ERR_UNSUPPORTED_VERSION', `TDX quote version ${version}`);
    if (quote.header.teeType !== 0x81) unsupported('T03', 'ERR_UNSUPPORTED_TEE_TYPE', `tee_type 0x${quote.header.teeType.toString(16)} is not TDX`);
  } else {
    // T03 (SGX v3): version 3, att_key_data_0 (the v4 tee_type position) zero.
    if (version !== 3) unsupported('T03', 'ERR_UNSUPPORTED_VERSION', `SGX quote version ${version}`);
    if (quote.header.attestationKeyData0 !== 0) unsupported('T03', 'ERR_UNSUPPORTED_TEE_TYPE', 'SGX v3 bytes 0x04..0x07 are not zero');
  }
  if (h.attestationKeyType !== 2) unsupported('T03', 'ERR_UNSUPPORTED_KEY_TYPE', `attestation key type ${h.attestationKeyType} is not ECDSA P-256`); // T03
  if (toHex(h.qeVendorId) !== INTEL_QE_VENDOR_ID) unsupported('T03', 'ERR_UNSUPPORTED_QE_VENDOR', 'QE vendor ID is not Intel'); // T03 (V10)
  passed(ctx, 'T03', `version ${quote.version}, ECDSA P-256 attestation key, ${quote.kind === 'tdx' ? 'TEE type TDX' : 'SGX'}, Intel QE vendor`);
}

/** T04: body type and size, and the signed range they imply (§2.2). */
function checkBody(ctx: VerifyContext, quote: TdxQuote): void {
  const bodyType = quote.bodyType;
  // T04: TD report bodies only (body type 1 is an SGX report: not on the TDX path)
  if (bodyType !== 2 && bodyType !== 3) unsupported('T04', 'ERR_UNSUPPORTED_BODY_TYPE', `body type ${String(bodyType)} is not a TD report`);
  if (quote.version === 4 && bodyType !== 2) unsupported('T04', 'ERR_UNSUPPORTED_BODY_TYPE', 'a v4 quote carries a TD 1.0 report only');
  const bodyOffset = quote.version === 5 ? 0x36 : 0x30;
  const expected = bodyOffset + TD_BODY_SIZE[bodyType];
  const r = quote.signedRange;
  if (r.offset !== 0 || r.length !== expected) parseError('T04', 'ERR_BAD_LENGTH', `signed range [${r.offset}, +${r.length}) is not header + body`);
  if ((bodyType === 3) !== (quote.body.teeTcbSvn2 !== undefined)) parseError('T04', 'ERR_BAD_LENGTH', 'TD 1.5 fields do not match the body type');
  passed(ctx, 'T04', `v${quote.version} TD report body type ${bodyType} (${TD_BODY_SIZE[bodyType]} bytes), signed range [0, ${expected})`);
}

/** T04 (SGX v3): the signed range is exactly header + report body, [0, 0x1B0). */
function checkSgxSignedRange(quote: SgxQuote): void {
  const r = quote.signedRange;
  if (r.offset !== 0 || r.length !== SGX_SIGNED_LENGTH) parseError('T04', 'ERR_BAD_LENGTH', `signed range [${r.offset}, +${r.length}) is not header + body [0, ${SGX_SIGNED_LENGTH})`);
}

/** T05: bytes after the signature data are all-zero padding, reported and never interpreted. */
function checkTrailing(ctx: VerifyContext, quote: TdxQuote | SgxQuote): void {
  const t = quote.trailing;
  // Non-zero trailing bytes pass only when the parse itself was told to ignore them (its own warning says so).
  const lenient = quote.warnings.some((w) => w.startsWith('dangerouslyLenient: ignored'));
  if (!t.allZero && !lenient) parseError('T05', 'ERR_TRAILING_DATA', `${t.length} trailing bytes are not all zero`); // T05
  for (const w of quote.warnings) ctx.warnings.push(`T05: ${w}`);
  const what = t.length === 0 ? 'no bytes' : t.allZero ? `${t.length} all-zero bytes (padding, ignored)` : `${t.length} non-zero bytes ignored (dangerouslyLenient parse)`;
  passed(ctx, 'T05', `after the signature data: ${what}`);
}

function requireSize(what: string, bytes: Uint8Array, size: number): void {
  if (bytes.length !== size) parseError('T07', 'ERR_BAD_LENGTH', `${what} is ${bytes.length} bytes, expected ${size}`);
}

/** T06 / T07: certification data nesting (TDX: type 6 wrapping type 5; SGX v3: type 5 directly). */
function checkCertificationData(ctx: VerifyContext, quote: TdxQuote | SgxQuote): void {
  const sd = quote.signatureData;
  if (quote.kind === 'tdx') {
    if (sd.outerCertificationDataType !== 6) unsupported('T06', 'ERR_UNSUPPORTED_CERT_DATA_TYPE', `outer certification data type ${String(sd.outerCertificationDataType)} is not 6`); // T06
    passed(ctx, 'T06', 'outer certification data type 6 (QE report certification data)');
  }
  if (sd.certificationDataType !== 5) unsupported('T07', 'ERR_UNSUPPORTED_CERT_DATA_TYPE', `certification data type ${sd.certificationDataType} is not 5 (PCK chain)`); // T07
  requireSize('quote signature', sd.quoteSignature, 64); // T07
  requireSize('attestation key', sd.attestationKey, 64); // T07
  requireSize('QE report', sd.qeReportBytes, SGX_REPORT_SIZE); // T07
  requireSize('QE report signature', sd.qeReportSignature, 64); // T07
  if (sd.pckCertChainPem.length === 0) parseError('T07', 'ERR_BAD_LENGTH', 'empty PCK certificate chain');
  passed(ctx, 'T07', `QE report, QE signature, ${sd.qeAuthData.length}-byte QE auth data, PCK chain (type 5, ${sd.pckCertChainPem.length} bytes)`);
}

/** T02–T07 in order. */
export function checkQuoteStructure(ctx: VerifyContext, quote: TdxQuote | SgxQuote): void {
  checkSize(ctx, quote);
  checkHeader(ctx, quote);
  if (quote.kind === 'tdx') checkBody(ctx, quote);
  else checkSgxSignedRange(quote);
  checkTrailing(ctx, quote);
  checkCertificationData(ctx, quote);
}
