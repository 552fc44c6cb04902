/**
 * Reading a small file the host writes (encryption-config.json) without
 * letting the host choose what is read. The model directory is the host's:
 * a link planted at the name would have the TEE read one of its own files and
 * echo its first bytes through the JSON parser's message, a FIFO would block
 * the open forever, and /dev/zero or a huge file would fill memory (review s7).
 * So the name is opened O_NOFOLLOW|O_NONBLOCK, must be a regular file, and at
 * most `maxBytes` are read. Refusals never carry the file's bytes.
 */
import { constants } from 'node:fs';
import { open, type FileHandle } from 'node:fs/promises';
import { ModelFormatError } from './errors.js';

function refused(name: string, why: string, reason: string): ModelFormatError {
  return new ModelFormatError('ERR_MODEL_CONFIG', `${name} ${why}; refused unread`, { details: { reason } });
}

/**
 * The bytes of the regular file at `path` (named `name` in messages), or
 * undefined when there is none. ERR_MODEL_CONFIG: a symbolic link, not a
 * regular file, or larger than `maxBytes` (also when it grows while read);
 * ERR_MODEL_IO: any other open or read failure (system code in details.errno).
 */
export async function readSmallRegularFile(path: string, name: string, maxBytes: number): Promise<Buffer | undefined> {
  let fh: FileHandle;
  try {
    fh = await open(path, constants.O_RDONLY | constants.O_NOFOLLOW | constants.O_NONBLOCK);
  } catch (e) {
    const errno = (e as NodeJS.ErrnoException)?.code;
    if (errno === 'ENOENT') return undefined;
    // Linux reports O_NOFOLLOW on a link as ELOOP (some BSDs as EMLINK).
    if (errno === 'ELOOP' || errno === 'EMLINK') throw refused(name, 'is a symbolic link', 'symbolic-link');
    throw new ModelFormatError('ERR_MODEL_IO', `${name} cannot be opened (${errno ?? 'error'})`, { details: { ...(errno ? { errno } : {}) } });
  }
  try {
    const st = await fh.stat();
    if (!st.isFile()) throw refused(name, 'is not a regular file', 'not-a-regular-file');
    if (st.size > maxBytes) throw refused(name, `is larger than ${maxBytes} bytes`, 'too-large');
    // One byte more than allowed tells a file that grew after fstat from one that did not.
    const buf = Buffer.alloc(maxBytes + 1);
    let got = 0;
    for (;;) {
      const { bytesRead } = await fh.read(buf, got, buf.length - got, got);
      if (bytesRead === 0) break;
      got += bytesRead;
      if (got > maxBytes) throw refused(name, `is larger than ${maxBytes} bytes`, 'too-large');
    }
    return buf.subarray(0, got);
  } catch (e) {
    if (e instanceof ModelFormatError) throw e;
    const errno = (e as NodeJS.ErrnoException)?.code;
    throw new ModelFormatError('ERR_MODEL_IO', `${name} cannot be read (${errno ?? 'error'})`, { details: { ...(errno ? { errno } : {}) } });
  } finally {
    await fh.close();
  }
}
