/**
 * Which records of the input a run verifies: those of its shard (shard.ts)
 * and, with `--only-unavailable <results>`, only those whose outcome in that
 * earlier results file was "unavailable" (collateral could not be had). Both
 * depend only on the record id, so the main thread (resume checks) and every
 * worker decide alike.
 *
 * The id set is two sorted arrays of 32-bit hashes (the 64-bit key of
 * previous.ts), so it crosses to the workers as plain typed arrays and costs
 * 8 bytes per id; two ids share a key with probability ~n²/2^65.
 */
import { createHash, type Hash } from 'node:crypto';

import { fnv1a, murmurish } from './previous.js';
import { fileBlocks, splitLines } from './records.js';
import { outcomeOf, type ResultRecord } from './result.js';
import { inShard, WHOLE, type Shard } from './shard.js';

/** Plain data (structured-clone safe): sorted by (hi, lo). */
export interface IdSet {
  hi: Uint32Array;
  lo: Uint32Array;
}

export interface Selection {
  shard: Shard;
  /** Only these ids (`--only-unavailable`); every id when absent. */
  only?: IdSet;
}

export const WHOLE_INPUT: Selection = { shard: WHOLE };

/** Whether some input records have no result line by design (a shard, a retry list). */
export const isPartial = (s: Selection): boolean => s.shard.count > 1 || s.only !== undefined;

function hasId(set: IdSet, id: string): boolean {
  const hi = fnv1a(id);
  const lo = murmurish(id);
  let a = 0;
  let b = set.hi.length;
  while (a < b) {
    const m = (a + b) >>> 1;
    const h = set.hi[m] as number;
    const l = set.lo[m] as number;
    if (h < hi || (h === hi && l < lo)) a = m + 1;
    else b = m;
  }
  return a < set.hi.length && set.hi[a] === hi && set.lo[a] === lo;
}

export function selects(s: Selection, id: string): boolean {
  return inShard(id, s.shard) && (s.only === undefined || hasId(s.only, id));
}

/** What a selection is, for the checkpoint's options: a resume must select the same records. */
export function describeSelection(s: Selection): Record<string, unknown> {
  if (!s.only) return {};
  const h = createHash('sha256');
  h.update(Buffer.from(s.only.hi.buffer, s.only.hi.byteOffset, s.only.hi.byteLength));
  h.update(Buffer.from(s.only.lo.buffer, s.only.lo.byteOffset, s.only.lo.byteLength));
  return { onlyIds: { count: s.only.hi.length, sha256: h.digest('hex') } };
}

/** The ids whose result in `path` has the outcome "unavailable"; unreadable lines are skipped. */
export async function unavailableIds(path: string, maxLineBytes: number): Promise<IdSet> {
  const keys: [number, number][] = [];
  for await (const line of splitLines(fileBlocks(path, 0), { maxLineBytes })) {
    let r: ResultRecord;
    try {
      r = JSON.parse(Buffer.from(line.bytes.buffer, line.bytes.byteOffset, line.bytes.byteLength).toString('utf8')) as ResultRecord;
    } catch {
      continue;
    }
    if (typeof r?.id !== 'string' || typeof r.ok !== 'boolean') continue;
    if (outcomeOf(r) === 'unavailable') keys.push([fnv1a(r.id), murmurish(r.id)]);
  }
  keys.sort((x, y) => x[0] - y[0] || x[1] - y[1]);
  const unique = keys.filter((k, i) => i === 0 || k[0] !== keys[i - 1]![0] || k[1] !== keys[i - 1]![1]);
  return { hi: Uint32Array.from(unique, (k) => k[0]), lo: Uint32Array.from(unique, (k) => k[1]) };
}

/**
 * A digest of ids in order: the kept result lines' ids on one side, the
 * selected input records' ids on the other (a resume check).
 */
export class IdSequence {
  readonly #hash: Hash = createHash('sha256');
  #count = 0;
  add(id: string): void {
    this.#hash.update(`${JSON.stringify(id)}\n`);
    this.#count++;
  }
  get count(): number {
    return this.#count;
  }
  digest(): string {
    return this.#hash.copy().digest('hex');
  }
}
