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
 * for as long: its timeout gives a verdict, and once that is `ttlMs` old a fresh ping starts beside
 * the hung one, at most MAX_PINGS_IN_FLIGHT running at once (review s10b, item 2). Only when that
 * many hang does the last verdict stand until one of them settles.
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
  #lastFailure: string | undefined;
  /** Pings still running, possibly past their timeout. */
  #running = 0;

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
    // Pings that outlived their timeout and still run count against the cap: at the cap the last
    // verdict stands until one settles; below it a fresh ping judges, as after any reuse window
    // (review s10 changes-c #4: a healthy verdict was held ~4 s beside a hung ping, not 1 s).
    if (last && this.#running >= MAX_PINGS_IN_FLIGHT) return Promise.resolve(last.verdict);
    this.#pending = this.#probe().then((verdict) => {
      this.#last = { verdict, atMs: this.#clock() };
      this.#pending = undefined;
      return verdict;
    });
    return this.#pending;
  }

  /** The message of the newest failed ping, for the operator's log (never answered to a probe). */
  get lastFailure(): string | undefined {
    return this.#lastFailure;
  }

  async #probe(): Promise<HealthVerdict> {
    this.#running += 1;
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
      this.#lastFailure = e instanceof Error ? e.message : String(e);
      return { ok: false, cause: StorageError.is(e) ? e.code : 'ERR_STORAGE_UNAVAILABLE' };
    } finally {
      clearTimeout(timer);
    }
  }
}
