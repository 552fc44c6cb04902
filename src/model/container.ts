/**
 * The confidential-ai-loader / CNAP "12-byte header" container
 * (protocols.md §1.3), used for model files and for the key broker's
 * `wrapped_key`:
 *
 *   offset 0  u32 LE iv_len   (12)
 *   offset 4  u32 LE tag_len  (16)
 *   offset 8  u32 LE data_len (ciphertext length + tag_len)
 *   offset 12 IV (iv_len bytes)
 *   then      AES-GCM ciphertext, no AAD (AES-128, -192 or -256: the key's
 *             length decides; nothing in the container names it, §1.3)
 *   last      tag (tag_len bytes)
 *
 * Upstream readers ignore data_len; we check it (a truncated or extended file
 * is reported before any decryption). data_len is 32 bits, so a container
 * holds at most 2^32 - 1 - 16 plaintext bytes; larger inputs are rejected
 * (ERR_MODEL_TOO_LARGE) rather than written with a wrapped length.
 */
import { createCipheriv, createDecipheriv, randomBytes } from 'node:crypto';
import { ModelFormatError } from './errors.js';

export const HEADER_SIZE = 12;
export const IV_LENGTH = 12;
export const TAG_LENGTH = 16;
/** data_len is a u32: the largest ciphertext+tag it can describe. */
export const MAX_DATA_LEN = 0xffff_ffff;
/** Largest plaintext a container can hold (4 GiB - 1 - tag). */
export const MAX_PLAINTEXT_SIZE = MAX_DATA_LEN - TAG_LENGTH;
/** The key length we generate (AES-256). */
export const KEY_LENGTH = 32;
/** Key lengths a container may be sealed or opened with: AES-128, -192, -256 (protocols.md §1.3). */
export const KEY_LENGTHS: readonly number[] = [16, 24, 32];

export function isModelKeyLength(length: number): boolean {
  return KEY_LENGTHS.includes(length);
}

/** The node:crypto cipher for a checked key. */
export function cipherFor(key: Uint8Array): 'aes-128-gcm' | 'aes-192-gcm' | 'aes-256-gcm' {
  checkKey(key);
  return key.length === 16 ? 'aes-128-gcm' : key.length === 24 ? 'aes-192-gcm' : 'aes-256-gcm';
}

export interface ContainerHeader {
  ivLength: number;
  tagLength: number;
  dataLength: number;
}

export function encodeHeader(plaintextSize: number, iv: Uint8Array): Buffer {
  checkPlaintextSize(plaintextSize);
  const out = Buffer.alloc(HEADER_SIZE + iv.length);
  out.writeUInt32LE(iv.length, 0);
  out.writeUInt32LE(TAG_LENGTH, 4);
  out.writeUInt32LE(plaintextSize + TAG_LENGTH, 8);
  out.set(iv, HEADER_SIZE);
  return out;
}

export function checkPlaintextSize(size: number): void {
  if (size > MAX_PLAINTEXT_SIZE) {
    throw new ModelFormatError('ERR_MODEL_TOO_LARGE', `input of ${size} bytes is too large for the container: its 32-bit data_len allows at most ${MAX_PLAINTEXT_SIZE} bytes (4 GiB - 17); split the file`, {
      details: { size, max: MAX_PLAINTEXT_SIZE },
    });
  }
}

/**
 * Parses the fixed header and checks it against the container's total size.
 * Only iv_len 12 and tag_len 16 are accepted: every known writer uses them.
 */
export function parseHeader(head: Uint8Array, totalSize: number): ContainerHeader {
  if (totalSize < HEADER_SIZE || head.length < HEADER_SIZE) {
    throw new ModelFormatError('ERR_MODEL_TRUNCATED', `container of ${totalSize} bytes is shorter than its ${HEADER_SIZE}-byte header`, { details: { size: totalSize } });
  }
  const view = Buffer.from(head.buffer, head.byteOffset, head.byteLength);
  const ivLength = view.readUInt32LE(0);
  const tagLength = view.readUInt32LE(4);
  const dataLength = view.readUInt32LE(8);
  if (ivLength !== IV_LENGTH || tagLength !== TAG_LENGTH) {
    // The values are not echoed: this may be any file (a link planted by the
    // host), and its first bytes would leak through the message.
    throw new ModelFormatError('ERR_MODEL_UNSUPPORTED', `not a container: the header does not hold iv_len ${IV_LENGTH} and tag_len ${TAG_LENGTH}`, {
      details: { reason: 'not-a-container' },
    });
  }
  const body = totalSize - HEADER_SIZE - ivLength;
  if (body < tagLength) {
    throw new ModelFormatError('ERR_MODEL_TRUNCATED', `container of ${totalSize} bytes has no room for IV and tag`, { details: { size: totalSize } });
  }
  if (body > MAX_DATA_LEN) {
    throw new ModelFormatError('ERR_MODEL_TOO_LARGE', `container body of ${body} bytes exceeds what the 32-bit data_len can describe (4 GiB - 1)`, {
      details: { size: totalSize, max: MAX_DATA_LEN },
    });
  }
  if (dataLength !== body) {
    const code = dataLength > body ? 'ERR_MODEL_TRUNCATED' : 'ERR_MODEL_LENGTH_MISMATCH';
    throw new ModelFormatError(code, `data_len says ${dataLength} bytes of ciphertext+tag, the container holds ${body}`, {
      details: { dataLength, actual: body },
    });
  }
  return { ivLength, tagLength, dataLength };
}

export function checkKey(key: Uint8Array): void {
  if (!(key instanceof Uint8Array) || !isModelKeyLength(key.length)) {
    throw new ModelFormatError('ERR_MODEL_KEY', `model key must be 16, 24 or 32 bytes (AES-128, -192 or -256), not ${key?.length}`, { details: { length: key?.length } });
  }
}

/** Seals a small buffer in one piece (the key broker's wrapped_key; tests). */
export function sealBuffer(key: Uint8Array, plaintext: Uint8Array, iv: Uint8Array = randomBytes(IV_LENGTH)): Buffer {
  const cipher = createCipheriv(cipherFor(key), key, iv, { authTagLength: TAG_LENGTH });
  const ct = Buffer.concat([cipher.update(plaintext), cipher.final()]);
  return Buffer.concat([encodeHeader(plaintext.length, iv), ct, cipher.getAuthTag()]);
}

/** Opens a container held in memory; throws ERR_MODEL_AUTH_FAILED on a bad tag or wrong key. */
export function openBuffer(key: Uint8Array, container: Uint8Array): Buffer {
  const algorithm = cipherFor(key);
  const h = parseHeader(container, container.length);
  const iv = container.subarray(HEADER_SIZE, HEADER_SIZE + h.ivLength);
  const ctEnd = container.length - h.tagLength;
  const decipher = createDecipheriv(algorithm, key, iv, { authTagLength: h.tagLength });
  decipher.setAuthTag(container.subarray(ctEnd));
  const pt = decipher.update(container.subarray(HEADER_SIZE + h.ivLength, ctEnd));
  try {
    return Buffer.concat([pt, decipher.final()]);
  } catch (cause) {
    throw new ModelFormatError('ERR_MODEL_AUTH_FAILED', 'GCM tag does not verify: wrong key or modified container', { cause });
  }
}
