/**
 * The files a run writes (--out, its checkpoint, --summary) must be none of
 * the files it reads (the input, --previous, bundles, trust root, policy) nor
 * each other: `--out` equal to the input would truncate the archive before
 * reading it, `--out` equal to `--previous` would compare the results with
 * themselves. Files are compared by identity, not by spelling: an existing
 * file by device and inode (symbolic and hard links included), a file not yet
 * created by the real path of its directory plus its name (following a
 * dangling symbolic link to where it would create its target). A directory
 * input must not contain a written file either: it would become a record.
 */
import { fstatSync, lstatSync, readlinkSync, realpathSync, statSync } from 'node:fs';
import { basename, dirname, join, resolve, sep } from 'node:path';

import { checkpointPath } from './checkpoint.js';
import type { BatchConfig } from './config.js';
import { SetupError } from './context.js';

/** Two options name the same file, or a written file lies inside a directory input (exit 2). */
export class SameFileError extends SetupError {
  readonly code = 'ERR_BATCH_SAME_FILE';
}

/** Where `path` is, or would be once created: its real path (links followed as far as they go). */
function whereIs(path: string): string {
  let p = resolve(path);
  for (let hops = 0; hops < 40; hops++) {
    try {
      return realpathSync(p);
    } catch {
      // not there (yet): a dangling link creates its target, anything else is created here
    }
    try {
      if (lstatSync(p).isSymbolicLink()) {
        p = resolve(dirname(p), readlinkSync(p));
        continue;
      }
    } catch {
      // absent: resolved through its directory below
    }
    break;
  }
  try {
    return join(realpathSync(dirname(p)), basename(p));
  } catch {
    return p;
  }
}

/** A file's identity: device and inode when it exists, else where it would be created. */
function identityOf(path: string): string {
  try {
    const st = statSync(path);
    return `inode:${st.dev}:${st.ino}`;
  } catch {
    return `path:${whereIs(path)}`;
  }
}

/** stdin's identity when it is a regular file (`batch - --out x < x`); undefined for a pipe or terminal. */
function stdinIdentity(): string | undefined {
  try {
    const st = fstatSync(0);
    return st.isFile() ? `inode:${st.dev}:${st.ino}` : undefined;
  } catch {
    return undefined;
  }
}

/** Refuses a run whose written files alias one another, the input or another file it reads; see the module comment. */
export function checkDistinctFiles(config: BatchConfig): void {
  const written: [string, string][] = [
    ['--out', config.out],
    ['the checkpoint', checkpointPath(config.out)],
    ...(config.summary === undefined ? [] : [['--summary', config.summary] as [string, string]]),
  ];
  const read: [string, string][] = [
    ...(config.previous === undefined ? [] : [['--previous', config.previous] as [string, string]]),
    ...(config.onlyUnavailable === undefined ? [] : [['--only-unavailable', config.onlyUnavailable] as [string, string]]),
    ...config.collateral.map((c): [string, string] => ['--collateral', c]),
    ...(config.trustRoot === undefined ? [] : [['--trust-root', config.trustRoot] as [string, string]]),
    ...(config.policy === undefined ? [] : [['--policy', config.policy] as [string, string]]),
  ];
  const seen = new Map<string, string>();
  const claim = (id: string | undefined, what: string): void => {
    if (id === undefined) return;
    const other = seen.get(id);
    if (other !== undefined) throw new SameFileError(`${what} and ${other} are the same file: a run never writes a file it reads or another file it writes`);
    seen.set(id, what);
  };
  if (config.inputKind === 'jsonl' || config.inputKind === 'pipe') claim(identityOf(config.input), `the input ${config.input}`);
  if (config.inputKind === 'stdin') claim(stdinIdentity(), 'the input (stdin)');
  const reads = new Map<string, string>(); // read files may repeat among themselves (one bundle twice is harmless)
  for (const [what, path] of read) reads.set(identityOf(path), `${what} ${path}`);
  for (const [id, what] of reads) if (!seen.has(id)) seen.set(id, what);
  for (const [what, path] of written) claim(identityOf(path), `${what} ${path}`);
  if (config.inputKind === 'directory') {
    const root = whereIs(config.input);
    for (const [what, path] of written) {
      const at = whereIs(path);
      if (at === root || at.startsWith(root.endsWith(sep) ? root : root + sep)) {
        throw new SameFileError(`${what} ${path} is inside the input directory ${config.input}: it would be read as a record`);
      }
    }
  }
}
