/**
 * Parsed certificates and CRLs by content. A platform's PCK chain, the TCB
 * signing chain and the CRLs come back with every quote; parsing them again
 * costs more than the signature checks of a warm verification. Entries are
 * parsed from a private copy, so later changes to a caller's buffer cannot
 * reach a cached result, and failures are never cached. Bounded, oldest first.
 *
 * The value handed out is shared by every caller, so it is sealed (sealed.ts):
 * frozen, and an entry whose bytes or dates a caller changed anyway is parsed
 * again rather than served (review, session 6).
 */
import { seal, type Sealed } from './sealed.js';

interface Entry<T> {
  /** The content the value was parsed from, kept apart from it (never handed out). */
  copy: Buffer;
  sealed: Sealed<T>;
}

export class ParseCache<T> {
  readonly #entries = new Map<string, Entry<T>>();
  /**
   * Fast path for the same buffer object (collateral artifacts are reused as
   * they are): the entry it matched is remembered and its private copy
   * compared with the buffer's content on every use, so a buffer changed in
   * place is looked up again.
   */
  readonly #byObject = new WeakMap<Uint8Array, Entry<T>>();

  constructor(private readonly capacity: number) {}

  get(bytes: Uint8Array, parse: (privateCopy: Uint8Array) => T): T {
    const seen = this.#byObject.get(bytes);
    if (seen !== undefined && seen.copy.equals(bytes) && seen.sealed.intact()) return seen.sealed.value;
    const key = Buffer.from(bytes.buffer, bytes.byteOffset, bytes.byteLength).toString('latin1');
    let entry = this.#entries.get(key);
    if (entry === undefined || !entry.sealed.intact()) {
      const fresh: Entry<T> = { copy: Buffer.from(bytes), sealed: seal(parse(new Uint8Array(bytes))) };
      if (entry === undefined && this.#entries.size >= this.capacity) this.#entries.delete(this.#entries.keys().next().value as string);
      this.#entries.set(key, fresh);
      entry = fresh;
    }
    // The entry's copy equals `bytes` now (same key): no new copy is needed (a
    // fresh quote brings a new view of the same chain every time).
    this.#byObject.set(bytes, entry);
    return entry.sealed.value;
  }
}
