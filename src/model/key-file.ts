/**
 * `tee-model --key-file F`: the model key as base64 in a file (what `keygen -o` writes, mode 0600).
 * The key decrypts the whole model, so the file is held to the rules of the broker's master-key
 * file (src/kbs/files.ts; review s11): never read through a symbolic link (a link can be redirected),
 * only a regular file, and refused when group or others have any permission bit. Refusing rather
 * than warning: a warning is easy to miss in a script, and `chmod 600` fixes it at once.
 *
 * Two exceptions (review s11 changes-a #4), docs/model.md "The model key":
 * - `/dev/fd/N`, `/proc/self/fd/N` and `/dev/stdin` name a descriptor this process inherited
 *   (`3<key`, `<(vault read …)`, a pipe into stdin): the descriptor itself is used, never the
 *   link, so nothing can redirect it. A regular file behind it gets the rules above; a pipe or
 *   socket, which only the holders of the descriptor can read, is read up to the size bound.
 * - a file owned by root may also let its group read it (0440, 0640), as PostgreSQL allows for
 *   its key file: an administrator granted that group on purpose, and it is what a Kubernetes
 *   secret mounted with fsGroup is (the kubelet adds group read whatever defaultMode says).
 */
import { constants, fstat, read, readdirSync, readlinkSync, type Stats } from 'node:fs';
import { open } from 'node:fs/promises';
import { promisify } from 'node:util';
import { ModelFormatError } from './errors.js';
import { ioError } from './file.js';
import { decodeModelKey } from './keys.js';

/** A base64 key of 32 bytes is 44 characters; more than this is not a key file. */
const MAX_KEY_FILE_BYTES = 4096;

/**
 * How a caller other than tee-model names its key file (s16 change review of cce6563, #4 and #5):
 * the size bound (a TLS key file may hold a certificate chain beside the key), and the option and
 * example file its refusals advise (`--tls-key /dev/fd/N`, `3<tls.key`), not tee-model's.
 */
export interface KeyFileReadOptions {
  /** The largest file read, in bytes (default 4096, a model key's file). */
  maxBytes?: number;
  /** The option that names the file, in the advice of a refusal (default `--key-file`). */
  option?: string;
  /** The file named in a descriptor redirection example, `3<FILE` (default `model.key`). */
  example?: string;
}

type Rules = Required<KeyFileReadOptions>;
const rulesOf = (o: KeyFileReadOptions = {}): Rules => ({ maxBytes: o.maxBytes ?? MAX_KEY_FILE_BYTES, option: o.option ?? '--key-file', example: o.example ?? 'model.key' });

/** `/dev/fd/N`, `/proc/self/fd/N`: an inherited descriptor, by number. */
const FD_PATH = /^\/(?:dev|proc\/self)\/fd\/(\d{1,9})$/;

function keyFileError(message: string, path: string, reason: string, extra: Record<string, unknown> = {}): ModelFormatError {
  return new ModelFormatError('ERR_MODEL_KEY', message, { details: { path, reason, ...extra } });
}

/** The descriptor `path` names, or undefined for an ordinary path. */
function inheritedFd(path: string): number | undefined {
  if (path === '/dev/stdin') return 0;
  const n = FD_PATH.exec(path)?.[1];
  return n === undefined ? undefined : Number(n);
}

/**
 * ERR_MODEL_KEY unless the file is owned by the user this process runs as or by root, and only the
 * owner may access it (a root-owned file's group may read it too). The owner rule is the broker's
 * for its secret files (src/kbs/files.ts, review s14): another user's 0600 file can be read and
 * rewritten by that user.
 */
export function checkKeyFileMode(st: Pick<Stats, 'mode' | 'uid'>, path: string, fixPath: string = path): void {
  const mode = st.mode & 0o777;
  const shared = mode & 0o077;
  if (shared === 0 || (st.uid === 0 && shared === 0o040)) {
    const euid = process.geteuid?.();
    if (euid === undefined || st.uid === euid || st.uid === 0) return;
    throw keyFileError(`the key file ${path} is owned by uid ${st.uid}, neither the user this process runs as (uid ${euid}) nor root: that user can read and rewrite it; chown ${euid} ${fixPath}`, path, 'owner', { uid: st.uid });
  }
  const octal = mode.toString(8).padStart(4, '0');
  throw keyFileError(
    `the key file ${path} has mode ${octal}: group or others have access to it; chmod 600 ${fixPath} (a file owned by root may also let its group read it: 0440 or 0640)`,
    path,
    'mode',
    { mode: octal },
  );
}

/** Reads from `readAt` (a byte count so far, to bytes read; 0 at the end) at most one byte past the bound, then decodes. */
/** What a reader returns from the bytes it read: the model key decoded from base64 text, or the bytes themselves. */
type Decode = (bytes: Buffer) => Buffer;
/**
 * A key file's text, less ASCII white space at both ends: the one rule `tee-model --key-file` and
 * `tee-kbs admin key --key-file` share (s14 docs review: one trimmed Unicode white space and a BOM, the
 * other latin1 NBSP, so one tool could store a key the other would not read). Anything else at the
 * edges (a BOM, a non-breaking space) stays and makes the text not base64.
 */
export function keyFileText(bytes: Buffer): string {
  return bytes.toString('latin1').replace(/^[\t\n\v\f\r ]+|[\t\n\v\f\r ]+$/g, '');
}

const decodeBase64Key: Decode = (bytes) => decodeModelKey(keyFileText(bytes));

async function readBounded(readAt: (buf: Buffer, offset: number) => Promise<number>, path: string, decode: Decode, max: number): Promise<Buffer> {
  // One byte past the bound: a file that grows after fstat, or an endless pipe, is still not read whole.
  const buf = Buffer.alloc(max + 1);
  try {
    let length = 0;
    while (length < buf.length) {
      const bytesRead = await readAt(buf, length);
      if (bytesRead === 0) break;
      length += bytesRead;
    }
    if (length > max) throw keyFileError(`the key file ${path} is larger than ${max} bytes${max === MAX_KEY_FILE_BYTES ? '; a base64 model key is at most 44 characters' : ''}`, path, 'too-large', { max });
    return decode(buf.subarray(0, length));
  } finally {
    buf.fill(0); // the key's text
  }
}

const fstatFd = promisify(fstat);
const readFd = promisify(read);
const pause = (): Promise<void> => new Promise((r) => setTimeout(r, 10));

/**
 * Whether another descriptor of this process holds the same pipe or socket as `fd`: then both ends
 * are ours, as for the pipes Node and libuv make for themselves (signals, wake-ups; review s11
 * changes-d #1: reading one hung and swallowed the signal that should stop the run). A descriptor
 * someone passed has its other end elsewhere. Undefined where /proc cannot tell (not Linux).
 */
function heldTwice(fd: number): boolean | undefined {
  try {
    const target = readlinkSync(`/proc/self/fd/${fd}`);
    return readdirSync('/proc/self/fd').some((n) => {
      if (n === String(fd)) return false;
      try {
        return readlinkSync(`/proc/self/fd/${n}`) === target;
      } catch {
        return false; // closed meanwhile (the listing's own descriptor)
      }
    });
  } catch {
    return undefined;
  }
}

/**
 * The file behind descriptor `fd`, for the advice of a refusal (`chmod 600 /etc/k.pem`, not
 * `chmod 600 /dev/stdin`, which would change the terminal or nothing); `the file passed on
 * descriptor N` where /proc cannot tell.
 */
function fileBehind(fd: number): string {
  try {
    const target = readlinkSync(`/proc/self/fd/${fd}`);
    if (target.startsWith('/') && !target.endsWith(' (deleted)')) return target;
  } catch {
    // not Linux, or closed meanwhile
  }
  return `the file passed on descriptor ${fd}`;
}

/** The key from an inherited descriptor; it is left open (it belongs to whoever passed it). */
async function readFromFd(fd: number, path: string, decode: Decode, rules: Rules): Promise<Buffer> {
  const st = await fstatFd(fd).catch((e: NodeJS.ErrnoException) => {
    if (e?.code === 'EBADF') throw keyFileError(`the key file ${path} names descriptor ${fd}, which this process has not inherited open (pass it, e.g. ${fd}<${rules.example})`, path, 'fd-not-open');
    return ioError(e, path);
  });
  if (st.isFile()) {
    checkKeyFileMode(st, path, fileBehind(fd));
    // Read by position from the start: the descriptor's offset (shared with whoever passed it) is left alone.
    return readBounded(async (buf, offset) => (await readFd(fd, buf, offset, buf.length - offset, offset).catch((e: unknown) => ioError(e, path))).bytesRead, path, decode, rules.maxBytes);
  }
  if (!st.isFIFO() && !st.isSocket()) throw keyFileError(`the key file ${path} is not a regular file, a pipe or a socket`, path, 'not-a-file');
  const channel = process.env['NODE_CHANNEL_FD'];
  if (heldTwice(fd) === true || (channel !== undefined && Number(channel) === fd)) {
    throw keyFileError(`the key file ${path} names descriptor ${fd}, which this process opened for itself, not one passed to it (pass the key on it, e.g. ${fd}<${rules.example})`, path, 'fd-not-passed');
  }
  return readBounded(async (buf, offset) => {
    for (;;) {
      try {
        return (await readFd(fd, buf, offset, buf.length - offset, null)).bytesRead;
      } catch (e) {
        const code = (e as NodeJS.ErrnoException)?.code;
        // A descriptor left non-blocking by whoever passed it: wait for the writer.
        if (code === 'EAGAIN') await pause();
        // The write end of a pipe: not something to read a key from.
        else if (code === 'EBADF') throw keyFileError(`the key file ${path} names descriptor ${fd}, which is not open for reading (pass the key on it, e.g. ${fd}<${rules.example})`, path, 'fd-not-readable');
        else ioError(e, path);
      }
    }
  }, path, decode, rules.maxBytes);
}

/**
 * The model key in `path` (base64, surrounding white space ignored); ERR_MODEL_KEY for a link, a
 * non-file, a mode others may read, or more than 4 KiB. `/dev/fd/N`, `/proc/self/fd/N` and
 * `/dev/stdin` read the inherited descriptor (a pipe too).
 */
export async function readModelKeyFile(path: string): Promise<Buffer> {
  return readProtectedKeyFile(path, decodeBase64Key);
}

/**
 * The bytes of a key file under the same rules as readModelKeyFile (link, non-file, mode, owner,
 * 4 KiB; inherited descriptors read), undecoded: for `tee-kbs admin key --key-file`, which also takes
 * raw key bytes (review s14). A copy the caller owns; wipe it after use.
 */
export function readKeyFileBytes(path: string, options?: KeyFileReadOptions): Promise<Buffer> {
  return readProtectedKeyFile(path, (bytes) => Buffer.from(bytes), rulesOf(options));
}

async function readProtectedKeyFile(path: string, decode: Decode, rules: Rules = rulesOf()): Promise<Buffer> {
  const fd = inheritedFd(path);
  if (fd !== undefined) return readFromFd(fd, path, decode, rules);
  const handle = await open(path, constants.O_RDONLY | constants.O_NOFOLLOW | constants.O_NONBLOCK).catch((e: NodeJS.ErrnoException) => {
    if (e?.code === 'ELOOP') {
      throw keyFileError(`the key file ${path} is a symbolic link; give the file itself (a link can be redirected; for a Kubernetes secret volume, <mount>/..data/<name>), or pass the key on a descriptor: ${rules.option} /dev/fd/N or /dev/stdin`, path, 'symbolic-link');
    }
    return ioError(e, path);
  });
  try {
    const st = await handle.stat();
    if (!st.isFile()) throw keyFileError(`the key file ${path} is not a regular file`, path, 'not-a-file');
    checkKeyFileMode(st, path);
    return await readBounded(async (buf, offset) => (await handle.read(buf, offset, buf.length - offset, null)).bytesRead, path, decode, rules.maxBytes);
  } finally {
    await handle.close();
  }
}
