/**
 * GET /health's database verdict, shared by every caller for a short while (review s10, G1).
 * The route needs no credentials, so it must not turn a flood of probes into a flood of
 * database round trips queued ahead of the API-key lookups: one ping at a time (single-flight),
 * and its verdict, good or bad, answers every probe for `ttlMs` after it arrived. A database
 * that stops answering shows within `ttlMs` plus the ping's own bound; a failing one stays
 * visible until a later ping succeeds.
 */
import { StorageError } from '../storage/index.js';
import type { LimiterClock } from '../net/steady-clock.js';

/** The database answered, or the storage code of why not. */
export type HealthVerdict = { ok: true } | { ok: false; cause: string };

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
  /** A ping is still running, possibly past its timeout: no second one starts beside it. */
  #pinging = false;

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
    // The previous ping outlived its timeout and has still not answered: the database is still not answering.
    if (this.#pinging && last) return Promise.resolve(last.verdict);
    this.#pending = this.#probe().then((verdict) => {
      this.#last = { verdict, atMs: this.#clock() };
      this.#pending = undefined;
      return verdict;
    });
    return this.#pending;
  }

  async #probe(): Promise<HealthVerdict> {
    this.#pinging = true;
    const ping = Promise.resolve()
      .then(() => this.#ping())
      .finally(() => (this.#pinging = false));
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
