/**
 * `--shard i/n`: many machines split one archive without talking to each
 * other. A record belongs to shard `SHA-256(id) mod n` (the first 6 bytes of
 * the digest as an unsigned integer), so the split depends only on the record
 * ids: every machine reads the whole input, keeps its own records, and the n
 * shards cover every record exactly once whatever the order or the machine.
 */
import { createHash } from 'node:crypto';

export interface Shard {
  /** 0-based. */
  index: number;
  count: number;
}

export const WHOLE: Shard = Object.freeze({ index: 0, count: 1 });

/** Parses "i/n" with 0 <= i < n; returns undefined when malformed. */
export function parseShard(text: string): Shard | undefined {
  const m = /^(\d{1,6})\/(\d{1,6})$/.exec(text);
  if (!m) return undefined;
  const index = Number(m[1]);
  const count = Number(m[2]);
  if (count < 1 || index >= count) return undefined;
  return { index, count };
}

/** The shard of a record id among `count`. */
export function shardOf(id: string, count: number): number {
  if (count === 1) return 0;
  const digest = createHash('sha256').update(id, 'utf8').digest();
  return digest.readUIntBE(0, 6) % count;
}

export function inShard(id: string, shard: Shard): boolean {
  return shard.count === 1 || shardOf(id, shard.count) === shard.index;
}

export const formatShard = (s: Shard): string => `${s.index}/${s.count}`;
