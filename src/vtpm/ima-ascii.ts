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
/** Size of the shared buffers entries are carved from. */
const SLAB_BYTES = 256 * 1024;
const SPACE = 0x20;
const NEWLINE = 0x0a;
const COLON = 0x3a;

const HEX_VALUE = new Int8Array(256).fill(-1);
for (let i = 0; i < 10; i++) HEX_VALUE[0x30 + i] = i;
for (let i = 0; i < 6; i++) HEX_VALUE[0x61 + i] = 10 + i;

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

function putU32(out: Uint8Array, at: number, value: number): number {
  out[at] = value & 0xff;
  out[at + 1] = (value >>> 8) & 0xff;
  out[at + 2] = (value >>> 16) & 0xff;
  out[at + 3] = (value >>> 24) & 0xff;
  return at + 4;
}

/** First `byte` in b[from, end), or -1. */
function find(b: Uint8Array, byte: number, from: number, end: number): number {
  const at = b.indexOf(byte, from);
  return at >= 0 && at < end ? at : -1;
}

/**
 * Review s12, finding 2: no NUL in a file name. The kernel never measures one,
 * and the `ima` template's zero padding makes "name" and "name\0" the same
 * measurement (as the binary parser refuses, ERR_IMA_BAD_FIELD).
 */
function noNul(b: Uint8Array, start: number, end: number, template: string): void {
  // A bounded loop: indexOf would scan past the line to the list's next NUL (usually none).
  for (let i = start; i < end; i++) if (b[i] === 0) throw new LineError(`${template}: a NUL byte in the name`);
}

/** Last `byte` in b[from, end), or -1. */
function findLast(b: Uint8Array, byte: number, from: number, end: number): number {
  for (let i = end - 1; i >= from; i--) if (b[i] === byte) return i;
  return -1;
}

const KNOWN_TEMPLATES = ['ima', 'ima-ng', 'ima-sig', 'ima-buf'].map((name) => ({ name, bytes: new TextEncoder().encode(name) }));

function templateAt(b: Uint8Array, start: number, end: number): string | undefined {
  for (const t of KNOWN_TEMPLATES) {
    if (t.bytes.length !== end - start) continue;
    let same = true;
    for (let i = 0; i < t.bytes.length && same; i++) same = b[start + i] === t.bytes[i];
    if (same) return t.name;
  }
  return undefined;
}

/**
 * What one line holds, as spans: template data and digests in `store`
 * (rebuilt), names in the input text. Reused from line to line, so a scan
 * that only replays creates no object per entry.
 */
export interface ImaAsciiLine {
  /** 0-based entry index and 1-based line number. */
  index: number;
  line: number;
  pcr: number;
  template: string;
  /** Bytes the spans below point into (shared; valid until the next line when scanning). */
  store: Uint8Array;
  digestAt: number;
  digestEnd: number;
  dataAt: number;
  dataEnd: number;
  fileDigestAt: number;
  fileDigestEnd: number;
  /** ima-sig: the signature span in store (empty otherwise). */
  sigAt: number;
  sigEnd: number;
  /** File digest algorithm name (text) and file name (text) spans of the input. */
  algStart: number;
  algEnd: number;
  nameStart: number;
  nameEnd: number;
}

/** What a scan's visitor may ask of the current line beyond its spans. */
export interface ImaAsciiLineReader {
  /** The file name (UTF-8). */
  path(): string;
  /** The line as an entry object (only when the scan keeps its store). */
  toEntry(): ImaEntry;
}

/** One list: the input, its Buffer view for fast string slices, and the last algorithm name seen. */
class Reader implements ImaAsciiLineReader {
  readonly text: Buffer;
  private algStart = -1;
  private algLen = 0;
  private algName = '';

  /**
   * Entries' bytes are carved from shared slabs: one ArrayBuffer per entry
   * made the garbage collector the largest cost. When `reuse` is set (a scan
   * that keeps nothing), every line starts again at the slab's beginning.
   */
  private slab = new Uint8Array(0);
  private slabAt = 0;
  readonly cur: ImaAsciiLine;

  constructor(
    readonly b: Uint8Array,
    private readonly reuse: boolean,
  ) {
    this.text = Buffer.from(b.buffer, b.byteOffset, b.byteLength);
    this.cur = { index: 0, line: 0, pcr: 0, template: '', store: this.slab, digestAt: 0, digestEnd: 0, dataAt: 0, dataEnd: 0, fileDigestAt: 0, fileDigestEnd: 0, sigAt: 0, sigEnd: 0, algStart: 0, algEnd: 0, nameStart: 0, nameEnd: 0 };
  }

  /** Starts a line: the line's bytes are carved from one slab (so `cur.store` is the same for all its spans). */
  startLine(maxBytes: number): void {
    if (this.reuse) this.slabAt = 0;
    if (this.slabAt + maxBytes > this.slab.length) {
      this.slab = new Uint8Array(Math.max(SLAB_BYTES, maxBytes));
      this.slabAt = 0;
    }
    this.cur.store = this.slab;
  }

  /** The offset of n zeroed bytes in the current slab (never shared with another kept entry). */
  alloc(n: number): number {
    const at = this.slabAt;
    if (this.reuse) this.slab.fill(0, at, at + n);
    this.slabAt += n;
    return at;
  }

  /** Lists use one or two algorithms: reuse the previous name when its bytes repeat. */
  algorithm(start: number, end: number): string {
    const len = end - start;
    if (len !== this.algLen || this.text.compare(this.text, start, end, this.algStart, this.algStart + len) !== 0) {
      this.algStart = start;
      this.algLen = len;
      this.algName = this.text.toString('latin1', start, end);
    }
    return this.algName;
  }

  /** "%2d": " 9" or "10"; PCRs 0–23. */
  pcr(start: number, end: number): number {
    const b = this.b;
    const a = b[start]!;
    const c = b[start + 1]!;
    const digit = (x: number) => x >= 0x30 && x <= 0x39;
    if (end - start < 3 || b[start + 2] !== SPACE || !digit(c) || !(a === SPACE || (digit(a) && a !== 0x30))) throw new LineError('expected a PCR index ("%2d") and a space');
    const pcr = (a === SPACE ? 0 : (a - 0x30) * 10) + (c - 0x30);
    if (pcr > 23) throw new LineError(`PCR ${pcr} is not a TPM PCR (0-23)`);
    return pcr;
  }

  /** Decodes hex text into the slab; returns where. */
  hex(start: number, end: number, what: string): number {
    if ((end - start) % 2 !== 0) throw new LineError(`${what}: odd number of hex digits`);
    const at = this.alloc((end - start) / 2);
    if (!hexInto(this.b, start, end, this.slab, at)) throw new LineError(`${what}: not lowercase hex`);
    return at;
  }

  /** An entry of a field template (ima-ng, ima-sig, ima-buf) from the text after its template name. */
  fieldEntry(rest: number, end: number, template: string, fieldCount: number): void {
    const b = this.b;
    const cur = this.cur;
    const dEnd = find(b, SPACE, rest, end);
    if (dEnd < 0) throw new LineError(`${template}: expected a file digest and a name`);
    // d-ng text "alg:hex".
    const colon = find(b, COLON, rest, dEnd);
    if (colon < 0) throw new LineError('file digest: expected "alg:hex"');
    if (colon === rest || colon - rest > 32) throw new LineError('file digest: bad algorithm name');
    for (let i = rest; i < colon; i++) {
      const c = b[i]!;
      if (!((c >= 0x61 && c <= 0x7a) || (c >= 0x30 && c <= 0x39) || c === 0x2d)) throw new LineError('file digest: bad algorithm name');
    }
    const hexLen = dEnd - colon - 1;
    if (hexLen % 2 !== 0 || hexLen / 2 > MAX_FILE_DIGEST) throw new LineError('file digest: bad digest length');
    const nameStart = dEnd + 1;
    let nameEnd = end;
    let extraStart = end;
    if (fieldCount === 3) {
      const lastSpace = findLast(b, SPACE, nameStart, end);
      if (lastSpace < 0) throw new LineError(`${template}: expected a name and a ${template === 'ima-sig' ? 'signature' : 'buffer'} field`);
      nameEnd = lastSpace;
      extraStart = lastSpace + 1;
    }
    const algLen = colon - rest;
    const digestLen = hexLen / 2;
    const nameLen = nameEnd - nameStart;
    noNul(b, nameStart, nameEnd, template);
    const extraHex = end - extraStart;
    if (extraHex % 2 !== 0) throw new LineError(`${template}: odd number of hex digits in the last field`);
    const extraLen = extraHex / 2;
    const dFieldLen = algLen + 2 + digestLen;
    const size = 4 + dFieldLen + 4 + nameLen + 1 + (fieldCount === 3 ? 4 + extraLen : 0);
    const data = this.slab;
    const dataAt = this.alloc(size);
    let at = putU32(data, dataAt, dFieldLen);
    for (let i = 0; i < algLen; i++) data[at + i] = b[rest + i]!;
    at += algLen;
    data[at] = COLON;
    at += 2;
    const digestAt = at;
    if (!hexInto(b, colon + 1, dEnd, data, at)) throw new LineError('file digest: not lowercase hex');
    at += digestLen;
    at = putU32(data, at, nameLen + 1);
    for (let i = 0; i < nameLen; i++) data[at + i] = b[nameStart + i]!;
    at += nameLen + 1;
    cur.sigAt = cur.sigEnd = at;
    if (fieldCount === 3) {
      at = putU32(data, at, extraLen);
      if (!hexInto(b, extraStart, end, data, at)) throw new LineError(`${template}: the last field is not lowercase hex`);
      if (template === 'ima-sig') {
        cur.sigAt = at;
        cur.sigEnd = at + extraLen;
      }
    }
    cur.template = template;
    cur.dataAt = dataAt;
    cur.dataEnd = dataAt + size;
    cur.fileDigestAt = digestAt;
    cur.fileDigestEnd = digestAt + digestLen;
    cur.algStart = rest;
    cur.algEnd = colon;
    cur.nameStart = nameStart;
    cur.nameEnd = nameEnd;
  }

  /** An entry of the original `ima` template: 20-byte digest, name padded to 256 bytes. */
  legacyEntry(rest: number, end: number): void {
    const cur = this.cur;
    const dEnd = find(this.b, SPACE, rest, end);
    if (dEnd < 0) throw new LineError('ima: expected a file digest and a name');
    const hexLen = dEnd - rest;
    if (hexLen % 2 !== 0) throw new LineError('file digest: odd number of hex digits');
    for (let i = rest; i < dEnd; i++) if (HEX_VALUE[this.b[i]!]! < 0) throw new LineError('file digest: not lowercase hex');
    if (hexLen !== 0 && hexLen !== 2 * IMA_TEMPLATE_DIGEST_SIZE) throw new LineError('ima: the file digest is 20 bytes');
    const nameLen = end - dEnd - 1;
    if (nameLen >= IMA_NAME_FIELD_SIZE) throw new LineError(`ima: a name longer than ${IMA_NAME_FIELD_SIZE - 1} bytes`);
    noNul(this.b, dEnd + 1, end, 'ima');
    const dataAt = this.alloc(IMA_LEGACY_DATA_SIZE);
    hexInto(this.b, rest, dEnd, this.slab, dataAt);
    for (let i = 0; i < nameLen; i++) this.slab[dataAt + IMA_TEMPLATE_DIGEST_SIZE + i] = this.b[dEnd + 1 + i]!;
    cur.template = 'ima';
    cur.dataAt = dataAt;
    cur.dataEnd = dataAt + IMA_LEGACY_DATA_SIZE;
    cur.fileDigestAt = dataAt;
    cur.fileDigestEnd = dataAt + IMA_TEMPLATE_DIGEST_SIZE;
    cur.sigAt = cur.sigEnd = 0;
    cur.algStart = cur.algEnd = 0;
    cur.nameStart = dEnd + 1;
    cur.nameEnd = end;
  }

  path(): string {
    return this.text.toString('utf8', this.cur.nameStart, this.cur.nameEnd);
  }

  /** The current line as an entry object (views of the slab, which is never reused when entries are kept). */
  toEntry(): ImaEntry {
    const c = this.cur;
    const s = c.store;
    const entry: ImaEntry = {
      index: c.index,
      offset: c.line,
      pcr: c.pcr,
      templateDigest: s.subarray(c.digestAt, c.digestEnd),
      templateName: c.template,
      templateData: s.subarray(c.dataAt, c.dataEnd),
      fileDigestAlg: c.template === 'ima' ? 'sha1' : this.algorithm(c.algStart, c.algEnd),
      fileDigest: s.subarray(c.fileDigestAt, c.fileDigestEnd),
      path: this.path(),
    };
    if (c.template === 'ima-sig') entry.signature = s.subarray(c.sigAt, c.sigEnd);
    return entry;
  }
}

function limitError(message: string, details: Record<string, unknown>): VtpmVerificationError {
  return new VtpmVerificationError('ERR_VTPM_IMA_LIMIT', message, details);
}

/**
 * Parses every line of an ASCII IMA list, calling `visit` with the line's
 * spans (the same object each time). With `keep` false the store is reused
 * from line to line: spans are valid only during the call. Returns the
 * number of entries.
 */
export function scanImaAsciiList(input: Uint8Array | string, options: ImaAsciiOptions, keep: boolean, visit: (line: ImaAsciiLine, reader: ImaAsciiLineReader) => void): { entries: number; digestSize: number } {
  const maxBytes = options.maxBytes ?? IMA_ASCII_DEFAULTS.maxBytes;
  const maxLine = options.maxLineBytes ?? IMA_ASCII_DEFAULTS.maxLineBytes;
  const maxEntries = options.maxEntries ?? IMA_ASCII_DEFAULTS.maxEntries;
  if (typeof input === 'string' && input.length > maxBytes) throw limitError(`the IMA list exceeds ${maxBytes} bytes`, { maxBytes });
  const bytes = typeof input === 'string' ? new TextEncoder().encode(input) : input;
  if (!(bytes instanceof Uint8Array)) throw new VtpmVerificationError('ERR_VTPM_IMA_SYNTAX', 'an ASCII IMA list is bytes or a string', { line: 0 });
  if (bytes.length > maxBytes) throw limitError(`the IMA list exceeds ${maxBytes} bytes`, { maxBytes, size: bytes.length });

  let digestSize = options.templateDigestAlg === undefined ? 0 : BANK_DIGEST_SIZE[options.templateDigestAlg];
  const reader = new Reader(bytes, !keep);
  const cur = reader.cur;
  let entries = 0;
  let lineNo = 0;
  for (let start = 0; start < bytes.length; ) {
    lineNo++;
    let end = bytes.indexOf(NEWLINE, start);
    if (end < 0) end = bytes.length; // the last line may lack its newline
    if (end - start > maxLine) throw limitError(`line ${lineNo} is longer than ${maxLine} bytes`, { line: lineNo, maxLineBytes: maxLine });
    if (entries >= maxEntries) throw limitError(`the IMA list has more than ${maxEntries} entries`, { line: lineNo, maxEntries });
    try {
      const pcr = reader.pcr(start, end);
      const hashStart = start + 3;
      const hashEnd = find(bytes, SPACE, hashStart, end);
      if (hashEnd < 0) throw new LineError('expected a template digest and a template name');
      const hexLen = hashEnd - hashStart;
      if (digestSize === 0) {
        if (hexLen % 2 !== 0 || bankOfDigestSize(hexLen / 2) === undefined) throw new LineError(`a template digest of ${hexLen} hex digits is not SHA-1/256/384/512`);
        digestSize = hexLen / 2;
      }
      if (hexLen !== digestSize * 2) throw new LineError(`template digest of ${hexLen} hex digits, the list uses ${digestSize * 2}`);
      // A line's rebuilt bytes never exceed its text (plus the ima template's fixed padding).
      reader.startLine(end - start + IMA_LEGACY_DATA_SIZE);
      cur.index = entries;
      cur.line = lineNo;
      cur.pcr = pcr;
      cur.digestAt = reader.hex(hashStart, hashEnd, 'template digest');
      cur.digestEnd = cur.digestAt + digestSize;
      const nameEnd = find(bytes, SPACE, hashEnd + 1, end);
      if (nameEnd < 0 || nameEnd === hashEnd + 1) throw new LineError('expected a template name and its fields');
      const template = templateAt(bytes, hashEnd + 1, nameEnd);
      const fieldCount = template === undefined ? undefined : FIELD_TEMPLATES[template];
      if (template === 'ima') reader.legacyEntry(nameEnd + 1, end);
      else if (template !== undefined && fieldCount !== undefined) reader.fieldEntry(nameEnd + 1, end, template, fieldCount);
      else {
        const name = reader.text.toString('latin1', hashEnd + 1, nameEnd);
        throw new LineError(`template "${name}" cannot be rebuilt from the ASCII list (known: ima, ima-ng, ima-sig, ima-buf); use the binary list`, 'ERR_VTPM_IMA_TEMPLATE');
      }
    } catch (err) {
      if (!(err instanceof LineError)) throw err;
      throw new VtpmVerificationError(err.code, `IMA list line ${lineNo}: ${err.reason}`, { line: lineNo });
    }
    visit(cur, reader);
    entries++;
    if (end === bytes.length) break;
    start = end + 1;
  }
  return { entries, digestSize };
}

/** Parses an ASCII IMA list into entries with rebuilt binary template data. */
export function parseImaAsciiList(input: Uint8Array | string, options: ImaAsciiOptions = {}): ImaEntry[] {
  const entries: ImaEntry[] = [];
  scanImaAsciiList(input, options, true, (_line, reader) => entries.push(reader.toEntry()));
  return entries;
}
