/**
 * Remembers the outcome of signature checks by everything the outcome
 * depends on (scheme, signed bytes, signature, public key), so a warm
 * verification re-checks only what is unique to its evidence: a platform's
 * TCB info, QE identity, CRLs and chains are verified once per process
 * (clarifications: batch throughput). Bounded; oldest entries leave first.
 *
 * The lookup key hashes the small parts (signature, key) and the sizes of the
 * large ones; a hit is only taken after every part is compared byte for byte
 * with the copy stored at the time of the check, so no two different inputs
 * can ever share a remembered result.
 */
import { createHash } from 'node:crypto';

const SMALL_PART = 1024;

interface Entry {
  parts: Buffer[];
  result: boolean;
}

export class SignatureMemo {
  readonly #results = new Map<string, Entry>();
  hits = 0;
  misses = 0;

  constructor(readonly capacity = 10_000) {}

  /** The lookup key of one check: scheme, every part's length, and the content of the small parts. */
  static keyOf(scheme: string, parts: readonly Uint8Array[]): string {
    const h = createHash('sha256').update(scheme);
    for (const p of parts) {
      const len = Buffer.alloc(4);
      len.writeUInt32BE(p.length);
      h.update(len); // length-prefixed: no two part lists collide
      if (p.length <= SMALL_PART) h.update(p);
    }
    return h.digest('base64');
  }

  /** Runs `check` unless exactly the same inputs were checked before. */
  verify(scheme: string, parts: readonly Uint8Array[], check: () => boolean): boolean {
    const key = SignatureMemo.keyOf(scheme, parts);
    const known = this.#results.get(key);
    if (known !== undefined && known.parts.every((copy, i) => copy.equals(view(parts[i]!)))) {
      this.hits++;
      return known.result;
    }
    this.misses++;
    const result = check();
    if (!known && this.#results.size >= this.capacity) this.#results.delete(this.#results.keys().next().value as string);
    this.#results.set(key, { parts: parts.map((p) => Buffer.from(p)), result });
    return result;
  }

  get size(): number {
    return this.#results.size;
  }
}

function view(p: Uint8Array): Buffer {
  return Buffer.from(p.buffer, p.byteOffset, p.byteLength);
}

/** The process-wide memo used by default. */
export const defaultSignatureMemo = new SignatureMemo();
