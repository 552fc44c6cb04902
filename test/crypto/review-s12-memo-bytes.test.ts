/**
 * Review s12, x509 finding 1: the signature memo counted entries, never bytes, and remembered
 * failed checks, so every rejected hostile certificate left a copy of its signed bytes behind.
 * Now it holds at most `maxBytes` by its own accounting and remembers only successes. Fails on
 * the code before (no `bytes` accounting; false results stored).
 */
import { describe, expect, it } from 'vitest';

import { SignatureMemo } from '../../src/crypto/memo.js';

const part = (size: number, fill: number): Uint8Array => new Uint8Array(size).fill(fill);

describe('review s12 x509 #1: the signature memo is bounded in bytes', () => {
  it('a failed check is not remembered: checked again, nothing held', () => {
    const memo = new SignatureMemo();
    let runs = 0;
    const forged = [part(300_000, 1), part(72, 2), part(91, 3)];
    for (let i = 0; i < 3; i++) {
      expect(memo.verify('x509-cert', forged, () => (runs++, false))).toBe(false);
    }
    expect(runs).toBe(3);
    expect({ size: memo.size, bytes: memo.bytes }).toEqual({ size: 0, bytes: 0 });
  });

  it('successes are remembered within the byte budget; the oldest leave first', () => {
    const maxBytes = 1024 * 1024;
    const memo = new SignatureMemo(10_000, maxBytes);
    const key = part(91, 3);
    // Each check its own signature (the key holds small parts verbatim, large ones by length).
    const signatureOf = (i: number): Uint8Array => Uint8Array.of(i >> 8, i & 0xff, ...part(70, 2));
    const n = 200; // 200 x ~20 KiB: four times the budget
    let held = 0;
    for (let i = 0; i < n; i++) {
      const tbs = part(20_000, i & 0xff);
      tbs[0] = i >> 8;
      expect(memo.verify('x509-cert', [tbs, signatureOf(i), key], () => true)).toBe(true);
      held += tbs.length;
      expect(memo.bytes).toBeLessThanOrEqual(maxBytes);
    }
    expect(held).toBeGreaterThan(3 * maxBytes);
    expect(memo.size).toBeLessThan(n);
    expect(memo.bytes).toBeGreaterThan(maxBytes - 25_000); // full, not emptied
    // The newest is served, the oldest was evicted and is checked again.
    const newest = part(20_000, (n - 1) & 0xff);
    newest[0] = (n - 1) >> 8;
    let runs = 0;
    expect(memo.verify('x509-cert', [newest, signatureOf(n - 1), key], () => (runs++, true))).toBe(true);
    expect(runs).toBe(0);
    const oldest = part(20_000, 0);
    expect(memo.verify('x509-cert', [oldest, signatureOf(0), key], () => (runs++, true))).toBe(true);
    expect(runs).toBe(1);
  });

  it('an entry over an eighth of the budget is checked every time, never kept', () => {
    const memo = new SignatureMemo(10_000, 80_000);
    let runs = 0;
    const big = [part(20_000, 9), part(64, 1), part(65, 4)];
    for (let i = 0; i < 2; i++) expect(memo.verify('ecdsa-p256', big, () => (runs++, true))).toBe(true);
    expect(runs).toBe(2);
    expect({ size: memo.size, bytes: memo.bytes }).toEqual({ size: 0, bytes: 0 });
  });

  it('the default memo has a byte budget that holds 10 000 real certificate checks', () => {
    const memo = new SignatureMemo();
    expect(memo.capacity).toBe(10_000);
    // An AMD chain check: TBS ~1.3 KiB, RSA-4096 signature 512 B and SPKI ~550 B, key text ~1.1 KiB.
    expect(memo.maxBytes).toBeGreaterThanOrEqual(10_000 * 4_000);
  });
});
