/**
 * Bounded concurrency: at most `active` appraisals run at once, at most
 * `queued` wait; beyond that a request is answered 503 (ERR_AS_BUSY) at once
 * instead of piling up memory and latency.
 */
import { AttestationServiceError } from './errors.js';

export class ConcurrencyLimiter {
  #running = 0;
  readonly #waiting: (() => void)[] = [];

  constructor(
    readonly active: number,
    readonly queued: number,
  ) {
    if (!Number.isInteger(active) || active < 1) throw new RangeError('maxConcurrent must be a positive integer');
    if (!Number.isInteger(queued) || queued < 0) throw new RangeError('maxQueued must be a non-negative integer');
  }

  get running(): number {
    return this.#running;
  }

  get waiting(): number {
    return this.#waiting.length;
  }

  async run<T>(job: () => Promise<T>): Promise<T> {
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
