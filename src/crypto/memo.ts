/**
 * Remembers the outcome of signature checks by everything the outcome
 * depends on (scheme, signed bytes, signature, public key), so a warm
 * verification re-checks only what is unique to its evidence: a platform's
 * TCB info, QE identity, CRLs and chains are verified once per process
 * (clarifications: batch throughput). Bounded by entries and by the bytes
 * the entries hold (their copies of the parts and their keys); oldest entries
 * leave first, and an entry over an eighth of the byte budget is not kept.
 *
 * Only successful checks are remembered (review s12 x509 finding 1). A failed
 * check is a forged or corrupted object that has no reason to come back, and
 * remembering it let every rejected request leave a copy of its signed bytes
 * behind (with the parse cache, several times its size), pushing out the
 * entries a warm verification needs. A client that retries the same bad
 * evidence pays one signature check per retry, as it did the first time.
 *
 * The lookup key holds the small parts (signature, key) verbatim and the
 * sizes of the large ones; a hit is only taken after every part is compared
 * byte for byte with the copy stored at the time of the check, so no two
 * different inputs can ever share a remembered result.
 */
const SMALL_PART = 1024;
/** How many recently matched entries are compared before a key is built. */
const RECENT_ENTRIES = 4;

/** Charged per entry for the Map slot, the entry and the part objects. */
const ENTRY_OVERHEAD = 256;

interface Entry {
  scheme: string;
  parts: Buffer[];
  result: boolean;
  /** What this entry is charged against the byte budget. */
  weight: number;
}

export class SignatureMemo {
  readonly #results = new Map<string, Entry>();
  /**
   * The entry last matched for a signed-bytes object: the certificates, CRLs
   * and documents of a platform come back as the same cached objects, so
   * their key need not be rebuilt. A candidate found here is still compared
   * part by part, byte for byte, before its result is used.
   */
  readonly #byMessage = new WeakMap<Uint8Array, Entry>();
  /**
   * The entries matched most recently, newest first. Fresh evidence brings new
   * views of bytes seen before (a platform's QE report and its signature):
   * comparing them with a few recent entries costs less than building their
   * key, and keeps short-lived views out of the WeakMap above.
   */
  readonly #recent: Entry[] = [];
  #bytes = 0;
  hits = 0;
  misses = 0;

  /**
   * @param capacity entries kept at most
   * @param maxBytes bytes the entries may hold (copies of the parts, keys): 48 MiB holds
   *   10 000 certificate checks of the AMD chain (~4 KiB charged each with the RSA-4096 key and
   *   signature; an Intel one is ~2 KiB).
   */
  constructor(
    readonly capacity = 10_000,
    readonly maxBytes = 48 * 1024 * 1024,
  ) {}

  /**
   * The lookup key of one check: scheme, every part's length, and the content
   * of the small parts as latin1 text. Each field is length-prefixed, so no two
   * part lists share a key by concatenation. Text rather than a digest: a
   * warm verification makes about ten lookups, and hashing cost more than the
   * checks' byte comparisons.
   */
  static keyOf(scheme: string, parts: readonly Uint8Array[]): string {
    let key = `${scheme.length}:${scheme}`;
    for (const p of parts) {
      key += `|${p.length}:`;
      if (p.length <= SMALL_PART) key += view(p).toString('latin1');
    }
    return key;
  }

  /**
   * Runs `check` unless exactly the same inputs were checked before. On a miss
   * the parts are copied once, first, and `check` must verify those copies
   * (its argument, in the order given): the copies are what a success is
   * remembered under, so a caller's bytes changed by another thread during the
   * check cannot leave a remembered success for content never checked (review
   * s14 native change review R1).
   */
  verify(scheme: string, parts: readonly Uint8Array[], check: (copies: readonly Uint8Array[]) => boolean): boolean {
    const first = parts[0];
    const candidate = first === undefined ? undefined : this.#byMessage.get(first);
    if (candidate !== undefined && matches(candidate, scheme, parts)) {
      this.hits++;
      return candidate.result;
    }
    for (const r of this.#recent) {
      if (matches(r, scheme, parts)) {
        this.hits++;
        return r.result;
      }
    }
    const key = SignatureMemo.keyOf(scheme, parts);
    const known = this.#results.get(key);
    if (known !== undefined && matches(known, scheme, parts)) {
      this.hits++;
      if (first !== undefined) this.#byMessage.set(first, known);
      this.#remember(known);
      return known.result;
    }
    this.misses++;
    const copies = parts.map((p) => Buffer.from(p));
    const result = check(copies);
    if (!result) return false; // failures are not remembered (see above)
    // The key, built before the copies, is only a lookup hint: a hit is always confirmed against the
    // copies byte for byte (matches), so a key that no longer describes them can only miss.
    let weight = ENTRY_OVERHEAD + scheme.length + key.length;
    for (const p of copies) weight += p.byteLength;
    if (weight > this.maxBytes / 8) return result; // too large to keep: checked on every use
    if (known !== undefined) this.#drop(key, known);
    const entry: Entry = { scheme, parts: copies, result, weight };
    this.#results.set(key, entry);
    this.#bytes += weight;
    for (const [oldKey, old] of this.#results) {
      if (this.#bytes <= this.maxBytes && this.#results.size <= this.capacity) break;
      this.#drop(oldKey, old);
    }
    if (first !== undefined) this.#byMessage.set(first, entry);
    this.#remember(entry);
    return result;
  }

  #drop(key: string, entry: Entry): void {
    this.#results.delete(key);
    this.#bytes -= entry.weight;
    const i = this.#recent.indexOf(entry);
    if (i !== -1) this.#recent.splice(i, 1);
  }

  #remember(entry: Entry): void {
    if (this.#recent.length >= RECENT_ENTRIES) this.#recent.pop();
    this.#recent.unshift(entry);
  }

  get size(): number {
    return this.#results.size;
  }

  /** Bytes the entries hold now, as charged: their copies of the parts, their keys and a fixed overhead each. */
  get bytes(): number {
    return this.#bytes;
  }
}

/** Same scheme and every part byte-identical to the copies taken when the check ran. */
function matches(entry: Entry, scheme: string, parts: readonly Uint8Array[]): boolean {
  if (entry.scheme !== scheme || entry.parts.length !== parts.length) return false;
  for (let i = 0; i < parts.length; i++) if (!entry.parts[i]!.equals(parts[i]!)) return false;
  return true;
}

function view(p: Uint8Array): Buffer {
  return Buffer.from(p.buffer, p.byteOffset, p.byteLength);
}

/** The process-wide memo used by default. */
export const defaultSignatureMemo = new SignatureMemo();
