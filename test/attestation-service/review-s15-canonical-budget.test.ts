/**
 * s15 change review of the serve fixes, finding 2: runtime_data.structured was put in its whole
 * RFC 8785 form before the 16 KiB bound was checked, so a 99 KB value just under every shape bound
 * still cost 15-30 ms. canonicalJson now takes a budget and stops as soon as the form passes it; the
 * budget is spent exactly (brackets, separators and colons as they are decided), so a value whose
 * form is exactly the bound still passes.
 */
import { describe, expect, it } from 'vitest';

import { CanonicalJsonTooLong, canonicalJson } from '../../src/attestation-service/encoding.js';

const refusedAt = (value: unknown, chars: number): boolean => {
  try {
    canonicalJson(value, 0, 128, { chars });
    return false;
  } catch (err) {
    if (err instanceof CanonicalJsonTooLong) return true;
    throw err;
  }
};

describe('canonicalJson with a budget', () => {
  it.each([[{ b: [1, 2, { z: 'x', a: null }], a: true, c: 'é' }], [[]], [{}], [[[[]]]], [{ k: [] }], ['s'], [0.5]])('the exact length passes, one character less is refused: %j', (value) => {
    const full = canonicalJson(value);
    expect(canonicalJson(value, 0, 128, { chars: full.length })).toBe(full);
    expect(refusedAt(value, full.length)).toBe(false);
    expect(refusedAt(value, full.length - 1)).toBe(true);
  });

  it('stops early on a large value: the budget is spent by the first members, the rest is never built', () => {
    let visited = 0;
    const big = Array.from({ length: 50_000 }, (_, i) => `value ${i}`);
    const proxy = new Proxy(big, {
      get(target, prop, receiver) {
        if (typeof prop === 'string' && /^\d+$/.test(prop)) visited++;
        return Reflect.get(target, prop, receiver);
      },
    });
    expect(refusedAt(proxy, 16 * 1024)).toBe(true);
    expect(visited).toBeLessThan(5_000);
  });
});
