/**
 * SHA-1 (FIPS 180-4) in plain JavaScript for the IMA replay's small inputs:
 * PCR extends (40 bytes, one block) and short template data. node:crypto
 * costs a fixed amount per call (a Buffer in, a Buffer out) that is larger
 * than one or two blocks computed here on a word array that is never
 * allocated; above SHA1_JS_MAX_BYTES node:crypto is faster (measured
 * crossover about 200 bytes) and is used. Checked against node:crypto by
 * property tests (test/vtpm/ima-replay.test.ts) and by every real list.
 *
 * SHA-1 is here only because IMA and the TPM's SHA-1 bank use it.
 */
import { readWord, wordsEqualBytes, wordsToBytes } from './hash-words.js';
import { hash } from 'node:crypto';

/** Inputs above this size are hashed by node:crypto. */
export const SHA1_JS_MAX_BYTES = 256;

const W = new Int32Array(80);
const TAIL = new Uint8Array(128);

/** One compression of the block already in W[0..15] into h. */
function compress(h: Int32Array): void {
  for (let t = 16; t < 80; t++) {
    const x = W[t - 3]! ^ W[t - 8]! ^ W[t - 14]! ^ W[t - 16]!;
    W[t] = (x << 1) | (x >>> 31);
  }
  let a = h[0]!;
  let b = h[1]!;
  let c = h[2]!;
  let d = h[3]!;
  let e = h[4]!;
  for (let t = 0; t < 20; t++) {
    const tmp = (((a << 5) | (a >>> 27)) + ((b & c) | (~b & d)) + e + 0x5a827999 + W[t]!) | 0;
    e = d;
    d = c;
    c = (b << 30) | (b >>> 2);
    b = a;
    a = tmp;
  }
  for (let t = 20; t < 40; t++) {
    const tmp = (((a << 5) | (a >>> 27)) + (b ^ c ^ d) + e + 0x6ed9eba1 + W[t]!) | 0;
    e = d;
    d = c;
    c = (b << 30) | (b >>> 2);
    b = a;
    a = tmp;
  }
  for (let t = 40; t < 60; t++) {
    const tmp = (((a << 5) | (a >>> 27)) + ((b & c) | (b & d) | (c & d)) + e + (0x8f1bbcdc | 0) + W[t]!) | 0;
    e = d;
    d = c;
    c = (b << 30) | (b >>> 2);
    b = a;
    a = tmp;
  }
  for (let t = 60; t < 80; t++) {
    const tmp = (((a << 5) | (a >>> 27)) + (b ^ c ^ d) + e + (0xca62c1d6 | 0) + W[t]!) | 0;
    e = d;
    d = c;
    c = (b << 30) | (b >>> 2);
    b = a;
    a = tmp;
  }
  h[0] = (h[0]! + a) | 0;
  h[1] = (h[1]! + b) | 0;
  h[2] = (h[2]! + c) | 0;
  h[3] = (h[3]! + d) | 0;
  h[4] = (h[4]! + e) | 0;
}

function initial(h: Int32Array): void {
  h[0] = 0x67452301;
  h[1] = 0xefcdab89 | 0;
  h[2] = 0x98badcfe | 0;
  h[3] = 0x10325476;
  h[4] = 0xc3d2e1f0 | 0;
}

/** SHA-1 of data[start, end) as five big-endian words in `out` (no allocation up to SHA1_JS_MAX_BYTES). */
export function sha1Words(data: Uint8Array, out: Int32Array, start = 0, end = data.length): void {
  const length = end - start;
  if (length > SHA1_JS_MAX_BYTES) {
    const d = hash('sha1', data.subarray(start, end), 'buffer');
    for (let i = 0; i < 5; i++) out[i] = readWord(d, i * 4);
    return;
  }
  initial(out);
  const full = start + length - (length % 64);
  for (let at = start; at < full; at += 64) {
    for (let i = 0; i < 16; i++) W[i] = readWord(data, at + i * 4);
    compress(out);
  }
  // The tail, 0x80, zeros and the bit length: one or two blocks.
  const rest = end - full;
  const tailLen = rest < 56 ? 64 : 128;
  TAIL.fill(0, 0, tailLen);
  for (let i = 0; i < rest; i++) TAIL[i] = data[full + i]!;
  TAIL[rest] = 0x80;
  const bits = length * 8;
  TAIL[tailLen - 4] = bits >>> 24;
  TAIL[tailLen - 3] = (bits >>> 16) & 0xff;
  TAIL[tailLen - 2] = (bits >>> 8) & 0xff;
  TAIL[tailLen - 1] = bits & 0xff;
  TAIL[tailLen - 5] = Math.floor(bits / 0x100000000) & 0xff;
  for (let at = 0; at < tailLen; at += 64) {
    for (let i = 0; i < 16; i++) W[i] = readWord(TAIL, at + i * 4);
    compress(out);
  }
}

/** A SHA-1 PCR: value = SHA-1(value ‖ digest), one block per extend. */
export class Sha1Chain {
  private readonly h = new Int32Array(5);

  constructor(initialValue?: Uint8Array) {
    if (initialValue !== undefined) {
      if (initialValue.length !== 20) throw new RangeError('a SHA-1 PCR value is 20 bytes');
      for (let i = 0; i < 5; i++) this.h[i] = readWord(initialValue, i * 4);
    }
  }

  /** value = SHA-1(value ‖ digest[at, at + 20)). */
  extend(digest: Uint8Array, at = 0): void {
    for (let i = 0; i < 5; i++) W[5 + i] = readWord(digest, at + i * 4);
    this.finish();
  }

  /** The same with the digest as five words (from sha1Words). */
  extendWords(digest: Int32Array): void {
    for (let i = 0; i < 5; i++) W[5 + i] = digest[i]!;
    this.finish();
  }

  private finish(): void {
    const h = this.h;
    for (let i = 0; i < 5; i++) W[i] = h[i]!;
    W[10] = 0x80000000 | 0;
    W[11] = 0;
    W[12] = 0;
    W[13] = 0;
    W[14] = 0;
    W[15] = 320; // 40 bytes in bits
    initial(h); // the block is the whole 40-byte message: start from the IV
    compress(h);
  }

  /** The current value (a copy). */
  value(): Uint8Array {
    return wordsToBytes(this.h);
  }
}

export { wordsEqualBytes, wordsToBytes };
