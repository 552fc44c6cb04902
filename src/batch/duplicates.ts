/**
 * Record ids seen more than once in a run's results (review s8). A batch
 * keeps every record's result, duplicates included (each line is what its
 * record gave), but `--previous` and `--only-unavailable` join by id, so the
 * summary reports how many result lines repeat an earlier id.
 *
 * The set keys ids by their keyed 64-bit hash (id-key.ts: a random key per
 * process, so chosen ids can neither crowd one cluster of slots nor share a
 * key; review s12 #3) in an open-addressing table on typed arrays: 8 bytes
 * per slot, at most half full, so about 16–32 bytes per record (16–32 MB for
 * a million). Two distinct ids share a key with probability ~n²/2^65; such a
 * pair would be counted as one duplicate.
 */
import { idKey } from './id-key.js';

export class DuplicateIds {
  #hi = new Uint32Array(1024);
  #lo = new Uint32Array(1024);
  #used = new Uint8Array(1024);
  #size = 0;
  /** Ids added that had been added before. */
  duplicates = 0;
  /** Slots examined by lookups (growth included): about one per id unless keys cluster. */
  probes = 0;

  #slot(hi: number, lo: number): number {
    const mask = this.#used.length - 1;
    let i = (hi ^ Math.imul(lo, 0x9e3779b1)) & mask;
    this.probes++;
    while (this.#used[i] !== 0 && (this.#hi[i] !== hi || this.#lo[i] !== lo)) {
      i = (i + 1) & mask;
      this.probes++;
    }
    return i;
  }

  #grow(): void {
    const [hi, lo, used] = [this.#hi, this.#lo, this.#used];
    const n = used.length * 2;
    this.#hi = new Uint32Array(n);
    this.#lo = new Uint32Array(n);
    this.#used = new Uint8Array(n);
    for (let i = 0; i < used.length; i++) {
      if (used[i] === 0) continue;
      const j = this.#slot(hi[i] as number, lo[i] as number);
      this.#hi[j] = hi[i] as number;
      this.#lo[j] = lo[i] as number;
      this.#used[j] = 1;
    }
  }

  /** Adds `id`; counts it as a duplicate when it was added before. */
  add(id: string): void {
    if ((this.#size + 1) * 2 > this.#used.length) this.#grow();
    const [hi, lo] = idKey(id);
    const i = this.#slot(hi, lo);
    if (this.#used[i] !== 0) {
      this.duplicates++;
      return;
    }
    this.#used[i] = 1;
    this.#hi[i] = hi;
    this.#lo[i] = lo;
    this.#size++;
  }
}
