/**
 * Streaming encryption and decryption of one model file in constant memory.
 * Both write to a temporary file beside the destination and rename it into
 * place only when everything succeeded: for decryption, only after the GCM
 * tag has verified, so no unauthenticated plaintext is ever left at the
 * output path.
 */
import { createCipheriv, createDecipheriv, randomBytes } from 'node:crypto';
import { constants, createReadStream, rmSync } from 'node:fs';
import { lstat, open, readdir, rename, rm, stat, type FileHandle } from 'node:fs/promises';
import { basename, dirname, join } from 'node:path';
import { pipeline } from 'node:stream/promises';
import { HEADER_SIZE, cipherFor, IV_LENGTH, TAG_LENGTH, checkPlaintextSize, encodeHeader, parseHeader } from './container.js';
import { ModelFormatError, isModelError } from './errors.js';
import { onInterrupt } from './interrupt-cleanup.js';
import { decodeModelKey } from './keys.js';
import { processExists, stagingIdentity, type StagingIdentity } from './run-identity.js';

export interface FileResult {
  input: string;
  output: string;
  /** Plaintext size in bytes. */
  size: number;
  /** A single-file decryption: dead runs' temporary files beside the output it could not judge and left (sweepDeadParts). */
  warnings?: string[];
}

const HIGH_WATER_MARK = 256 * 1024;
/** Plaintext (decrypted) files, including their temporary files: owner only. */
export const PRIVATE_FILE_MODE = 0o600;
/** Directories the loader creates for plaintext. */
export const PRIVATE_DIR_MODE = 0o700;

let ownIdentity: StagingIdentity | undefined;

/** `.<name>.part-<host>.pidns-<namespace>.`: the pid, "-", 12 random hex digits and ".part" follow (review s15: the staging identity, so the next run can tell a dead run's). */
function partPrefix(output: string, id: StagingIdentity): string {
  return `.${basename(output)}.part-${id.host}.pidns-${id.pidNamespace}.`;
}

const PART_TAIL = /^(\d+)-[0-9a-f]{12}\.part$/;

function tempPathFor(output: string): string {
  ownIdentity ??= stagingIdentity();
  return join(dirname(output), `${partPrefix(output, ownIdentity)}${process.pid}-${randomBytes(6).toString('hex')}.part`);
}

/**
 * Before a single-file decryption writes beside `output`: removes the `.part` files a dead run of this
 * host and pid namespace left there (SIGKILL, an OOM kill, a crash: they hold unverified plaintext;
 * SIGINT / SIGTERM / SIGHUP remove their own), and names in the returned warnings those it cannot
 * judge: another host's or pid namespace's, every one when the namespace is unknown, and an earlier
 * version's (`.<name>.<pid>.<12 hex>.part`, no host or namespace). A live run's is left alone.
 * Only regular files of exactly these shapes are touched, and only one owned by this user with mode
 * 0600 (as tee-model creates it) is removed; another is named in a warning (review s15 r5 #4).
 * Best effort (review s15).
 */
export async function sweepDeadParts(output: string, id: StagingIdentity = stagingIdentity()): Promise<{ removed: string[]; warnings: string[] }> {
  const report = { removed: [] as string[], warnings: [] as string[] };
  const parent = dirname(output);
  const head = `.${basename(output)}.`;
  const own = partPrefix(output, id);
  const names = (await readdir(parent).catch(() => [] as string[])).filter((n) => n.startsWith(head) && n.endsWith('.part')).sort();
  for (const name of names) {
    const rest = name.slice(head.length);
    const oldStyle = /^\d+\.[0-9a-f]{12}\.part$/.test(rest);
    const run = /^part-([A-Za-z0-9_-]+)\.pidns-([^.]+)\.\d+-[0-9a-f]{12}\.part$/.exec(rest);
    if (!oldStyle && run === null) continue; // not a name tee-model writes
    const path = join(parent, name);
    const st = await lstat(path).catch(() => undefined);
    if (!st?.isFile()) continue;
    const leave = (why: string): void => {
      report.warnings.push(`${path} is the temporary file of a tee-model decryption of ${output} (it may hold unverified decrypted bytes); ${why}, so this run leaves it: when no run is writing ${output} any more, delete it`);
    };
    if (id.pidNamespace === 'unknown') leave('this process cannot read its pid namespace (/proc), so it cannot tell whether that run is still alive');
    else if (oldStyle) leave('its name (an earlier tee-model version) does not say on which host or in which pid namespace that run was');
    else if (!name.startsWith(own)) leave(`that run was on host ${run![1]} in pid namespace ${run![2]}, whose processes this one cannot see`);
    else {
      const pid = Number(PART_TAIL.exec(name.slice(own.length))?.[1]);
      if (!Number.isSafeInteger(pid) || pid <= 0 || pid === process.pid || processExists(pid)) continue;
      // tee-model made it 0600 as this user; another owner's or mode's file of this name is not judged (review s15 r5 #4).
      const euid = process.geteuid?.();
      if ((euid !== undefined && st.uid !== euid) || (st.mode & 0o7777) !== PRIVATE_FILE_MODE) {
        leave(`it belongs to user ${st.uid} with mode ${(st.mode & 0o7777).toString(8).padStart(4, '0')}, not to this user${euid === undefined ? '' : ` (${euid})`} with mode 0600 as tee-model writes it`);
        continue;
      }
      await rm(path, { force: true }).catch(() => undefined);
      report.removed.push(path);
    }
  }
  return report;
}

/**
 * Runs `work` on a fresh temporary file beside `output` and renames it into
 * place only if `work` succeeded. The temporary file is created with
 * O_CREAT|O_EXCL|O_NOFOLLOW (never an existing file or a link planted at its
 * name), written through its descriptor and fsync'ed through the same one;
 * rename replaces a link at `output` rather than writing through it.
 */
async function withTempOutput<T>(output: string, mode: number | undefined, work: (tmp: FileHandle) => Promise<T>): Promise<T> {
  const tmp = tempPathFor(output);
  const fh = await open(tmp, constants.O_WRONLY | constants.O_CREAT | constants.O_EXCL | constants.O_NOFOLLOW, mode ?? 0o666).catch((e: unknown) => ioError(e, output));
  // Unverified plaintext must not outlive an interrupted run (SIGINT / SIGTERM: interrupt-cleanup.ts).
  const untrack = onInterrupt(() => rmSync(tmp, { force: true }));
  let closed = false;
  try {
    const result = await work(fh);
    await fh.sync();
    await fh.close();
    closed = true;
    // A rename failure (EISDIR: a directory at the name, EXDEV, ENOSPC) is an I/O error of the output, typed (review s7).
    await rename(tmp, output).catch((e: unknown) => ioError(e, output));
    return result;
  } catch (error) {
    if (!closed) await fh.close().catch(() => undefined);
    await rm(tmp, { force: true });
    ioError(error, output);
  } finally {
    untrack();
  }
}

/**
 * Writes `bytes` to `output` through a temporary file and a rename: never
 * through a link planted at `output`, never half-written (encryption-config.json;
 * review s7). An existing file at `output` is replaced.
 */
export async function writeFileReplacing(output: string, bytes: Uint8Array, mode?: number): Promise<void> {
  await withTempOutput(output, mode, async (tmp) => {
    for (let done = 0; done < bytes.length; ) done += (await tmp.write(bytes, done, bytes.length - done)).bytesWritten;
  });
}

/** A pipeline sink writing to `fh`; closing stays with withTempOutput (a stream would close it first). */
const streamTo =
  (fh: FileHandle) =>
  async (source: AsyncIterable<Buffer>): Promise<void> => {
    for await (const chunk of source) {
      for (let done = 0; done < chunk.length; ) done += (await fh.write(chunk, done, chunk.length - done)).bytesWritten;
    }
  };

/** Bytes [start, end) of `fh` in HIGH_WATER_MARK pieces, by positioned reads (the caller keeps the descriptor). */
async function* rangeOf(fh: FileHandle, start: number, end: number): AsyncGenerator<Buffer> {
  for (let at = start; at < end; ) {
    const piece = await readAt(fh, at, Math.min(HIGH_WATER_MARK, end - at));
    if (piece.length === 0) throw new ModelFormatError('ERR_MODEL_TRUNCATED', 'container shrank while it was read');
    at += piece.length;
    yield piece;
  }
}

/** How much of a path a message quotes from each end. */
const PATH_END_CHARS = 100;
/** The longest system message ioError passes on whole. */
const MAX_MESSAGE_CHARS = 600;

/** A path for a message: a very long one (a host-made tree deeper than PATH_MAX) keeps its two ends (review s15). */
export function shortPath(path: string): string {
  return path.length <= 2 * PATH_END_CHARS + 40 ? path : `${path.slice(0, PATH_END_CHARS)}…(${path.length} characters)…${path.slice(-PATH_END_CHARS)}`;
}

/** Any failure as a typed error: ModelErrors pass, the rest is ERR_MODEL_IO with the system code in `details.errno`. */
export function ioError(error: unknown, path: string): never {
  if (isModelError(error)) throw error;
  const errno = (error as NodeJS.ErrnoException | undefined)?.code;
  // Node's message quotes the paths it failed on ("scandir '<path>'"): each is shortened as `path` is,
  // found as the error's own `path` / `dest` strings (review s15 r5 #2: a regex over the quotes missed a
  // path with a "'" in it); whatever is left is capped, so the message stays one short line.
  let message = (error as Error)?.message ?? String(error);
  for (const key of ['path', 'dest'] as const) {
    const p = (error as Record<string, unknown> | undefined)?.[key];
    if (typeof p === 'string' && p.length > 2 * PATH_END_CHARS + 40) message = message.split(p).join(shortPath(p));
  }
  if (message.length > MAX_MESSAGE_CHARS) message = shortPath(message);
  throw new ModelFormatError('ERR_MODEL_IO', `I/O error on ${shortPath(path)}: ${message}`, {
    cause: error,
    details: { path, ...(typeof errno === 'string' ? { errno } : {}) },
  });
}

/** Encrypts `input` into the container at `output` (AES-GCM with the key's size, random 96-bit IV). */
export async function encryptFile(input: string, output: string, key: string | Uint8Array): Promise<FileResult> {
  const k = decodeModelKey(key);
  try {
    return await encryptWith(input, output, k);
  } finally {
    k.fill(0); // our copy of the key (review s7)
  }
}

async function encryptWith(input: string, output: string, k: Buffer): Promise<FileResult> {
  const info = await stat(input).catch((e: unknown) => ioError(e, input));
  checkPlaintextSize(info.size);
  const iv = randomBytes(IV_LENGTH);
  const header = encodeHeader(info.size, iv);
  const cipher = createCipheriv(cipherFor(k), k, iv, { authTagLength: TAG_LENGTH });
  let seen = 0;
  await withTempOutput(output, undefined, async (tmp) => {
    await pipeline(
      createReadStream(input, { highWaterMark: HIGH_WATER_MARK }),
      async function* (source: AsyncIterable<Buffer>) {
        for await (const chunk of source) {
          seen += chunk.length;
          yield chunk;
        }
      },
      cipher,
      async function* (source: AsyncIterable<Buffer>) {
        yield header;
        for await (const chunk of source) yield chunk;
        // The cipher has flushed by the time its readable side ends.
        yield cipher.getAuthTag();
      },
      streamTo(tmp),
    ).catch((e: unknown) => ioError(e, input));
    if (seen !== info.size) {
      throw new ModelFormatError('ERR_MODEL_IO', `${input} changed size while it was encrypted (${info.size} → ${seen} bytes)`, { details: { path: input } });
    }
  });
  return { input, output, size: info.size };
}

async function readAt(fh: FileHandle, position: number, length: number): Promise<Buffer> {
  const buf = Buffer.alloc(length);
  const { bytesRead } = await fh.read(buf, 0, length, position);
  return buf.subarray(0, bytesRead);
}

/**
 * Decrypts the container at `input` to `output` (mode 0600). The output
 * appears only if the tag verifies; on any failure no file is left at
 * `output` (an existing file there is left untouched).
 */
export async function decryptFile(input: string, output: string, key: string | Uint8Array): Promise<FileResult> {
  const k = decodeModelKey(key);
  try {
    // O_NONBLOCK: a FIFO named as input is refused as not a regular file instead of blocking the open.
    const fh = await open(input, constants.O_RDONLY | constants.O_NONBLOCK).catch((e: unknown) => ioError(e, input));
    try {
      // A killed run's .part beside the output holds unverified plaintext: gone before this run writes its own (review s15).
      const swept = await sweepDeadParts(output);
      const r = await decryptOpenedFile(fh, input, output, k);
      return swept.warnings.length > 0 ? { ...r, warnings: swept.warnings } : r;
    } finally {
      await fh.close();
    }
  } finally {
    k.fill(0); // our copy of the key (review s7)
  }
}

/**
 * decryptFile on a descriptor the caller opened (and closes): the directory
 * loader opens each entry once, proves where it is (openListedEntry) and
 * reads only that descriptor. `input` only names it in messages.
 */
export async function decryptOpenedFile(fh: FileHandle, input: string, output: string, key: string | Uint8Array): Promise<FileResult> {
  const k = decodeModelKey(key);
  try {
    return await decryptOpenedWith(fh, input, output, k);
  } finally {
    k.fill(0); // our per-file copy of the key (review s7)
  }
}

async function decryptOpenedWith(fh: FileHandle, input: string, output: string, k: Buffer): Promise<FileResult> {
  const info = await fh.stat().catch((e: unknown) => ioError(e, input));
  if (!info.isFile()) throw new ModelFormatError('ERR_MODEL_IO', `${input} is not a regular file`, { details: { path: input } });
  const head = await readAt(fh, 0, HEADER_SIZE + IV_LENGTH).catch((e: unknown) => ioError(e, input));
  const h = parseHeader(head, info.size);
  if (head.length < HEADER_SIZE + h.ivLength) throw new ModelFormatError('ERR_MODEL_TRUNCATED', 'container ends inside its IV');
  const iv = head.subarray(HEADER_SIZE, HEADER_SIZE + h.ivLength);
  const ctStart = HEADER_SIZE + h.ivLength;
  const ctEnd = info.size - h.tagLength; // exclusive
  const tag = await readAt(fh, ctEnd, h.tagLength).catch((e: unknown) => ioError(e, input));
  // The file may have shrunk since fstat (the host writes it): a short tag read is a truncation, not a TypeError in setAuthTag.
  if (tag.length !== h.tagLength) throw new ModelFormatError('ERR_MODEL_TRUNCATED', 'container shrank while it was read (short tag)', { details: { path: input } });
  const decipher = createDecipheriv(cipherFor(k), k, iv, { authTagLength: h.tagLength });
  decipher.setAuthTag(tag);
  const size = ctEnd - ctStart;
  // 0600 from creation on (the umask can only narrow it), so no other user reads plaintext at any point.
  await withTempOutput(output, PRIVATE_FILE_MODE, async (tmp) => {
    const source = size === 0 ? [Buffer.alloc(0)] : rangeOf(fh, ctStart, ctEnd);
    try {
      await pipeline(source, decipher, streamTo(tmp));
    } catch (error) {
      if (!isModelError(error) && /unable to authenticate|auth/i.test((error as Error)?.message ?? '')) {
        throw new ModelFormatError('ERR_MODEL_AUTH_FAILED', `GCM tag of ${input} does not verify: wrong key, modified or truncated file`, { cause: error, details: { path: input } });
      }
      ioError(error, input);
    }
  });
  return { input, output, size };
}
