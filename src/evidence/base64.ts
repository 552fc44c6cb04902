/**
 * Strict RFC 4648 base64: one alphabet per input (standard `+/` or URL-safe
 * `-_`, §4 / §5), padding either absent or complete, and canonical (the
 * unused bits of the last character are zero, so exactly one text encodes
 * given bytes). Buffer.from alone would skip foreign characters and accept
 * any of those variants. No whitespace handling here: callers decide where
 * line breaks may appear and pass the text without them.
 */

export type Base64Alphabet = 'base64' | 'base64url';

/** Why a text is not strict base64; stable values, used in error details. */
export type Base64Rejection = 'alphabet' | 'mixed-alphabet' | 'padding' | 'length' | 'non-canonical';

export type StrictBase64Result =
  | { ok: true; bytes: Uint8Array; alphabet: Base64Alphabet }
  | { ok: false; reason: Base64Rejection };

const SHAPE = /^([A-Za-z0-9+/_-]*)(={0,2})$/;
const STANDARD_ONLY = /[+/]/;
const URL_SAFE_ONLY = /[-_]/;

export function decodeStrictBase64(text: string): StrictBase64Result {
  const shape = SHAPE.exec(text);
  if (shape === null) return { ok: false, reason: text.includes('=') && /^[A-Za-z0-9+/_=-]*$/.test(text) ? 'padding' : 'alphabet' };
  const data = shape[1] ?? '';
  const padding = shape[2] ?? '';
  if (STANDARD_ONLY.test(data) && URL_SAFE_ONLY.test(data)) return { ok: false, reason: 'mixed-alphabet' };
  // Padding, when present, completes the last quantum exactly (no "BAACA=").
  if (padding.length > 0 && text.length % 4 !== 0) return { ok: false, reason: 'padding' };
  if (data.length === 0 || data.length % 4 === 1) return { ok: false, reason: 'length' };
  const alphabet: Base64Alphabet = URL_SAFE_ONLY.test(data) ? 'base64url' : 'base64';
  const bytes = Buffer.from(data, alphabet);
  if (bytes.toString(alphabet).replace(/=+$/, '') !== data) return { ok: false, reason: 'non-canonical' };
  return { ok: true, bytes: new Uint8Array(bytes), alphabet }; // a copy: never a view of Buffer's shared pool
}
