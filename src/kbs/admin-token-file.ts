/**
 * The first admin token goes to a file, never to the logs (log shippers
 * collect those). The file is created exclusively (O_CREAT | O_EXCL, which
 * also refuses a symlink at the path, dangling or not; O_NOFOLLOW as a second
 * guard) with mode 0600 and synced before the token is stored in the database:
 * a token the database accepts is always on disk. An existing file is never
 * overwritten or read.
 */
import { closeSync, constants, fchmodSync, fsyncSync, lstatSync, openSync, unlinkSync, writeSync } from 'node:fs';
import { dirname } from 'node:path';

import { KbsError } from './errors.js';

const configError = (message: string): KbsError => new KbsError('ERR_KBS_CONFIG', 500, message);

/** Default for SQLite: next to the database, like the master key. */
export const defaultAdminTokenFile = (sqliteFile: string): string => `${sqliteFile}.admin-token`;

/** Writes `token` (and a newline) to a new file `path`, mode 0600; ERR_KBS_CONFIG when the path exists or cannot be created. */
export function createAdminTokenFile(path: string, token: string): void {
  let fd: number;
  try {
    fd = openSync(path, constants.O_WRONLY | constants.O_CREAT | constants.O_EXCL | constants.O_NOFOLLOW, 0o600);
  } catch (e) {
    const code = (e as NodeJS.ErrnoException).code;
    if (code === 'EEXIST' || code === 'ELOOP') {
      const kind = isSymlink(path) ? 'a symbolic link' : 'a file';
      throw configError(
        `the admin token file ${path} exists already (${kind}); it is never overwritten. On a database without an admin token, move it away (a left-over of an earlier first start that did not complete) or name another file`,
      );
    }
    throw configError(`cannot create the admin token file ${path} (directory ${dirname(path)}): ${(e as Error).message}`);
  }
  try {
    // The umask may only narrow the mode; set it exactly.
    fchmodSync(fd, 0o600);
    writeSync(fd, `${token}\n`);
    fsyncSync(fd);
  } catch (e) {
    closeSync(fd);
    removeAdminTokenFile(path);
    throw configError(`cannot write the admin token file ${path}: ${(e as Error).message}`);
  }
  closeSync(fd);
  syncDirectoryOf(path);
}

/**
 * The new directory entry must be durable too: without this, a crash after the database stored the
 * token's hash could leave a database whose only admin token exists nowhere (review, session 4).
 */
function syncDirectoryOf(path: string): void {
  let fd: number | undefined;
  try {
    fd = openSync(dirname(path), constants.O_RDONLY | constants.O_DIRECTORY);
    fsyncSync(fd);
  } catch (e) {
    removeAdminTokenFile(path);
    throw configError(`cannot sync the directory of the admin token file ${path}: ${(e as Error).message}`);
  } finally {
    if (fd !== undefined) closeSync(fd);
  }
}

/** Removes a token file this process created whose token never reached the database. */
export function removeAdminTokenFile(path: string): void {
  try {
    unlinkSync(path);
  } catch {
    /* already gone */
  }
}

function isSymlink(path: string): boolean {
  try {
    return lstatSync(path).isSymbolicLink();
  } catch {
    return false;
  }
}
