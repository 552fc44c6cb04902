/**
 * Parser for the ASCII IMA measurement list (ascii_runtime_measurements):
 * one entry per line, as security/integrity/ima/ima_fs.c prints it:
 *
 *   "%2d" PCR, " ", template digest (lowercase hex), " ", template name,
 *   then for every template field " " and the field's text (nothing for an
 *   empty field).
 *
 * Field texts: d-ng "alg:hex", d (template `ima`) hex, n / n-ng the raw
 * file name, sig / buf lowercase hex. The parser rebuilds the binary
 * template data (ima-template.ts) so the template digest can be recomputed
 * by the replay. Known templates: ima, ima-ng, ima-sig, ima-buf. Any other
 * template is refused (ERR_VTPM_IMA_TEMPLATE): its field layout cannot be
 * rebuilt from text; the binary list carries such entries raw.
 *
 * Names may contain spaces: for ima / ima-ng the name is the rest of the
 * line; for ima-sig / ima-buf it runs to the last space (hex has none).
 * A name cannot contain a newline in this form. Carriage returns are bytes
 * of the name (a CRLF file then fails the template digest check).
 *
 * Bounded: input size, line length and entry count (options). Every
 * failure is a VtpmVerificationError with details.line (1-based).
 */
import { VtpmVerificationError } from './errors.js';
import { FIELD_TEMPLATES, IMA_LEGACY_DATA_SIZE, IMA_NAME_FIELD_SIZE, IMA_TEMPLATE_DIGEST_SIZE } from './ima-template.js';
import { bankOfDigestSize, BANK_DIGEST_SIZE, type ReplayBank } from './pcrs.js';
import type { ImaEntry } from './types.js';

export interface ImaAsciiOptions {
  /** Largest input accepted, bytes. Default 128 MiB. */
  maxBytes?: number;
  /** Longest line accepted, bytes. Default 64 KiB (a path of PATH_MAX plus a large signature fits). */
  maxLineBytes?: number;
  /** Most entries accepted. Default 1,000,000. */
  maxEntries?: number;
  /** Algorithm of the template digests. Default: from the first line's digest length (20 → sha1, 32 → sha256, ...). */
  templateDigestAlg?: ReplayBank;
}

export const IMA_ASCII_DEFAULTS = { maxBytes: 128 * 1024 * 1024, maxLineBytes: 64 * 1024, maxEntries: 1_000_000 } as const;

/** Longest file digest accepted (SHA-512 and the other 64-byte kernel hashes). */
const MAX_FILE_DIGEST = 64;
const SPACE = 0x20;
const NEWLINE = 0x0a;
const COLON = 0x3a;

const HEX_VALUE = new Int8Array(256).fill(-1);
for (let i = 0; i < 10; i++) HEX_VALUE[0x30 + i] = i;
for (let i = 0; i < 6; i++) HEX_VALUE[0x61 + i] = 10 + i;

const utf8 = new TextDecoder('utf-8');
const latin1 = new TextDecoder('latin1');

class LineError extends Error {
  constructor(
    readonly reason: string,
    readonly code: 'ERR_VTPM_IMA_SYNTAX' | 'ERR_VTPM_IMA_TEMPLATE' = 'ERR_VTPM_IMA_SYNTAX',
  ) {
    super(reason);
  }
}

/** Decodes lowercase hex src[start, end) into dst at `at`; false on any other character. */
function hexInto(src: Uint8Array, start: number, end: number, dst: Uint8Array, at: number): boolean {
  for (let i = start; i < end; i += 2) {
    const hi = HEX_VALUE[src[i]!]!;
    const lo = HEX_VALUE[src[i + 1]!]!;
    if ((hi | lo) < 0) return false;
    dst[at++] = (hi << 4) | lo;
  }
  return true;
}

function hexBytes(src: Uint8Array, start: number, end: number, what: string): Uint8Array {
  if ((end - start) % 2 !== 0) throw new LineError(`${what}: odd number of hex digits`);
  const out = new Uint8Array((end - start) / 2);
  if (!hexInto(src, start, end, out, 0)) throw new LineError(`${what}: not lowercase hex`);
  return out;
}

function putU32(out: Uint8Array, at: number, value: number): number {
  out[at] = value & 0xff;
  out[at + 1] = (value >>> 8) & 0xff;
  out[at + 2] = (value >>> 16) & 0xff;
  out[at + 3] = (value >>> 24) & 0xff;
  return at + 4;
}

/** "%2d": " 9" or "10"; PCRs 0–23. */
function parsePcr(line: Uint8Array): number {
  const a = line[0]!;
  const b = line[1]!;
  const digit = (c: number) => c >= 0x30 && c <= 0x39;
  if (line.length < 3 || line[2] !== SPACE || !digit(b) || !(a === SPACE || (digit(a) && a !== 0x30))) throw new LineError('expected a PCR index ("%2d") and a space');
  const pcr = (a === SPACE ? 0 : (a - 0x30) * 10) + (b - 0x30);
  if (pcr > 23) throw new LineError(`PCR ${pcr} is not a TPM PCR (0-23)`);
  return pcr;
}

interface DigestField {
  alg: string;
  /** Hex span in the line. */
  hexStart: number;
  hexEnd: number;
  /** Span of "alg:" in the line. */
  algStart: number;
  algEnd: number;
}

/** d-ng text "alg:hex". */
function parseDigestNg(line: Uint8Array, start: number, end: number): DigestField {
  const colon = line.indexOf(COLON, start);
  if (colon < 0 || colon >= end) throw new LineError('file digest: expected "alg:hex"');
  for (let i = start; i < colon; i++) {
    const c = line[i]!;
    if (!((c >= 0x61 && c <= 0x7a) || (c >= 0x30 && c <= 0x39) || c === 0x2d)) throw new LineError('file digest: bad algorithm name');
  }
  if (colon === start || colon - start > 32) throw new LineError('file digest: bad algorithm name');
  const hexLen = end - colon - 1;
  if (hexLen % 2 !== 0 || hexLen / 2 > MAX_FILE_DIGEST) throw new LineError('file digest: bad digest length');
  return { alg: latin1.decode(line.subarray(start, colon)), algStart: start, algEnd: colon, hexStart: colon + 1, hexEnd: end };
}

/** Rebuilds one entry of a field template (ima-ng, ima-sig, ima-buf) from its text after the template name. */
function fieldEntry(line: Uint8Array, rest: number, template: string, fieldCount: number): Omit<ImaEntry, 'index' | 'offset' | 'pcr' | 'templateDigest'> {
  const dEnd = line.indexOf(SPACE, rest);
  if (dEnd < 0) throw new LineError(`${template}: expected a file digest and a name`);
  const d = parseDigestNg(line, rest, dEnd);
  let nameStart = dEnd + 1;
  let nameEnd = line.length;
  let extraStart = line.length;
  if (fieldCount === 3) {
    const lastSpace = line.lastIndexOf(SPACE);
    if (lastSpace < nameStart) throw new LineError(`${template}: expected a name and a ${template === 'ima-sig' ? 'signature' : 'buffer'} field`);
    nameEnd = lastSpace;
    extraStart = lastSpace + 1;
  }
  const algLen = d.algEnd - d.algStart;
  const digestLen = (d.hexEnd - d.hexStart) / 2;
  const nameLen = nameEnd - nameStart;
  const extraHex = line.length - extraStart;
  if (extraHex % 2 !== 0) throw new LineError(`${template}: odd number of hex digits in the last field`);
  const extraLen = extraHex / 2;
  const dFieldLen = algLen + 2 + digestLen;
  const data = new Uint8Array(4 + dFieldLen + 4 + nameLen + 1 + (fieldCount === 3 ? 4 + extraLen : 0));
  let at = putU32(data, 0, dFieldLen);
  data.set(line.subarray(d.algStart, d.algEnd), at);
  at += algLen;
  data[at] = COLON;
  at += 2;
  const digestAt = at;
  if (!hexInto(line, d.hexStart, d.hexEnd, data, at)) throw new LineError('file digest: not lowercase hex');
  at += digestLen;
  at = putU32(data, at, nameLen + 1);
  data.set(line.subarray(nameStart, nameEnd), at);
  at += nameLen + 1;
  const entry: Omit<ImaEntry, 'index' | 'offset' | 'pcr' | 'templateDigest'> = {
    templateName: template,
    templateData: data,
    fileDigestAlg: d.alg,
    fileDigest: data.subarray(digestAt, digestAt + digestLen),
    path: utf8.decode(line.subarray(nameStart, nameEnd)),
  };
  if (fieldCount === 3) {
    at = putU32(data, at, extraLen);
    if (!hexInto(line, extraStart, line.length, data, at)) throw new LineError(`${template}: the last field is not lowercase hex`);
    if (template === 'ima-sig') entry.signature = data.subarray(at, at + extraLen);
  }
  return entry;
}

/** Rebuilds an entry of the original `ima` template: 20-byte digest, name padded to 256 bytes. */
function legacyEntry(line: Uint8Array, rest: number): Omit<ImaEntry, 'index' | 'offset' | 'pcr' | 'templateDigest'> {
  const dEnd = line.indexOf(SPACE, rest);
  if (dEnd < 0) throw new LineError('ima: expected a file digest and a name');
  const digest = hexBytes(line, rest, dEnd, 'file digest');
  if (digest.length !== 0 && digest.length !== IMA_TEMPLATE_DIGEST_SIZE) throw new LineError('ima: the file digest is 20 bytes');
  const name = line.subarray(dEnd + 1);
  if (name.length >= IMA_NAME_FIELD_SIZE) throw new LineError(`ima: a name longer than ${IMA_NAME_FIELD_SIZE - 1} bytes`);
  const data = new Uint8Array(IMA_LEGACY_DATA_SIZE);
  data.set(digest, 0);
  data.set(name, IMA_TEMPLATE_DIGEST_SIZE);
  return { templateName: 'ima', templateData: data, fileDigestAlg: 'sha1', fileDigest: data.subarray(0, IMA_TEMPLATE_DIGEST_SIZE), path: utf8.decode(name) };
}

function limitError(message: string, details: Record<string, unknown>): VtpmVerificationError {
  return new VtpmVerificationError('ERR_VTPM_IMA_LIMIT', message, details);
}

/** Parses an ASCII IMA list into entries with rebuilt binary template data. */
export function parseImaAsciiList(input: Uint8Array | string, options: ImaAsciiOptions = {}): ImaEntry[] {
  const maxBytes = options.maxBytes ?? IMA_ASCII_DEFAULTS.maxBytes;
  const maxLine = options.maxLineBytes ?? IMA_ASCII_DEFAULTS.maxLineBytes;
  const maxEntries = options.maxEntries ?? IMA_ASCII_DEFAULTS.maxEntries;
  if (typeof input === 'string' && input.length > maxBytes) throw limitError(`the IMA list exceeds ${maxBytes} bytes`, { maxBytes });
  const bytes = typeof input === 'string' ? new TextEncoder().encode(input) : input;
  if (!(bytes instanceof Uint8Array)) throw new VtpmVerificationError('ERR_VTPM_IMA_SYNTAX', 'an ASCII IMA list is bytes or a string', { line: 0 });
  if (bytes.length > maxBytes) throw limitError(`the IMA list exceeds ${maxBytes} bytes`, { maxBytes, size: bytes.length });

  let digestSize = options.templateDigestAlg === undefined ? 0 : BANK_DIGEST_SIZE[options.templateDigestAlg];
  const entries: ImaEntry[] = [];
  let lineNo = 0;
  for (let start = 0; start < bytes.length; ) {
    lineNo++;
    let end = bytes.indexOf(NEWLINE, start);
    if (end < 0) end = bytes.length; // the last line may lack its newline
    if (end - start > maxLine) throw limitError(`line ${lineNo} is longer than ${maxLine} bytes`, { line: lineNo, maxLineBytes: maxLine });
    if (entries.length >= maxEntries) throw limitError(`the IMA list has more than ${maxEntries} entries`, { line: lineNo, maxEntries });
    const line = bytes.subarray(start, end);
    start = end + 1;
    try {
      const pcr = parsePcr(line);
      const hashEnd = line.indexOf(SPACE, 3);
      if (hashEnd < 0) throw new LineError('expected a template digest and a template name');
      const hexLen = hashEnd - 3;
      if (digestSize === 0) {
        if (hexLen % 2 !== 0 || bankOfDigestSize(hexLen / 2) === undefined) throw new LineError(`a template digest of ${hexLen} hex digits is not SHA-1/256/384/512`);
        digestSize = hexLen / 2;
      }
      if (hexLen !== digestSize * 2) throw new LineError(`template digest of ${hexLen} hex digits, the list uses ${digestSize * 2}`);
      const templateDigest = hexBytes(line, 3, hashEnd, 'template digest');
      const nameEnd = line.indexOf(SPACE, hashEnd + 1);
      if (nameEnd < 0 || nameEnd === hashEnd + 1) throw new LineError('expected a template name and its fields');
      const template = latin1.decode(line.subarray(hashEnd + 1, nameEnd));
      const fieldCount = FIELD_TEMPLATES[template];
      let fields: Omit<ImaEntry, 'index' | 'offset' | 'pcr' | 'templateDigest'>;
      if (template === 'ima') fields = legacyEntry(line, nameEnd + 1);
      else if (fieldCount !== undefined) fields = fieldEntry(line, nameEnd + 1, template, fieldCount);
      else throw new LineError(`template "${template}" cannot be rebuilt from the ASCII list (known: ima, ima-ng, ima-sig, ima-buf); use the binary list`, 'ERR_VTPM_IMA_TEMPLATE');
      entries.push({ index: entries.length, offset: lineNo, pcr, templateDigest, ...fields });
    } catch (err) {
      if (!(err instanceof LineError)) throw err;
      throw new VtpmVerificationError(err.code, `IMA list line ${lineNo}: ${err.reason}`, { line: lineNo });
    }
    if (end === bytes.length) break;
  }
  return entries;
}
