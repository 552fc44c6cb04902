/**
 * Failed logins per client (admin APIs of the gateway and the key broker):
 * after `maxFailures` failures inside a sliding `windowMs`, the client is
 * refused before its token is even looked up, until its oldest counted
 * failure leaves the window. In memory, per process: instances behind a load
 * balancer each count their own failures.
 *
 * - Only failures are recorded; a success resets nothing, so a colleague's
 *   login from the same address (or /64, see client-key.ts) does not clear an
 *   attacker's count.
 * - A refused (limited) attempt is not a failure: it cost no lookup, and
 *   counting it would keep a client locked out for as long as it retries.
 *   (The gateway still looks up one key-shaped API key per interval of a
 *   limited client, src/net/lookup-throttle.ts; a wrong one is a failure.)
 * - Memory is bounded: at most `maxClients` clients, kept in the order of
 *   their last failure; the oldest is dropped to admit a new one, and clients
 *   whose failures all left the window are dropped as they age.
 * The clock is passed in (milliseconds), like the key broker's rate limiter.
 */
export interface AuthFailureLimitOptions {
  /** Failures allowed inside the window; default 10. */
  maxFailures?: number;
  /** Default 60 000 ms. */
  windowMs?: number;
  /** Clients tracked at once; default 10 000. */
  maxClients?: number;
}

export class AuthFailureLimiter {
  readonly maxFailures: number;
  readonly windowMs: number;
  readonly maxClients: number;
  /** Client → instants of its failures still in the window (at most maxFailures), oldest first; Map order = last failure. */
  readonly #failures = new Map<string, number[]>();

  constructor(o: AuthFailureLimitOptions = {}) {
    this.maxFailures = o.maxFailures ?? 10;
    this.windowMs = o.windowMs ?? 60_000;
    this.maxClients = o.maxClients ?? 10_000;
    for (const [name, v] of [['maxFailures', this.maxFailures], ['windowMs', this.windowMs], ['maxClients', this.maxClients]] as const) {
      if (!Number.isInteger(v) || v < 1) throw new RangeError(`auth failure limit: ${name} must be a positive integer`);
    }
  }

  /** Clients tracked now. */
  get size(): number {
    return this.#failures.size;
  }

  /** 0 when the client may try, else whole seconds until it may (Retry-After). */
  retryAfter(client: string, nowMs: number): number {
    const times = this.#failures.get(client);
    if (!times || times.length < this.maxFailures) return 0;
    const until = (times[0] as number) + this.windowMs;
    return until <= nowMs ? 0 : Math.ceil((until - nowMs) / 1000);
  }

  /** Records one failed attempt. */
  fail(client: string, nowMs: number): void {
    this.#forgetOlderThan(nowMs - this.windowMs);
    const times = this.#failures.get(client) ?? [];
    this.#failures.delete(client); // re-inserted last: Map order is the order of last failures
    while (times.length > 0 && (times[0] as number) <= nowMs - this.windowMs) times.shift();
    times.push(nowMs);
    if (times.length > this.maxFailures) times.shift();
    if (this.#failures.size >= this.maxClients) {
      const oldest = this.#failures.keys().next();
      if (!oldest.done) this.#failures.delete(oldest.value);
    }
    this.#failures.set(client, times);
  }

  /** Drops clients whose last failure is at or before `cutoff` (they sit at the front of the Map). */
  #forgetOlderThan(cutoff: number): void {
    for (const [client, times] of this.#failures) {
      if ((times[times.length - 1] as number) > cutoff) return;
      this.#failures.delete(client);
    }
  }
}
