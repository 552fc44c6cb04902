/**
 * Reading and writing the files named on the command line. A file that
 * cannot be read or written, or is empty, is a usage error (exit 2) naming
 * the file and the option it came from.
 */
import { mkdirSync, writeFileSync } from 'node:fs';
import { readFile } from 'node:fs/promises';
import { dirname } from 'node:path';

import { UsageError } from './errors.js';

function reason(err: unknown): string {
  const e = err as NodeJS.ErrnoException;
  if (e.code === 'ENOENT') return 'no such file';
  if (e.code === 'EISDIR') return 'is a directory';
  if (e.code === 'EACCES' || e.code === 'EPERM') return 'permission denied';
  return e.message ?? String(err);
}

/** The bytes of `path`; `what` names its role ("evidence file", "--policy"). */
export async function readInput(path: string, what: string): Promise<Uint8Array> {
  let bytes: Buffer;
  try {
    bytes = await readFile(path);
  } catch (err) {
    throw new UsageError(`cannot read ${what} ${path}: ${reason(err)}`, 'ERR_INPUT');
  }
  if (bytes.length === 0) throw new UsageError(`${what} ${path} is empty`, 'ERR_INPUT');
  return new Uint8Array(bytes.buffer, bytes.byteOffset, bytes.byteLength);
}

export async function readText(path: string, what: string): Promise<string> {
  return Buffer.from(await readInput(path, what)).toString('utf8');
}

/** Writes `data`, creating the parent directory. */
export function writeOutput(path: string, data: string | Uint8Array, what: string, mode?: number): void {
  try {
    mkdirSync(dirname(path), { recursive: true });
    writeFileSync(path, data, mode === undefined ? {} : { mode });
  } catch (err) {
    throw new UsageError(`cannot write ${what} ${path}: ${reason(err)}`, 'ERR_OUTPUT');
  }
}
