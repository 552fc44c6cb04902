/**
 * Files of the disk cache, trusted as files only (review session 6): read
 * without following a link or blocking on a FIFO, used only when a regular
 * file of this user within a size cap; written to a fresh temporary file
 * (mode 0600) and renamed, so a crash never leaves a torn file.
 */
import { randomBytes } from 'node:crypto';
import { closeSync, constants, fstatSync, openSync, readSync, renameSync, rmSync, writeFileSync } from 'node:fs';

export const currentUid = (): number | undefined => (typeof process.getuid === 'function' ? process.getuid() : undefined);

/** The text of `file` when it is a regular file of ours of at most `maxBytes`; undefined for anything else (a link, a FIFO, absent, foreign). */
export function readPrivateFile(file: string, maxBytes: number): string | undefined {
  let fd: number;
  try {
    fd = openSync(file, constants.O_RDONLY | constants.O_NOFOLLOW | constants.O_NONBLOCK);
  } catch {
    return undefined; // a symbolic link (ELOOP), gone meanwhile, unreadable
  }
  try {
    const st = fstatSync(fd);
    const me = currentUid();
    if (!st.isFile() || st.size > maxBytes || (me !== undefined && st.uid !== me)) return undefined;
    const buf = Buffer.allocUnsafe(st.size);
    let read = 0;
    while (read < st.size) {
      const n = readSync(fd, buf, read, st.size - read, read);
      if (n === 0) break;
      read += n;
    }
    return buf.toString('utf8', 0, read);
  } catch {
    return undefined;
  } finally {
    closeSync(fd);
  }
}

/** Writes `text` to `file` atomically, mode 0600; throws what the disk says. */
export function writePrivateFile(file: string, text: string): void {
  const temp = `${file}.${process.pid}.${randomBytes(6).toString('hex')}.tmp`;
  // 'wx': a fresh file, never through something planted under the temporary name.
  writeFileSync(temp, text, { mode: 0o600, flag: 'wx' });
  try {
    renameSync(temp, file);
  } catch (err) {
    rmSync(temp, { force: true });
    throw err;
  }
}
