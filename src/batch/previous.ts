/**
 * The statuses of a previous results file, by record id, for `--previous`:
 * an open-addressing table on typed arrays keyed by the keyed 64-bit hash of
 * the id (id-key.ts; review s12 #3 / #7: ids chosen offline can neither
 * crowd one cluster of slots nor share a key with another id to hide its
 * change), about 22 bytes per record at most, so a million previous records
 * take ~22 MB instead of a Map of strings. Two ids share a key with
 * probability ~n²/2^65 (3e-8 for a million records).
 *
 * fnv1a / murmurish stay for selection.ts, whose id set must agree across
 * processes (it is in the checkpoint's fingerprint; a sorted array with
 * binary search, so no clustering).
 */
import { idKey } from './id-key.js';
import { fileBlocks, splitLines } from './records.js';
import { statusOf, type ResultRecord } from './result.js';

export function fnv1a(s: string): number {
  let h = 0x811c9dc5;
  for (let i = 0; i < s.length; i++) {
    h ^= s.charCodeAt(i);
    h = Math.imul(h, 0x01000193);
  }
  return h >>> 0;
}

export function murmurish(s: string): number {
  let h = 0x9747b28c ^ s.length;
  for (let i = 0; i < s.length; i++) {
    let k = Math.imul(s.charCodeAt(i), 0xcc9e2d51);
    k = (k << 15) | (k >>> 17);
    h ^= Math.imul(k, 0x1b873593);
    h = (h << 13) | (h >>> 19);
    h = (Math.imul(h, 5) + 0xe6546b64) | 0;
  }
  h ^= h >>> 16;
  h = Math.imul(h, 0x85ebca6b);
  h ^= h >>> 13;
  h = Math.imul(h, 0xc2b2ae35);
  return (h ^ (h >>> 16)) >>> 0;
}

export interface PreviousStatus {
  status: string;
  ok: boolean;
}

const OK = 1;
const SEEN = 2;

export class StatusTable {
  #hi = new Uint32Array(1024);
  #lo = new Uint32Array(1024);
  /** Interned status index + 1; 0 marks an empty slot. */
  #value = new Uint16Array(1024);
  #flags = new Uint8Array(1024);
  readonly #statuses: string[] = [];
  readonly #statusIndex = new Map<string, number>();
  #size = 0;

  /** Slots examined by lookups (growth included): about one per id unless keys cluster. */
  probes = 0;

  get size(): number {
    return this.#size;
  }

  #slot(hi: number, lo: number): number {
    const mask = this.#value.length - 1;
    let i = (hi ^ Math.imul(lo, 0x9e3779b1)) & mask;
    this.probes++;
    while (this.#value[i] !== 0 && (this.#hi[i] !== hi || this.#lo[i] !== lo)) {
      i = (i + 1) & mask;
      this.probes++;
    }
    return i;
  }

  #grow(): void {
    const [hi, lo, value, flags] = [this.#hi, this.#lo, this.#value, this.#flags];
    const n = value.length * 2;
    this.#hi = new Uint32Array(n);
    this.#lo = new Uint32Array(n);
    this.#value = new Uint16Array(n);
    this.#flags = new Uint8Array(n);
    for (let i = 0; i < value.length; i++) {
      if (value[i] === 0) continue;
      const j = this.#slot(hi[i] as number, lo[i] as number);
      this.#hi[j] = hi[i] as number;
      this.#lo[j] = lo[i] as number;
      this.#value[j] = value[i] as number;
      this.#flags[j] = flags[i] as number;
    }
  }

  /** Records the status of `id`; a later entry for the same id replaces the earlier one (then: true). */
  set(id: string, status: string, ok: boolean): boolean {
    if ((this.#size + 1) * 2 > this.#value.length) this.#grow();
    let index = this.#statusIndex.get(status);
    if (index === undefined) {
      if (this.#statuses.length >= 0xfffe) throw new RangeError('too many distinct statuses in the previous results');
      index = this.#statuses.push(status) - 1;
      this.#statusIndex.set(status, index);
    }
    const [hi, lo] = idKey(id);
    const i = this.#slot(hi, lo);
    const replaced = this.#value[i] !== 0;
    if (!replaced) this.#size++;
    this.#hi[i] = hi;
    this.#lo[i] = lo;
    this.#value[i] = index + 1;
    this.#flags[i] = ok ? OK : 0;
    return replaced;
  }

  /** The previous status of `id`, marking it seen. */
  take(id: string): PreviousStatus | undefined {
    const i = this.#slot(...idKey(id));
    const v = this.#value[i] as number;
    if (v === 0) return undefined;
    this.#flags[i] = (this.#flags[i] as number) | SEEN;
    return { status: this.#statuses[v - 1] as string, ok: ((this.#flags[i] as number) & OK) !== 0 };
  }

  /** Previous records never taken: absent from this run. */
  unseen(): number {
    let n = 0;
    for (let i = 0; i < this.#value.length; i++) if (this.#value[i] !== 0 && ((this.#flags[i] as number) & SEEN) === 0) n++;
    return n;
  }
}

/**
 * Reads every result line of `path` into a table; lines that are not results are skipped and
 * counted, and so are lines repeating an earlier id (the last one's status is compared).
 */
export async function loadPrevious(path: string, maxLineBytes: number): Promise<{ table: StatusTable; skipped: number; duplicates: number }> {
  const table = new StatusTable();
  let skipped = 0;
  let duplicates = 0;
  for await (const line of splitLines(fileBlocks(path, 0), { maxLineBytes })) {
    try {
      const r = JSON.parse(Buffer.from(line.bytes.buffer, line.bytes.byteOffset, line.bytes.byteLength).toString('utf8')) as ResultRecord;
      if (typeof r.id !== 'string' || typeof r.ok !== 'boolean') throw new Error('not a result');
      if (table.set(r.id, statusOf(r), r.ok)) duplicates++;
    } catch {
      skipped++;
    }
  }
  return { table, skipped, duplicates };
}
