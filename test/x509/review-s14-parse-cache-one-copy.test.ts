/**
 * Review s14 (native), finding 3: ParseCache.get read the caller's bytes three
 * times on a miss: hashed them for the key, parsed a copy, and took the
 * comparison copy after the parse. A writer changing the buffer during the
 * call (a SharedArrayBuffer view written by another thread) could leave an
 * entry whose comparison copy is content B while its value is the parse of
 * content A; the same buffer object, now holding B, was then served A's
 * parse from the fast path. Now a miss reads the bytes once, into one private
 * copy that is hashed, parsed and kept.
 *
 * A racing thread would make the test timing-dependent, so the writer runs
 * inside the parse callback, between the reads, deterministically. The first
 * case fails on the code before.
 */
import { readFileSync } from 'node:fs';
import { describe, expect, it } from 'vitest';

import { ParseCache } from '../../src/x509/parse-cache.js';
import { parseCertificate } from '../../src/x509/index.js';

const hex = (b: Uint8Array) => Buffer.from(b).toString('hex');
const vcekDer = () => new Uint8Array(readFileSync(new URL('../../vectors/snp-v3-milan-vcek.der', import.meta.url)));

describe('review s14 #3: a parse-cache entry is one content: its key, its parse and its comparison copy', () => {
  it('a buffer written during the parse is never served the parse of its earlier content', () => {
    const cache = new ParseCache<{ content: string }>(16);
    const shared = new Uint8Array(new SharedArrayBuffer(8));
    shared.set([1, 1, 1, 1, 1, 1, 1, 1]);
    let writes = 1;
    const parse = (copy: Uint8Array) => {
      // The concurrent writer: the caller's buffer changes while the cache parses.
      if (writes-- > 0) shared.set([2, 2, 2, 2, 2, 2, 2, 2]);
      return { content: hex(copy) };
    };
    expect(cache.get(shared, parse).content).toBe('0101010101010101');
    // The buffer now holds 02…: whatever is served for it must be the parse of 02….
    expect(cache.get(shared, parse).content).toBe('0202020202020202');
    expect(cache.get(new Uint8Array(8).fill(2), parse).content).toBe('0202020202020202');
    expect(cache.get(new Uint8Array(8).fill(1), parse).content).toBe('0101010101010101');
  });

  it('the entry is kept under the digest of what was parsed: a fresh view of that content hits it', () => {
    const cache = new ParseCache<{ content: string; n: number }>(16);
    const shared = new Uint8Array(new SharedArrayBuffer(4));
    shared.set([7, 7, 7, 7]);
    let parses = 0;
    let writes = 1;
    const parse = (copy: Uint8Array) => {
      if (writes-- > 0) shared.set([9, 9, 9, 9]);
      return { content: hex(copy), n: ++parses };
    };
    const first = cache.get(shared, parse);
    expect(first).toEqual({ content: '07070707', n: 1 });
    // Another view of 07…: served from the entry (no parse), the same value.
    expect(cache.get(new Uint8Array([7, 7, 7, 7]), parse)).toBe(first);
    expect(parses).toBe(1);
    expect(cache.usage().entries).toBe(1);
  });

  it('the value views the kept copy: its own ArrayBuffer (not the Buffer pool), and a write through it is parsed again, not served', () => {
    const input = vcekDer();
    const pooled = Buffer.from(input); // under 4 KiB: a slice of the shared pool
    const a = parseCertificate(pooled);
    expect(a.der.buffer).not.toBe(pooled.buffer);
    expect(a.der.buffer.byteLength).toBe(input.length);
    const original = hex(a.der);
    // A careless caller writes into the value's buffer: the entry's copy changes with it.
    const behind = new Uint8Array(a.der.buffer);
    behind[behind.length - 1] = (behind[behind.length - 1] ?? 0) ^ 0xff;
    const b = parseCertificate(pooled);
    expect(b).not.toBe(a);
    expect(hex(b.der)).toBe(original);
    expect(hex(parseCertificate(vcekDer()).der)).toBe(original);
  });
});
