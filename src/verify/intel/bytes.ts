/** Small byte helpers shared by the Intel verification steps. */
import { isUint8Array } from 'node:util/types';

/**
 * Buffer's hex encoder applied to the view itself: the claims hex a dozen
 * fields per quote, and wrapping each in a Buffer first cost one object each.
 */
const hexSlice = (Buffer.prototype as unknown as { hexSlice?: (this: Uint8Array, start: number, end: number) => string }).hexSlice;

/** hexSlice is not documented: a Node without it gets the plain (view, no copy) path. */
export const toHex: (b: Uint8Array) => string =
  typeof hexSlice === 'function'
    ? (b) => hexSlice.call(b, 0, b.length)
    : (b) => Buffer.from(b.buffer, b.byteOffset, b.byteLength).toString('hex');

/**
 * Byte equality without wrapping either side in a Buffer. Certificates (T09's
 * pinned root, every quote) go to Buffer.compare, which takes plain views and
 * is ~10x faster than the loop at that size; hashes and masks stay in the loop.
 */
export function sameBytes(a: Uint8Array, b: Uint8Array): boolean {
  const n = a.length;
  if (n !== b.length) return false;
  // isUint8Array reads the internal slot: a Proxy posing as a Uint8Array (a caller's trust root) takes the loop.
  if (n > 64 && isUint8Array(a) && isUint8Array(b)) return Buffer.compare(a, b) === 0;
  for (let i = 0; i < n; i++) if (a[i] !== b[i]) return false;
  return true;
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
