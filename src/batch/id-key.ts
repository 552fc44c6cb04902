/**
 * The 64-bit key of a record id in the main thread's hash tables
 * (DuplicateIds, StatusTable): the first 8 bytes of SHA-256(key ‖ id) under a
 * random key drawn once per process (review s12 #3, #7). Ids are archive
 * content: with an unkeyed hash, ids chosen offline could share a cluster of
 * slots (quadratic probing on every run, resume and --previous) or a whole
 * key (one id's previous status hiding another's change). Nobody who writes
 * ids knows this key, so neither can be aimed; distinct ids share a key with
 * probability ~n²/2^65. About 1.3 µs per id (1.3 s per million per pass).
 *
 * Not for anything that must agree across processes (shards, the
 * --only-unavailable id set in the checkpoint's fingerprint): those use
 * their own deterministic hashes (shard.ts, selection.ts).
 */
import { createHash, randomBytes } from 'node:crypto';

const KEY = randomBytes(32);

/**
 * [hi, lo]: two unsigned 32-bit words of the keyed digest of `id`'s UTF-16 code units. Not its
 * UTF-8 bytes: that encoding maps every lone surrogate (and U+FFFD) to EF BF BD, so `"a\ud800"` and
 * `"a\ud801"` shared one key (s15 batch #3). Records with such ids are refused (verify-record.ts),
 * but --previous and --only-unavailable files of earlier runs may still hold them.
 */
export function idKey(id: string): [number, number] {
  const d = createHash('sha256').update(KEY).update(id, 'utf16le').digest();
  return [d.readUInt32LE(0), d.readUInt32LE(4)];
}
