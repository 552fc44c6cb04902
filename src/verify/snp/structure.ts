/**
 * Step A (checklist §4.4 S02–S06, S33, S43): the report's structure, read
 * again from its own bytes. The SnpReport object a caller passes is only a
 * carrier: `report.bytes` is copied first (private-bytes.ts: a typed array
 * can lie about its storage through its getters), the native parser re-frames
 * the copy (length, version, reserved ranges, fixed fields) and every field
 * used below, and the signed span, is decoded anew from that copy, so an
 * edited object cannot smuggle a field past the signature check (T49's
 * SEV-SNP counterpart, S33).
 */
import { InvalidArgumentError } from '../../errors.js';
import { buildSnpReport, frameSnpReport } from '../../evidence/snp-report.js';
import type { SnpProduct, SnpReport, SnpTcb } from '../../evidence/types.js';
import { NativeTrailingMode } from '../../native/index.js';
import { fail } from '../errors.js';
import { privateCopy } from '../private-bytes.js';
import { LENIENT_MARK, recordedLenient } from '../recorded-lenient.js';
import type { SnpContext } from './context.js';

export interface CheckedReport {
  /** Rebuilt from the bytes; `tcb` decoded with the product's layout. */
  report: SnpReport;
  product: SnpProduct;
  tcb: { current: SnpTcb; reported: SnpTcb; committed: SnpTcb; launch: SnpTcb };
}

function expectReport(input: SnpReport): void {
  if (typeof input !== 'object' || input === null || input.kind !== 'snp') {
    throw new InvalidArgumentError('ERR_INVALID_ARGUMENT', 'report must be a parsed SEV-SNP report (parseEvidence)');
  }
}

/** v2 carries no CPUID: only a product the caller named can stand in for it. */
function productForV2(input: SnpReport, ctx: SnpContext): SnpProduct {
  if (input.productSource !== 'caller' || input.product === undefined) {
    fail('PRODUCT', 'S06', 'report v2 carries no CPUID: it verifies only when the caller names the product (parse option snpProduct, CLI --product)', { version: 2 });
  }
  ctx.warnings.push(`report v2 carries no CPUID: the product (${input.product}) was named by the caller, not read from signed bytes`);
  return input.product;
}

export function checkStructure(input: SnpReport, ctx: SnpContext): CheckedReport {
  expectReport(input);
  const bytes = privateCopy(input.bytes, 'the report\'s bytes');
  // Non-zero bytes after 0x4A0 only exist when the caller parsed with
  // "dangerouslyLenient" (its recorded warning, as for Intel quotes); they are
  // unsigned and never read. Whether any were ignored is read from this frame.
  const lenient = recordedLenient(input.warnings);
  // S02, S04 (and S43 for v2): native re-frame of the bytes: length 0x4A0 (+ zero padding),
  // SIGNATURE_ALGO, signer info, POLICY bit 17 and MBZ bits, PLATFORM_INFO, reserved ranges per version.
  const frame = frameSnpReport(bytes, lenient ? NativeTrailingMode.Lenient : NativeTrailingMode.Default);
  ctx.pass('S02', `report is 0x4A0 bytes${frame.trailingSize > 0 ? ` (+${frame.trailingSize} unsigned trailing bytes, never read)` : ''}`);
  if (lenient && !frame.trailingAllZero) ctx.warnings.push(`dangerouslyLenient: ${frame.trailingSize} non-zero trailing bytes after the report were ignored`);
  // S03: VERSION in the allowed set (default 2-5; v2 then still needs a caller-named product at S06)
  if (!ctx.allowedVersions.has(frame.version)) {
    fail('UNSUPPORTED', 'S03', `report version ${frame.version} is not allowed`, { version: frame.version, allowed: [...ctx.allowedVersions] });
  }
  ctx.pass('S03', `report version ${frame.version} is allowed`);
  ctx.pass('S04', 'signature algorithm, signer info, policy, platform info and reserved ranges are well-formed');
  if (frame.version === 2) ctx.pass('S43', 'v2: bytes 0x188–0x19F are reserved zero, never read as CPUID');
  const requested = frame.version === 2 ? productForV2(input, ctx) : undefined;
  // S33: every field from here on is decoded from the bytes just framed. Its warnings too (as for Intel
  // quotes, T49): the lenient parse's record only when this frame ignored non-zero bytes, never the caller's
  // strings, so a forged "dangerouslyLenient: ignored" mark does not survive into the result (review s11 changes-b #7).
  const ownWarnings = lenient && !frame.trailingAllZero ? [`${LENIENT_MARK} ${frame.trailingSize} trailing bytes that are not all zero`] : [];
  const report = buildSnpReport(bytes, frame, requested, ownWarnings);
  return { report, ...checkProduct(input, report, ctx) };
}

/** S06: the product from the signed CPUID (v3+) or the caller (v2), allowed by the options. */
function checkProduct(input: SnpReport, report: SnpReport, ctx: SnpContext): Omit<CheckedReport, 'report'> {
  const product = report.product;
  if (product === undefined || report.tcb === undefined) {
    fail('PRODUCT', 'S06', 'the signed CPUID names no known SEV-SNP product', { cpuid: report.cpuid ?? null });
  }
  if (input.product !== undefined && input.product !== product) {
    fail('PRODUCT', 'S06', `the report object says ${input.product}, its signed CPUID says ${product}`, { claimed: input.product, cpuid: product });
  }
  if (!ctx.allowedProducts.has(product)) {
    fail('PRODUCT', 'S06', `product ${product} is not allowed`, { product, allowed: [...ctx.allowedProducts] });
  }
  ctx.pass('S06', `product ${product} (${report.productSource === 'cpuid' ? 'signed CPUID' : 'named by the caller'}) selects the anchors and the TCB layout`);
  return { product, tcb: report.tcb };
}
