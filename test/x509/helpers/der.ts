/**
 * A tiny DER encoder for building extension values and malformed variants
 * in tests. It writes whatever it is told (non-minimal integers included),
 * which is the point: the parser under test must reject what this can build.
 */
const concat = (parts: Uint8Array[]): Uint8Array => new Uint8Array(Buffer.concat(parts));

export function length(n: number): Uint8Array {
  if (n < 0x80) return Uint8Array.of(n);
  const bytes: number[] = [];
  for (let v = n; v > 0; v = Math.floor(v / 256)) bytes.unshift(v & 0xff);
  return Uint8Array.of(0x80 | bytes.length, ...bytes);
}

export function tlv(tag: number, ...content: Uint8Array[]): Uint8Array {
  const body = concat(content);
  return concat([Uint8Array.of(tag), length(body.length), body]);
}

export const seq = (...items: Uint8Array[]): Uint8Array => tlv(0x30, ...items);
export const set = (...items: Uint8Array[]): Uint8Array => tlv(0x31, ...items);
export const octets = (bytes: Uint8Array | number[]): Uint8Array => tlv(0x04, Uint8Array.from(bytes));
export const bool = (v: boolean): Uint8Array => tlv(0x01, Uint8Array.of(v ? 0xff : 0x00));
export const ia5 = (s: string): Uint8Array => tlv(0x16, new Uint8Array(Buffer.from(s, 'latin1')));
export const utf8 = (s: string): Uint8Array => tlv(0x0c, new Uint8Array(Buffer.from(s, 'utf8')));
export const printable = (s: string): Uint8Array => tlv(0x13, new Uint8Array(Buffer.from(s, 'latin1')));
export const nul = (): Uint8Array => Uint8Array.of(0x05, 0x00);

/** Minimal two's-complement INTEGER content of a non-negative value. */
function integerContent(value: number | bigint): Uint8Array {
  let hex = BigInt(value).toString(16);
  if (hex.length % 2) hex = `0${hex}`;
  const bytes = Buffer.from(hex, 'hex');
  return (bytes[0] as number) & 0x80 ? concat([Uint8Array.of(0), bytes]) : new Uint8Array(bytes);
}

export const int = (value: number | bigint, tag = 0x02): Uint8Array => tlv(tag, integerContent(value));
export const enumerated = (value: number): Uint8Array => int(value, 0x0a);
/** An INTEGER with its content given verbatim (e.g. a padded 00 05). */
export const rawInt = (content: number[], tag = 0x02): Uint8Array => tlv(tag, Uint8Array.from(content));

export function oidContent(oid: string): Uint8Array {
  const arcs = oid.split('.').map((a) => BigInt(a));
  const values = [(arcs[0] as bigint) * 40n + (arcs[1] as bigint), ...arcs.slice(2)];
  const out: number[] = [];
  for (const v of values) {
    const group: number[] = [Number(v & 0x7fn)];
    for (let rest = v >> 7n; rest > 0n; rest >>= 7n) group.unshift(Number(rest & 0x7fn) | 0x80);
    out.push(...group);
  }
  return Uint8Array.from(out);
}

export const oid = (dotted: string): Uint8Array => tlv(0x06, oidContent(dotted));
export const context = (n: number, constructed: boolean, ...content: Uint8Array[]): Uint8Array =>
  tlv(0x80 | (constructed ? 0x20 : 0) | n, ...content);
export const hex = (b: Uint8Array): string => Buffer.from(b).toString('hex');
export const fromHex = (h: string): Uint8Array => new Uint8Array(Buffer.from(h, 'hex'));
export { concat };
