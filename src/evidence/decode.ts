/**
 * Turns caller input into evidence bytes: raw binary, hex text or base64
 * text, detected automatically unless the caller names the encoding. Text is
 * read strictly (docs/decisions.md, "Evidence text input"):
 *
 * - only ASCII: any other character (a BOM, NBSP, U+2028, a control
 *   character) is refused, never stripped;
 * - ASCII whitespace (space, tab, CR, LF) may surround the text;
 * - hex: an optional `0x` prefix, then an even number of hex digits; line
 *   breaks (LF or CRLF) may split it into non-empty lines (`xxd -p` output),
 *   no other whitespace inside;
 * - base64: one alphabet (standard or URL-safe), padding absent or complete,
 *   canonical; line breaks (LF or CRLF) may split it into non-empty lines,
 *   no other whitespace inside;
 * - auto: when the text reads both ways, the reading whose first two bytes
 *   are an evidence version (2-5, then 0) wins; the two readings can never
 *   both pass that test, and when neither does the input is ambiguous and the
 *   caller must name the encoding.
 *
 * The result is always a fresh copy, so later changes to the caller's buffer
 * cannot reach the parsed object (T50).
 */
import { EvidenceParseError, InvalidArgumentError } from '../errors.js';
import { decodeStrictBase64 } from './base64.js';

export type InputEncoding = 'auto' | 'binary' | 'hex' | 'base64';

/** Text input is at most this long; decoded evidence is capped again by each parser. */
export const MAX_TEXT_INPUT = 256 * 1024;

/** Binary input is at most this long before it is copied; each parser caps it again (quotes at 64 KiB). */
export const MAX_BINARY_INPUT = 256 * 1024;

export interface DecodedInput {
  bytes: Uint8Array;
  encoding: Exclude<InputEncoding, 'auto'>;
}

const ENCODINGS: ReadonlySet<string> = new Set<InputEncoding>(['auto', 'binary', 'hex', 'base64']);
const HEX_BODY = /^(?:0[xX])?([0-9a-fA-F]*)$/;
/** First character that is neither printable ASCII nor ASCII whitespace. */
const NOT_ASCII_TEXT = /[^\x20-\x7e\t\n\r]/;
const EDGE_WHITESPACE = /^[ \t\r\n]+|[ \t\r\n]+$/g;

/** A reading of the text, or why it is not one (a stable `details.reason`). */
type Reading = { ok: true; bytes: Uint8Array } | { ok: false; reason: string; message: string };

function isTextByte(b: number): boolean {
  return (b >= 0x20 && b < 0x7f) || b === 0x09 || b === 0x0a || b === 0x0d;
}

function looksLikeText(bytes: Uint8Array): boolean {
  const n = Math.min(bytes.length, 4096);
  for (let i = 0; i < n; i++) if (!isTextByte(bytes[i] ?? 0)) return false;
  return true;
}

function badEncoding(reason: string, message: string, offset?: number): EvidenceParseError {
  return new EvidenceParseError('ERR_BAD_ENCODING', message, { details: { reason }, ...(offset === undefined ? {} : { offset }) });
}

function readHex(body: string): Reading {
  const lines = body.split(/\r?\n/);
  if (lines.some((line) => line.length === 0)) return { ok: false, reason: 'hex-character', message: 'hex input has an empty line inside it' };
  const m = HEX_BODY.exec(lines.join(''));
  if (m === null) return { ok: false, reason: 'hex-character', message: 'hex input holds a character other than a hex digit (line breaks may split it; other whitespace only around it)' };
  const digits = m[1] ?? '';
  if (digits.length === 0 || digits.length % 2 !== 0) return { ok: false, reason: 'hex-length', message: 'hex input has an odd number of digits (or none)' };
  return { ok: true, bytes: new Uint8Array(Buffer.from(digits, 'hex')) };
}

function readBase64(body: string): Reading {
  const lines = body.split(/\r?\n/);
  if (lines.some((line) => line.length === 0 || /[ \t\r]/.test(line))) {
    return { ok: false, reason: 'base64-whitespace', message: 'base64 input holds whitespace other than line breaks between non-empty lines' };
  }
  const decoded = decodeStrictBase64(lines.join(''));
  if (decoded.ok) return { ok: true, bytes: decoded.bytes };
  const why = {
    alphabet: 'a character outside the base64 alphabet',
    'mixed-alphabet': 'characters of both the standard (+/) and the URL-safe (-_) alphabet',
    padding: 'incomplete or misplaced padding',
    length: 'a length no base64 text has',
    'non-canonical': 'non-zero unused bits in its last character (not canonical)',
  }[decoded.reason];
  return { ok: false, reason: `base64-${decoded.reason}`, message: `base64 input has ${why}` };
}

/** SNP report (u32 version 2-5) or quote (u16 version 3-5): byte 0 is 2..5, byte 1 is 0. */
function startsLikeEvidence(bytes: Uint8Array): boolean {
  return bytes.length >= 2 && bytes[0]! >= 2 && bytes[0]! <= 5 && bytes[1] === 0;
}

function decided(reading: Reading): Uint8Array {
  if (!reading.ok) throw badEncoding(reading.reason, reading.message);
  return reading.bytes;
}

/** auto: the single valid reading, or the one that starts like evidence. */
function detect(body: string): DecodedInput {
  const hex = readHex(body);
  const base64 = readBase64(body);
  if (!hex.ok || !base64.ok) {
    if (hex.ok) return { bytes: hex.bytes, encoding: 'hex' };
    if (base64.ok) return { bytes: base64.bytes, encoding: 'base64' };
    throw badEncoding('not-hex-or-base64', `text evidence is neither hex (${hex.message}) nor base64 (${base64.message})`);
  }
  // Both readings are valid. A hex reading that starts like evidence begins
  // with "0"; a base64 one begins with "A" or "B": at most one can pass.
  const hexFits = startsLikeEvidence(hex.bytes);
  if (hexFits !== startsLikeEvidence(base64.bytes)) {
    return hexFits ? { bytes: hex.bytes, encoding: 'hex' } : { bytes: base64.bytes, encoding: 'base64' };
  }
  throw new EvidenceParseError('ERR_AMBIGUOUS_ENCODING', 'text evidence reads as both hex and base64 and neither reading starts with an evidence version: name the encoding', {
    details: { reason: 'ambiguous' },
  });
}

function textOf(input: string | Uint8Array): string {
  return typeof input === 'string' ? input : Buffer.from(input).toString('latin1');
}

/** Decodes `input`; see the module comment for the rules. */
export function decodeEvidenceInput(
  input: Uint8Array | ArrayBuffer | string,
  encoding: InputEncoding = 'auto',
): DecodedInput {
  if (typeof encoding !== 'string' || !ENCODINGS.has(encoding)) {
    throw new InvalidArgumentError('ERR_INVALID_ARGUMENT', `unknown input encoding "${String(encoding)}"`);
  }
  let source: Uint8Array | string;
  if (typeof input === 'string') source = input;
  else if (input instanceof Uint8Array) source = input;
  else if (input instanceof ArrayBuffer) source = new Uint8Array(input);
  else throw new InvalidArgumentError('ERR_INVALID_ARGUMENT', 'evidence must be a Uint8Array, ArrayBuffer or string');

  if (source.length === 0) throw new EvidenceParseError('ERR_EMPTY_INPUT', 'evidence is empty', { offset: 0 });
  const isText = typeof source === 'string' || encoding === 'hex' || encoding === 'base64' ||
    (encoding === 'auto' && looksLikeText(source));
  if (!isText || encoding === 'binary') {
    if (typeof source === 'string') {
      throw new InvalidArgumentError('ERR_INVALID_ARGUMENT', 'binary evidence must be given as bytes, not a string');
    }
    // Bounded before the copy (T02, V11): the same bound as text input, above every parser's own cap.
    if (source.length > MAX_BINARY_INPUT) {
      throw new EvidenceParseError('ERR_INPUT_TOO_LARGE', `binary evidence is longer than ${MAX_BINARY_INPUT} bytes`, { offset: MAX_BINARY_INPUT });
    }
    return { bytes: new Uint8Array(source), encoding: 'binary' }; // a plain Uint8Array copy, also of a Buffer (T50)
  }
  if (source.length > MAX_TEXT_INPUT) {
    throw new EvidenceParseError('ERR_INPUT_TOO_LARGE', `text evidence is longer than ${MAX_TEXT_INPUT} characters`);
  }
  const text = textOf(source);
  const foreign = NOT_ASCII_TEXT.exec(text);
  if (foreign !== null) {
    const code = foreign[0].codePointAt(0)!.toString(16).toUpperCase().padStart(4, '0');
    throw badEncoding('not-ascii-text', `text evidence holds U+${code}, which is neither printable ASCII nor ASCII whitespace`, foreign.index);
  }
  const body = text.replace(EDGE_WHITESPACE, '');
  if (body.length === 0) throw new EvidenceParseError('ERR_EMPTY_INPUT', 'text evidence holds only whitespace', { offset: 0 });
  if (encoding === 'hex') return { bytes: decided(readHex(body)), encoding: 'hex' };
  if (encoding === 'base64') return { bytes: decided(readBase64(body)), encoding: 'base64' };
  return detect(body);
}
