/**
 * Reads one evidence file of a directory input in a worker: exactly the
 * regular file the walk listed (review s12 #1). The last component is opened
 * with O_NOFOLLOW (a symbolic link put in its place is not followed) and
 * O_NONBLOCK (a FIFO put in its place does not block the open), and the
 * opened descriptor must be a regular file; files over the cap are refused
 * without being read.
 */
import { closeSync, constants, fstatSync, openSync, readSync } from 'node:fs';
import { join } from 'node:path';

import { errorResult, type ResultRecord } from './result.js';
import { recordError } from './verify-record.js';

const FLAGS = constants.O_RDONLY | constants.O_NOFOLLOW | constants.O_NONBLOCK;

export function readEvidenceFile(directory: string, relativePath: string, maxBytes: number): Uint8Array | ResultRecord {
  let fd: number | undefined;
  try {
    fd = openSync(join(directory, relativePath), FLAGS);
    const st = fstatSync(fd);
    if (!st.isFile()) return errorResult(relativePath, recordError('ERR_RECORD_UNREADABLE', 'not a regular file (it changed since the directory was listed): not read'));
    const size = st.size;
    if (size > maxBytes) return errorResult(relativePath, recordError('ERR_RECORD_TOO_LARGE', `the file has ${size} bytes, more than the cap of ${maxBytes}`));
    const bytes = new Uint8Array(size);
    let at = 0;
    while (at < size) {
      const n = readSync(fd, bytes, at, size - at, at);
      if (n === 0) break;
      at += n;
    }
    return bytes.subarray(0, at);
  } catch (err) {
    const code = (err as NodeJS.ErrnoException).code;
    // O_NOFOLLOW on a symbolic link: ELOOP (Linux), EMLINK (FreeBSD), EFTYPE (NetBSD).
    const detail = code === 'ELOOP' || code === 'EMLINK' || code === 'EFTYPE' ? `${code}: a symbolic link (it changed since the directory was listed), not followed` : (code ?? String(err));
    return errorResult(relativePath, recordError('ERR_RECORD_UNREADABLE', `cannot read the file: ${detail}`));
  } finally {
    if (fd !== undefined) closeSync(fd);
  }
}
