/**
 * Bounded concurrency: at most `active` appraisals run at once, at most
 * `queued` wait; beyond that a request is answered 503 (ERR_AS_BUSY) at once
 * instead of piling up memory and latency. One client key (src/net/client-key.ts)
 * may hold at most `perClient` of them, running or waiting, so that one
 * client cannot fill the queue and starve the others (429 ERR_AS_RATE_LIMITED);
 * an IPv6 key's /56 and /48 get the same share as its /64.
 */
import { widerClientKeys } from '../net/client-key.js';
import { AttestationServiceError } from './errors.js';

export class ConcurrencyLimiter {
  #running = 0;
  readonly #waiting: (() => void)[] = [];
  /** Appraisals running or waiting per client key (and its wider IPv6 groups); only keys that hold one. */
  readonly #perKey = new Map<string, number>();
  readonly perClient: number;

  constructor(
    readonly active: number,
    readonly queued: number,
    perClient?: number,
  ) {
    if (!Number.isInteger(active) || active < 1) throw new RangeError('maxConcurrent must be a positive integer');
    if (!Number.isInteger(queued) || queued < 0) throw new RangeError('maxQueued must be a non-negative integer');
    if (perClient !== undefined && (!Number.isInteger(perClient) || perClient < 1)) throw new RangeError('maxPerClient must be a positive integer');
    this.perClient = perClient ?? Math.max(1, Math.ceil(active / 4));
  }

  get running(): number {
    return this.#running;
  }

  get waiting(): number {
    return this.#waiting.length;
  }

  /** Runs `job` in a slot; `client`: the caller's client key (without one only the instance bounds apply). */
  async run<T>(job: () => Promise<T>, client?: string): Promise<T> {
    const keys = client === undefined ? [] : [client, ...widerClientKeys(client)];
    if (keys.some((k) => (this.#perKey.get(k) ?? 0) >= this.perClient)) {
      throw new AttestationServiceError('ERR_AS_RATE_LIMITED', 429, `this client already has ${this.perClient} verification(s) in progress; retry shortly`, { headers: { 'retry-after': '1' } });
    }
    for (const k of keys) this.#perKey.set(k, (this.#perKey.get(k) ?? 0) + 1);
    try {
      return await this.#slot(job);
    } finally {
      for (const k of keys) {
        const n = (this.#perKey.get(k) ?? 1) - 1;
        if (n > 0) this.#perKey.set(k, n);
        else this.#perKey.delete(k);
      }
    }
  }

  async #slot<T>(job: () => Promise<T>): Promise<T> {
    if (this.#running >= this.active) {
      if (this.#waiting.length >= this.queued) throw new AttestationServiceError('ERR_AS_BUSY', 503, 'too many verifications in progress; retry shortly', { headers: { 'retry-after': '1' } });
      await new Promise<void>((resolve) => this.#waiting.push(resolve));
    } else {
      this.#running++;
    }
    try {
      return await job();
    } finally {
      const next = this.#waiting.shift();
      if (next) next(); // the slot passes on without being released
      else this.#running--;
    }
  }
}
