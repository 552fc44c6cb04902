/**
 * A minimal DER encoder for the synthetic test PKI. Only the types X.509
 * certificates and the Intel / AMD extensions need. Every function returns
 * canonical DER (shortest length, minimal INTEGER), so a given input always
 * encodes to the same bytes.
 */

export type Der = Uint8Array;

function concat(parts: readonly Uint8Array[]): Uint8Array {
  return new Uint8Array(Buffer.concat(parts));
}

function encodeLength(length: number): Uint8Array {
  if (length < 0x80) return Uint8Array.of(length);
  const bytes: number[] = [];
  for (let n = length; n > 0; n = Math.floor(n / 256)) bytes.unshift(n & 0xff);
  return Uint8Array.of(0x80 | bytes.length, ...bytes);
}

/** One TLV with the given tag byte and content. */
export function tlv(tag: number, content: Uint8Array): Der {
  return concat([Uint8Array.of(tag), encodeLength(content.length), content]);
}

export function sequence(...items: Der[]): Der {
  return tlv(0x30, concat(items));
}

export function set(...items: Der[]): Der {
  return tlv(0x31, concat(items));
}

/** Context-specific constructed tag [n] (EXPLICIT tagging). */
export function explicit(n: number, inner: Der): Der {
  return tlv(0xa0 | n, inner);
}

/** Context-specific primitive tag [n] (IMPLICIT tagging of a primitive). */
export function implicitPrimitive(n: number, content: Uint8Array): Der {
  return tlv(0x80 | n, content);
}

/** Minimal two's-complement bytes of a non-negative integer. */
function unsignedContent(value: bigint | number | Uint8Array): Uint8Array {
  let bytes: number[];
  if (value instanceof Uint8Array) {
    bytes = Array.from(value);
  } else {
    let v = BigInt(value);
    if (v < 0n) throw new RangeError('DER INTEGER: negative values are not needed here');
    bytes = [];
    do {
      bytes.unshift(Number(v & 0xffn));
      v >>= 8n;
    } while (v > 0n);
  }
  while (bytes.length > 1 && bytes[0] === 0 && (bytes[1] ?? 0) < 0x80) bytes.shift();
  if (bytes.length === 0) bytes = [0];
  if ((bytes[0] ?? 0) >= 0x80) bytes.unshift(0);
  return Uint8Array.from(bytes);
}

/** INTEGER from a number, bigint, or unsigned big-endian bytes. */
export function integer(value: bigint | number | Uint8Array): Der {
  return tlv(0x02, unsignedContent(value));
}

export function enumerated(value: number): Der {
  return tlv(0x0a, unsignedContent(value));
}

export function boolean(value: boolean): Der {
  return tlv(0x01, Uint8Array.of(value ? 0xff : 0x00));
}

export function octetString(bytes: Uint8Array): Der {
  return tlv(0x04, bytes);
}

/** BIT STRING with `unusedBits` padding bits in the last byte. */
export function bitString(bytes: Uint8Array, unusedBits = 0): Der {
  return tlv(0x03, concat([Uint8Array.of(unusedBits), bytes]));
}

export function nullValue(): Der {
  return Uint8Array.of(0x05, 0x00);
}

export function utf8String(text: string): Der {
  return tlv(0x0c, new Uint8Array(Buffer.from(text, 'utf8')));
}

export function printableString(text: string): Der {
  return tlv(0x13, new Uint8Array(Buffer.from(text, 'latin1')));
}

export function ia5String(text: string): Der {
  return tlv(0x16, new Uint8Array(Buffer.from(text, 'latin1')));
}

export function objectIdentifier(dotted: string): Der {
  const arcs = dotted.split('.').map((a) => BigInt(a));
  const [first = 0n, second = 0n, ...rest] = arcs;
  const out: number[] = [];
  for (const arc of [first * 40n + second, ...rest]) {
    const chunk: number[] = [];
    let v = arc;
    do {
      chunk.unshift(Number(v & 0x7fn));
      v >>= 7n;
    } while (v > 0n);
    for (let i = 0; i < chunk.length - 1; i++) chunk[i] = (chunk[i] ?? 0) | 0x80;
    out.push(...chunk);
  }
  return tlv(0x06, Uint8Array.from(out));
}

/** RFC 5280 Time: UTCTime through 2049, GeneralizedTime from 2050. */
export function time(date: Date): Der {
  if (Number.isNaN(date.getTime())) throw new RangeError('DER time: invalid date');
  const iso = date.toISOString(); // YYYY-MM-DDTHH:MM:SS.sssZ
  const digits = iso.slice(0, 19).replace(/[-:T]/g, '');
  const year = date.getUTCFullYear();
  if (year >= 1950 && year < 2050) return tlv(0x17, new Uint8Array(Buffer.from(`${digits.slice(2)}Z`, 'latin1')));
  return tlv(0x18, new Uint8Array(Buffer.from(`${digits}Z`, 'latin1')));
}
