/**
 * What identifies a JSONL input file across a run and its resume: its size,
 * its modification time and a SHA-256 of its first and last MiB. A resume
 * seeks to a byte offset of the input; an archive regenerated at the same
 * path would be resumed at offsets of another file, skipping or splitting
 * records. Hashing only the ends keeps this cheap for archives of gigabytes;
 * the size and mtime catch a rewrite that keeps both ends.
 *
 * A directory is identified by its path only (its walk is re-listed on
 * resume); stdin cannot be identified at all (feed the same stream).
 */
import { createHash } from 'node:crypto';
import { closeSync, fstatSync, openSync, readSync } from 'node:fs';

const END_BYTES = 1 << 20;

export interface InputIdentity {
  size: number;
  mtimeMs: number;
  /** SHA-256 (hex) of the first MiB followed by the last MiB (the whole file when smaller). */
  ends: string;
}

function readRange(fd: number, start: number, length: number): Buffer {
  const buffer = Buffer.alloc(length);
  let at = 0;
  while (at < length) {
    const n = readSync(fd, buffer, at, length - at, start + at);
    if (n === 0) break;
    at += n;
  }
  return buffer.subarray(0, at);
}

/** The identity of the JSONL file at `path`; throws the fs error when it cannot be read. */
export function inputIdentityOf(path: string): InputIdentity {
  const fd = openSync(path, 'r');
  try {
    const { size, mtimeMs } = fstatSync(fd);
    const hash = createHash('sha256');
    hash.update(readRange(fd, 0, Math.min(size, END_BYTES)));
    if (size > END_BYTES) hash.update(readRange(fd, Math.max(END_BYTES, size - END_BYTES), Math.min(END_BYTES, size - END_BYTES)));
    return { size, mtimeMs, ends: hash.digest('hex') };
  } finally {
    closeSync(fd);
  }
}
