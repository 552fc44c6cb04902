/**
 * XOR one byte in place. Throws when the index is outside the array: a typed
 * array silently ignores an out-of-range write, and a test whose "tampering"
 * changed nothing would pass for the wrong reason.
 */
export function flipByte(bytes: Uint8Array, index: number, mask = 0x01): void {
  const old = bytes[index];
  if (old === undefined || !Number.isInteger(index)) throw new RangeError(`flipByte: index ${index} outside 0..${bytes.length - 1}`);
  bytes[index] = old ^ mask;
}
