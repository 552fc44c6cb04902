/**
 * SEV-SNP TCB_VERSION values as the test builders write them (checklist §4.1
 * byte table). Kept apart from the parser's decodeTcb so the builders stay an
 * independent check of it.
 */
import { deriveBytes } from './seed.js';

export type TestSnpProduct = 'Milan' | 'Genoa' | 'Turin';

/** SPL values of one TCB_VERSION; `fmc` exists on Turin only. */
export interface SnpTcbValues {
  bootloader: number;
  tee: number;
  snp: number;
  microcode: number;
  fmc?: number;
}

/**
 * The 8 TCB_VERSION bytes. Milan / Genoa: BL, TEE, 4 reserved, SNP, ucode.
 * Turin: FMC, BL, TEE, SNP, 3 reserved, ucode. Reserved bytes are zero.
 */
export function encodeSnpTcb(values: SnpTcbValues, product: TestSnpProduct): Uint8Array {
  const out = new Uint8Array(8);
  if (product === 'Turin') {
    out[0] = values.fmc ?? 0;
    out[1] = values.bootloader;
    out[2] = values.tee;
    out[3] = values.snp;
  } else {
    out[0] = values.bootloader;
    out[1] = values.tee;
    out[6] = values.snp;
  }
  out[7] = values.microcode;
  return out;
}

const DEFAULT_TCB: Record<TestSnpProduct, SnpTcbValues> = {
  // ucode >= 0x80 exercises the two-byte DER INTEGER (02 02 00 xx) of §4.3.
  Milan: { bootloader: 4, tee: 0, snp: 0x18, microcode: 0xdb },
  Genoa: { bootloader: 9, tee: 0, snp: 0x17, microcode: 0x54 },
  Turin: { fmc: 1, bootloader: 1, tee: 1, snp: 3, microcode: 0x4f },
};

/** Default TCB of the test PKI's VCEK / VLEK and of the report builder. */
export function defaultSnpTcb(product: TestSnpProduct): SnpTcbValues {
  return { ...DEFAULT_TCB[product] };
}

/** Seed-derived CHIP_ID; Turin chips report 8 bytes with the rest zero (S14, S44). */
export function defaultChipId(seed: string, product: TestSnpProduct): Uint8Array {
  const chipId = deriveBytes(seed, `amd:chip-id:${product}`, 64);
  if (product === 'Turin') chipId.fill(0, 8);
  return chipId;
}
