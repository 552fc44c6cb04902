/**
 * Where a file listed in encryption-config.json is, inside the model
 * directory. crypto.py writes `files` entries as "<-o argument>/<name>.aes"
 * (protocols.md §2.1), so the same list must work whether the directory is
 * then opened as `enc`, `./enc`, an absolute path or a Hugging Face snapshot.
 *
 * An entry is read as a path relative to the directory; if no file is there,
 * its shorter tails are tried, down to its last segment (against the listed
 * files, in one pass: resolveListedEntry). A tail never holds
 * "", "." or "..", so every candidate is lexically inside the directory, and
 * its directory components must be real directories: a symbolic link to a
 * directory is never followed (as the directory walk does not). The file
 * itself may be a symbolic link, but the file opened must lie inside the
 * directory or, for a Hugging Face snapshot, in its repository's `blobs/`
 * (openListedEntry decides that on the open descriptor).
 */
import { constants } from 'node:fs';
import { lstat, open, readdir, readlink, realpath, stat, type FileHandle } from 'node:fs/promises';
import { basename, dirname, isAbsolute, join, sep } from 'node:path';
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

/** Longest entry read (PATH_MAX on Linux, in UTF-8 bytes) and most "/"-separated segments: beyond either it names no file a model has. */
export const MAX_ENTRY_BYTES = 4096;
export const MAX_ENTRY_SEGMENTS = 256;
/** How much of a host-written entry a message quotes. */
const QUOTED_CHARS = 200;

/** A host-written entry for a message: JSON-quoted, at most QUOTED_CHARS characters of it (review s15). */
export function quoteEntry(entry: string): string {
  return entry.length <= QUOTED_CHARS ? JSON.stringify(entry) : `${JSON.stringify(entry.slice(0, QUOTED_CHARS))}… (${entry.length} characters)`;
}

/**
 * The files of a directory (relative paths with "/") that an entry can name: a Set of the paths
 * themselves, so memory stays linear in the listing (review s15 r5 #1: a trie of every segment of
 * every file, keyed from the last one back, cost ~230 bytes per (file x depth), and 18 000 files at
 * the bottom of a 1200-deep chain, 5 MB on disk, aborted `load` with a heap OOM). A file of more
 * than MAX_ENTRY_SEGMENTS segments or MAX_ENTRY_BYTES bytes can match no entry's tail and is left out.
 */
export interface FileIndex {
  readonly paths: ReadonlySet<string>;
}

export function indexFiles(files: Iterable<string>): FileIndex {
  const paths = new Set<string>();
  for (const f of files) {
    if (f.length > MAX_ENTRY_BYTES || Buffer.byteLength(f, 'utf8') > MAX_ENTRY_BYTES) continue;
    let segments = 1;
    for (let at = f.indexOf('/'); at !== -1 && segments <= MAX_ENTRY_SEGMENTS; at = f.indexOf('/', at + 1)) segments++;
    if (segments <= MAX_ENTRY_SEGMENTS) paths.add(f);
  }
  return { paths };
}

/**
 * Every regular file under `root` (a symbolic link to one counts), relative with "/", without
 * following a linked directory (lookup's rule): what an entry may resolve to.
 */
export async function listFiles(root: string, rel = '', out: string[] = []): Promise<string[]> {
  const entries = await readdir(rel === '' ? root : join(root, ...rel.split('/')), { withFileTypes: true });
  entries.sort((a, b) => (a.name < b.name ? -1 : a.name > b.name ? 1 : 0));
  for (const e of entries) {
    const r = rel === '' ? e.name : `${rel}/${e.name}`;
    if (e.isDirectory()) await listFiles(root, r, out);
    else if (e.isFile()) out.push(r);
    else if (e.isSymbolicLink() && (await stat(join(root, ...r.split('/'))).catch(() => undefined))?.isFile() === true) out.push(r);
  }
  return out;
}

/**
 * The entry as a relative path with "/" inside `root`. ERR_MODEL_CONFIG: longer than
 * MAX_ENTRY_BYTES or MAX_ENTRY_SEGMENTS (`details.reason: "entry-too-long"`, before anything is
 * looked up), no usable last segment, or the entry read as written points outside the
 * directory (absolute, "..", a linked directory) and no tail of it is inside;
 * ERR_MODEL_MISSING_FILE: an inside path that no file answers. `files` is the directory's
 * listFiles, indexed (checkDirectoryListing passes it once for every entry); without it the
 * directory is listed here.
 */
export async function resolveListedEntry(root: string, entry: string, files?: FileIndex): Promise<string> {
  const bytes = Buffer.byteLength(entry, 'utf8');
  if (bytes > MAX_ENTRY_BYTES) {
    throw new ModelFormatError('ERR_MODEL_CONFIG', `${CONFIG_FILE} lists an entry of ${bytes} bytes, longer than a path can be (${MAX_ENTRY_BYTES}): ${quoteEntry(entry)}`, {
      details: { reason: 'entry-too-long', entry: entry.slice(0, QUOTED_CHARS), bytes },
    });
  }
  const normalized = entry.replaceAll('\\', '/');
  const segments = normalized.split('/');
  if (segments.length > MAX_ENTRY_SEGMENTS) {
    throw new ModelFormatError('ERR_MODEL_CONFIG', `${CONFIG_FILE} lists an entry of ${segments.length} path segments, more than ${MAX_ENTRY_SEGMENTS}: ${quoteEntry(entry)}`, {
      details: { reason: 'entry-too-long', entry: entry.slice(0, QUOTED_CHARS), segments: segments.length },
    });
  }
  const last = segments.at(-1)!;
  if (unusable(last)) {
    throw new ModelFormatError('ERR_MODEL_CONFIG', `${CONFIG_FILE} lists ${quoteEntry(entry)}, which names no file`, { details: { entry } });
  }
  const index = files ?? indexFiles(await listFiles(root));
  // A tail holding "", "." or ".." is never a candidate, and neither is any longer one (it holds the
  // same segment): the candidates start after the last such segment. Longest first, each looked up as
  // a string: at most MAX_ENTRY_SEGMENTS lookups of at most MAX_ENTRY_BYTES each.
  let first = segments.length - 1;
  let offset = normalized.length - last.length; // where segments[first] starts in `normalized`
  while (first > 0 && !unusable(segments[first - 1]!)) offset -= segments[--first]!.length + 1;
  for (let start = first; start < segments.length; offset += segments[start++]!.length + 1) {
    const tail = normalized.slice(offset);
    if (index.paths.has(tail) && !isAbsolute(tail)) return tail; // the longest tail that exists wins
  }
  let escapes = isAbsolute(entry) || segments.some(unusable);
  // Read as written, through a linked directory: outside (one lookup, at most MAX_ENTRY_SEGMENTS lstat calls).
  if (!escapes && (await lookup(root, segments)) === 'through-link') escapes = true;
  if (escapes) {
    throw new ModelFormatError('ERR_MODEL_CONFIG', `${CONFIG_FILE} lists a path outside the model directory, and no file of that name is inside it: ${quoteEntry(entry)}`, { details: { entry } });
  }
  throw new ModelFormatError('ERR_MODEL_MISSING_FILE', `${CONFIG_FILE} lists ${quoteEntry(entry)}, which the model directory lacks`, { details: { entry } });
}

/**
 * Where listed files may live: inside the directory as the kernel resolves
 * it, or — when the directory is a Hugging Face cache snapshot
 * (`<repo>/snapshots/<rev>`, whose files link to `../../blobs/<hash>`) — in
 * that repository's `blobs/`, a real directory (not a link). Anything else a
 * link points at is outside: the host writes the directory, so following it
 * would let the host read TEE files through decryption errors.
 */
export interface EntryRoots {
  /** The directory as given (entries are joined to it). */
  root: string;
  /** Directories an opened entry must be inside (real paths, no trailing separator). */
  allowed: string[];
}

export async function entryRootsOf(root: string): Promise<EntryRoots> {
  const real = await realpath(root);
  const allowed = [real];
  if (basename(dirname(real)) === 'snapshots') {
    const blobs = join(dirname(dirname(real)), 'blobs');
    const st = await lstat(blobs).catch(() => undefined);
    if (st?.isDirectory()) allowed.push(blobs);
  }
  return { root, allowed };
}

const within = (path: string, dir: string): boolean => path.startsWith(dir.endsWith(sep) ? dir : dir + sep);

/**
 * Where the kernel says an open file is. /proc/self/fd names the opened
 * inode's current path, so the answer belongs to the descriptor, not to a
 * path looked up before or after (no check-then-open race). Without procfs
 * (not Linux): the real path of `path`, accepted only when it is the same
 * inode as the descriptor; a swap between the two calls remains possible
 * there (docs/model.md).
 */
async function pathOfOpened(fh: FileHandle, path: string): Promise<string | undefined> {
  try {
    const p = await readlink(`/proc/self/fd/${fh.fd}`);
    return p.endsWith(' (deleted)') ? undefined : p;
  } catch {
    const real = await realpath(path).catch(() => undefined);
    if (real === undefined) return undefined;
    const [a, b] = await Promise.all([fh.stat({ bigint: true }), stat(real, { bigint: true }).catch(() => undefined)]);
    return b !== undefined && a.dev === b.dev && a.ino === b.ino ? real : undefined;
  }
}

/**
 * Opens a resolved entry (from resolveListedEntry) for reading and proves the
 * opened file is a regular file inside `roots.allowed`; the caller closes it.
 * O_NONBLOCK: a FIFO swapped in after the listing check cannot block the
 * open (it is then refused as not a regular file). ERR_MODEL_CONFIG: the file
 * opened is outside (a link, or a directory component swapped for one);
 * ERR_MODEL_MISSING_FILE: gone or not a regular file. No byte of a refused
 * file is read.
 */
export async function openListedEntry(roots: EntryRoots, rel: string): Promise<FileHandle> {
  const path = join(roots.root, ...rel.split('/'));
  let fh: FileHandle;
  try {
    fh = await open(path, constants.O_RDONLY | constants.O_NONBLOCK);
  } catch (cause) {
    throw new ModelFormatError('ERR_MODEL_MISSING_FILE', `${CONFIG_FILE} lists ${JSON.stringify(rel)}, which cannot be opened (${(cause as NodeJS.ErrnoException)?.code ?? 'error'})`, { cause, details: { entry: rel } });
  }
  try {
    const where = await pathOfOpened(fh, path);
    if (where === undefined || !roots.allowed.some((dir) => within(where, dir))) {
      throw new ModelFormatError('ERR_MODEL_CONFIG', `${CONFIG_FILE} lists ${JSON.stringify(rel)}, which opens a file outside the model directory (a symbolic link or a swapped directory); refused unread`, { details: { entry: rel } });
    }
    if (!(await fh.stat()).isFile()) {
      throw new ModelFormatError('ERR_MODEL_MISSING_FILE', `${CONFIG_FILE} lists ${JSON.stringify(rel)}, which is not a regular file`, { details: { entry: rel } });
    }
    return fh;
  } catch (error) {
    await fh.close();
    throw error;
  }
}

/**
 * Whether `rel` (relative with "/") opens a file inside `roots.allowed`, decided as openListedEntry
 * decides it (on the opened descriptor). encrypt asks it of every file it walked (review s15): a
 * link in a tree the owner did not write (a cloned repository) must not put a file from elsewhere
 * into the published model. A file that cannot be opened is left to the encryption to report.
 */
export async function opensInside(roots: EntryRoots, rel: string): Promise<boolean> {
  const path = join(roots.root, ...rel.split('/'));
  const fh = await open(path, constants.O_RDONLY | constants.O_NONBLOCK).catch(() => undefined);
  if (fh === undefined) return true;
  try {
    const where = await pathOfOpened(fh, path);
    return where !== undefined && roots.allowed.some((dir) => within(where, dir));
  } finally {
    await fh.close();
  }
}
