import { describe, expect, it } from 'vitest';

import { flipByte } from './bytes.js';

describe('flipByte (test helper)', () => {
  it('XORs the byte at the index in place, default mask 0x01', () => {
    const b = Uint8Array.of(0x00, 0x80, 0xff);
    flipByte(b, 0);
    flipByte(b, 2, 0xf0);
    expect([...b]).toEqual([0x01, 0x80, 0x0f]);
  });

  it('refuses an index a typed array would silently ignore', () => {
    const b = new Uint8Array(4);
    for (const i of [4, -1, 1.5]) expect(() => flipByte(b, i)).toThrow(RangeError);
    expect([...b]).toEqual([0, 0, 0, 0]);
  });
});
