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
 * - An IPv6 client is its /64 (client-key.ts), but whoever holds a /56 or a
 *   /48 can pick a fresh /64 for every try; so each failure of a /64 is also
 *   counted against its /56 and /48, which have larger budgets
 *   (`maxFailuresPer56`, `maxFailuresPer48`; by default 4 and 16 times
 *   `maxFailures`). A client is refused when its own key or a wider one is.
 * - Memory is bounded: at most `maxClients` keys (a /64's /56 and /48 are
 *   keys too), kept in the order of their last failure; keys whose failures all
 *   left the window are dropped as they age. To admit a new key when full, the
 *   oldest key that is *not* limited is dropped; a limited key is never dropped
 *   (dropping it would unlock it), nor a /56 or /48 with a limited key below it.
 *   Under a limited /56 or /48 only limited keys are counted (see `fail`), so
 *   one /48 holds at most 21 limited keys with the default limits. When every
 *   key is limited, new keys are refused until the first of them leaves its
 *   window.
 * The clock is passed in (milliseconds), like the key broker's rate limiter. Pass a monotonic one
 * (performance.now(), src/net/steady-clock.ts): with the wall clock a backward step keeps a client
 * limited for the length of the step (review s8 D2).
 */
import { widerClientKeys } from './client-key.js';

/** The keys widerClientKeys makes: "2001:db8:1:200::/56", "2001:db8:1::/48" (zone kept). */
const WIDER = /^[0-9a-f:]+::\/(56|48)(?:%.*)?$/;

export interface AuthFailureLimitOptions {
  /** Failures allowed inside the window per client key; default 10. */
  maxFailures?: number;
  /** Failures allowed inside the window per IPv6 /56; default 4 × maxFailures. */
  maxFailuresPer56?: number;
  /** Failures allowed inside the window per IPv6 /48; default 16 × maxFailures. */
  maxFailuresPer48?: number;
  /** Default 60 000 ms. */
  windowMs?: number;
  /** Keys tracked at once; default 10 000. */
  maxClients?: number;
}

export class AuthFailureLimiter {
  readonly maxFailures: number;
  readonly maxFailuresPer56: number;
  readonly maxFailuresPer48: number;
  readonly windowMs: number;
  readonly maxClients: number;
  /** Key → instants of its failures still in the window (at most its limit), oldest first; Map order = last failure. */
  readonly #failures = new Map<string, number[]>();
  /** While the table is full of limited keys: no new key is admitted before this instant. */
  #refuseNewUntil = 0;
  /**
   * Wider key (/56, /48) → the instant its last limited narrower key stops being limited. Until then
   * the full table does not drop it: dropped, it would count from 0 again while the /64s it limited
   * stay, and a full table could be churned into holding any number of limited keys of one /48.
   */
  readonly #limitedBelowUntil = new Map<string, number>();

  constructor(o: AuthFailureLimitOptions = {}) {
    this.maxFailures = o.maxFailures ?? 10;
    this.maxFailuresPer56 = o.maxFailuresPer56 ?? 4 * this.maxFailures;
    this.maxFailuresPer48 = o.maxFailuresPer48 ?? 16 * this.maxFailures;
    this.windowMs = o.windowMs ?? 60_000;
    this.maxClients = o.maxClients ?? 10_000;
    const settings = [
      ['maxFailures', this.maxFailures],
      ['maxFailuresPer56', this.maxFailuresPer56],
      ['maxFailuresPer48', this.maxFailuresPer48],
      ['windowMs', this.windowMs],
      ['maxClients', this.maxClients],
    ] as const;
    for (const [name, v] of settings) {
      if (!Number.isSafeInteger(v) || v < 1) throw new RangeError(`auth failure limit: ${name} must be a positive integer`);
    }
  }

  /** Keys tracked now. */
  get size(): number {
    return this.#failures.size;
  }

  /** 0 when the client may try, else whole seconds until it may (Retry-After). */
  retryAfter(client: string, nowMs: number): number {
    let until = 0;
    for (const key of [client, ...widerClientKeys(client)]) until = Math.max(until, this.#limitedUntil(key, nowMs));
    // A client the full table could not take in: refused until a limited key leaves its window.
    if (until <= nowMs && nowMs < this.#refuseNewUntil && !this.#failures.has(client) && this.#failures.size >= this.maxClients) until = this.#refuseNewUntil;
    return until <= nowMs ? 0 : Math.ceil((until - nowMs) / 1000);
  }

  /**
   * Records one failed attempt, against the client key and its wider groups. Under a wider group that
   * is limited already, the failure is counted only on the keys that are limited themselves (that
   * group, and a narrower key that reached its own limit earlier, so it stays limited while it keeps
   * failing); a narrower key that is not limited is neither made nor counted. The group refuses them
   * anyway, and the gateway still looks up one key-shaped API key per /64 and interval of a limited
   * client, so each /64 of a limited /48 used to become a limited key of its own (first fresh /64s,
   * s16 red team proxy finding 2; then, after f05f4c4, /64s and /56s that had failed once before the
   * /48 was limited: s16 change review, finding 1) until they filled the table, after which every
   * client not in it was refused. Every failure of a narrower key is also counted on its wider keys,
   * so while a /48 is not limited (< maxFailuresPer48 failures in the window) it holds fewer than
   * maxFailuresPer48 / maxFailures limited /64s and maxFailuresPer48 / maxFailuresPer56 limited /56s,
   * and once it is limited no more become limited under it: one /48 holds at most 1 + 16 + 4 = 21
   * limited keys with the default limits (a /56 alone 1 + 4), whatever the order of the failures.
   */
  fail(client: string, nowMs: number): void {
    this.#forgetOlderThan(nowMs - this.windowMs);
    const keys = [client, ...widerClientKeys(client)]; // narrowest first
    // From the widest down: below a limited key, only keys limited themselves are counted.
    let underLimited = false;
    const counted = new Set<string>();
    for (let i = keys.length - 1; i >= 0; i--) {
      const key = keys[i] as string;
      const limited = this.#limitedUntil(key, nowMs) > nowMs;
      if (underLimited && !limited) continue;
      counted.add(key);
      if (limited) underLimited = true;
    }
    // Recorded narrowest first, as before: the Map's order (last failure) evicts a /64 before its /48.
    for (const key of keys) if (counted.has(key)) this.#record(key, nowMs);
    for (let i = 0; i < keys.length - 1; i++) {
      const until = this.#limitedUntil(keys[i] as string, nowMs);
      if (until <= nowMs) continue;
      const widest = keys[keys.length - 1] as string; // the /48 only: a dropped /56 is still bounded by its /48
      if (this.#failures.has(widest)) this.#limitedBelowUntil.set(widest, Math.max(until, this.#limitedBelowUntil.get(widest) ?? 0));
    }
  }

  #limitOf(key: string): number {
    const wider = WIDER.exec(key)?.[1];
    return wider === '56' ? this.maxFailuresPer56 : wider === '48' ? this.maxFailuresPer48 : this.maxFailures;
  }

  /** The instant a key stops being limited (0 or earlier: not limited). */
  #limitedUntil(key: string, nowMs: number): number {
    const times = this.#failures.get(key);
    if (!times) return 0;
    const limit = this.#limitOf(key);
    const inWindow = times.filter((t) => t > nowMs - this.windowMs);
    return inWindow.length < limit ? 0 : (inWindow[inWindow.length - limit] as number) + this.windowMs;
  }

  #record(key: string, nowMs: number): void {
    const known = this.#failures.get(key);
    if (known === undefined && this.#failures.size >= this.maxClients && !this.#evictUnlimited(nowMs)) return;
    const times = known ?? [];
    this.#failures.delete(key); // re-inserted last: Map order is the order of last failures
    while (times.length > 0 && (times[0] as number) <= nowMs - this.windowMs) times.shift();
    times.push(nowMs);
    if (times.length > this.#limitOf(key)) times.shift();
    this.#failures.set(key, times);
  }

  /** Drops the key with the oldest last failure that is not limited now; false (and refuse new keys for a while) when every key is. */
  #evictUnlimited(nowMs: number): boolean {
    let firstFree = Infinity;
    for (const key of this.#failures.keys()) {
      const until = Math.max(this.#limitedUntil(key, nowMs), this.#limitedBelowUntil.get(key) ?? 0);
      if (until <= nowMs) {
        this.#failures.delete(key);
        this.#limitedBelowUntil.delete(key);
        return true;
      }
      firstFree = Math.min(firstFree, until);
    }
    this.#refuseNewUntil = firstFree;
    return false;
  }

  /** Drops keys whose last failure is at or before `cutoff` (they sit at the front of the Map). */
  #forgetOlderThan(cutoff: number): void {
    for (const [key, times] of this.#failures) {
      if ((times[times.length - 1] as number) > cutoff) return;
      this.#failures.delete(key);
      this.#limitedBelowUntil.delete(key);
    }
  }
}
