/**
 * Where a file listed in encryption-config.json is, inside the model
 * directory. crypto.py writes `files` entries as "<-o argument>/<name>.aes"
 * (protocols.md §2.1), so the same list must work whether the directory is
 * then opened as `enc`, `./enc`, an absolute path or a Hugging Face snapshot.
 *
 * An entry is read as a path relative to the directory; if no file is there,
 * its shorter tails are tried, down to its last segment. A tail never holds
 * "", "." or "..", so every candidate is lexically inside the directory, and
 * its directory components must be real directories: a symbolic link to a
 * directory is never followed (as the directory walk does not). The file
 * itself may be a symbolic link to a regular file (snapshots link to blobs
 * outside the snapshot; its content must still verify under the model key).
 */
import { lstat, stat } from 'node:fs/promises';
import { isAbsolute, join } from 'node:path';
import { ModelFormatError } from './errors.js';

const CONFIG_FILE = 'encryption-config.json';

const unusable = (segment: string): boolean => segment === '' || segment === '.' || segment === '..';

type Lookup = 'file' | 'absent' | 'through-link';

async function lookup(root: string, segments: readonly string[]): Promise<Lookup> {
  let dir = root;
  for (const s of segments.slice(0, -1)) {
    dir = join(dir, s);
    const st = await lstat(dir).catch(() => undefined);
    if (st === undefined) return 'absent';
    if (st.isSymbolicLink()) return 'through-link';
    if (!st.isDirectory()) return 'absent';
  }
  const st = await stat(join(dir, segments.at(-1)!)).catch(() => undefined);
  return st?.isFile() ? 'file' : 'absent';
}

/**
 * The entry as a relative path with "/" inside `root`. ERR_MODEL_CONFIG: no
 * usable last segment, or the entry read as written points outside the
 * directory (absolute, "..", a linked directory) and no tail of it is inside;
 * ERR_MODEL_MISSING_FILE: an inside path that no file answers.
 */
export async function resolveListedEntry(root: string, entry: string): Promise<string> {
  const segments = entry.replaceAll('\\', '/').split('/');
  const last = segments.at(-1)!;
  if (unusable(last)) {
    throw new ModelFormatError('ERR_MODEL_CONFIG', `${CONFIG_FILE} lists ${JSON.stringify(entry)}, which names no file`, { details: { entry } });
  }
  let escapes = isAbsolute(entry) || segments.some(unusable);
  for (let start = 0; start < segments.length; start++) {
    const tail = segments.slice(start);
    if (tail.some(unusable) || isAbsolute(tail.join('/'))) continue;
    const found = await lookup(root, tail);
    if (found === 'file') return tail.join('/');
    if (found === 'through-link' && start === 0) escapes = true;
  }
  if (escapes) {
    throw new ModelFormatError('ERR_MODEL_CONFIG', `${CONFIG_FILE} lists a path outside the model directory, and no file of that name is inside it: ${JSON.stringify(entry)}`, { details: { entry } });
  }
  throw new ModelFormatError('ERR_MODEL_MISSING_FILE', `${CONFIG_FILE} lists ${JSON.stringify(entry)}, which the model directory lacks`, { details: { entry } });
}
