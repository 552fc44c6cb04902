/**
 * `tee-kbs admin key create|rotate --key-file F`: the key material a file holds. Two forms, decided
 * without guessing (review s7d: the file `tee-model keygen -o` writes, base64 text and a newline, was
 * base64-encoded a second time and refused as "key_data holds 360 bits"):
 *
 * 1. base64 text: the file, less one final "\n" or "\r\n", is standard padded base64 of 16, 24 or 32
 *    bytes (what `tee-model keygen` writes, what crypto.py's `-k` takes);
 * 2. otherwise raw bytes: the file is exactly 16, 24 or 32 bytes.
 *
 * Anything else is refused. Base64 text is tried first; a raw key that is also such text would need
 * 22 of its bytes in the base64 alphabet and its padding in place (odds below 2^-60).
 */
import { readFileSync } from 'node:fs';

const KEY_BYTES = [16, 24, 32];
const BASE64 = /^[A-Za-z0-9+/]+={0,2}$/;

/** The key's bytes and how the file held them; throws (usage error) for anything but the two forms. */
export function parseKeyFile(bytes: Buffer, name = 'the key file'): { material: Buffer; form: 'base64' | 'raw' } {
  let end = bytes.length;
  if (end > 0 && bytes[end - 1] === 0x0a) end -= end > 1 && bytes[end - 2] === 0x0d ? 2 : 1;
  const text = bytes.subarray(0, end).toString('latin1');
  if (BASE64.test(text) && text.length % 4 === 0) {
    const decoded = Buffer.from(text, 'base64');
    if (KEY_BYTES.includes(decoded.length)) return { material: decoded, form: 'base64' };
  }
  if (KEY_BYTES.includes(bytes.length)) return { material: Buffer.from(bytes), form: 'raw' };
  throw new Error(
    `--key-file: ${name} holds neither base64 text of a 16, 24 or 32-byte key (one line, as tee-model keygen writes) nor exactly 16, 24 or 32 raw bytes (it has ${bytes.length} bytes)`,
  );
}

/** key_information for the admin API from a key file: AES of the file's key length. */
export function keyInformationOf(file: string): { algorithm: 'AES'; key_length: number; key_data: string } {
  const { material } = parseKeyFile(readFileSync(file), file);
  try {
    return { algorithm: 'AES', key_length: material.length * 8, key_data: material.toString('base64') };
  } finally {
    material.fill(0);
  }
}
