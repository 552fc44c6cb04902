/**
 * Record readers for `tee-verify batch`, in input order and in bounded memory:
 *
 * - JSONL (a file or a stream such as stdin): one record per line, read in
 *   fixed-size blocks. Blank lines are not records. A line longer than the
 *   byte cap is never buffered whole: it becomes an "oversized" record (the
 *   worker reports it as ERR_RECORD_TOO_LARGE) and the reader skips to the
 *   next newline.
 * - A directory: every regular file below it (dotfiles and dot-directories
 *   skipped), in byte order of the relative path, walked depth-first so only
 *   one directory listing per level is held at a time. Names that are not
 *   UTF-8 and sub-directories that cannot be listed are refused records.
 *
 * Records are numbered from 0 in input order; the checkpoint counts them.
 */
import { open, opendir, stat } from 'node:fs/promises';
import { join } from 'node:path';

/** One JSONL line (without its newline) or a marker for a line over the cap. */
export interface LineRecord {
  kind: 'line';
  index: number;
  /** The line's bytes; empty when oversized. */
  bytes: Uint8Array;
  oversized: boolean;
  /** Byte offset in the input just after this line's newline (or end of input). */
  endOffset: number;
}

/** One evidence file of a directory input. */
export interface FileRecord {
  kind: 'file';
  index: number;
  /** Path relative to the directory, with "/" separators: the record id. */
  relativePath: string;
  /** Set when the walk refused the entry (a name that is not UTF-8, a directory it cannot list): never opened. */
  refused?: string;
}

export type InputRecord = LineRecord | FileRecord;

export interface ReadProgress {
  /** Bytes of JSONL input consumed so far, or files listed so far. */
  done: number;
  /** Size of a JSONL file, or undefined for a stream. */
  total: number | undefined;
}

const BLOCK = 1 << 20;

function isBlank(bytes: Uint8Array): boolean {
  return bytes.length === 0 || (bytes.length === 1 && bytes[0] === 0x0d);
}

/**
 * Splits a byte stream into line records. `startOffset` is where the stream
 * starts in the input (after a resume); `startIndex` the index of its first record.
 */
export async function* splitLines(
  blocks: AsyncIterable<Uint8Array>,
  options: { maxLineBytes: number; startOffset?: number; startIndex?: number; progress?: ReadProgress },
): AsyncGenerator<LineRecord> {
  let index = options.startIndex ?? 0;
  let blockStart = options.startOffset ?? 0; // input offset of the current block's first byte
  let pending: Uint8Array[] = [];
  let pendingBytes = 0;
  let oversized = false;
  const take = (end: number): LineRecord | undefined => {
    const bytes = oversized ? new Uint8Array(0) : pending.length === 1 ? (pending[0] as Uint8Array) : concat(pending, pendingBytes);
    const record: LineRecord | undefined = !oversized && isBlank(bytes) ? undefined : { kind: 'line', index, bytes, oversized, endOffset: end };
    if (record) index++;
    pending = [];
    pendingBytes = 0;
    oversized = false;
    if (options.progress) options.progress.done = end;
    return record;
  };
  for await (const raw of blocks) {
    const block = raw instanceof Uint8Array ? raw : new Uint8Array(raw as ArrayBuffer);
    let from = 0;
    while (from < block.length) {
      const nl = block.indexOf(0x0a, from);
      const to = nl === -1 ? block.length : nl;
      if (!oversized && pendingBytes + (to - from) > options.maxLineBytes) {
        oversized = true; // never buffer an over-long line: drop it and skip to its newline
        pending = [];
        pendingBytes = 0;
      }
      if (!oversized && to > from) {
        // A line cut by the block end is copied: the stream may reuse its buffer.
        pending.push(nl === -1 ? block.slice(from, to) : block.subarray(from, to));
        pendingBytes += to - from;
      }
      if (nl === -1) break;
      const record = take(blockStart + nl + 1);
      from = nl + 1;
      if (record) yield record;
    }
    blockStart += block.length;
  }
  if (pendingBytes > 0 || oversized) {
    const record = take(blockStart);
    if (record) yield record;
  }
}

function concat(parts: Uint8Array[], total: number): Uint8Array {
  const out = new Uint8Array(total);
  let at = 0;
  for (const p of parts) {
    out.set(p, at);
    at += p.length;
  }
  return out;
}

/** Blocks of a file from `start`, read into fresh buffers (records keep views of them). */
export async function* fileBlocks(path: string, start: number): AsyncGenerator<Uint8Array> {
  const handle = await open(path, 'r');
  try {
    let position = start;
    for (;;) {
      const buffer = new Uint8Array(BLOCK);
      const { bytesRead } = await handle.read(buffer, 0, BLOCK, position);
      if (bytesRead === 0) return;
      position += bytesRead;
      yield buffer.subarray(0, bytesRead);
    }
  } finally {
    await handle.close();
  }
}

/** Bytes of a stream after skipping its first `skip` bytes (a resumed stdin). */
export async function* streamBlocks(stream: AsyncIterable<Uint8Array | string>, skip: number): AsyncGenerator<Uint8Array> {
  let toSkip = skip;
  for await (const chunk of stream) {
    let block = typeof chunk === 'string' ? new Uint8Array(Buffer.from(chunk, 'utf8')) : chunk;
    if (toSkip > 0) {
      const n = Math.min(toSkip, block.length);
      toSkip -= n;
      block = block.subarray(n);
    }
    if (block.length > 0) yield block;
  }
}

/** JSONL records of a file, resuming at a byte offset and record index. */
export async function* readJsonlFile(
  path: string,
  options: { maxLineBytes: number; startOffset: number; startIndex: number; progress?: ReadProgress },
): AsyncGenerator<LineRecord> {
  if (options.progress) options.progress.total = (await stat(path)).size;
  yield* splitLines(fileBlocks(path, options.startOffset), options);
}

const byBytes = (a: string, b: string): number => Buffer.compare(Buffer.from(a, 'utf8'), Buffer.from(b, 'utf8'));

/**
 * The order of walkDirectory for two relative paths: component by component,
 * each by bytes ("a/b" comes before "a.txt": the directory "a" sorts before the
 * name "a.txt", although "/" is greater than ".").
 */
export function compareWalkOrder(a: string, b: string): number {
  const x = a.split('/');
  const y = b.split('/');
  for (let i = 0; i < Math.min(x.length, y.length); i++) {
    const c = byBytes(x[i] as string, y[i] as string);
    if (c !== 0) return c;
  }
  return x.length - y.length;
}

const utf8 = new TextDecoder('utf-8', { fatal: true, ignoreBOM: true });

/**
 * A directory entry's name as a string when its bytes are valid UTF-8 (and
 * round-trip exactly), else undefined: such a name has no string spelling
 * that opens the same file (review s12 #1: Node decodes it with U+FFFD).
 */
export function exactName(name: Buffer): string | undefined {
  let text: string;
  try {
    text = utf8.decode(name);
  } catch {
    return undefined;
  }
  return Buffer.from(text, 'utf8').equals(name) ? text : undefined;
}

/** The id of a name that is not UTF-8: printable ASCII kept, every other byte as %XX ("\xff" is "%FF"). */
export function escapedName(name: Buffer): string {
  let out = '';
  for (const b of name) out += b >= 0x20 && b <= 0x7e ? String.fromCharCode(b) : `%${b.toString(16).toUpperCase().padStart(2, '0')}`;
  return out;
}

/** One entry of the walk: a regular file to read, or one refused (never opened) with the reason. */
export interface WalkEntry {
  path: string;
  refused?: string;
}

const codeOf = (err: unknown): string => (err as NodeJS.ErrnoException).code ?? String(err);

/** One listed directory of the walk: its entries, sorted, and the next one to visit. */
interface WalkLevel {
  prefix: string;
  entries: { id: string; raw: Buffer; isDir: boolean; refused?: string }[];
  next: number;
}

/** The entries of one directory (dotfiles, links and special files left out), sorted by the bytes of their ids. */
async function listLevel(root: string, prefix: string): Promise<WalkLevel> {
  const entries: WalkLevel['entries'] = [];
  const dir = await opendir(join(root, prefix), { encoding: 'buffer' as BufferEncoding });
  for await (const e of dir) {
    const raw = e.name as unknown as Buffer;
    if (raw[0] === 0x2e) continue; // "."
    const isDir = e.isDirectory();
    if (!isDir && !e.isFile()) continue;
    const name = exactName(raw);
    if (name !== undefined) entries.push({ id: name, raw, isDir });
    else entries.push({ id: escapedName(raw), raw, isDir: false, refused: `the ${isDir ? 'directory' : 'file'} name is not valid UTF-8 (shown escaped): ${isDir ? 'its files were' : 'it was'} not read; rename it` });
  }
  entries.sort((a, b) => byBytes(a.id, b.id) || Buffer.compare(a.raw, b.raw));
  return { prefix, entries, next: 0 };
}

/**
 * The regular files below `root`, depth-first, each directory's entries
 * sorted by the bytes of their ids (a name's own bytes when it is UTF-8).
 * Symbolic links, sockets, FIFOs and devices are no records; names starting
 * with "." are skipped. A name that is not valid UTF-8 (a file or a
 * directory) is refused as one entry under its escaped id, and a
 * sub-directory that cannot be listed (EACCES; ENAMETOOLONG for a tree
 * deeper than the system's path limit) as one entry under its path: neither
 * stops the walk. Only the root's failure throws.
 *
 * Iterative, with an explicit stack of the open levels: the recursive walk
 * (one `yield*` per level) overflowed the stack at about 1,900 levels, a
 * RangeError that stopped every attempt of the run with exit 70 (review s14 #1).
 */
export async function* walkEntries(root: string, prefix = ''): AsyncGenerator<WalkEntry> {
  let first: WalkLevel;
  try {
    first = await listLevel(root, prefix);
  } catch (err) {
    if (prefix === '') throw err;
    yield { path: prefix, refused: `cannot list the directory: ${codeOf(err)}` };
    return;
  }
  const stack: WalkLevel[] = [first];
  while (stack.length > 0) {
    const level = stack[stack.length - 1] as WalkLevel;
    const e = level.entries[level.next++];
    if (e === undefined) {
      stack.pop();
      continue;
    }
    const rel = level.prefix === '' ? e.id : `${level.prefix}/${e.id}`;
    if (e.refused !== undefined) yield { path: rel, refused: e.refused };
    else if (!e.isDir) yield { path: rel };
    else {
      let child: WalkLevel;
      try {
        child = await listLevel(root, rel);
      } catch (err) {
        yield { path: rel, refused: `cannot list the directory: ${codeOf(err)}` };
        continue;
      }
      stack.push(child);
    }
  }
}

/** Relative paths of the walk's entries (walkEntries), in its order. */
export async function* walkDirectory(root: string, prefix = ''): AsyncGenerator<string> {
  for await (const e of walkEntries(root, prefix)) yield e.path;
}

/** File records of a directory, skipping the first `startIndex` (a resume). */
export async function* readDirectory(root: string, options: { startIndex: number; progress?: ReadProgress }): AsyncGenerator<FileRecord> {
  let index = 0;
  for await (const e of walkEntries(root)) {
    if (options.progress) options.progress.done = index + 1;
    if (index >= options.startIndex) yield { kind: 'file', index, relativePath: e.path, ...(e.refused === undefined ? {} : { refused: e.refused }) };
    index++;
  }
}
