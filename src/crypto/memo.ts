/**
 * Remembers the outcome of signature checks by everything the outcome
 * depends on (scheme, signed bytes, signature, public key), so a warm
 * verification re-checks only what is unique to its evidence: a platform's
 * TCB info, QE identity, CRLs and chains are verified once per process
 * (clarifications: batch throughput). Bounded; oldest entries leave first.
 *
 * The lookup key holds the small parts (signature, key) verbatim and the
 * sizes of the large ones; a hit is only taken after every part is compared
 * byte for byte with the copy stored at the time of the check, so no two
 * different inputs can ever share a remembered result.
 */
const SMALL_PART = 1024;
/** How many recently matched entries are compared before a key is built. */
const RECENT_ENTRIES = 4;

interface Entry {
  scheme: string;
  parts: Buffer[];
  result: boolean;
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
  hits = 0;
  misses = 0;

  constructor(readonly capacity = 10_000) {}

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

  /** Runs `check` unless exactly the same inputs were checked before. */
  verify(scheme: string, parts: readonly Uint8Array[], check: () => boolean): boolean {
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
    const result = check();
    if (!known && this.#results.size >= this.capacity) this.#results.delete(this.#results.keys().next().value as string);
    const entry = { scheme, parts: parts.map((p) => Buffer.from(p)), result };
    this.#results.set(key, entry);
    if (first !== undefined) this.#byMessage.set(first, entry);
    this.#remember(entry);
    return result;
  }

  #remember(entry: Entry): void {
    if (this.#recent.length >= RECENT_ENTRIES) this.#recent.pop();
    this.#recent.unshift(entry);
  }

  get size(): number {
    return this.#results.size;
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
