import { randomBytes } from 'node:crypto';
import { KEY_LENGTH, isModelKeyLength } from './container.js';
import { ModelFormatError } from './errors.js';

/** A fresh AES-256 model key as standard base64 (what crypto.py's `-k` takes). */
export function generateModelKey(): string {
  return randomBytes(KEY_LENGTH).toString('base64');
}

const SIZES = '16, 24 or 32 bytes (AES-128, -192 or -256)';

/**
 * Decodes a base64 model key (strict: standard alphabet, padded). Any AES key
 * size is accepted, as by the upstream readers (protocols.md §1.3) and our
 * broker (key_length 128/192/256); we generate 32 bytes. Bytes pass through
 * after the length check.
 */
export function decodeModelKey(key: string | Uint8Array): Buffer {
  if (key instanceof Uint8Array) {
    if (!isModelKeyLength(key.length)) throw new ModelFormatError('ERR_MODEL_KEY', `model key must be ${SIZES}, not ${key.length}`, { details: { length: key.length } });
    return Buffer.from(key);
  }
  // ASCII white space only, as key files are read (src/model/key-file.ts keyFileText): a BOM or an NBSP is not base64.
  const text = String(key).replace(/^[\t\n\v\f\r ]+|[\t\n\v\f\r ]+$/g, '');
  if (!/^[A-Za-z0-9+/]+={0,2}$/.test(text) || text.length % 4 !== 0) {
    throw new ModelFormatError('ERR_MODEL_KEY', 'model key is not standard base64');
  }
  const bytes = Buffer.from(text, 'base64');
  if (!isModelKeyLength(bytes.length)) {
    throw new ModelFormatError('ERR_MODEL_KEY', `model key decodes to ${bytes.length} bytes, expected ${SIZES}`, { details: { length: bytes.length } });
  }
  return bytes;
}
