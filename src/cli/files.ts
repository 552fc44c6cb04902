/**
 * Reading and writing the files named on the command line. A file that
 * cannot be read or written, or is empty, is a usage error (exit 2) naming
 * the file and the option it came from.
 *
 * Every input has a size limit (INPUT_LIMITS, docs/cli.md "Input files"):
 * more is ERR_INPUT_TOO_LARGE (exit 2), found before the whole input is in
 * memory. A regular file larger than its limit is refused by its size; pipes
 * (`<(cmd)`, FIFOs, `-` for stdin) and devices are read up to one byte past
 * the limit (review, session 6: `show /dev/zero` grew without end).
 * `-` reads the stream run() was given (CliRunIo.stdin), else this process's.
 */
import { close, constants, fstat, open, read, writeFileSync, type Stats } from 'node:fs';
import { Socket } from 'node:net';
import { dirname } from 'node:path';
import type { Readable } from 'node:stream';
import { promisify } from 'node:util';

import { MAX_TEXT_INPUT } from '../evidence/decode.js';
import { DirectoryNotCreatedError, makeDirectorySync } from '../fs/make-directory.js';
import { VTPM_BUNDLE_LIMITS, looksLikeVtpmBundle } from '../vtpm/bundle.js';
import { commandInput } from './command-input.js';
import { UsageError } from './errors.js';

const MiB = 1024 * 1024;

/** Largest input of each kind, bytes. */
export const INPUT_LIMITS = {
  /** Evidence: a quote is at most 64 KiB, an SEV-SNP report 1184 + 4096 bytes, text evidence 256 KiB (MAX_TEXT_INPUT); 4x that. */
  evidence: 4 * MAX_TEXT_INPUT,
  /** A vTPM evidence bundle (`verify` only): the bundle's own bound on its document. */
  vtpmBundle: VTPM_BUNDLE_LIMITS.document,
  /** Policies, certificates, trust roots, collateral bundles, keys, state: every parser of these stops at 1 MiB or less. */
  document: 4 * MiB,
} as const;

/** A fixed limit, or one chosen from the first bytes (up to HEAD_BYTES) of the input. */
export type InputLimit = number | ((head: Uint8Array) => number);

/** How much of an input is looked at before a head-dependent limit is chosen. */
const HEAD_BYTES = 4096;
const CHUNK_BYTES = 64 * 1024;
/** A terminal or device opened non-blocking that has nothing yet is polled this often. */
const RETRY_MS = 20;

/** Evidence for `verify`: a vTPM bundle may be as large as its bound, anything else as evidence. */
export const EVIDENCE_OR_VTPM_BUNDLE: InputLimit = (head) => (looksLikeVtpmBundle(head) ? INPUT_LIMITS.vtpmBundle : INPUT_LIMITS.evidence);

function reason(err: unknown): string {
  if (err instanceof DirectoryNotCreatedError) return `directory ${err.path} cannot be created`;
  const e = err as NodeJS.ErrnoException;
  if (e.code === 'ENOENT') return 'no such file';
  if (e.code === 'EISDIR') return 'is a directory';
  if (e.code === 'EACCES' || e.code === 'EPERM') return 'permission denied';
  if (e.code === 'ENXIO') return 'cannot be opened for reading (a socket?)';
  return e.message ?? String(err);
}

function sizeText(bytes: number): string {
  return bytes % MiB === 0 ? `${bytes / MiB} MiB` : `${bytes / 1024} KiB`;
}

/** Collects an input's chunks and refuses it as soon as it passes its limit. */
class Collector {
  readonly #chunks: Buffer[] = [];
  #total = 0;
  #max: number | undefined;

  constructor(
    private readonly limit: InputLimit,
    private readonly what: string,
    private readonly path: string,
  ) {
    if (typeof limit === 'number') this.#max = limit;
  }

  get total(): number {
    return this.#total;
  }

  /** The limit, once known (a head-dependent one needs HEAD_BYTES or the whole input). */
  maxBytes(final = false): number | undefined {
    if (this.#max === undefined && (final || this.#total >= HEAD_BYTES)) {
      this.#max = (this.limit as (head: Uint8Array) => number)(this.bytes().subarray(0, HEAD_BYTES));
    }
    return this.#max;
  }

  add(chunk: Buffer): void {
    this.#chunks.push(chunk);
    this.#total += chunk.length;
    const max = this.maxBytes();
    if (max !== undefined && this.#total > max) this.tooLarge(max);
  }

  tooLarge(max: number): never {
    throw new UsageError(`${this.what} ${this.path} is larger than ${sizeText(max)}, the limit for this input`, 'ERR_INPUT_TOO_LARGE');
  }

  bytes(): Buffer {
    if (this.#chunks.length > 1) this.#chunks.splice(0, this.#chunks.length, Buffer.concat(this.#chunks));
    return this.#chunks[0] ?? Buffer.alloc(0);
  }

  finish(): Uint8Array {
    this.maxBytes(true);
    const all = this.bytes();
    if (all.length === 0) throw new UsageError(`${this.what} ${this.path} is empty`, 'ERR_INPUT');
    return new Uint8Array(all.buffer, all.byteOffset, all.byteLength);
  }
}

const openFd = promisify(open);
const fstatFd = promisify(fstat);
const closeFd = promisify(close);
const readFd = promisify(read);
const sleep = (ms: number) => new Promise((resolve) => setTimeout(resolve, ms));

/** A regular file or a device: read() until end of file or past the limit. */
async function readFromFd(fd: number, stats: Stats, into: Collector): Promise<void> {
  if (stats.isFile()) {
    // The size is known: refuse before reading, unless the limit depends on the first bytes.
    const max = into.maxBytes();
    if (max !== undefined && stats.size > max) into.tooLarge(max);
  }
  for (;;) {
    const buffer = Buffer.allocUnsafe(CHUNK_BYTES);
    let bytesRead: number;
    try {
      ({ bytesRead } = await readFd(fd, buffer, 0, CHUNK_BYTES, null));
    } catch (err) {
      // A terminal opened non-blocking with nothing typed yet.
      if ((err as NodeJS.ErrnoException).code === 'EAGAIN') {
        await sleep(RETRY_MS);
        continue;
      }
      throw err;
    }
    if (bytesRead === 0) return;
    into.add(buffer.subarray(0, bytesRead));
    if (stats.isFile() && into.total >= HEAD_BYTES) {
      const max = into.maxBytes();
      if (max !== undefined && stats.size > max) into.tooLarge(max);
    }
  }
}

/** A pipe or stdin: event-driven reads (a FIFO with no writer yet waits for one, as `cat` does). */
function readFromStream(stream: Readable, into: Collector): Promise<void> {
  return new Promise((resolve, reject) => {
    // An 'end' that already happened is never emitted again: waiting for it would leave the
    // command unsettled (Node's exit 13, silently; review, session 6 round 2).
    if (stream.readableEnded) {
      resolve();
      return;
    }
    const fail = (err: unknown) => {
      stream.off('data', onData);
      stream.destroy();
      reject(err);
    };
    const onData = (chunk: Buffer) => {
      try {
        into.add(chunk);
      } catch (err) {
        fail(err);
      }
    };
    stream.on('data', onData);
    stream.once('end', () => resolve());
    stream.once('error', fail);
  });
}

/** The record for reads outside any command (a direct readStreamInput call); run() keeps one per command. */
const outsideCommand = new WeakMap<Readable, string>();

/**
 * All of `stream` (standard input for `-`), up to `limit`. A second input
 * named `-` (`verify - --policy -`) is a usage error, not a wait for data
 * that the first one consumed.
 */
export async function readStreamInput(stream: Readable, what: string, limit: InputLimit): Promise<Uint8Array> {
  const readers = commandInput()?.readers ?? outsideCommand;
  const first = readers.get(stream);
  if (first !== undefined) throw new UsageError(`${what} -: standard input is already read as the ${first}; only one input can be "-"`);
  readers.set(stream, what);
  const into = new Collector(limit, what, '(standard input)');
  await readFromStream(stream, into);
  return into.finish();
}

/**
 * The bytes of `path` (`-`: standard input); `what` names its role
 * ("evidence file", "--policy"), `limit` its largest size (INPUT_LIMITS).
 */
export async function readInput(path: string, what: string, limit: InputLimit): Promise<Uint8Array> {
  const into = new Collector(limit, what, path);
  try {
    if (path === '-') return await readStreamInput(commandInput()?.stdin ?? process.stdin, what, limit);
    // Non-blocking open: a FIFO opens without a writer; its reads then wait for data in the event loop.
    const fd = await openFd(path, constants.O_RDONLY | constants.O_NONBLOCK);
    let owned = true;
    try {
      const stats = await fstatFd(fd);
      if (stats.isDirectory()) throw new UsageError(`cannot read ${what} ${path}: is a directory`, 'ERR_INPUT');
      if (stats.isFIFO() || stats.isSocket()) {
        const pipe = new Socket({ fd, readable: true, writable: false });
        owned = false; // the socket closes the descriptor
        await readFromStream(pipe, into);
      } else {
        await readFromFd(fd, stats, into);
      }
    } finally {
      if (owned) await closeFd(fd);
    }
    return into.finish();
  } catch (err) {
    if (err instanceof UsageError) throw err;
    throw new UsageError(`cannot read ${what} ${path}: ${reason(err)}`, 'ERR_INPUT');
  }
}

export async function readText(path: string, what: string, limit: InputLimit): Promise<string> {
  return Buffer.from(await readInput(path, what, limit)).toString('utf8');
}

/** Writes `data`, creating the parent directory. */
export function writeOutput(path: string, data: string | Uint8Array, what: string, mode?: number): void {
  try {
    makeDirectorySync(dirname(path)); // not recursive mkdir: it loops for ever under /proc on Node 20 (s16 #4)
    writeFileSync(path, data, mode === undefined ? {} : { mode });
  } catch (err) {
    throw new UsageError(`cannot write ${what} ${path}: ${reason(err)}`, 'ERR_OUTPUT');
  }
}
