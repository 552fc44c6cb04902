/**
 * Step D (checklist §4.4 S14, S44): a VCEK is bound to one chip: its hwID
 * equals CHIP_ID (Milan / Genoa: 64 bytes; Turin: 8 bytes with CHIP_ID[8:64]
 * zero). A masked or all-zero CHIP_ID cannot be bound and is rejected unless
 * the caller allows it (then a warning). A VLEK is not chip-bound: its
 * CHIP_ID is a claim only, yet on Turin it must still have the product's
 * shape (S44), for every signing key.
 */
import type { SnpReport } from '../../evidence/types.js';
import { isAllZero } from '../../evidence/bytes.js';
import type { AmdKdsExtension } from '../../x509/index.js';
import { fail } from '../errors.js';
import type { SnpContext } from './context.js';
import { compareVcekHwId } from './vcek-match.js';

/**
 * The report's own CHIP_ID, before any certificate is compared with it. S44
 * runs for every Turin report, masked or not and whatever the signing key
 * (review s11 changes-b #3: a masked report skipped it, so a VLEK report with
 * MASK_CHIP_KEY set carried any bytes 8..63 into claims.chipId). Then S14 for
 * a VCEK: a masked or all-zero CHIP_ID cannot be bound and is rejected unless
 * the caller allows it (then a warning). Returns whether the VCEK's hwID must
 * be compared (checkChipId).
 */
export function checkChipIdShape(report: SnpReport, ctx: SnpContext): boolean {
  if (report.product === 'Turin') checkTurinChipId(report, ctx);
  if (report.signerInfo.signingKey !== 'vcek') return false;
  if (!(report.signerInfo.maskChipKey || isAllZero(report.chipId))) return true;
  // S14: MASK_CHIP_KEY or an all-zero CHIP_ID: rejected by default (go-sev-guest skips the check instead)
  if (!ctx.allowMaskedChipId) fail('SNP_CHIP', 'S14', 'CHIP_ID is masked or all zero: the report is not bound to a chip', { maskChipKey: report.signerInfo.maskChipKey });
  ctx.warnings.push('allowMaskedChipId: CHIP_ID is masked or all zero; the VCEK hwID was not compared and the report is not bound to a chip');
  return false;
}

/** S14: the VCEK's hwID == CHIP_ID (Milan / Genoa all 64 bytes, Turin the first 8); after checkChipIdShape returned true. */
export function checkChipId(report: SnpReport, ext: AmdKdsExtension, ctx: SnpContext): void {
  const match = compareVcekHwId(report, ext);
  if (!match.ok) fail('SNP_CHIP', 'S14', 'VCEK hwID is not the report\'s CHIP_ID', { mismatches: match.mismatches });
  ctx.pass('S14', `VCEK hwID equals CHIP_ID${report.product === 'Turin' ? ' (Turin: 8 bytes, CHIP_ID[8:64] zero: S44)' : ''}`);
}

/** S44: a Turin CHIP_ID is 8 bytes; bytes 8..63 must be zero (consistent with the product). */
function checkTurinChipId(report: SnpReport, ctx: SnpContext): void {
  if (!isAllZero(report.chipId.subarray(8))) fail('SNP_CHIP', 'S44', 'Turin CHIP_ID has non-zero bytes after the first 8');
  if (report.signerInfo.signingKey !== 'vcek') ctx.pass('S44', 'Turin CHIP_ID: 8 bytes, CHIP_ID[8:64] zero (a VLEK report: a claim, not bound to the chip)');
}
