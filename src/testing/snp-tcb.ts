/**
 * SEV-SNP TCB_VERSION values as the test builders write them (checklist §4.1
 * byte table). Kept apart from the parser's decodeTcb so the builders stay an
 * independent check of it.
 */

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
