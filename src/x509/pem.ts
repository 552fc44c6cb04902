/**
 * Strict PEM (T08). A quote's PCK chain and the issuer-chain headers are
 * unsigned bytes: only the certificates inside are authenticated, so the
 * framing around them is held to the narrowest form real data uses:
 *
 * - nothing before the first block; only whitespace between and after blocks;
 * - at most one NUL byte, and only as the very last byte (Intel quotes end
 *   the chain with one, go-tdx-guest `extractChainFromQuote`);
 * - ASCII only; no RFC 1421 headers; body lines of base64 characters ended by
 *   LF or CRLF; strict base64 (padding only at the end, zero padding bits);
 * - each block's DER is one strict DER value with no trailing bytes.
 */
import { EvidenceParseError, TeeVerifyError } from '../errors.js';
import { TAG, parseDer } from './asn1.js';
import { MAX_CERTIFICATE_BYTES } from './certificate.js';
import { ParseCache, parseCacheWeight, type ParseCacheUsage } from './parse-cache.js';
import { seal, type Sealed } from './sealed.js';

/** Far above any chain we handle (a PCK chain is ~3 KiB); bounds the work done on junk. */
export const MAX_PEM_BYTES = 1024 * 1024;
export const MAX_PEM_BLOCKS = 32;

const BASE64_LINE = /^[A-Za-z0-9+/=]+$/;
const WHITESPACE = new Set([0x20, 0x09, 0x0a, 0x0d]);

function pemError(reason: string, check: string | undefined, details: Record<string, unknown> = {}, cause?: unknown): EvidenceParseError {
  return new EvidenceParseError('ERR_BAD_PEM', `PEM: ${reason}`, {
    ...(check === undefined ? {} : { check }),
    details: { reason, ...details },
    ...(cause === undefined ? {} : { cause }),
  });
}

function toText(pem: Uint8Array | string, check: string | undefined): string {
  if (typeof pem !== 'string' && !(pem instanceof Uint8Array)) throw pemError('input is neither a string nor a Uint8Array', check);
  if (pem.length > MAX_PEM_BYTES) throw pemError(`input larger than ${MAX_PEM_BYTES} bytes`, check);
  let text = typeof pem === 'string' ? pem : Buffer.from(pem).toString('latin1');
  if (text.endsWith('\0')) text = text.slice(0, -1); // the one trailing NUL quotes carry
  for (let i = 0; i < text.length; i++) {
    const code = text.charCodeAt(i);
    if (code > 0x7e || (code < 0x20 && !WHITESPACE.has(code))) {
      throw pemError(`byte 0x${code.toString(16)} is not allowed in PEM`, check, { offset: i });
    }
  }
  return text;
}

/** Strict base64: the decoded bytes must re-encode to exactly the input. */
function decodeBase64(body: string, check: string | undefined, block: number): Uint8Array {
  if (body.length === 0 || body.length % 4 !== 0) throw pemError('base64 body length is not a positive multiple of 4', check, { block });
  const padding = body.indexOf('=');
  if (padding !== -1 && padding < body.length - 2) throw pemError('base64 padding inside the body', check, { block });
  if (padding !== -1 && !/^=+$/.test(body.slice(padding))) throw pemError('base64 padding inside the body', check, { block });
  const bytes = Buffer.from(body, 'base64');
  if (bytes.toString('base64') !== body) throw pemError('base64 is not canonical (non-zero padding bits)', check, { block });
  return new Uint8Array(bytes);
}

/** Splits a line ending (LF or CRLF) off `text` at `pos`; returns the next position or -1. */
function lineEnd(text: string, pos: number): number {
  if (text[pos] === '\n') return pos + 1;
  if (text[pos] === '\r' && text[pos + 1] === '\n') return pos + 2;
  return -1;
}

/** Reads one block starting at `pos`; returns its base64 body and the position after its END line. */
function readBlock(text: string, pos: number, label: string, check: string | undefined, block: number): { body: string; next: number } {
  const begin = `-----BEGIN ${label}-----`;
  const end = `-----END ${label}-----`;
  if (!text.startsWith(begin, pos)) {
    const found = /^-----BEGIN ([^-\r\n]*)-----/.exec(text.slice(pos, pos + 80));
    throw found ? pemError(`unexpected block type "${found[1]}"`, check, { block }) : pemError('expected a BEGIN line', check, { block, offset: pos });
  }
  let at = lineEnd(text, pos + begin.length);
  if (at < 0) throw pemError('BEGIN line is not followed by a line break', check, { block });
  let body = '';
  for (;;) {
    if (text.startsWith(end, at)) break;
    const eol = text.indexOf('\n', at);
    if (eol < 0) throw pemError('missing END line', check, { block });
    const line = text.slice(at, text[eol - 1] === '\r' ? eol - 1 : eol);
    if (!BASE64_LINE.test(line)) throw pemError('body line with characters outside base64 (headers are not allowed)', check, { block });
    body += line;
    at = eol + 1;
  }
  at += end.length;
  if (at < text.length) {
    const after = lineEnd(text, at);
    if (after < 0 && !WHITESPACE.has(text.charCodeAt(at))) throw pemError('text after the END line', check, { block });
  }
  return { body, next: at };
}

/** Every `label` block of `pem` as bytes, in order; anything else is an error. */
export function decodePemBlocks(pem: Uint8Array | string, label: string, check: string | undefined): Uint8Array[] {
  const text = toText(pem, check);
  const out: Uint8Array[] = [];
  let pos = 0;
  while (pos < text.length) {
    if (out.length === MAX_PEM_BLOCKS) throw pemError(`more than ${MAX_PEM_BLOCKS} blocks`, check);
    const { body, next } = readBlock(text, pos, label, check, out.length);
    out.push(decodeBase64(body, check, out.length));
    pos = next;
    while (pos < text.length && WHITESPACE.has(text.charCodeAt(pos))) pos++;
  }
  if (out.length === 0) throw pemError(`no ${label} block`, check);
  return out;
}

/**
 * T08: every CERTIFICATE block of `pem` as DER, in order. Throws
 * EvidenceParseError ERR_BAD_PEM (check T08) for anything else, including a
 * block whose DER is not strict or has trailing bytes (the DER error is the
 * `cause`). The certificates are not otherwise interpreted here.
 */
export function splitPemCertificates(pem: Uint8Array | string): Uint8Array[] {
  // The same chains come with every quote of a platform: split each text once.
  if (typeof pem === 'string') return [...splitText(pem)];
  if (!(pem instanceof Uint8Array)) return [...decodeCertificateBlocks(pem)]; // typed rejection below
  return [...splitCache.get(pem, decodeCertificateBlocks)];
}

/** Splits of byte inputs: 1024 chains or 16 MiB as charged (a PCK chain is ~4 KiB: ~12 KiB charged). */
export const pemSplitCache = new ParseCache<readonly Uint8Array[]>(1024, 16 * 1024 * 1024);
const splitCache = pemSplitCache;

/** Splits of text inputs: at most this many entries and bytes charged (review s12 x509 finding 1). */
const TEXT_SPLIT_ENTRIES = 1024;
const TEXT_SPLIT_BYTES = 16 * 1024 * 1024;

interface TextSplit {
  ders: Sealed<readonly Uint8Array[]>;
  weight: number;
}

/**
 * Issuer chains arrive as strings: a string is immutable, so it is its own cache key (no copy to
 * compare). The DER views are shared, so they are sealed and checked as the parse cache does.
 * Bounded by entries and by bytes: an entry is charged its text at two bytes a character (the
 * key is the caller's string) and its DERs as parse-cache.ts charges its inputs, and one over an
 * eighth of the budget is not kept.
 */
const splitByText = new Map<string, TextSplit>();
let splitByTextBytes = 0;

function splitText(pem: string): readonly Uint8Array[] {
  const known = splitByText.get(pem);
  if (known !== undefined && known.ders.intact()) return known.ders.value;
  const ders = seal(decodeCertificateBlocks(pem));
  if (known !== undefined) {
    splitByText.delete(pem);
    splitByTextBytes -= known.weight;
  }
  const weight = 2 * pem.length + ders.value.reduce((sum, der) => sum + parseCacheWeight(der.byteLength), 0);
  if (weight > TEXT_SPLIT_BYTES / 8) return ders.value;
  splitByText.set(pem, { ders, weight });
  splitByTextBytes += weight;
  for (const [text, entry] of splitByText) {
    if (splitByTextBytes <= TEXT_SPLIT_BYTES && splitByText.size <= TEXT_SPLIT_ENTRIES) break;
    splitByText.delete(text);
    splitByTextBytes -= entry.weight;
  }
  return ders.value;
}

/** Entries and bytes held by the split caches now (tests, diagnostics). */
export function pemSplitCacheUsage(): { byteInputs: ParseCacheUsage; textInputs: ParseCacheUsage } {
  return {
    byteInputs: splitCache.usage(),
    textInputs: { entries: splitByText.size, bytes: splitByTextBytes, maxEntries: TEXT_SPLIT_ENTRIES, maxBytes: TEXT_SPLIT_BYTES },
  };
}

function decodeCertificateBlocks(pem: Uint8Array | string): readonly Uint8Array[] {
  const ders = decodePemBlocks(pem, 'CERTIFICATE', 'T08');
  ders.forEach((der, block) => {
    // A block no certificate parse would accept is refused before the split is cached.
    if (der.byteLength > MAX_CERTIFICATE_BYTES) {
      throw pemError(`certificate of ${der.byteLength} bytes is larger than ${MAX_CERTIFICATE_BYTES}`, 'T08', { block, length: der.byteLength });
    }
    try {
      const outer = parseDer(der);
      if (outer.tag !== TAG.SEQUENCE) throw pemError('certificate is not a DER SEQUENCE', 'T08', { block });
    } catch (err) {
      if (err instanceof TeeVerifyError && err.code === 'ERR_BAD_PEM') throw err;
      throw pemError('certificate DER is malformed', 'T08', { block }, err);
    }
  });
  return ders;
}

/** T08: a quote's PCK chain holds exactly leaf, intermediate and root, in that order. */
export function splitPckCertChain(pem: Uint8Array | string): [leaf: Uint8Array, intermediate: Uint8Array, root: Uint8Array] {
  const ders = splitPemCertificates(pem);
  if (ders.length !== 3) throw pemError(`expected 3 certificates, found ${ders.length}`, 'T08', { count: ders.length });
  return [ders[0] as Uint8Array, ders[1] as Uint8Array, ders[2] as Uint8Array];
}
