/**
 * The JavaScript SHA-256 of the IMA replay (src/vtpm/sha256-chain.ts)
 * against node:crypto: every length around the block and padding
 * boundaries, random inputs at random offsets of many lengths (within and
 * beyond the JavaScript limit), and random extend chains, including the
 * word form the replay uses and chains interleaved with template hashes
 * (both share the module's scratch schedule).
 */
import { createHash, hash } from 'node:crypto';
import fc from 'fast-check';
import { describe, expect, it } from 'vitest';

import { toHex } from '../../src/vtpm/pcrs.js';
import { Sha256Chain, SHA256_JS_MAX_BYTES, sha256Words, sha256WordsEqualBytes, sha256WordsToBytes } from '../../src/vtpm/sha256-chain.js';

const sha256 = (data: Uint8Array): string => createHash('sha256').update(data).digest('hex');

describe('JavaScript SHA-256', () => {
  it('equals node:crypto for every length 0-300 and around the JavaScript limit', () => {
    const words = new Int32Array(8);
    const lengths = [...Array.from({ length: 301 }, (_, n) => n), SHA256_JS_MAX_BYTES - 1, SHA256_JS_MAX_BYTES, SHA256_JS_MAX_BYTES + 1, 5000];
    for (const n of lengths) {
      const data = new Uint8Array(n).map((_, i) => (i * 131 + n) & 0xff);
      sha256Words(data, words);
      expect(toHex(sha256WordsToBytes(words)), `length ${n}`).toBe(sha256(data));
      expect(sha256WordsEqualBytes(words, hash('sha256', data, 'buffer'))).toBe(true);
    }
  });

  it('equals node:crypto on random inputs, as spans [start, end) of a larger buffer', () => {
    const words = new Int32Array(8);
    fc.assert(
      fc.property(fc.uint8Array({ maxLength: 600 }), fc.nat(600), fc.nat(600), (data, a, b) => {
        const start = Math.min(a, data.length);
        const end = Math.max(start, data.length - Math.min(b, data.length));
        sha256Words(data, words, start, end);
        expect(toHex(sha256WordsToBytes(words))).toBe(sha256(data.subarray(start, end)));
      }),
      { numRuns: 1000 },
    );
  });

  it('sha256WordsEqualBytes finds a single flipped bit at an offset', () => {
    const words = new Int32Array(8);
    const data = new TextEncoder().encode('template data');
    sha256Words(data, words);
    const digest = new Uint8Array(40);
    digest.set(hash('sha256', data, 'buffer'), 5);
    expect(sha256WordsEqualBytes(words, digest, 5)).toBe(true);
    for (let bit = 0; bit < 256; bit += 37) {
      digest[5 + (bit >> 3)]! ^= 1 << (bit & 7);
      expect(sha256WordsEqualBytes(words, digest, 5)).toBe(false);
      digest[5 + (bit >> 3)]! ^= 1 << (bit & 7);
    }
  });
});

describe('Sha256Chain', () => {
  const digest32 = fc.uint8Array({ minLength: 32, maxLength: 32 });

  it('equals node:crypto SHA-256(value ‖ digest) over random chains, by bytes, by words and by template data', () => {
    const words = new Int32Array(8);
    fc.assert(
      fc.property(digest32, fc.array(fc.tuple(fc.uint8Array({ maxLength: 300 }), fc.nat(2)), { maxLength: 20 }), (initial, steps) => {
        const chain = new Sha256Chain(initial);
        let expected = Buffer.from(initial);
        for (const [data, how] of steps) {
          const d = hash('sha256', data, 'buffer');
          if (how === 0) {
            const padded = new Uint8Array(40);
            padded.set(d, 3);
            chain.extend(padded, 3);
          } else if (how === 1) {
            sha256Words(data, words);
            chain.extendWords(words);
          } else {
            chain.extend(d);
          }
          expected = createHash('sha256').update(expected).update(d).digest();
        }
        expect(toHex(chain.value())).toBe(expected.toString('hex'));
      }),
      { numRuns: 300 },
    );
  });

  it('starts from zeros by default and refuses an initial value that is not 32 bytes', () => {
    const chain = new Sha256Chain();
    expect(toHex(chain.value())).toBe('00'.repeat(32));
    chain.extend(new Uint8Array(32).fill(0xff));
    expect(toHex(chain.value())).toBe(createHash('sha256').update(new Uint8Array(32)).update(new Uint8Array(32).fill(0xff)).digest('hex'));
    expect(() => new Sha256Chain(new Uint8Array(20))).toThrow(RangeError);
  });
});
