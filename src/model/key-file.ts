/**
 * `tee-model --key-file F`: the model key as base64 in a file (what `keygen -o` writes, mode 0600).
 * The key decrypts the whole model, so the file is held to the rules of the broker's master-key
 * file (src/kbs/files.ts; review s11): never read through a symbolic link (a link can be redirected),
 * only a regular file, and refused when group or others have any permission bit. Refusing rather
 * than warning: a warning is easy to miss in a script, and `chmod 600` fixes it at once.
 */
import { constants } from 'node:fs';
import { open } from 'node:fs/promises';
import { ModelFormatError } from './errors.js';
import { ioError } from './file.js';
import { decodeModelKey } from './keys.js';

/** A base64 key of 32 bytes is 44 characters; more than this is not a key file. */
const MAX_KEY_FILE_BYTES = 4096;

function keyFileError(message: string, path: string, reason: string, extra: Record<string, unknown> = {}): ModelFormatError {
  return new ModelFormatError('ERR_MODEL_KEY', message, { details: { path, reason, ...extra } });
}

/** The model key in `path` (base64, surrounding white space ignored); ERR_MODEL_KEY for a link, a non-file, group/other bits or a file too large. */
export async function readModelKeyFile(path: string): Promise<Buffer> {
  const handle = await open(path, constants.O_RDONLY | constants.O_NOFOLLOW | constants.O_NONBLOCK).catch((e: NodeJS.ErrnoException) => {
    if (e?.code === 'ELOOP') throw keyFileError(`the key file ${path} is a symbolic link; give the file itself (a link can be redirected)`, path, 'symbolic-link');
    return ioError(e, path);
  });
  try {
    const st = await handle.stat();
    if (!st.isFile()) throw keyFileError(`the key file ${path} is not a regular file`, path, 'not-a-file');
    const mode = st.mode & 0o777;
    if (mode & 0o077) {
      throw keyFileError(`the key file ${path} has mode ${mode.toString(8).padStart(4, '0')}: group or others have access to it; chmod 600 ${path}`, path, 'mode', { mode: mode.toString(8).padStart(4, '0') });
    }
    // Read at most one byte past the bound: a file that grows after fstat is still not read whole.
    const buf = Buffer.alloc(MAX_KEY_FILE_BYTES + 1);
    try {
      let length = 0;
      while (length < buf.length) {
        const { bytesRead } = await handle.read(buf, length, buf.length - length, null);
        if (bytesRead === 0) break;
        length += bytesRead;
      }
      if (length > MAX_KEY_FILE_BYTES) throw keyFileError(`the key file ${path} is larger than ${MAX_KEY_FILE_BYTES} bytes; a base64 model key is at most 44 characters`, path, 'too-large');
      return decodeModelKey(buf.toString('utf8', 0, length).trim());
    } finally {
      buf.fill(0); // the key's text
    }
  } finally {
    await handle.close();
  }
}
