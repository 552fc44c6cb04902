/** Fingerprints: pins compare the SHA-256 of the exact DER (checklist §2.3, §4.3). */
import { createHash } from 'node:crypto';

/** Lowercase hex SHA-256 of `bytes`. */
export function sha256Hex(bytes: Uint8Array): string {
  return createHash('sha256').update(bytes).digest('hex');
}
