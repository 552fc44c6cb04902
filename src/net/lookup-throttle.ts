/**
 * How often a client that is over its failure limit may still have a
 * well-formed credential looked up: at most once per `intervalMs`. A valid key
 * behind the same address (a NAT, an IPv6 /64) keeps working with a retry,
 * while a flood of well-formed guesses costs at most one database lookup per
 * interval and client (review, session 4). Bounded memory: at most
 * `maxClients` entries, the oldest dropped first. The clock is passed in: a monotonic one
 * (src/net/steady-clock.ts), never the wall clock.
 */
export class LookupThrottle {
  readonly #next = new Map<string, number>();

  constructor(
    readonly intervalMs = 1000,
    readonly maxClients = 10_000,
  ) {
    if (!Number.isInteger(intervalMs) || intervalMs < 1 || !Number.isInteger(maxClients) || maxClients < 1) throw new RangeError('lookup throttle: positive integers only');
  }

  /** True when `client` may have one lookup now (and takes it); false while its interval runs. */
  take(client: string, nowMs: number): boolean {
    const next = this.#next.get(client);
    if (next !== undefined && nowMs < next) return false;
    this.#next.delete(client); // re-inserted last: Map order is the order of last lookups
    if (this.#next.size >= this.maxClients) this.#next.delete(this.#next.keys().next().value as string);
    this.#next.set(client, nowMs + this.intervalMs);
    return true;
  }

  get size(): number {
    return this.#next.size;
  }
}
