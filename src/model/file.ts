/**
 * Streaming encryption and decryption of one model file in constant memory.
 * Both write to a temporary file beside the destination and rename it into
 * place only when everything succeeded: for decryption, only after the GCM
 * tag has verified, so no unauthenticated plaintext is ever left at the
 * output path.
 */
import { createCipheriv, createDecipheriv, randomBytes } from 'node:crypto';
import { createReadStream, createWriteStream } from 'node:fs';
import { open, rename, rm, stat } from 'node:fs/promises';
import { basename, dirname, join } from 'node:path';
import { pipeline } from 'node:stream/promises';
import { HEADER_SIZE, cipherFor, IV_LENGTH, TAG_LENGTH, checkPlaintextSize, encodeHeader, parseHeader } from './container.js';
import { ModelFormatError, isModelError } from './errors.js';
import { decodeModelKey } from './keys.js';

export interface FileResult {
  input: string;
  output: string;
  /** Plaintext size in bytes. */
  size: number;
}

const HIGH_WATER_MARK = 256 * 1024;
/** Plaintext (decrypted) files, including their temporary files: owner only. */
export const PRIVATE_FILE_MODE = 0o600;
/** Directories the loader creates for plaintext. */
export const PRIVATE_DIR_MODE = 0o700;

function tempPathFor(output: string): string {
  return join(dirname(output), `.${basename(output)}.${process.pid}.${randomBytes(6).toString('hex')}.part`);
}

async function withTempOutput<T>(output: string, work: (tmp: string) => Promise<T>): Promise<T> {
  const tmp = tempPathFor(output);
  try {
    const result = await work(tmp);
    await rename(tmp, output);
    return result;
  } catch (error) {
    await rm(tmp, { force: true });
    throw error;
  }
}

async function syncFile(path: string): Promise<void> {
  const fh = await open(path, 'r+');
  try {
    await fh.sync();
  } finally {
    await fh.close();
  }
}

function ioError(error: unknown, path: string): never {
  if (isModelError(error)) throw error;
  throw new ModelFormatError('ERR_MODEL_IO', `I/O error on ${path}: ${(error as Error)?.message ?? String(error)}`, { cause: error, details: { path } });
}

/** Encrypts `input` into the container at `output` (AES-GCM with the key's size, random 96-bit IV). */
export async function encryptFile(input: string, output: string, key: string | Uint8Array): Promise<FileResult> {
  const k = decodeModelKey(key);
  const info = await stat(input).catch((e: unknown) => ioError(e, input));
  checkPlaintextSize(info.size);
  const iv = randomBytes(IV_LENGTH);
  const header = encodeHeader(info.size, iv);
  const cipher = createCipheriv(cipherFor(k), k, iv, { authTagLength: TAG_LENGTH });
  let seen = 0;
  await withTempOutput(output, async (tmp) => {
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
      createWriteStream(tmp, { flags: 'wx' }),
    ).catch((e: unknown) => ioError(e, input));
    if (seen !== info.size) {
      throw new ModelFormatError('ERR_MODEL_IO', `${input} changed size while it was encrypted (${info.size} → ${seen} bytes)`, { details: { path: input } });
    }
    await syncFile(tmp);
  });
  return { input, output, size: info.size };
}

async function readAt(path: string, position: number, length: number): Promise<Buffer> {
  const fh = await open(path, 'r');
  try {
    const buf = Buffer.alloc(length);
    const { bytesRead } = await fh.read(buf, 0, length, position);
    return buf.subarray(0, bytesRead);
  } finally {
    await fh.close();
  }
}

/**
 * Decrypts the container at `input` to `output` (mode 0600). The output
 * appears only if the tag verifies; on any failure no file is left at
 * `output` (an existing file there is left untouched).
 */
export async function decryptFile(input: string, output: string, key: string | Uint8Array): Promise<FileResult> {
  const k = decodeModelKey(key);
  const info = await stat(input).catch((e: unknown) => ioError(e, input));
  const head = await readAt(input, 0, HEADER_SIZE + IV_LENGTH).catch((e: unknown) => ioError(e, input));
  const h = parseHeader(head, info.size);
  if (head.length < HEADER_SIZE + h.ivLength) throw new ModelFormatError('ERR_MODEL_TRUNCATED', 'container ends inside its IV');
  const iv = head.subarray(HEADER_SIZE, HEADER_SIZE + h.ivLength);
  const ctStart = HEADER_SIZE + h.ivLength;
  const ctEnd = info.size - h.tagLength; // exclusive
  const tag = await readAt(input, ctEnd, h.tagLength).catch((e: unknown) => ioError(e, input));
  const decipher = createDecipheriv(cipherFor(k), k, iv, { authTagLength: h.tagLength });
  decipher.setAuthTag(tag);
  const size = ctEnd - ctStart;
  await withTempOutput(output, async (tmp) => {
    const source = size === 0 ? [Buffer.alloc(0)] : createReadStream(input, { start: ctStart, end: ctEnd - 1, highWaterMark: HIGH_WATER_MARK });
    try {
      // 0600 from creation on (the umask can only narrow it), so no other user reads plaintext at any point.
      await pipeline(source, decipher, createWriteStream(tmp, { flags: 'wx', mode: PRIVATE_FILE_MODE }));
    } catch (error) {
      if (!isModelError(error) && /unable to authenticate|auth/i.test((error as Error)?.message ?? '')) {
        throw new ModelFormatError('ERR_MODEL_AUTH_FAILED', `GCM tag of ${input} does not verify: wrong key, modified or truncated file`, { cause: error, details: { path: input } });
      }
      ioError(error, input);
    }
    await syncFile(tmp);
  });
  return { input, output, size };
}
