/**
 * Report <-> VCEK consistency (checklist §4.4 D): S13, the VCEK's SPL
 * extensions equal REPORTED_TCB under the product's layout, and S14, the
 * VCEK's hwID equals CHIP_ID. Every required extension must be present (S40:
 * no "skip if absent"). Pure functions returning every mismatch.
 */
import type { SnpReport } from '../../evidence/types.js';
import type { AmdKdsExtension } from '../../x509/index.js';

export interface FieldMismatch {
  field: string;
  expected: string | number;
  actual: string | number;
}

export interface MatchResult {
  ok: boolean;
  mismatches: FieldMismatch[];
}

const hex = (b: Uint8Array) => Buffer.from(b).toString('hex');

function result(mismatches: FieldMismatch[]): MatchResult {
  return { ok: mismatches.length === 0, mismatches };
}

function expectEqual(out: FieldMismatch[], field: string, expected: number, actual: number | undefined): void {
  if (actual !== expected) out.push({ field, expected, actual: actual ?? 'absent' });
}

/** S13: every SPL extension equals its REPORTED_TCB component; reserved SPLs and bytes are zero. */
export function compareVcekTcb(report: SnpReport, ext: AmdKdsExtension): MatchResult {
  const out: FieldMismatch[] = [];
  const tcb = report.tcb?.reported;
  if (!report.product || !tcb) return result([{ field: 'product', expected: 'known', actual: 'unknown' }]);
  expectEqual(out, 'blSPL', tcb.bootloader, ext.blSPL);
  expectEqual(out, 'teeSPL', tcb.tee, ext.teeSPL);
  expectEqual(out, 'snpSPL', tcb.snp, ext.snpSPL);
  expectEqual(out, 'ucodeSPL', tcb.microcode, ext.ucodeSPL);
  const raw = report.reportedTcbBytes;
  const turin = report.product === 'Turin';
  // Reserved TCB bytes: Milan / Genoa 2..5, Turin 4..6.
  const reserved = turin ? [4, 5, 6] : [2, 3, 4, 5];
  for (const i of reserved) expectEqual(out, `reportedTcb[${i}]`, 0, raw[i]);
  if (turin) {
    expectEqual(out, 'fmcSPL', tcb.fmc ?? -1, ext.fmcSPL);
    if (ext.spl4 !== undefined) out.push({ field: 'spl_4', expected: 'absent', actual: ext.spl4 });
  } else {
    expectEqual(out, 'spl_4', 0, ext.spl4);
    if (ext.fmcSPL !== undefined) out.push({ field: 'fmcSPL', expected: 'absent', actual: ext.fmcSPL });
  }
  expectEqual(out, 'spl_5', 0, ext.spl5);
  expectEqual(out, 'spl_6', 0, ext.spl6);
  expectEqual(out, 'spl_7', 0, ext.spl7);
  return result(out);
}

/** The bytes of CHIP_ID a VCEK is fetched by and names as its hwID: Turin the first 8, Milan / Genoa all 64. */
export function vcekHwIdOf(report: SnpReport): Uint8Array {
  return report.product === 'Turin' ? report.chipId.subarray(0, 8) : report.chipId;
}

/**
 * Whether the VCEK's hwID is the one the report's VCEK is fetched by, and nothing more: unlike
 * compareVcekHwId it does not judge the report's own CHIP_ID shape (Turin bytes 8..63: S44).
 */
export function sameVcekHwId(report: SnpReport, ext: AmdKdsExtension): boolean {
  const expected = vcekHwIdOf(report);
  return ext.hwId !== undefined && Buffer.from(ext.hwId.buffer, ext.hwId.byteOffset, ext.hwId.byteLength).equals(expected);
}

/**
 * S14: hwID == CHIP_ID (Milan / Genoa: 64 bytes; Turin: 8 bytes and
 * CHIP_ID[8:64] zero). A masked or all-zero CHIP_ID is a mismatch: the
 * default rejects it for key release.
 */
export function compareVcekHwId(report: SnpReport, ext: AmdKdsExtension): MatchResult {
  const chip = report.chipId;
  if (report.signerInfo.maskChipKey) return result([{ field: 'maskChipKey', expected: 0, actual: 1 }]);
  if (chip.every((b) => b === 0)) return result([{ field: 'chipId', expected: 'non-zero', actual: 'all zero' }]);
  if (!ext.hwId) return result([{ field: 'hwID', expected: hex(chip), actual: 'absent' }]);
  if (!report.product) return result([{ field: 'product', expected: 'known', actual: 'unknown' }]);
  const turin = report.product === 'Turin';
  const expected = turin ? chip.subarray(0, 8) : chip;
  const out: FieldMismatch[] = [];
  // Bytes compared directly; hex only to describe a mismatch.
  if (!Buffer.from(ext.hwId.buffer, ext.hwId.byteOffset, ext.hwId.byteLength).equals(expected)) out.push({ field: 'hwID', expected: hex(expected), actual: hex(ext.hwId) });
  if (turin && chip.subarray(8).some((b) => b !== 0)) {
    out.push({ field: 'chipId[8:64]', expected: 'zero', actual: hex(chip.subarray(8)) });
  }
  return result(out);
}
