/**
 * A strict DER reader. Certificates, CRLs and the Intel / AMD extensions are
 * attacker-supplied (they travel inside evidence), so we do not hand them to
 * a BER-tolerant decoder first: asn1js accepts indefinite lengths, long-form
 * lengths with leading zeros and padded INTEGERs, which would let two byte
 * strings decode to the same value. Here every TLV must be DER:
 *
 * - single-byte tags (X.509 never needs tag numbers >= 31);
 * - definite lengths, short form below 128, long form minimal (<= 4 bytes);
 * - no bytes after the outermost value;
 * - universal types: SEQUENCE / SET constructed, everything else primitive;
 *   BOOLEAN 00 / FF, minimal INTEGER / ENUMERATED, empty NULL, well-formed
 *   OBJECT IDENTIFIER, BIT STRING with zero padding bits;
 * - bounded nesting (T08: "bounded nesting", V12: unbounded recursive DER).
 *
 * All returned byte arrays are views (subarray) of the caller's buffer.
 */
import { EvidenceParseError, TeeVerifyError, type ErrorCode } from '../errors.js';

/** Universal tag numbers we name. */
export const TAG = {
  BOOLEAN: 0x01,
  INTEGER: 0x02,
  BIT_STRING: 0x03,
  OCTET_STRING: 0x04,
  NULL: 0x05,
  OID: 0x06,
  ENUMERATED: 0x0a,
  UTF8_STRING: 0x0c,
  PRINTABLE_STRING: 0x13,
  TELETEX_STRING: 0x14,
  IA5_STRING: 0x16,
  UTC_TIME: 0x17,
  GENERALIZED_TIME: 0x18,
  UNIVERSAL_STRING: 0x1c,
  BMP_STRING: 0x1e,
  SEQUENCE: 0x30,
  SET: 0x31,
} as const;

/** Nesting deeper than this is rejected; real certificates stay below 10. */
export const MAX_DER_DEPTH = 24;

export interface DerNode {
  /** The identifier octet: class (bits 8-7), constructed (bit 6), number (bits 5-1). */
  tag: number;
  /** Offset of the identifier octet within the buffer that was parsed. */
  offset: number;
  /** Content octets (a view). */
  content: Uint8Array;
  /** The whole TLV: identifier, length and content (a view). */
  der: Uint8Array;
}

export const isConstructed = (node: DerNode): boolean => (node.tag & 0x20) !== 0;
/** Context-specific tag [n], constructed or primitive as given. */
export const contextTag = (n: number, constructed: boolean): number => 0x80 | (constructed ? 0x20 : 0) | n;

export function derError(reason: string, offset?: number, cause?: unknown): EvidenceParseError {
  return new EvidenceParseError('ERR_BAD_DER', `DER: ${reason}`, {
    details: offset === undefined ? { reason } : { reason, offset },
    ...(cause === undefined ? {} : { cause }),
  });
}

/**
 * Runs `fn` and turns any ERR_BAD_DER it throws into `code` with `check`, so
 * that extension parsers report their own code and checklist id while the
 * DER failure stays available as `cause`.
 */
export function rethrowDerAs<T>(code: ErrorCode, check: string, what: string, fn: () => T): T {
  try {
    return fn();
  } catch (err) {
    if (err instanceof TeeVerifyError && err.code === 'ERR_BAD_DER') {
      throw new EvidenceParseError(code, `${what}: ${err.message}`, { check, details: err.details, cause: err });
    }
    throw err;
  }
}

/** Reads the TLV header at `offset`; checks only the framing, not the content. */
export function readTlv(bytes: Uint8Array, offset: number, end: number = bytes.length): DerNode {
  if (offset + 2 > end) throw derError('truncated header', offset);
  const tag = bytes[offset] as number;
  if ((tag & 0x1f) === 0x1f) throw derError('multi-byte tag numbers are not used in X.509', offset);
  const first = bytes[offset + 1] as number;
  let length = first;
  let header = 2;
  if (first & 0x80) {
    const count = first & 0x7f;
    if (count === 0) throw derError('indefinite length', offset);
    if (count > 4) throw derError('length field longer than 4 bytes', offset);
    if (offset + 2 + count > end) throw derError('truncated length', offset);
    if (bytes[offset + 2] === 0) throw derError('long-form length with a leading zero byte', offset);
    length = 0;
    for (let i = 0; i < count; i++) length = length * 256 + (bytes[offset + 2 + i] as number);
    if (length < 0x80) throw derError('long-form length below 128', offset);
    header += count;
  }
  if (length > end - offset - header) throw derError('content runs past the end', offset);
  const start = offset + header;
  return {
    tag,
    offset,
    content: bytes.subarray(start, start + length),
    der: bytes.subarray(offset, start + length),
  };
}

/** The consecutive TLVs that make up `content` exactly (framing only). */
function splitTlvs(content: Uint8Array, baseOffset: number): DerNode[] {
  const out: DerNode[] = [];
  let pos = 0;
  while (pos < content.length) {
    const node = readTlv(content, pos);
    out.push({ ...node, offset: baseOffset + node.offset });
    pos += node.der.length;
  }
  return out;
}

function checkUniversalPrimitive(node: DerNode): void {
  const c = node.content;
  switch (node.tag) {
    case TAG.BOOLEAN:
      if (c.length !== 1 || (c[0] !== 0x00 && c[0] !== 0xff)) throw derError('BOOLEAN must be one byte 00 or FF', node.offset);
      return;
    case TAG.INTEGER:
    case TAG.ENUMERATED:
      checkMinimalInteger(c, node.offset);
      return;
    case TAG.BIT_STRING: {
      const unused = c[0];
      if (unused === undefined || unused > 7) throw derError('BIT STRING without a valid unused-bits byte', node.offset);
      if (c.length === 1 && unused !== 0) throw derError('empty BIT STRING with unused bits', node.offset);
      if (unused > 0 && ((c[c.length - 1] as number) & ((1 << unused) - 1)) !== 0) {
        throw derError('BIT STRING padding bits are not zero', node.offset);
      }
      return;
    }
    case TAG.NULL:
      if (c.length !== 0) throw derError('NULL with content', node.offset);
      return;
    case TAG.OID:
      decodeOidContent(c, node.offset);
      return;
    default:
      if (node.tag === 0x00) throw derError('end-of-contents octets are not DER', node.offset);
  }
}

function validateTree(node: DerNode, depth: number, maxDepth: number): void {
  if (depth > maxDepth) throw derError(`nesting deeper than ${maxDepth}`, node.offset);
  const universal = (node.tag & 0xc0) === 0;
  if (universal) {
    const number = node.tag & 0x1f;
    const mustBeConstructed = number === 0x10 || number === 0x11;
    if (mustBeConstructed !== isConstructed(node)) {
      throw derError(mustBeConstructed ? 'primitive SEQUENCE / SET' : 'constructed encoding of a primitive type', node.offset);
    }
    if (!isConstructed(node)) checkUniversalPrimitive(node);
  }
  if (isConstructed(node)) {
    for (const child of splitTlvs(node.content, node.offset + (node.der.length - node.content.length))) {
      validateTree(child, depth + 1, maxDepth);
    }
  }
}

/**
 * Parses `bytes` as exactly one DER value and validates the whole tree.
 * Content of OCTET STRINGs and BIT STRINGs is not descended into.
 */
export function parseDer(bytes: Uint8Array, maxDepth: number = MAX_DER_DEPTH): DerNode {
  if (!(bytes instanceof Uint8Array)) throw derError('input is not a Uint8Array');
  const node = readTlv(bytes, 0);
  if (node.der.length !== bytes.length) throw derError(`${bytes.length - node.der.length} bytes after the DER value`, node.der.length);
  validateTree(node, 1, maxDepth);
  return node;
}

/** The children of a constructed node (the tree was validated by parseDer). */
export function children(node: DerNode): DerNode[] {
  if (!isConstructed(node)) throw derError('expected a constructed value', node.offset);
  return splitTlvs(node.content, node.offset + (node.der.length - node.content.length));
}

/** The single value an EXPLICIT tag wraps. */
export function explicitInner(node: DerNode, what: string): DerNode {
  const items = children(node);
  if (items.length !== 1) throw derError(`${what}: EXPLICIT tag must wrap exactly one value`, node.offset);
  return items[0] as DerNode;
}

export function expectTag(node: DerNode | undefined, tag: number, what: string): DerNode {
  if (node === undefined) throw derError(`${what} is missing`);
  if (node.tag !== tag) {
    throw derError(`${what}: expected tag 0x${tag.toString(16)}, found 0x${node.tag.toString(16)}`, node.offset);
  }
  return node;
}

/** Children of a SEQUENCE, which must number between min and max. */
export function sequence(node: DerNode | undefined, what: string, min: number, max: number = min): DerNode[] {
  const items = children(expectTag(node, TAG.SEQUENCE, what));
  if (items.length < min || items.length > max) {
    const expected = min === max ? `${min}` : max === Number.MAX_SAFE_INTEGER ? `at least ${min}` : `${min}..${max}`;
    throw derError(`${what}: ${items.length} elements, expected ${expected}`, node?.offset);
  }
  return items;
}

function decodeOidContent(c: Uint8Array, offset: number): string {
  if (c.length === 0) throw derError('empty OBJECT IDENTIFIER', offset);
  if (c.length > 64) throw derError('OBJECT IDENTIFIER too long', offset);
  const arcs: bigint[] = [];
  let value = 0n;
  let fresh = true;
  for (const b of c) {
    if (fresh && b === 0x80) throw derError('OBJECT IDENTIFIER arc with a leading 0x80 byte', offset);
    value = (value << 7n) | BigInt(b & 0x7f);
    fresh = (b & 0x80) === 0;
    if (fresh) {
      arcs.push(value);
      value = 0n;
    }
  }
  if (!fresh) throw derError('OBJECT IDENTIFIER ends inside an arc', offset);
  const first = arcs[0] as bigint;
  const head = first < 40n ? [0n, first] : first < 80n ? [1n, first - 40n] : [2n, first - 80n];
  return [...head, ...arcs.slice(1)].join('.');
}

export function decodeOid(node: DerNode | undefined, what: string): string {
  return decodeOidContent(expectTag(node, TAG.OID, what).content, node?.offset ?? 0);
}

function checkMinimalInteger(c: Uint8Array, offset: number): void {
  if (c.length === 0) throw derError('empty INTEGER', offset);
  if (c.length > 1 && ((c[0] === 0x00 && (c[1] as number) < 0x80) || (c[0] === 0xff && (c[1] as number) >= 0x80))) {
    throw derError('non-minimal INTEGER encoding', offset);
  }
}

/**
 * Two's-complement big-endian content to a bigint, in time linear in its
 * length (one hex string, one BigInt parse). Shifting in a byte at a time was
 * quadratic: a 60 KB INTEGER cost ~300 ms (review s12 change review core #2).
 */
export function integerContentToBigInt(c: Uint8Array): bigint {
  if (c.length === 0) return 0n;
  const value = BigInt(`0x${Buffer.from(c.buffer, c.byteOffset, c.byteLength).toString('hex')}`);
  return ((c[0] as number) & 0x80) !== 0 ? value - (1n << BigInt(8 * c.length)) : value;
}

/**
 * The longest INTEGER content decodeInteger accepts: an RSA-8192 modulus and
 * its sign byte, the largest number these PKIs carry (spki.ts refuses larger
 * keys). Every other number (serials, ECDSA r and s, CRL numbers, path
 * lengths) is far shorter; callers can ask for a tighter bound.
 */
export const MAX_INTEGER_OCTETS = 1025;

/** A canonically encoded INTEGER (or ENUMERATED with `tag`) of at most `maxOctets` content octets. */
export function decodeInteger(node: DerNode | undefined, what: string, tag: number = TAG.INTEGER, maxOctets: number = MAX_INTEGER_OCTETS): bigint {
  const n = expectTag(node, tag, what);
  checkMinimalInteger(n.content, n.offset);
  if (n.content.length > maxOctets) throw derError(`${what}: INTEGER of ${n.content.length} octets (at most ${maxOctets})`, n.offset);
  return integerContentToBigInt(n.content);
}

/** A non-negative INTEGER no larger than `max` (a safe integer), as a number. */
export function decodeSmallUnsigned(node: DerNode | undefined, what: string, max: number, tag: number = TAG.INTEGER): number {
  // A safe integer needs at most 7 octets, plus a sign byte.
  const value = decodeInteger(node, what, tag, 8);
  if (value < 0n || value > BigInt(max)) throw derError(`${what}: ${value} is outside 0..${max}`, node?.offset);
  return Number(value);
}

/** Lowercase hex of a non-negative integer, no leading zeros, '0' for zero. */
export function canonicalHex(value: bigint): string {
  if (value < 0n) throw derError('negative integer where a non-negative one is required');
  return value.toString(16);
}

export function decodeBoolean(node: DerNode | undefined, what: string): boolean {
  const n = expectTag(node, TAG.BOOLEAN, what);
  if (n.content.length !== 1 || (n.content[0] !== 0x00 && n.content[0] !== 0xff)) throw derError(`${what}: BOOLEAN must be 00 or FF`, n.offset);
  return n.content[0] === 0xff;
}

export function decodeOctetString(node: DerNode | undefined, what: string): Uint8Array {
  return expectTag(node, TAG.OCTET_STRING, what).content;
}

export interface BitString {
  unusedBits: number;
  bytes: Uint8Array;
}

export function decodeBitString(node: DerNode | undefined, what: string): BitString {
  const n = expectTag(node, TAG.BIT_STRING, what);
  const unused = n.content[0];
  if (unused === undefined || unused > 7) throw derError(`${what}: bad unused-bits byte`, n.offset);
  return { unusedBits: unused, bytes: n.content.subarray(1) };
}

/** A BIT STRING that carries whole bytes (keys, signatures). */
export function decodeOctetAlignedBitString(node: DerNode | undefined, what: string): Uint8Array {
  const bits = decodeBitString(node, what);
  if (bits.unusedBits !== 0) throw derError(`${what}: BIT STRING is not octet-aligned`, node?.offset);
  return bits.bytes;
}

/** An IA5String with printable ASCII only (URLs, product names, CSP ids). */
export function decodeIa5String(node: DerNode | undefined, what: string, tag: number = TAG.IA5_STRING): string {
  const n = expectTag(node, tag, what);
  for (const b of n.content) {
    if (b < 0x20 || b > 0x7e) throw derError(`${what}: byte 0x${b.toString(16)} is not printable ASCII`, n.offset);
  }
  return Buffer.from(n.content).toString('latin1');
}

const DIGITS = /^\d+$/;

/**
 * UTCTime "YYMMDDHHMMSSZ" or GeneralizedTime "YYYYMMDDHHMMSSZ" (RFC 5280
 * 4.1.2.5: seconds present, Zulu, no fractions; GeneralizedTime only outside
 * the UTCTime years 1950..2049). Calendar fields are range checked so that no
 * string rolls over into another date.
 */
export function decodeTime(node: DerNode | undefined, what: string): Date {
  if (node === undefined) throw derError(`${what} is missing`);
  const text = Buffer.from(node.content).toString('latin1');
  let year: number;
  let rest: string;
  if (node.tag === TAG.UTC_TIME) {
    if (text.length !== 13 || !text.endsWith('Z') || !DIGITS.test(text.slice(0, 12))) throw derError(`${what}: malformed UTCTime`, node.offset);
    const yy = Number(text.slice(0, 2));
    year = yy >= 50 ? 1900 + yy : 2000 + yy; // RFC 5280: 50..99 -> 19xx
    rest = text.slice(2, 12);
  } else if (node.tag === TAG.GENERALIZED_TIME) {
    if (text.length !== 15 || !text.endsWith('Z') || !DIGITS.test(text.slice(0, 14))) {
      throw derError(`${what}: malformed GeneralizedTime`, node.offset);
    }
    year = Number(text.slice(0, 4));
    // RFC 5280 4.1.2.5 / 5.1.2.4: dates in 1950..2049 MUST be UTCTime, so the same instant has one encoding
    if (year >= 1950 && year <= 2049) throw derError(`${what}: GeneralizedTime for year ${year} (RFC 5280: UTCTime through 2049)`, node.offset);
    rest = text.slice(4, 14);
  } else {
    throw derError(`${what}: expected UTCTime or GeneralizedTime`, node.offset);
  }
  const [month, day, hour, minute, second] = [0, 2, 4, 6, 8].map((i) => Number(rest.slice(i, i + 2))) as [number, number, number, number, number];
  const ms = Date.UTC(year, month - 1, day, hour, minute, second);
  const date = new Date(ms);
  // Date.UTC rolls 31 February into March; reject anything that did not round-trip.
  if (
    month < 1 ||
    month > 12 ||
    hour > 23 ||
    minute > 59 ||
    second > 59 ||
    date.getUTCFullYear() !== year ||
    date.getUTCMonth() !== month - 1 ||
    date.getUTCDate() !== day
  ) {
    throw derError(`${what}: impossible calendar date`, node.offset);
  }
  return date;
}
