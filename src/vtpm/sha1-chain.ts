/**
 * A SHA-1 PCR extend chain in plain JavaScript: value = SHA-1(value ‖ digest)
 * with 20-byte values and digests, i.e. one SHA-1 block per extend
 * (40 message bytes, padding and the 320-bit length fit one 64-byte block).
 *
 * Why not node:crypto: an IMA list of 100,000 entries needs 100,000 extends
 * of 40 bytes each, and node:crypto's per-call cost (a Buffer in, a Buffer
 * out) is about three times one block of SHA-1 computed here on a word
 * array that never leaves the chain (measured in bench/ima.bench.js). The
 * result is checked against node:crypto in test/vtpm/ima-replay.test.ts.
 */
const W = new Int32Array(80);

export class Sha1Chain {
  private readonly h = new Int32Array(5);

  constructor(initial?: Uint8Array) {
    if (initial !== undefined) {
      if (initial.length !== 20) throw new RangeError('a SHA-1 PCR value is 20 bytes');
      for (let i = 0; i < 5; i++) this.h[i] = readWord(initial, i * 4);
    }
  }

  /** value = SHA-1(value ‖ digest[at, at + 20)). */
  extend(digest: Uint8Array, at = 0): void {
    const h = this.h;
    for (let i = 0; i < 5; i++) {
      W[i] = h[i]!;
      W[5 + i] = readWord(digest, at + i * 4);
    }
    W[10] = 0x80000000 | 0;
    W[11] = 0;
    W[12] = 0;
    W[13] = 0;
    W[14] = 0;
    W[15] = 320; // message length in bits
    for (let t = 16; t < 80; t++) {
      const x = W[t - 3]! ^ W[t - 8]! ^ W[t - 14]! ^ W[t - 16]!;
      W[t] = (x << 1) | (x >>> 31);
    }
    let a = 0x67452301 | 0;
    let b = 0xefcdab89 | 0;
    let c = 0x98badcfe | 0;
    let d = 0x10325476 | 0;
    let e = 0xc3d2e1f0 | 0;
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
    h[0] = (0x67452301 + a) | 0;
    h[1] = (0xefcdab89 + b) | 0;
    h[2] = (0x98badcfe + c) | 0;
    h[3] = (0x10325476 + d) | 0;
    h[4] = (0xc3d2e1f0 + e) | 0;
  }

  /** The current value (a copy). */
  value(): Uint8Array {
    const out = new Uint8Array(20);
    for (let i = 0; i < 5; i++) {
      const w = this.h[i]!;
      out[i * 4] = w >>> 24;
      out[i * 4 + 1] = (w >>> 16) & 0xff;
      out[i * 4 + 2] = (w >>> 8) & 0xff;
      out[i * 4 + 3] = w & 0xff;
    }
    return out;
  }
}

function readWord(b: Uint8Array, at: number): number {
  return (b[at]! << 24) | (b[at + 1]! << 16) | (b[at + 2]! << 8) | b[at + 3]!;
}
