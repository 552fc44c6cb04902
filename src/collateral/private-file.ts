/**
 * Files of the disk cache, trusted as files only (review session 6): read
 * without following a link or blocking on a FIFO, used only when a regular
 * file of this user within a size cap; written to a fresh temporary file
 * (mode 0600) and renamed, so a crash never leaves a torn file. A durable
 * write (floors, review s11 changes-b #2) also survives a power loss.
 */
import { randomBytes } from 'node:crypto';
import { closeSync, constants, fstatSync, fsyncSync, openSync, readSync, renameSync, rmSync, writeFileSync } from 'node:fs';

export const currentUid = (): number | undefined => (typeof process.getuid === 'function' ? process.getuid() : undefined);

/**
 * Why a file could not be used (review s9 changes-c #1): only `not-ours` is
 * something in the way (a link, a FIFO, another user's or oversized file) that
 * a caller may remove; `unreadable` is the system failing to read it now
 * (EMFILE, ENFILE, EIO, ...), so the file may be valid and must stay.
 */
export type PrivateFileFailure = 'absent' | 'not-ours' | 'unreadable';
export type PrivateFileRead = { readonly text: string; readonly failure?: undefined } | { readonly text?: undefined; readonly failure: PrivateFileFailure };

/** open(2) errors that say what is at the path, not that the system failed to open it. */
const NOT_OURS_OPEN_ERRORS = new Set(['ELOOP', 'EACCES', 'EPERM', 'ENXIO', 'EISDIR']);

function failure(err: unknown): PrivateFileFailure {
  const code = (err as NodeJS.ErrnoException | undefined)?.code;
  if (code === 'ENOENT') return 'absent';
  return code !== undefined && NOT_OURS_OPEN_ERRORS.has(code) ? 'not-ours' : 'unreadable';
}

/** The text of `file` when it is a regular file of ours of at most `maxBytes`; else why not (a link, a FIFO, absent, foreign, or a failed read). */
export function readPrivateFile(file: string, maxBytes: number): PrivateFileRead {
  let fd: number;
  try {
    fd = openSync(file, constants.O_RDONLY | constants.O_NOFOLLOW | constants.O_NONBLOCK);
  } catch (err) {
    return { failure: failure(err) }; // ELOOP: a symbolic link; ENOENT: gone meanwhile; EMFILE and the like: the system
  }
  try {
    const st = fstatSync(fd);
    const me = currentUid();
    if (!st.isFile() || st.size > maxBytes || (me !== undefined && st.uid !== me)) return { failure: 'not-ours' };
    const buf = Buffer.allocUnsafe(st.size);
    let read = 0;
    while (read < st.size) {
      const n = readSync(fd, buf, read, st.size - read, read);
      if (n === 0) break;
      read += n;
    }
    return { text: buf.toString('utf8', 0, read) };
  } catch {
    return { failure: 'unreadable' }; // fstat or read failed (EIO): the file may be fine
  } finally {
    closeSync(fd);
  }
}

/** `<name>.<pid>.<12 hex>.tmp`: the temporary file writePrivateFile renames to `<name>`; group 1 is `<name>`. */
export const TEMPORARY_NAME = /^(.+)\.[0-9]+\.[0-9a-f]{12}\.tmp$/;

/**
 * Writes `text` to `file` atomically, mode 0600; throws what the disk says.
 * `durable`: the content reaches the disk before the rename (fsync), so the
 * name never stands for an empty file after a power loss; the rename itself
 * is durable only once the caller syncs the directory (syncDirectory).
 */
export function writePrivateFile(file: string, text: string, options: { durable?: boolean } = {}): void {
  const temp = `${file}.${process.pid}.${randomBytes(6).toString('hex')}.tmp`;
  try {
    // 'wx': a fresh file, never through something planted under the temporary name.
    writeFileSync(temp, text, { mode: 0o600, flag: 'wx' });
    if (options.durable === true) syncFile(temp);
    renameSync(temp, file);
  } catch (err) {
    if ((err as NodeJS.ErrnoException).code !== 'EEXIST') rmSync(temp, { force: true }); // EEXIST: the name was not ours
    throw err;
  }
}

/** fsync(2) of the file at `path` (opened again read-only, never through a link). */
function syncFile(path: string): void {
  const fd = openSync(path, constants.O_RDONLY | constants.O_NOFOLLOW);
  try {
    fsyncSync(fd);
  } finally {
    closeSync(fd);
  }
}

/**
 * Errors of a directory fsync that say this platform or file system cannot
 * sync a directory at all (Windows cannot open one; some network and FUSE
 * file systems answer EINVAL): nothing more durable is on offer there.
 */
const DIRECTORY_SYNC_UNSUPPORTED = new Set(['EISDIR', 'EINVAL', 'ENOTSUP', 'EOPNOTSUPP']);

/**
 * Makes the entries of `directory` durable (fsync of the directory: renames,
 * creations and removals in it so far), so that a later removal cannot reach
 * the disk before them. Throws what the disk says (EIO), except where the
 * platform cannot sync a directory at all.
 */
export function syncDirectory(directory: string): void {
  let fd: number;
  try {
    fd = openSync(directory, constants.O_RDONLY | (constants.O_DIRECTORY ?? 0));
  } catch (err) {
    if (DIRECTORY_SYNC_UNSUPPORTED.has((err as NodeJS.ErrnoException).code ?? '')) return;
    throw err;
  }
  try {
    fsyncSync(fd);
  } catch (err) {
    if (!DIRECTORY_SYNC_UNSUPPORTED.has((err as NodeJS.ErrnoException).code ?? '')) throw err;
  } finally {
    closeSync(fd);
  }
}
