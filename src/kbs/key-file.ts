/**
 * `tee-kbs admin key create|rotate --key-file F`: the key material a file holds. Two forms, decided
 * without guessing (review s7d: the file `tee-model keygen -o` writes, base64 text and a newline, was
 * base64-encoded a second time and refused as "key_data holds 360 bits"):
 *
 * 1. base64 text: the file, less whitespace at both ends (as `tee-model --key-file` reads it), is
 *    standard padded base64 of 16, 24 or 32 bytes (what `tee-model keygen` writes, what crypto.py's
 *    `-k` takes);
 * 2. otherwise raw bytes: the file is exactly 16, 24 or 32 bytes and not all printable ASCII or
 *    whitespace. Text of that length (base64 of a shorter key padded with spaces or blank lines, a
 *    passphrase) is refused: tee-model would read such a file as another key, or none, and the broker
 *    would release a key the model was not encrypted with (odds that random key bytes are all
 *    printable: about 1e-7 for 16 bytes, 1e-14 for 32).
 *
 * Anything else is refused.
 */
import { keyFileText, readKeyFileBytes } from '../model/key-file.js';

const KEY_BYTES = [16, 24, 32];
const BASE64 = /^[A-Za-z0-9+/]+={0,2}$/;
/** Printable ASCII or whitespace: what a text file holds. */
const isTextByte = (b: number): boolean => (b >= 0x20 && b <= 0x7e) || b === 0x09 || b === 0x0a || b === 0x0d;

/** The key's bytes and how the file held them; throws (usage error) for anything but the two forms. */
export function parseKeyFile(bytes: Buffer, name = 'the key file'): { material: Buffer; form: 'base64' | 'raw' } {
  const text = keyFileText(bytes);
  if (BASE64.test(text) && text.length % 4 === 0) {
    const decoded = Buffer.from(text, 'base64');
    if (KEY_BYTES.includes(decoded.length)) return { material: decoded, form: 'base64' };
  }
  if (KEY_BYTES.includes(bytes.length) && !bytes.every(isTextByte)) return { material: Buffer.from(bytes), form: 'raw' };
  throw new Error(
    `--key-file: ${name} holds neither base64 text of a 16, 24 or 32-byte key (as tee-model keygen writes) nor exactly 16, 24 or 32 raw bytes (it has ${bytes.length} bytes${KEY_BYTES.includes(bytes.length) ? ', all of them text: tee-model would not read it as this key' : ''})`,
  );
}

/**
 * key_information for the admin API from a key file: AES of the file's key length. The file is read
 * under `tee-model --key-file`'s rules (review s14: a plain read followed a link and took any mode or
 * owner): no symbolic link, a regular file or an inherited descriptor (`/dev/stdin`, `/dev/fd/N`),
 * no group or other access except group read on a root-owned file, owned by this user or root,
 * at most 4 KiB. Every refusal is a usage error naming --key-file.
 */
export async function keyInformationOf(file: string): Promise<{ algorithm: 'AES'; key_length: number; key_data: string }> {
  let bytes: Buffer;
  try {
    bytes = await readKeyFileBytes(file);
  } catch (e) {
    throw new Error(`--key-file: ${(e as Error).message}`);
  }
  let material: Buffer;
  try {
    ({ material } = parseKeyFile(bytes, file));
  } finally {
    bytes.fill(0);
  }
  try {
    return { algorithm: 'AES', key_length: material.length * 8, key_data: material.toString('base64') };
  } finally {
    material.fill(0);
  }
}
