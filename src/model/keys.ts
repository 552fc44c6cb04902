import { randomBytes } from 'node:crypto';
import { KEY_LENGTH } from './container.js';
import { ModelFormatError } from './errors.js';

/** A fresh AES-256 model key as standard base64 (what crypto.py's `-k` takes). */
export function generateModelKey(): string {
  return randomBytes(KEY_LENGTH).toString('base64');
}

/** Decodes a base64 model key (strict: standard alphabet, 32 bytes). Bytes pass through after a length check. */
export function decodeModelKey(key: string | Uint8Array): Buffer {
  if (key instanceof Uint8Array) {
    if (key.length !== KEY_LENGTH) throw new ModelFormatError('ERR_MODEL_KEY', `model key must be ${KEY_LENGTH} bytes`, { details: { length: key.length } });
    return Buffer.from(key);
  }
  const text = String(key).trim();
  if (!/^[A-Za-z0-9+/]+={0,2}$/.test(text) || text.length % 4 !== 0) {
    throw new ModelFormatError('ERR_MODEL_KEY', 'model key is not standard base64');
  }
  const bytes = Buffer.from(text, 'base64');
  if (bytes.length !== KEY_LENGTH) {
    throw new ModelFormatError('ERR_MODEL_KEY', `model key decodes to ${bytes.length} bytes, expected ${KEY_LENGTH}`, { details: { length: bytes.length } });
  }
  return bytes;
}
