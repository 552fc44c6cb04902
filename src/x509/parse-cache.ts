/**
 * Parsed certificates and CRLs by content. A platform's PCK chain, the TCB
 * signing chain and the CRLs come back with every quote; parsing them again
 * costs more than the signature checks of a warm verification. Entries are
 * parsed from a private copy, so later changes to a caller's buffer cannot
 * reach a cached result, and failures are never cached. Bounded, oldest first.
 */
export class ParseCache<T> {
  readonly #entries = new Map<string, T>();
  /**
   * Fast path for the same buffer object (collateral artifacts are reused as
   * they are): the content it had when first seen is kept alongside and
   * compared, so a buffer changed in place is parsed again.
   */
  readonly #byObject = new WeakMap<Uint8Array, { copy: Buffer; value: T }>();

  constructor(private readonly capacity: number) {}

  get(bytes: Uint8Array, parse: (privateCopy: Uint8Array) => T): T {
    const seen = this.#byObject.get(bytes);
    if (seen !== undefined && seen.copy.equals(Buffer.from(bytes.buffer, bytes.byteOffset, bytes.byteLength))) return seen.value;
    const key = Buffer.from(bytes.buffer, bytes.byteOffset, bytes.byteLength).toString('latin1');
    const hit = this.#entries.get(key);
    if (hit !== undefined) {
      this.#byObject.set(bytes, { copy: Buffer.from(bytes), value: hit });
      return hit;
    }
    const value = parse(Uint8Array.from(bytes));
    if (this.#entries.size >= this.capacity) this.#entries.delete(this.#entries.keys().next().value as string);
    this.#entries.set(key, value);
    this.#byObject.set(bytes, { copy: Buffer.from(bytes), value });
    return value;
  }
}
