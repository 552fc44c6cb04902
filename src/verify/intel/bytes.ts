/** Small byte helpers shared by the Intel verification steps. */

export const toHex = (b: Uint8Array): string => Buffer.from(b.buffer, b.byteOffset, b.byteLength).toString('hex');

export function sameBytes(a: Uint8Array, b: Uint8Array): boolean {
  return a.length === b.length && Buffer.compare(Buffer.from(a.buffer, a.byteOffset, a.byteLength), Buffer.from(b.buffer, b.byteOffset, b.byteLength)) === 0;
}

/** (value & mask) == expected, bytewise; all three the same length. */
export function maskedEqual(value: Uint8Array, mask: Uint8Array, expected: Uint8Array): boolean {
  if (value.length !== mask.length || mask.length !== expected.length) return false;
  let diff = 0;
  for (let i = 0; i < value.length; i++) diff |= ((value[i] as number) & (mask[i] as number)) ^ (expected[i] as number);
  return diff === 0;
}

/** A 64-bit value as 0x-prefixed, 16-digit lowercase hex of the number (never byte-order hex). */
export const u64Hex = (v: bigint): string => `0x${v.toString(16).padStart(16, '0')}`;
