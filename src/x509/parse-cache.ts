/**
 * Parsed certificates and CRLs by content. A platform's PCK chain, the TCB
 * signing chain and the CRLs come back with every quote; parsing them again
 * costs more than the signature checks of a warm verification. Entries are
 * parsed from a private copy, so later changes to a caller's buffer cannot
 * reach a cached result, and failures are never cached.
 *
 * The value handed out is shared by every caller, so it is sealed (sealed.ts):
 * frozen, and an entry whose bytes or dates a caller changed anyway is parsed
 * again rather than served (review, session 6).
 *
 * Bounded twice, oldest first: by entries and by the bytes the entries hold
 * (review s12 x509 finding 1: a count alone let each rejected hostile
 * certificate of up to a request's size stay resident, several copies each).
 * An entry is charged `ENTRY_COPIES` times its input (the private copy kept
 * for comparison, the copy parsed, and sealed.ts's copy of the spans the value
 * views) plus a fixed overhead; one that would take more than an eighth of the
 * budget is parsed and sealed but not kept. Entries are keyed by the SHA-256
 * of the content (no copy of the input as a string), and a digest hit is only
 * served after the stored copy compared equal byte for byte.
 *
 * A miss reads the caller's bytes once, into one private copy that is hashed
 * for the key, parsed and kept for comparison (review s14 native #3: hashing,
 * parsing and copying the caller's buffer separately let a concurrent writer
 * of a SharedArrayBuffer pair one content's key and copy with another
 * content's parse). The value's views therefore cover that copy: a caller
 * writing through them changes the bytes sealed.ts compares, so `intact()`
 * fails and the entry is parsed again, never served.
 */
import { hash } from 'node:crypto';

import { seal, type Sealed } from './sealed.js';

/**
 * Copies of the input an entry is charged for: the private copy (parsed and
 * compared) and the sealed span copy, with one more kept as margin so that
 * the budgets decided in review s12 (certificate.ts, crl.ts, pem.ts) stay as
 * they are.
 */
const ENTRY_COPIES = 3;
/** Charged per entry for the key, the Map slot and the objects around the bytes. */
const ENTRY_OVERHEAD = 256;
/** The byte budget of a cache that names none. */
const DEFAULT_MAX_BYTES = 32 * 1024 * 1024;

interface Entry<T> {
  /** The content the value was parsed from: the very bytes the value views (sealed, so a change is seen by `intact()`). */
  copy: Buffer;
  sealed: Sealed<T>;
  /** What this entry is charged against the byte budget. */
  weight: number;
}

export interface ParseCacheUsage {
  entries: number;
  /** Bytes held by the entries, as charged (an upper bound of their byte arrays). */
  bytes: number;
  maxEntries: number;
  maxBytes: number;
}

/** What an entry for `length` input bytes is charged. */
export function parseCacheWeight(length: number): number {
  return ENTRY_COPIES * length + ENTRY_OVERHEAD;
}

export class ParseCache<T> {
  readonly #entries = new Map<string, Entry<T>>();
  #bytes = 0;
  /**
   * Fast path for the same buffer object (collateral artifacts are reused as
   * they are): the entry it matched is remembered and its private copy
   * compared with the buffer's content on every use, so a buffer changed in
   * place is looked up again.
   */
  readonly #byObject = new WeakMap<Uint8Array, Entry<T>>();

  constructor(
    private readonly maxEntries: number,
    private readonly maxBytes: number = DEFAULT_MAX_BYTES,
  ) {}

  get(bytes: Uint8Array, parse: (privateCopy: Uint8Array) => T): T {
    const seen = this.#byObject.get(bytes);
    if (seen !== undefined && seen.copy.equals(bytes) && seen.sealed.intact()) return seen.sealed.value;
    const key = hash('sha256', bytes, 'base64');
    let entry = this.#entries.get(key);
    if (entry !== undefined && entry.copy.equals(bytes) && entry.sealed.intact()) {
      // The entry's copy equals `bytes`: no new copy is needed (a fresh quote
      // brings a new view of the same chain every time).
      this.#byObject.set(bytes, entry);
      return entry.sealed.value;
    }
    // One read of the caller's bytes, into a copy with its own ArrayBuffer
    // (never the Buffer pool: the value's views expose their buffer); the
    // key, the parse and the comparison copy all come from it.
    const own = new Uint8Array(bytes);
    const copy = Buffer.from(own.buffer, own.byteOffset, own.byteLength);
    const ownKey = hash('sha256', copy, 'base64');
    const sealed = seal(parse(own));
    const weight = parseCacheWeight(copy.byteLength);
    if (entry !== undefined) this.#drop(key, entry); // changed in place by a caller (or a digest collision): replaced
    if (weight > this.maxBytes / 8) return sealed.value; // too large to keep: parsed on every use
    const stale = this.#entries.get(ownKey);
    if (stale !== undefined) this.#drop(ownKey, stale);
    entry = { copy, sealed, weight };
    this.#entries.set(ownKey, entry);
    this.#bytes += weight;
    this.#byObject.set(bytes, entry);
    for (const [oldKey, old] of this.#entries) {
      if (this.#bytes <= this.maxBytes && this.#entries.size <= this.maxEntries) break;
      this.#drop(oldKey, old);
    }
    return sealed.value;
  }

  #drop(key: string, entry: Entry<T>): void {
    this.#entries.delete(key);
    this.#bytes -= entry.weight;
  }

  /** Entries and bytes held now, against the limits. */
  usage(): ParseCacheUsage {
    return { entries: this.#entries.size, bytes: this.#bytes, maxEntries: this.maxEntries, maxBytes: this.maxBytes };
  }
}
