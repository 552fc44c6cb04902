/**
 * Per-client token buckets for the transfer and token endpoints, keyed by the
 * client's IP address (the TCP peer; X-Forwarded-For is not trusted). The
 * buckets live in memory on purpose: losing them on restart only resets
 * the limits, and a limiter on the hot path should not write to the
 * database. Several broker instances limit independently.
 */
export interface RateLimitOptions {
  /** Requests a client may send at once; default 60 (CNAP clients retry a refusal twice). */
  burst?: number;
  /** Sustained requests per second per client; default 20. */
  perSecond?: number;
}

export class RateLimiter {
  readonly #burst: number;
  readonly #perMs: number;
  readonly #buckets = new Map<string, { tokens: number; last: number }>();

  constructor(o: RateLimitOptions = {}) {
    this.#burst = o.burst ?? 60;
    this.#perMs = (o.perSecond ?? 20) / 1000;
    if (!(this.#burst >= 1) || !(this.#perMs > 0)) throw new RangeError('rate limit: burst must be >= 1 and perSecond > 0');
  }

  /** 0 when allowed (a token is taken), else the seconds to wait. */
  take(client: string, nowMs: number): number {
    let b = this.#buckets.get(client);
    if (!b) {
      if (this.#buckets.size > 100_000) this.#sweep(nowMs);
      b = { tokens: this.#burst, last: nowMs };
      this.#buckets.set(client, b);
    }
    b.tokens = Math.min(this.#burst, b.tokens + (nowMs - b.last) * this.#perMs);
    b.last = nowMs;
    if (b.tokens >= 1) {
      b.tokens -= 1;
      return 0;
    }
    return Math.max(1, Math.ceil((1 - b.tokens) / this.#perMs / 1000));
  }

  #sweep(nowMs: number): void {
    for (const [k, b] of this.#buckets) if (b.tokens + (nowMs - b.last) * this.#perMs >= this.#burst) this.#buckets.delete(k);
  }
}
