/**
 * Parsed certificates and CRLs by content. A platform's PCK chain, the TCB
 * signing chain and the CRLs come back with every quote; parsing them again
 * costs more than the signature checks of a warm verification. Entries are
 * parsed from a private copy, so later changes to a caller's buffer cannot
 * reach a cached result, and failures are never cached. Bounded, oldest first.
 */
export class ParseCache<T> {
  readonly #entries = new Map<string, T>();

  constructor(private readonly capacity: number) {}

  get(bytes: Uint8Array, parse: (privateCopy: Uint8Array) => T): T {
    const key = Buffer.from(bytes.buffer, bytes.byteOffset, bytes.byteLength).toString('latin1');
    const hit = this.#entries.get(key);
    if (hit !== undefined) return hit;
    const value = parse(Uint8Array.from(bytes));
    if (this.#entries.size >= this.capacity) this.#entries.delete(this.#entries.keys().next().value as string);
    this.#entries.set(key, value);
    return value;
  }
}
