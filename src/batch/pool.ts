/**
 * A fixed pool of worker_threads. Each chunk goes to the worker with the
 * fewest chunks outstanding; `submit` resolves with that chunk's results. The
 * caller bounds how many chunks are in flight (backpressure on the reader).
 * A worker that fails (setup error, crash, exit) fails the whole pool: every
 * pending and later submission rejects with that reason.
 */
import { setFlagsFromString } from 'node:v8';
import { Worker } from 'node:worker_threads';

import type { Job, JobResult, WorkerInit, WorkerMessage } from './protocol.js';

/**
 * dist/batch/worker.js next to this module; when this module runs from the
 * TypeScript sources (vitest), the built worker in dist/ (build first).
 */
export function defaultWorkerUrl(): URL {
  const here = new URL(import.meta.url);
  return here.pathname.endsWith('.ts') ? new URL('../../dist/batch/worker.js', here) : new URL('./worker.js', here);
}

export class WorkerFailure extends Error {}

interface Slot {
  worker: Worker;
  outstanding: number;
}

interface Pending {
  resolve: (r: JobResult) => void;
  reject: (e: Error) => void;
}

export class WorkerPool {
  readonly #slots: Slot[] = [];
  readonly #pending = new Map<number, Pending>();
  #failure: WorkerFailure | undefined;
  #closing = false;

  private constructor() {}

  /** Starts `size` workers and waits until each has built its context. */
  static async start(size: number, init: WorkerInit, url: URL = defaultWorkerUrl()): Promise<WorkerPool> {
    // Worker isolates made from here on compile optimised code on their own thread. Terminating a
    // worker while a background TurboFan job of its isolate still runs aborts the whole process in
    // Node 20 (node_platform.cc ForIsolate: "Assertion failed: (data.first) != nullptr", SIGABRT, seen
    // in CI when a results-file write error, EFBIG, stopped a run with a chunk in flight). A worker
    // compiles each hot function once, so the cost is a few milliseconds per run.
    setFlagsFromString('--no-concurrent-recompilation');
    const pool = new WorkerPool();
    const ready = Array.from({ length: size }, () => pool.#spawn(url, init));
    try {
      await Promise.all(ready);
    } catch (err) {
      await pool.close();
      throw err;
    }
    return pool;
  }

  #spawn(url: URL, init: WorkerInit): Promise<void> {
    return new Promise((resolve, reject) => {
      const worker = new Worker(url, { workerData: init });
      const slot: Slot = { worker, outstanding: 0 };
      this.#slots.push(slot);
      worker.on('message', (m: WorkerMessage) => {
        if (m.type === 'ready') resolve();
        else if (m.type === 'fatal') {
          this.#fail(new WorkerFailure(m.message));
          reject(this.#failure);
        } else this.#settle(slot, m);
      });
      worker.on('error', (err) => {
        this.#fail(new WorkerFailure(`worker error: ${err.message}`));
        reject(this.#failure);
      });
      worker.on('exit', (code) => {
        if (this.#closing) return;
        this.#fail(new WorkerFailure(`a worker exited unexpectedly (code ${code})`));
        reject(this.#failure);
      });
    });
  }

  #settle(slot: Slot, result: JobResult): void {
    slot.outstanding--;
    const p = this.#pending.get(result.seq);
    this.#pending.delete(result.seq);
    p?.resolve(result);
  }

  #fail(failure: WorkerFailure): void {
    if (this.#failure) return;
    this.#failure = failure;
    for (const p of this.#pending.values()) p.reject(failure);
    this.#pending.clear();
  }

  get size(): number {
    return this.#slots.length;
  }

  get inFlight(): number {
    return this.#pending.size;
  }

  /** Sends a chunk (its byte arrays are transferred, not copied) to the least busy worker. */
  submit(job: Job): Promise<JobResult> {
    if (this.#failure) return Promise.reject(this.#failure);
    const slot = this.#slots.reduce((a, b) => (b.outstanding < a.outstanding ? b : a));
    slot.outstanding++;
    const transfer = job.kind === 'lines' ? [job.data.buffer as ArrayBuffer, job.lengths.buffer as ArrayBuffer] : [];
    return new Promise<JobResult>((resolve, reject) => {
      this.#pending.set(job.seq, { resolve, reject });
      slot.worker.postMessage(job, transfer);
    });
  }

  async close(): Promise<void> {
    this.#closing = true;
    await Promise.all(this.#slots.map((s) => s.worker.terminate()));
  }
}
