/**
 * Whether the caller's parse ran in "dangerouslyLenient" trailing mode, read
 * from the warning parseEvidence records then (src/evidence/index.ts). Only
 * that mode lets the bytes carry non-zero trailing bytes (unsigned, never
 * read); an object with such bytes and no such warning fails on the bytes.
 * Whether any non-zero byte was in fact ignored is decided by the verifier's
 * own framing, never by a field of the caller's object (T49, S33).
 */
export const LENIENT_MARK = 'dangerouslyLenient: ignored';

export function recordedLenient(warnings: unknown): boolean {
  return Array.isArray(warnings) && warnings.some((w) => typeof w === 'string' && w.startsWith(LENIENT_MARK));
}
