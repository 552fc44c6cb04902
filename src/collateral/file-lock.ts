/**
 * A lock file beside a cache file, for read-compare-write steps that several
 * processes on one cache directory may run at once (rollback floors: review
 * s10 changes-b #1). Two writers that each read a floor file and then rename
 * their own over it lose one update, and a floor must never lose its higher
 * value. The lock is `<file>.lock`, created with O_EXCL: whoever creates it
 * holds it until it removes it. Holders keep it for a read and a rename, so a
 * waiter waits briefly and synchronously (these steps are on the cold path).
 * A lock older than STALE_MS was left by a process that died holding it and
 * is removed.
 */
import { closeSync, constants, lstatSync, openSync, rmSync } from 'node:fs';

/** A holder keeps the lock for a read and a rename (well under a millisecond); one older than this was abandoned. */
export const STALE_MS = 10_000;
/** How long a waiter waits for a held lock before giving up (the caller keeps its value in memory and retries later). */
const WAIT_MS = 200;
const sleeper = new Int32Array(new SharedArrayBuffer(4));

function sleepMs(ms: number): void {
  Atomics.wait(sleeper, 0, 0, ms);
}

/**
 * Removes the lock at `path` if it is abandoned: older than STALE_MS by the
 * wall clock (file times are wall-clock times), and still the same file at a
 * second look. The inode alone cannot tell (a file system reuses a freed
 * inode number at once: review s10 changes-c #3), so its change time must be
 * the same too: a fresh lock taken meanwhile has a new one.
 */
function removeIfStale(path: string): void {
  const st = lstatSync(path, { throwIfNoEntry: false, bigint: true });
  if (st === undefined || Date.now() - Number(st.mtimeMs) < STALE_MS) return;
  const again = lstatSync(path, { throwIfNoEntry: false, bigint: true });
  if (again !== undefined && again.ino === st.ino && again.ctimeNs === st.ctimeNs && again.mtimeNs === st.mtimeNs) rmSync(path, { force: true });
}

/**
 * Runs `step` holding `<file>.lock`; undefined when the lock could not be
 * taken within WAIT_MS or the disk refused to create it (the caller treats
 * that like a failed write).
 */
export function withFileLock<T>(file: string, step: () => T): T | undefined {
  const path = `${file}.lock`;
  // The wait is timed on the monotonic clock: a wall clock stepped back must not stretch it (changes-c #2).
  const deadline = performance.now() + WAIT_MS;
  for (;;) {
    let fd: number;
    try {
      fd = openSync(path, constants.O_CREAT | constants.O_EXCL | constants.O_WRONLY | constants.O_NOFOLLOW, 0o600);
    } catch (err) {
      if ((err as NodeJS.ErrnoException).code !== 'EEXIST') return undefined;
      try {
        removeIfStale(path);
      } catch {
        return undefined;
      }
      if (performance.now() >= deadline) return undefined;
      sleepMs(1);
      continue;
    }
    try {
      closeSync(fd);
      return step();
    } finally {
      rmSync(path, { force: true });
    }
  }
}
