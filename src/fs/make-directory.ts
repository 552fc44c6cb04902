/**
 * `mkdir -p` for paths a user names (--cache-dir, XDG_CACHE_HOME, --out), without Node's recursive
 * mkdir. On Node 20, `mkdir(path, { recursive: true })` loops for ever when mkdir(2) answers ENOENT
 * while the parent exists, as procfs does (`mkdir /proc/x` is ENOENT, `mkdir /proc` is EEXIST): the
 * CLI spun at 100 % CPU instead of exiting 2 (s16 red team, finding 4).
 *
 * Here each missing component is created with a plain mkdir, parent first, and each component is
 * tried at most twice (once before and once after its parent is made), so the work is bounded by
 * the number of components. EEXIST on a directory (or a link to one) is fine, as with
 * `recursive: true`; EEXIST on anything else and every other errno error are thrown unchanged (EEXIST
 * on a dangling symbolic link is the stat error, ENOENT, as with `recursive: true`); an ENOENT for a
 * component whose parent exists is a DirectoryNotCreatedError.
 *
 * The path is walked as given, never normalised (no resolve()): a parent is dirname() of the given
 * string (`dirname('a/sub/..')` is `a/sub`), so the kernel resolves `..` and symbolic links exactly
 * as the caller's later open or write of the same string will, as recursive mkdir did. A lexical
 * resolve() folded `a/sub/..` to `a` and `link/../n` to `n`, creating another directory than the one
 * then written to (s16 change review, CLI finding 1). Each step shortens the string, and the walk stops
 * where dirname() no longer changes it (`/` or `.`), so it stays bounded.
 */
import { mkdirSync, statSync } from 'node:fs';
import { mkdir, stat } from 'node:fs/promises';
import { dirname } from 'node:path';

/**
 * A directory that mkdir(2) refused with ENOENT although its parent exists (a pseudo file system
 * such as /proc or /sys). It carries the errno fields of the mkdir failure (`code` 'ENOENT',
 * `syscall` 'mkdir', `path`), so callers that map errno codes to messages or exit statuses treat it
 * as the "no such file" it is; `instanceof` tells it apart for a clearer message.
 */
export class DirectoryNotCreatedError extends Error {
  override readonly name = 'DirectoryNotCreatedError';
  readonly code = 'ENOENT';
  readonly errno: number;
  readonly syscall = 'mkdir';
  /** The component that could not be created. */
  readonly path: string;

  constructor(path: string, cause: NodeJS.ErrnoException) {
    super(`ENOENT: directory cannot be created, mkdir '${path}' (its parent exists but refuses it)`, { cause });
    this.path = path;
    this.errno = typeof cause.errno === 'number' ? cause.errno : -2;
  }
}

function errnoOf(err: unknown): string | undefined {
  const code = (err as NodeJS.ErrnoException | undefined)?.code;
  return typeof code === 'string' ? code : undefined;
}

/** Creates `path` and its missing parents (each with `mode`, as `recursive: true` would). */
export function makeDirectorySync(path: string, mode?: number): void {
  const target = withoutTrailingSeparators(path);
  const tryMake = (): NodeJS.ErrnoException | undefined => {
    try {
      mkdirSync(target, mode === undefined ? undefined : { mode });
      return undefined;
    } catch (err) {
      if (errnoOf(err) === 'EEXIST') {
        if (isDirectorySync(target, err)) return undefined;
        throw err;
      }
      if (errnoOf(err) === 'ENOENT') return err as NodeJS.ErrnoException;
      throw err;
    }
  };
  const first = tryMake();
  if (first === undefined) return;
  const parent = dirname(target);
  if (parent === target) throw new DirectoryNotCreatedError(target, first);
  makeDirectorySync(parent, mode);
  const second = tryMake();
  if (second !== undefined) throw new DirectoryNotCreatedError(target, second);
}

/** The promise form of makeDirectorySync. */
export async function makeDirectory(path: string, mode?: number): Promise<void> {
  const target = withoutTrailingSeparators(path);
  const tryMake = async (): Promise<NodeJS.ErrnoException | undefined> => {
    try {
      await mkdir(target, mode === undefined ? undefined : { mode });
      return undefined;
    } catch (err) {
      if (errnoOf(err) === 'EEXIST') {
        if (await isDirectory(target, err)) return undefined;
        throw err;
      }
      if (errnoOf(err) === 'ENOENT') return err as NodeJS.ErrnoException;
      throw err;
    }
  };
  const first = await tryMake();
  if (first === undefined) return;
  const parent = dirname(target);
  if (parent === target) throw new DirectoryNotCreatedError(target, first);
  await makeDirectory(parent, mode);
  const second = await tryMake();
  if (second !== undefined) throw new DirectoryNotCreatedError(target, second);
}

/** `path` without trailing '/' (a lone '/' stays). */
function withoutTrailingSeparators(path: string): string {
  let end = path.length;
  while (end > 1 && path[end - 1] === '/') end -= 1;
  return path.slice(0, end);
}

/**
 * After mkdir's EEXIST: true when `path` is a directory (or a link to one); false when it is
 * something else (the caller throws the EEXIST); the stat error itself when stat fails, as for a
 * dangling symbolic link (recursive mkdir answers ENOENT there too).
 */
function isDirectorySync(path: string, exists: unknown): boolean {
  try {
    return statSync(path).isDirectory();
  } catch (err) {
    throw errnoOf(err) === undefined ? exists : err;
  }
}

async function isDirectory(path: string, exists: unknown): Promise<boolean> {
  try {
    return (await stat(path)).isDirectory();
  } catch (err) {
    throw errnoOf(err) === undefined ? exists : err;
  }
}
