/** Small byte helpers shared by the evidence modules. */

export function toHex(bytes: Uint8Array): string {
  return Buffer.from(bytes.buffer, bytes.byteOffset, bytes.byteLength).toString('hex');
}

export function readU16LE(bytes: Uint8Array, offset: number): number {
  return (bytes[offset] ?? 0) | ((bytes[offset + 1] ?? 0) << 8);
}

export function readU32LE(bytes: Uint8Array, offset: number): number {
  return (readU16LE(bytes, offset) | (readU16LE(bytes, offset + 2) << 16)) >>> 0;
}

/** 64-bit fields stay BigInt: JS bit operators are 32-bit (checklist §1.1, S41). */
export function readU64LE(bytes: Uint8Array, offset: number): bigint {
  return BigInt(readU32LE(bytes, offset)) | (BigInt(readU32LE(bytes, offset + 4)) << 32n);
}

export function isAllZero(bytes: Uint8Array): boolean {
  for (const b of bytes) if (b !== 0) return false;
  return true;
}

/** Lowercase hex of a 64-bit value, zero-padded to 16 digits, with 0x prefix. */
export function u64Hex(value: bigint): string {
  return `0x${value.toString(16).padStart(16, '0')}`;
}
