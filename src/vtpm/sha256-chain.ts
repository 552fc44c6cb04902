/**
 * SHA-256 (FIPS 180-4) in plain JavaScript for the IMA replay's PCR extends:
 * value = SHA-256(value ‖ digest) is exactly one 64-byte data block and a
 * padding block that never changes, so the padding block's message schedule
 * (with the round constants added) is computed once, and an extend is two
 * compressions on Int32 words with no allocation and no node:crypto call
 * (node:crypto's fixed cost per call, a Buffer in and a Buffer out, is about
 * as large as both compressions; bench/ima.bench.js).
 *
 * Template data is hashed here up to SHA256_JS_MAX_BYTES (three blocks):
 * short inputs cost node:crypto more in its call, and the Buffer it returns,
 * than the compressions do here; longer ones go to node:crypto. Checked
 * against node:crypto by property tests (test/vtpm/sha256-chain.test.ts) and by
 * every real list (the ibmtss SHA-256 PCR 10 values).
 */
import { readWord, wordsEqualBytes as sha256WordsEqualBytes, wordsToBytes as sha256WordsToBytes } from './hash-words.js';
import { hash } from 'node:crypto';

/**
 * Inputs above this size are hashed by node:crypto: 183 bytes is the most
 * that fits three blocks with the padding; measured at 100,000 distinct
 * inputs, JavaScript and node:crypto take the same time there, and
 * node:crypto is faster above (0.7x JavaScript's time at four blocks).
 */
export const SHA256_JS_MAX_BYTES = 183;

const K = new Int32Array([
  0x428a2f98, 0x71374491, 0xb5c0fbcf, 0xe9b5dba5, 0x3956c25b, 0x59f111f1, 0x923f82a4, 0xab1c5ed5, 0xd807aa98, 0x12835b01, 0x243185be, 0x550c7dc3, 0x72be5d74, 0x80deb1fe, 0x9bdc06a7, 0xc19bf174,
  0xe49b69c1, 0xefbe4786, 0x0fc19dc6, 0x240ca1cc, 0x2de92c6f, 0x4a7484aa, 0x5cb0a9dc, 0x76f988da, 0x983e5152, 0xa831c66d, 0xb00327c8, 0xbf597fc7, 0xc6e00bf3, 0xd5a79147, 0x06ca6351, 0x14292967,
  0x27b70a85, 0x2e1b2138, 0x4d2c6dfc, 0x53380d13, 0x650a7354, 0x766a0abb, 0x81c2c92e, 0x92722c85, 0xa2bfe8a1, 0xa81a664b, 0xc24b8b70, 0xc76c51a3, 0xd192e819, 0xd6990624, 0xf40e3585, 0x106aa070,
  0x19a4c116, 0x1e376c08, 0x2748774c, 0x34b0bcb5, 0x391c0cb3, 0x4ed8aa4a, 0x5b9cca4f, 0x682e6ff3, 0x748f82ee, 0x78a5636f, 0x84c87814, 0x8cc70208, 0x90befffa, 0xa4506ceb, 0xbef9a3f7, 0xc67178f2,
]);

const IV = new Int32Array([0x6a09e667, 0xbb67ae85, 0x3c6ef372, 0xa54ff53a, 0x510e527f, 0x9b05688c, 0x1f83d9ab, 0x5be0cd19]);

/** Message schedule of the block being compressed; then W[t] + K[t] in place. */
const W = new Int32Array(64);
const TAIL = new Uint8Array(128);

/** W[0..15] holds a block: expand the schedule and add the round constants (kw[t] = W[t] + K[t]). */
function schedule(w: Int32Array): void {
  for (let t = 16; t < 64; t++) {
    const x = w[t - 15]!;
    const y = w[t - 2]!;
    const s0 = ((x >>> 7) | (x << 25)) ^ ((x >>> 18) | (x << 14)) ^ (x >>> 3);
    const s1 = ((y >>> 17) | (y << 15)) ^ ((y >>> 19) | (y << 13)) ^ (y >>> 10);
    w[t] = (w[t - 16]! + s0 + w[t - 7]! + s1) | 0;
  }
  for (let t = 0; t < 64; t++) w[t] = (w[t]! + K[t]!) | 0;
}

/** The padding block of a 64-byte message (0x80, zeros, bit length 512), scheduled once. */
const PAD64 = new Int32Array(64);
PAD64[0] = 0x80000000 | 0;
PAD64[15] = 512;
schedule(PAD64);

/**
 * The 64 rounds on h with a scheduled block kw. Eight rounds per iteration
 * with the working variables renamed instead of shifted (a round then moves
 * no variable); measured about 1.4x the plain loop in V8.
 */
function rounds(h: Int32Array, kw: Int32Array): void {
  let a = h[0]!;
  let b = h[1]!;
  let c = h[2]!;
  let d = h[3]!;
  let e = h[4]!;
  let f = h[5]!;
  let g = h[6]!;
  let hh = h[7]!;
  for (let t = 0; t < 64; t += 8) {
      hh = (hh + (((e>>>6)|(e<<26)) ^ ((e>>>11)|(e<<21)) ^ ((e>>>25)|(e<<7))) + (g ^ (e & (f ^ g))) + kw[t]!) | 0;
      d = (d + hh) | 0;
      hh = (hh + (((a>>>2)|(a<<30)) ^ ((a>>>13)|(a<<19)) ^ ((a>>>22)|(a<<10))) + ((a & b) | (c & (a | b)))) | 0;
      g = (g + (((d>>>6)|(d<<26)) ^ ((d>>>11)|(d<<21)) ^ ((d>>>25)|(d<<7))) + (f ^ (d & (e ^ f))) + kw[t + 1]!) | 0;
      c = (c + g) | 0;
      g = (g + (((hh>>>2)|(hh<<30)) ^ ((hh>>>13)|(hh<<19)) ^ ((hh>>>22)|(hh<<10))) + ((hh & a) | (b & (hh | a)))) | 0;
      f = (f + (((c>>>6)|(c<<26)) ^ ((c>>>11)|(c<<21)) ^ ((c>>>25)|(c<<7))) + (e ^ (c & (d ^ e))) + kw[t + 2]!) | 0;
      b = (b + f) | 0;
      f = (f + (((g>>>2)|(g<<30)) ^ ((g>>>13)|(g<<19)) ^ ((g>>>22)|(g<<10))) + ((g & hh) | (a & (g | hh)))) | 0;
      e = (e + (((b>>>6)|(b<<26)) ^ ((b>>>11)|(b<<21)) ^ ((b>>>25)|(b<<7))) + (d ^ (b & (c ^ d))) + kw[t + 3]!) | 0;
      a = (a + e) | 0;
      e = (e + (((f>>>2)|(f<<30)) ^ ((f>>>13)|(f<<19)) ^ ((f>>>22)|(f<<10))) + ((f & g) | (hh & (f | g)))) | 0;
      d = (d + (((a>>>6)|(a<<26)) ^ ((a>>>11)|(a<<21)) ^ ((a>>>25)|(a<<7))) + (c ^ (a & (b ^ c))) + kw[t + 4]!) | 0;
      hh = (hh + d) | 0;
      d = (d + (((e>>>2)|(e<<30)) ^ ((e>>>13)|(e<<19)) ^ ((e>>>22)|(e<<10))) + ((e & f) | (g & (e | f)))) | 0;
      c = (c + (((hh>>>6)|(hh<<26)) ^ ((hh>>>11)|(hh<<21)) ^ ((hh>>>25)|(hh<<7))) + (b ^ (hh & (a ^ b))) + kw[t + 5]!) | 0;
      g = (g + c) | 0;
      c = (c + (((d>>>2)|(d<<30)) ^ ((d>>>13)|(d<<19)) ^ ((d>>>22)|(d<<10))) + ((d & e) | (f & (d | e)))) | 0;
      b = (b + (((g>>>6)|(g<<26)) ^ ((g>>>11)|(g<<21)) ^ ((g>>>25)|(g<<7))) + (a ^ (g & (hh ^ a))) + kw[t + 6]!) | 0;
      f = (f + b) | 0;
      b = (b + (((c>>>2)|(c<<30)) ^ ((c>>>13)|(c<<19)) ^ ((c>>>22)|(c<<10))) + ((c & d) | (e & (c | d)))) | 0;
      a = (a + (((f>>>6)|(f<<26)) ^ ((f>>>11)|(f<<21)) ^ ((f>>>25)|(f<<7))) + (hh ^ (f & (g ^ hh))) + kw[t + 7]!) | 0;
      e = (e + a) | 0;
      a = (a + (((b>>>2)|(b<<30)) ^ ((b>>>13)|(b<<19)) ^ ((b>>>22)|(b<<10))) + ((b & c) | (d & (b | c)))) | 0;
  }
  h[0] = (h[0]! + a) | 0;
  h[1] = (h[1]! + b) | 0;
  h[2] = (h[2]! + c) | 0;
  h[3] = (h[3]! + d) | 0;
  h[4] = (h[4]! + e) | 0;
  h[5] = (h[5]! + f) | 0;
  h[6] = (h[6]! + g) | 0;
  h[7] = (h[7]! + hh) | 0;
}

/** Compresses the 64 bytes at b[at] into h. */
function block(h: Int32Array, b: Uint8Array, at: number): void {
  for (let i = 0; i < 16; i++) W[i] = readWord(b, at + i * 4);
  schedule(W);
  rounds(h, W);
}

/** SHA-256 of data[start, end) as eight big-endian words in `out` (no allocation up to SHA256_JS_MAX_BYTES). */
export function sha256Words(data: Uint8Array, out: Int32Array, start = 0, end = data.length): void {
  const length = end - start;
  if (length > SHA256_JS_MAX_BYTES) {
    const d = hash('sha256', data.subarray(start, end), 'buffer');
    for (let i = 0; i < 8; i++) out[i] = readWord(d, i * 4);
    return;
  }
  out.set(IV);
  const full = start + length - (length % 64);
  for (let at = start; at < full; at += 64) block(out, data, at);
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
  for (let at = 0; at < tailLen; at += 64) block(out, TAIL, at);
}

/** A SHA-256 PCR: value = SHA-256(value ‖ digest), two compressions per extend. */
export class Sha256Chain {
  private readonly h = new Int32Array(8);

  constructor(initialValue?: Uint8Array) {
    if (initialValue !== undefined) {
      if (initialValue.length !== 32) throw new RangeError('a SHA-256 PCR value is 32 bytes');
      for (let i = 0; i < 8; i++) this.h[i] = readWord(initialValue, i * 4);
    }
  }

  /** value = SHA-256(value ‖ digest[at, at + 32)). */
  extend(digest: Uint8Array, at = 0): void {
    for (let i = 0; i < 8; i++) W[8 + i] = readWord(digest, at + i * 4);
    this.finish();
  }

  /** The same with the digest as eight words (from sha256Words). */
  extendWords(digest: Int32Array): void {
    for (let i = 0; i < 8; i++) W[8 + i] = digest[i]!;
    this.finish();
  }

  private finish(): void {
    const h = this.h;
    for (let i = 0; i < 8; i++) W[i] = h[i]!;
    schedule(W);
    h.set(IV); // the 64-byte message starts from the IV
    rounds(h, W);
    rounds(h, PAD64);
  }

  /** The current value (a copy). */
  value(): Uint8Array {
    return sha256WordsToBytes(this.h);
  }
}

export { sha256WordsEqualBytes, sha256WordsToBytes };
