/**
 * Turns caller input into evidence bytes: raw binary, hex text (optionally
 * 0x-prefixed, whitespace allowed) or base64 text (standard or URL-safe),
 * detected automatically unless the caller names the encoding. The result is
 * always a fresh copy, so later changes to the caller's buffer cannot reach
 * the parsed object (T50).
 */
import { EvidenceParseError, InvalidArgumentError } from '../errors.js';

export type InputEncoding = 'auto' | 'binary' | 'hex' | 'base64';

/** Text input is at most this long; decoded evidence is capped again by each parser. */
export const MAX_TEXT_INPUT = 256 * 1024;

export interface DecodedInput {
  bytes: Uint8Array;
  encoding: Exclude<InputEncoding, 'auto'>;
}

const HEX_CHARS = /^[0-9a-fA-F]*$/;
const BASE64_CHARS = /^[A-Za-z0-9+/_-]*={0,2}$/;

function isTextByte(b: number): boolean {
  return (b >= 0x20 && b < 0x7f) || b === 0x09 || b === 0x0a || b === 0x0d;
}

function looksLikeText(bytes: Uint8Array): boolean {
  const n = Math.min(bytes.length, 4096);
  for (let i = 0; i < n; i++) if (!isTextByte(bytes[i] ?? 0)) return false;
  return true;
}

function stripText(text: string): string {
  const compact = text.replace(/\s+/g, '');
  return compact.startsWith('0x') || compact.startsWith('0X') ? compact.slice(2) : compact;
}

function decodeHex(text: string): Uint8Array {
  const hex = stripText(text);
  if (hex.length % 2 !== 0 || !HEX_CHARS.test(hex)) {
    throw new EvidenceParseError('ERR_BAD_ENCODING', 'hex input has an odd length or a non-hex character');
  }
  return new Uint8Array(Buffer.from(hex, 'hex'));
}

function decodeBase64(text: string): Uint8Array {
  const b64 = text.replace(/\s+/g, '');
  if (!BASE64_CHARS.test(b64) || b64.length % 4 === 1) {
    throw new EvidenceParseError('ERR_BAD_ENCODING', 'base64 input holds characters outside the base64 alphabet');
  }
  const urlSafe = /[-_]/.test(b64);
  return new Uint8Array(Buffer.from(b64, urlSafe ? 'base64url' : 'base64'));
}

function textOf(input: string | Uint8Array): string {
  return typeof input === 'string' ? input : Buffer.from(input).toString('latin1');
}

/** Decodes `input`; see the module comment for the detection rule. */
export function decodeEvidenceInput(
  input: Uint8Array | ArrayBuffer | string,
  encoding: InputEncoding = 'auto',
): DecodedInput {
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
    return { bytes: new Uint8Array(source), encoding: 'binary' }; // a plain Uint8Array copy, also of a Buffer (T50)
  }
  if (source.length > MAX_TEXT_INPUT) {
    throw new EvidenceParseError('ERR_INPUT_TOO_LARGE', `text evidence is longer than ${MAX_TEXT_INPUT} characters`);
  }
  const text = textOf(source);
  if (encoding === 'hex') return { bytes: decodeHex(text), encoding: 'hex' };
  if (encoding === 'base64') return { bytes: decodeBase64(text), encoding: 'base64' };
  const compact = stripText(text);
  // Hex wins when both alphabets fit: real evidence in base64 always contains
  // characters outside [0-9a-f] long before its end.
  if (compact.length % 2 === 0 && HEX_CHARS.test(compact)) return { bytes: decodeHex(text), encoding: 'hex' };
  return { bytes: decodeBase64(text), encoding: 'base64' };
}
