/**
 * SEV-SNP product identification and TCB_VERSION decoding (checklist §4.1).
 * The product comes from the signed CPUID bytes of report v3 and later; v2
 * reports carry none, so only the caller can name it (S06, S43).
 */
import type { SnpProduct, SnpTcb } from './types.js';
import { readU64LE } from './bytes.js';

export const SNP_PRODUCTS: readonly SnpProduct[] = ['Milan', 'Genoa', 'Turin'];

/** Family / model ranges from virtee's Generation::identify_cpu and trustee. */
export function productFromCpuid(family: number, model: number): SnpProduct | undefined {
  if (family === 0x19) {
    if (model <= 0x0f) return 'Milan';
    if ((model >= 0x10 && model <= 0x1f) || (model >= 0xa0 && model <= 0xaf)) return 'Genoa';
  }
  if (family === 0x1a && model <= 0x11) return 'Turin';
  return undefined;
}

/**
 * Decodes the 8 TCB_VERSION bytes. Milan / Genoa: BL, TEE, 4 reserved, SNP,
 * microcode. Turin: FMC, BL, TEE, SNP, 3 reserved, microcode.
 */
export function decodeTcb(bytes: Uint8Array, product: SnpProduct): SnpTcb {
  const b = (i: number) => bytes[i] ?? 0;
  const raw = readU64LE(bytes, 0);
  if (product === 'Turin') {
    return { raw, fmc: b(0), bootloader: b(1), tee: b(2), snp: b(3), microcode: b(7) };
  }
  return { raw, bootloader: b(0), tee: b(1), snp: b(6), microcode: b(7) };
}
