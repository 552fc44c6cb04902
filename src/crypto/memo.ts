/**
 * Remembers the outcome of signature checks by the digest of everything the
 * outcome depends on (signed bytes, signature, public key, scheme), so a warm
 * verification re-checks only what is unique to its evidence: a platform's
 * TCB info, QE identity, CRLs and chains are verified once per process
 * (clarifications: batch throughput). Bounded; oldest entries leave first.
 */
import { createHash } from 'node:crypto';

export class SignatureMemo {
  readonly #results = new Map<string, boolean>();
  hits = 0;
  misses = 0;

  constructor(readonly capacity = 10_000) {}

  /** The digest identifying one check; `parts` must cover every input of the check. */
  static keyOf(scheme: string, parts: readonly Uint8Array[]): string {
    const h = createHash('sha256').update(scheme);
    for (const p of parts) {
      const len = Buffer.alloc(4);
      len.writeUInt32BE(p.length);
      h.update(len).update(p); // length-prefixed: no two part lists collide
    }
    return h.digest('base64');
  }

  /** Runs `check` unless the same inputs were checked before. */
  verify(scheme: string, parts: readonly Uint8Array[], check: () => boolean): boolean {
    const key = SignatureMemo.keyOf(scheme, parts);
    const known = this.#results.get(key);
    if (known !== undefined) {
      this.hits++;
      return known;
    }
    this.misses++;
    const result = check();
    if (this.#results.size >= this.capacity) this.#results.delete(this.#results.keys().next().value as string);
    this.#results.set(key, result);
    return result;
  }

  get size(): number {
    return this.#results.size;
  }
}

/** The process-wide memo used by default. */
export const defaultSignatureMemo = new SignatureMemo();
