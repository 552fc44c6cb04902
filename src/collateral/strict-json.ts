/**
 * Strict JSON for signed collateral (checklist X05, X06, T17, T20, §2.2).
 *
 * Intel signs the exact bytes of the `tcbInfo` / `enclaveIdentity` value as
 * served, so the signature must be checked on a span of the input, and the
 * object we return must be parsed from that same span (X06): a re-serialised
 * body (another key order, another number format) does not verify (V33), and
 * a second "tcbInfo" must be a rejection, not a choice. JSON.parse keeps the
 * last duplicate silently and reports no positions, so this is a small
 * recursive-descent parser over the bytes that rejects:
 *
 * - a byte order mark, invalid UTF-8, input over `maxBytes`;
 * - duplicate keys at any level (compared after unescaping);
 * - anything but whitespace after the value;
 * - numbers that are not integers within ±Number.MAX_SAFE_INTEGER (no
 *   fractions, exponents or "-0": every number in Intel's collateral is an
 *   integer, and a float or a rounded integer is never what was signed);
 * - raw control characters in strings, invalid escapes, lone surrogates;
 * - nesting deeper than `maxDepth`.
 */
import { CollateralFormatError } from '../errors.js';
import { ParseCache } from '../x509/parse-cache.js';

export interface StrictJsonLimits {
  /** Default 1 MiB: real TCB Info is under 10 KiB. */
  maxBytes?: number;
  /** Default 32: real collateral nests 6 deep. */
  maxDepth?: number;
}

export const DEFAULT_MAX_JSON_BYTES = 1024 * 1024;
export const DEFAULT_MAX_JSON_DEPTH = 32;

interface Span {
  start: number;
  end: number;
}

function fail(reason: string, offset: number | undefined, check = 'X05'): never {
  throw new CollateralFormatError('ERR_COLLATERAL_FORMAT', `JSON: ${reason}${offset === undefined ? '' : ` at byte ${offset}`}`, {
    check,
    ...(offset === undefined ? {} : { offset }),
    details: { reason },
  });
}

const utf8 = new TextDecoder('utf-8', { fatal: true, ignoreBOM: true });

class Parser {
  pos = 0;
  /** Value spans of the top-level object's members, by key. */
  readonly topLevelSpans = new Map<string, Span>();

  /**
   * @param topDuplicateCheck checklist id for a repeated top-level key: X06 in
   *   a signed document (a second "tcbInfo"), X05 otherwise.
   */
  constructor(
    private readonly bytes: Uint8Array,
    private readonly maxDepth: number,
    private readonly topDuplicateCheck: string,
  ) {}

  skipWhitespace(): void {
    const b = this.bytes;
    while (this.pos < b.length) {
      const c = b[this.pos];
      if (c !== 0x20 && c !== 0x09 && c !== 0x0a && c !== 0x0d) break;
      this.pos++;
    }
  }

  private expectLiteral(text: string, value: unknown): unknown {
    for (let i = 0; i < text.length; i++) {
      if (this.bytes[this.pos + i] !== text.charCodeAt(i)) fail('invalid literal', this.pos);
    }
    this.pos += text.length;
    return value;
  }

  parseValue(depth: number): unknown {
    this.skipWhitespace();
    const c = this.bytes[this.pos];
    switch (c) {
      case 0x7b: // {
        return this.parseObject(depth + 1);
      case 0x5b: // [
        return this.parseArray(depth + 1);
      case 0x22: // "
        return this.parseString();
      case 0x74:
        return this.expectLiteral('true', true);
      case 0x66:
        return this.expectLiteral('false', false);
      case 0x6e:
        return this.expectLiteral('null', null);
      case undefined:
        return fail('unexpected end of input', this.pos);
      default:
        if (c === 0x2d || (c >= 0x30 && c <= 0x39)) return this.parseNumber();
        return fail(`unexpected byte 0x${c.toString(16)}`, this.pos);
    }
  }

  private parseObject(depth: number): Record<string, unknown> {
    if (depth > this.maxDepth) fail(`nesting deeper than ${this.maxDepth}`, this.pos);
    this.pos++; // {
    const out: Record<string, unknown> = {};
    const keys = new Set<string>();
    this.skipWhitespace();
    if (this.bytes[this.pos] === 0x7d) {
      this.pos++;
      return out;
    }
    for (;;) {
      this.skipWhitespace();
      if (this.bytes[this.pos] !== 0x22) fail('expected a string key', this.pos);
      const keyOffset = this.pos;
      const key = this.parseString();
      if (keys.has(key)) fail(`duplicate key "${key}"`, keyOffset, depth === 1 ? this.topDuplicateCheck : 'X05');
      keys.add(key);
      this.skipWhitespace();
      if (this.bytes[this.pos] !== 0x3a) fail('expected ":"', this.pos);
      this.pos++;
      this.skipWhitespace();
      const start = this.pos;
      const value = this.parseValue(depth);
      if (depth === 1) this.topLevelSpans.set(key, { start, end: this.pos });
      // defineProperty: a "__proto__" key must become data, never the prototype.
      Object.defineProperty(out, key, { value, enumerable: true, writable: true, configurable: true });
      this.skipWhitespace();
      const sep = this.bytes[this.pos++];
      if (sep === 0x7d) return out;
      if (sep !== 0x2c) fail('expected "," or "}"', this.pos - 1);
    }
  }

  private parseArray(depth: number): unknown[] {
    if (depth > this.maxDepth) fail(`nesting deeper than ${this.maxDepth}`, this.pos);
    this.pos++; // [
    const out: unknown[] = [];
    this.skipWhitespace();
    if (this.bytes[this.pos] === 0x5d) {
      this.pos++;
      return out;
    }
    for (;;) {
      out.push(this.parseValue(depth));
      this.skipWhitespace();
      const sep = this.bytes[this.pos++];
      if (sep === 0x5d) return out;
      if (sep !== 0x2c) fail('expected "," or "]"', this.pos - 1);
    }
  }

  private parseNumber(): number {
    const start = this.pos;
    const b = this.bytes;
    if (b[this.pos] === 0x2d) this.pos++;
    const first = b[this.pos];
    if (first === undefined || first < 0x30 || first > 0x39) fail('malformed number', start);
    this.pos++;
    if (first !== 0x30) while ((b[this.pos] ?? 0) >= 0x30 && (b[this.pos] ?? 0) <= 0x39) this.pos++;
    const next = b[this.pos];
    if (next === 0x2e || next === 0x65 || next === 0x45) fail('only integers are accepted (no fraction or exponent)', start);
    if (next !== undefined && next >= 0x30 && next <= 0x39) fail('leading zero in a number', start);
    const text = Buffer.from(b.subarray(start, this.pos)).toString('latin1');
    if (text === '-0') fail('"-0" is not accepted', start);
    const value = Number(text);
    if (!Number.isSafeInteger(value)) fail('integer beyond Number.MAX_SAFE_INTEGER', start);
    return value;
  }

  private parseString(): string {
    const b = this.bytes;
    const open = this.pos;
    this.pos++; // "
    let out = '';
    let runStart = this.pos;
    for (;;) {
      const c = b[this.pos];
      if (c === undefined) fail('unterminated string', open);
      if (c === 0x22) break;
      if (c < 0x20) fail('raw control character in a string', this.pos);
      if (c !== 0x5c) {
        this.pos++;
        continue;
      }
      out += utf8.decode(b.subarray(runStart, this.pos));
      out += this.parseEscape();
      runStart = this.pos;
    }
    out += utf8.decode(b.subarray(runStart, this.pos));
    this.pos++; // closing "
    return out;
  }

  private readHex4(at: number): number {
    let value = 0;
    for (let i = 0; i < 4; i++) {
      const c = this.bytes[at + i] ?? 0;
      const digit = c >= 0x30 && c <= 0x39 ? c - 0x30 : c >= 0x61 && c <= 0x66 ? c - 0x57 : c >= 0x41 && c <= 0x46 ? c - 0x37 : -1;
      if (digit < 0) fail('invalid \\u escape', at - 2);
      value = value * 16 + digit;
    }
    return value;
  }

  private parseEscape(): string {
    const at = this.pos;
    const c = this.bytes[at + 1];
    this.pos += 2;
    const simple: Record<number, string> = { 0x22: '"', 0x5c: '\\', 0x2f: '/', 0x62: '\b', 0x66: '\f', 0x6e: '\n', 0x72: '\r', 0x74: '\t' };
    if (c !== undefined && simple[c] !== undefined) return simple[c];
    if (c !== 0x75) fail('invalid escape', at);
    const unit = this.readHex4(this.pos);
    this.pos += 4;
    if (unit >= 0xdc00 && unit <= 0xdfff) fail('lone low surrogate escape', at);
    if (unit < 0xd800 || unit > 0xdbff) return String.fromCharCode(unit);
    // A high surrogate must be followed by an escaped low surrogate.
    if (this.bytes[this.pos] !== 0x5c || this.bytes[this.pos + 1] !== 0x75) fail('lone high surrogate escape', at);
    const low = this.readHex4(this.pos + 2);
    if (low < 0xdc00 || low > 0xdfff) fail('high surrogate not followed by a low surrogate', at);
    this.pos += 6;
    return String.fromCharCode(unit, low);
  }
}

function checkInput(bytes: Uint8Array, limits: StrictJsonLimits): { maxDepth: number } {
  if (!(bytes instanceof Uint8Array)) fail('input is not a Uint8Array', undefined);
  const maxBytes = limits.maxBytes ?? DEFAULT_MAX_JSON_BYTES;
  const maxDepth = limits.maxDepth ?? DEFAULT_MAX_JSON_DEPTH;
  if (bytes.length > maxBytes) fail(`input larger than ${maxBytes} bytes`, undefined);
  if (bytes[0] === 0xef && bytes[1] === 0xbb && bytes[2] === 0xbf) fail('byte order mark', 0);
  try {
    utf8.decode(bytes);
  } catch {
    fail('invalid UTF-8', undefined);
  }
  return { maxDepth };
}

function parseDocument(bytes: Uint8Array, limits: StrictJsonLimits, topDuplicateCheck = 'X05'): { value: unknown; parser: Parser } {
  const { maxDepth } = checkInput(bytes, limits);
  const parser = new Parser(bytes, maxDepth, topDuplicateCheck);
  const value = parser.parseValue(0);
  parser.skipWhitespace();
  if (parser.pos !== bytes.length) fail('non-whitespace after the JSON value', parser.pos);
  return { value, parser };
}

/** X05: parses `bytes` as one strict JSON value. Throws CollateralFormatError ERR_COLLATERAL_FORMAT. */
export function parseStrictJson(bytes: Uint8Array, limits: StrictJsonLimits = {}): unknown {
  return parseDocument(bytes, limits).value;
}

export type SignedJsonMember = 'tcbInfo' | 'enclaveIdentity';

export interface SignedJson {
  /** The member's object, parsed from exactly `signedBytes`. */
  value: Record<string, unknown>;
  /**
   * The exact bytes of the member's JSON value (X06): a span of one private copy of the input, the
   * very bytes `value` was parsed from, so a caller's buffer changed later (another thread writing
   * shared memory) cannot pair this value with a signature over other bytes (review s14).
   */
  signedBytes: Uint8Array;
  /** Raw r || s (64 bytes) from the 128-hex "signature" member. */
  signature: Uint8Array;
}

const SIGNATURE_HEX = /^[0-9a-fA-F]{128}$/;

/**
 * T17 (tcbInfo) / T20 (enclaveIdentity): a signed Intel collateral document.
 * The top level must be an object with exactly the keys `member` and
 * "signature"; the member's value an object; the signature 128 hex digits.
 * Verify `signature` over `signedBytes` (ECDSA P-256 / SHA-256) before using `value`.
 */
export function parseSignedJson(bytes: Uint8Array, member: SignedJsonMember, limits: StrictJsonLimits = {}): SignedJson {
  // TCB info and QE identity are the same bytes for every quote of a platform.
  // The parse is cached by content, and the signed span is a view of the cache's
  // private copy, the bytes the value was parsed from (one view object per entry,
  // which the signature memo also finds by identity). The shared value is frozen:
  // it stands for its bytes, and the verifier keeps what it reads from it with the
  // object (src/verify/intel/tcb-info.ts, qe-identity.ts).
  if (limits.maxBytes === undefined && limits.maxDepth === undefined) {
    const cached = (member === 'tcbInfo' ? tcbInfoCache : identityCache).get(bytes, (copy) => {
      const parsed = decodeSignedJson(copy, member, limits);
      freezeJson(parsed.value);
      return { value: parsed.value, signature: parsed.signature, signedBytes: parsed.signedBytes };
    });
    return { value: cached.value, signedBytes: cached.signedBytes, signature: cached.signature.slice() };
  }
  // Uncached: parsed from one private copy too, for the same reason.
  return decodeSignedJson(new Uint8Array(bytes), member, limits);
}

function freezeJson(value: unknown): void {
  if (typeof value !== 'object' || value === null) return;
  for (const v of Object.values(value)) freezeJson(v);
  Object.freeze(value);
}

interface CachedSignedJson {
  value: Record<string, unknown>;
  signature: Uint8Array;
  /** A view of the cache entry's private copy. */
  signedBytes: Uint8Array;
}

const tcbInfoCache = new ParseCache<CachedSignedJson>(256);
const identityCache = new ParseCache<CachedSignedJson>(64);

function decodeSignedJson(bytes: Uint8Array, member: SignedJsonMember, limits: StrictJsonLimits): SignedJson {
  const check = member === 'tcbInfo' ? 'T17' : 'T20';
  if (member !== 'tcbInfo' && member !== 'enclaveIdentity') fail(`unknown signed member ${String(member)}`, undefined, check);
  const { value: top, parser } = parseDocument(bytes, limits, 'X06');
  if (typeof top !== 'object' || top === null || Array.isArray(top)) fail('top level is not an object', undefined, check);
  const keys = Object.keys(top);
  if (keys.length !== 2 || !keys.includes(member) || !keys.includes('signature')) {
    fail(`top level must hold exactly "${member}" and "signature", found ${JSON.stringify(keys)}`, undefined, check);
  }
  const record = top as Record<string, unknown>;
  const value = record[member];
  if (typeof value !== 'object' || value === null || Array.isArray(value)) fail(`"${member}" is not an object`, undefined, check);
  const signatureHex = record['signature'];
  if (typeof signatureHex !== 'string' || !SIGNATURE_HEX.test(signatureHex)) fail('"signature" is not 128 hex digits', undefined, check);
  const span = parser.topLevelSpans.get(member) as Span;
  return {
    value: value as Record<string, unknown>,
    signedBytes: bytes.subarray(span.start, span.end),
    signature: new Uint8Array(Buffer.from(signatureHex, 'hex')),
  };
}
