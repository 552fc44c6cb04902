/**
 * Little-endian writes into a fixed buffer for the evidence builders. Every
 * write checks that the value fits its field, so a builder bug fails loudly
 * instead of producing evidence with a silently shifted layout.
 */

export class ByteWriter {
  readonly bytes: Uint8Array;

  constructor(size: number) {
    this.bytes = new Uint8Array(size);
  }

  private check(offset: number, length: number, what: string): void {
    if (!Number.isInteger(offset) || offset < 0 || offset + length > this.bytes.length) {
      throw new RangeError(`${what}: [${offset}, ${offset + length}) is outside ${this.bytes.length} bytes`);
    }
  }

  u8(offset: number, value: number, what = 'u8'): void {
    this.check(offset, 1, what);
    if (!Number.isInteger(value) || value < 0 || value > 0xff) throw new RangeError(`${what}: ${value} is not a u8`);
    this.bytes[offset] = value;
  }

  u16(offset: number, value: number, what = 'u16'): void {
    this.check(offset, 2, what);
    if (!Number.isInteger(value) || value < 0 || value > 0xffff) throw new RangeError(`${what}: ${value} is not a u16`);
    this.bytes[offset] = value & 0xff;
    this.bytes[offset + 1] = value >>> 8;
  }

  u32(offset: number, value: number, what = 'u32'): void {
    this.check(offset, 4, what);
    if (!Number.isInteger(value) || value < 0 || value > 0xffffffff) throw new RangeError(`${what}: ${value} is not a u32`);
    for (let i = 0; i < 4; i++) this.bytes[offset + i] = Math.floor(value / 2 ** (8 * i)) & 0xff;
  }

  /** 64-bit fields stay BigInt (checklist §1.1). */
  u64(offset: number, value: bigint, what = 'u64'): void {
    this.check(offset, 8, what);
    if (value < 0n || value > 0xffffffffffffffffn) throw new RangeError(`${what}: ${value} is not a u64`);
    for (let i = 0; i < 8; i++) this.bytes[offset + i] = Number((value >> BigInt(8 * i)) & 0xffn);
  }

  /** Copies `value`, which must be exactly `size` bytes when a size is given. */
  put(offset: number, value: Uint8Array, size: number = value.length, what = 'bytes'): void {
    if (value.length !== size) throw new RangeError(`${what}: expected ${size} bytes, got ${value.length}`);
    this.check(offset, size, what);
    this.bytes.set(value, offset);
  }
}

export function concatBytes(parts: readonly Uint8Array[]): Uint8Array {
  return new Uint8Array(Buffer.concat(parts));
}

export function u16le(value: number): Uint8Array {
  const w = new ByteWriter(2);
  w.u16(0, value);
  return w.bytes;
}

export function u32le(value: number): Uint8Array {
  const w = new ByteWriter(4);
  w.u32(0, value);
  return w.bytes;
}
