/**
 * GET /health's database verdict, shared by every caller for a short while (review s10, G1).
 * The route needs no credentials, so it must not turn a flood of probes into a flood of
 * database round trips queued ahead of the API-key lookups: one ping at a time (single-flight),
 * and its verdict, good or bad, answers every probe for `ttlMs` after it arrived. A database
 * that stops answering shows within `ttlMs` plus the ping's own bound; a failing one stays
 * visible until a later ping succeeds.
 *
 * A ping that never settles (a query on a blackholed PostgreSQL connection: the driver has no
 * client-side bound, TCP gives up after many minutes) must not hold the verdict at "unavailable"
 * for as long: once the newest running ping is older than its timeout plus `ttlMs`, a fresh one
 * starts beside it, at most MAX_PINGS_IN_FLIGHT at once (review s10b, item 2). Only when that many
 * hang does the verdict wait for one of them to settle.
 */
import { StorageError } from '../storage/index.js';
import type { LimiterClock } from './steady-clock.js';

/** The database answered, or the storage code of why not. */
export type HealthVerdict = { ok: true } | { ok: false; cause: string };

/** Pings running at once, hung ones included: a second replaces a hung first, a flood of probes never adds more. */
export const MAX_PINGS_IN_FLIGHT = 2;

export interface HealthProbeOptions {
  /** One database round trip (ApiKeyStore.ping). */
  ping: () => Promise<void>;
  /** Monotonic milliseconds (the limiters' clock), never the wall clock. */
  clock: LimiterClock;
  /** How long a verdict answers further probes; default 1000 ms. */
  ttlMs?: number;
  /** A ping without an answer by then is a failure; default 3000 ms. */
  timeoutMs?: number;
}

export class HealthProbe {
  readonly #ping: () => Promise<void>;
  readonly #clock: LimiterClock;
  readonly #ttlMs: number;
  readonly #timeoutMs: number;
  /** The last verdict and when it arrived. */
  #last: { verdict: HealthVerdict; atMs: number } | undefined;
  /** The verdict every probe waits for while a ping runs (within its timeout). */
  #pending: Promise<HealthVerdict> | undefined;
  /** Pings still running, possibly past their timeout, and when the newest of them started. */
  #running = 0;
  #newestStartMs = 0;

  constructor(o: HealthProbeOptions) {
    this.#ping = o.ping;
    this.#clock = o.clock;
    this.#ttlMs = o.ttlMs ?? 1000;
    this.#timeoutMs = o.timeoutMs ?? 3000;
  }

  check(): Promise<HealthVerdict> {
    const last = this.#last;
    if (last && this.#clock() - last.atMs < this.#ttlMs) return Promise.resolve(last.verdict);
    if (this.#pending) return this.#pending;
    // A ping outlived its timeout and has still not answered: its verdict stands until it is older than
    // its timeout plus the reuse window; then a fresh ping may judge again, up to the cap.
    if (last && this.#running > 0) {
      const stale = this.#clock() - this.#newestStartMs >= this.#timeoutMs + this.#ttlMs;
      if (!stale || this.#running >= MAX_PINGS_IN_FLIGHT) return Promise.resolve(last.verdict);
    }
    this.#pending = this.#probe().then((verdict) => {
      this.#last = { verdict, atMs: this.#clock() };
      this.#pending = undefined;
      return verdict;
    });
    return this.#pending;
  }

  async #probe(): Promise<HealthVerdict> {
    this.#running += 1;
    this.#newestStartMs = this.#clock();
    const ping = Promise.resolve()
      .then(() => this.#ping())
      .finally(() => (this.#running -= 1));
    let timer: NodeJS.Timeout | undefined;
    const timeout = new Promise<never>((_, reject) => {
      timer = setTimeout(() => reject(new StorageError('ERR_STORAGE_UNAVAILABLE', `no answer within ${this.#timeoutMs} ms`)), this.#timeoutMs);
    });
    try {
      await Promise.race([ping, timeout]);
      return { ok: true };
    } catch (e) {
      return { ok: false, cause: StorageError.is(e) ? e.code : 'ERR_STORAGE_UNAVAILABLE' };
    } finally {
      clearTimeout(timer);
    }
  }
}
