/**
 * Big-endian 32-bit words, shared by the JavaScript SHA-1 and SHA-256 of the
 * IMA replay (sha1-chain.ts, sha256-chain.ts): a digest is kept as words
 * while it is compared and extended, and turned into bytes only on demand.
 */

export function readWord(b: Uint8Array, at: number): number {
  return (b[at]! << 24) | (b[at + 1]! << 16) | (b[at + 2]! << 8) | b[at + 3]!;
}

/** True when every word equals the bytes at b[at] (4 bytes a word). */
export function wordsEqualBytes(words: Int32Array, b: Uint8Array, at = 0): boolean {
  for (let i = 0; i < words.length; i++) if (words[i] !== readWord(b, at + i * 4)) return false;
  return true;
}

export function wordsToBytes(words: Int32Array): Uint8Array {
  const out = new Uint8Array(words.length * 4);
  for (let i = 0; i < words.length; i++) {
    const w = words[i]!;
    out[i * 4] = w >>> 24;
    out[i * 4 + 1] = (w >>> 16) & 0xff;
    out[i * 4 + 2] = (w >>> 8) & 0xff;
    out[i * 4 + 3] = w & 0xff;
  }
  return out;
}
