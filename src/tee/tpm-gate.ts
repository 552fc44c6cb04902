/**
 * One TPM conversation at a time, and no queue behind a TPM that does not answer (review s7b).
 *
 * tpm2-tools without a resource manager shares the TPM's few object slots, so conversations
 * (AK load, quote) run one after another. A plain promise chain made every queued request wait
 * for each earlier one's deadline: with a hung TPM the n-th request failed after n deadlines, and
 * the queue grew without bound. The gate fails fast instead:
 *
 * - at most `maxWaiting` conversations wait behind the running one; beyond that, a refusal at once;
 * - a conversation running longer than `stuckAfterMs`, or one that ended in a timeout, marks the
 *   TPM unresponsive: everything waiting is refused at once, and so is every new request while one
 *   conversation runs. With nothing running, one request at a time is let through to try the TPM
 *   again; the first conversation that ends without a timeout clears the mark (the TPM answered,
 *   even if with an error).
 *
 * Refusals are `ERR_TSM_UNAVAILABLE` with `details.retryable: true` (the gateway answers 503 with
 * Retry-After).
 */
import { EvidenceProviderError } from '../model/errors.js';

/** A conversation running longer than this marks the TPM unresponsive (a healthy vTPM quote takes well under a second). */
export const DEFAULT_TPM_STUCK_AFTER_MS = 5_000;
/** Conversations that may wait behind the running one. */
export const DEFAULT_TPM_MAX_WAITING = 16;

export interface TpmGateOptions {
  stuckAfterMs?: number;
  maxWaiting?: number;
  /** Whether a conversation's failure was a TPM call past its deadline. */
  isTimeout: (err: unknown) => boolean;
}

interface Waiting {
  work: () => Promise<unknown>;
  resolve: (value: unknown) => void;
  reject: (err: unknown) => void;
}

type Unresponsive = 'timeout' | 'stuck';

function refusal(reason: 'tpm-unresponsive' | 'queue-full', message: string, details: Record<string, unknown> = {}): EvidenceProviderError {
  return new EvidenceProviderError('ERR_TSM_UNAVAILABLE', message, { details: { reason, retryable: true, ...details } });
}

export class TpmGate {
  readonly #stuckAfterMs: number;
  readonly #maxWaiting: number;
  readonly #isTimeout: (err: unknown) => boolean;
  readonly #waiting: Waiting[] = [];
  #running = false;
  #unresponsive: Unresponsive | undefined;

  constructor(o: TpmGateOptions) {
    const stuckAfterMs = o.stuckAfterMs ?? DEFAULT_TPM_STUCK_AFTER_MS;
    const maxWaiting = o.maxWaiting ?? DEFAULT_TPM_MAX_WAITING;
    if (!Number.isSafeInteger(stuckAfterMs) || stuckAfterMs < 0) throw new RangeError('stuckAfterMs must be a whole number of milliseconds, 0 or more');
    if (!Number.isSafeInteger(maxWaiting) || maxWaiting < 0) throw new RangeError('maxWaiting must be a whole number, 0 or more');
    this.#stuckAfterMs = stuckAfterMs;
    this.#maxWaiting = maxWaiting;
    this.#isTimeout = o.isTimeout;
  }

  /** Why a conversation asked for now would be refused, or undefined when it would be let in. */
  refusal(): EvidenceProviderError | undefined {
    const busy = this.#running || this.#waiting.length > 0;
    if (this.#unresponsive && busy) {
      return refusal('tpm-unresponsive', `the TPM has not answered an earlier request (${this.#unresponsive === 'timeout' ? 'a call past its deadline' : `a conversation running over ${this.#stuckAfterMs} ms`}) and is being tried again: retry later`, {
        unresponsive: this.#unresponsive,
      });
    }
    if (this.#waiting.length >= this.#maxWaiting && this.#running) {
      return refusal('queue-full', `${this.#waiting.length} TPM requests are already waiting: retry later`, { maxWaiting: this.#maxWaiting });
    }
    return undefined;
  }

  /** Runs `work` as the TPM's only conversation, after the ones admitted before it; refuses at once when it would wait on a TPM that does not answer. */
  run<T>(work: () => Promise<T>): Promise<T> {
    const refused = this.refusal();
    if (refused) return Promise.reject(refused);
    return new Promise<T>((resolve, reject) => {
      this.#waiting.push({ work, resolve: resolve as (value: unknown) => void, reject });
      this.#next();
    });
  }

  #next(): void {
    if (this.#running) return;
    const next = this.#waiting.shift();
    if (!next) return;
    this.#running = true;
    const stuck = setTimeout(() => this.#markUnresponsive('stuck'), this.#stuckAfterMs);
    let timedOut = false;
    Promise.resolve()
      .then(next.work)
      .then(next.resolve, (err: unknown) => {
        timedOut = this.#isTimeout(err);
        next.reject(err);
      })
      .finally(() => {
        clearTimeout(stuck);
        this.#running = false;
        if (timedOut) this.#markUnresponsive('timeout');
        else this.#unresponsive = undefined;
        this.#next();
      });
  }

  /** Marks the TPM unresponsive and refuses everything waiting: each would otherwise wait a whole deadline in turn. */
  #markUnresponsive(why: Unresponsive): void {
    this.#unresponsive = why;
    const dropped = this.#waiting.splice(0);
    if (dropped.length === 0) return;
    const err = refusal('tpm-unresponsive', `the TPM does not answer (${why === 'timeout' ? 'a call past its deadline' : `a conversation running over ${this.#stuckAfterMs} ms`}): retry later`, { unresponsive: why });
    for (const w of dropped) w.reject(err);
  }
}
