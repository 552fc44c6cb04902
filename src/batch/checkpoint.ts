/**
 * The results file and its checkpoint (`<out>.checkpoint`).
 *
 * Results are appended in input order. Every commit first fsyncs the results
 * file, then replaces the checkpoint atomically (write a temporary file, fsync
 * it, rename it over the old one, fsync the directory). The checkpoint names
 * how many input records are done and how many bytes of the results file hold
 * their results, so at any instant — a SIGKILL included — the checkpoint on
 * disk describes a prefix of the results file that is durable. A restart
 * truncates the results file to that length (dropping a torn last line and
 * any results written after the last commit) and resumes after the last input
 * record the checkpoint counts: nothing is lost and nothing is duplicated.
 */
import { closeSync, fsyncSync, ftruncateSync, openSync, readFileSync, renameSync, fstatSync, writeSync, rmSync } from 'node:fs';
import { basename, dirname, join } from 'node:path';

import { addCounts, emptyCounts, type Counts } from './result.js';

export const CHECKPOINT_FORMAT = 'tee-verify-batch-checkpoint';

export interface Checkpoint {
  format: typeof CHECKPOINT_FORMAT;
  version: 1;
  /** The run's options that a resume must repeat (input, shard, collateral, policy, ...). */
  fingerprint: Record<string, unknown>;
  /** The verification instant of a fixed-instant run ("now" is resolved once and kept), or "collected". */
  at: string;
  /** Input records done: the next record to read has this index. */
  consumed: number;
  /** Byte offset in a JSONL input just after record `consumed - 1`. */
  inputOffset: number;
  /** Result lines in the first `bytes` bytes of the results file. */
  written: number;
  bytes: number;
  /** What those result lines count (the summary without --previous). */
  counts: Counts;
  complete: boolean;
}

/** The checkpoint cannot be used with these options, or the files disagree with it. */
export class CheckpointError extends Error {}

export const checkpointPath = (out: string): string => `${out}.checkpoint`;

function fsyncDirectory(dir: string): void {
  let fd: number | undefined;
  try {
    fd = openSync(dir, 'r');
    fsyncSync(fd);
  } catch {
    // Some file systems refuse to fsync a directory; the rename is still atomic.
  } finally {
    if (fd !== undefined) closeSync(fd);
  }
}

/** Replaces `path` with `text` atomically and durably. */
export function writeFileAtomic(path: string, text: string): void {
  const temp = join(dirname(path), `.${basename(path)}.${process.pid}.tmp`);
  const fd = openSync(temp, 'w', 0o644);
  try {
    writeSync(fd, text);
    fsyncSync(fd);
  } finally {
    closeSync(fd);
  }
  renameSync(temp, path);
  fsyncDirectory(dirname(path));
}

export function readCheckpoint(out: string): Checkpoint | undefined {
  let text: string;
  try {
    text = readFileSync(checkpointPath(out), 'utf8');
  } catch (err) {
    if ((err as NodeJS.ErrnoException).code === 'ENOENT') return undefined;
    throw new CheckpointError(`cannot read ${checkpointPath(out)}: ${(err as Error).message}`);
  }
  let cp: Checkpoint;
  try {
    cp = JSON.parse(text) as Checkpoint;
  } catch {
    throw new CheckpointError(`${checkpointPath(out)} is not a checkpoint (remove it or use --fresh)`);
  }
  const numbers = [cp.consumed, cp.inputOffset, cp.written, cp.bytes, cp.counts?.records];
  if (cp.format !== CHECKPOINT_FORMAT || cp.version !== 1 || !numbers.every((n) => Number.isSafeInteger(n) && (n as number) >= 0) || cp.counts.records !== cp.written) {
    throw new CheckpointError(`${checkpointPath(out)} is not a version 1 checkpoint (remove it or use --fresh)`);
  }
  return cp;
}

const sameJson = (a: unknown, b: unknown): boolean => JSON.stringify(a) === JSON.stringify(b);

/** Appends results and commits checkpoints; see the module comment. */
export class ResultWriter {
  readonly out: string;
  readonly #fd: number;
  #state: Checkpoint;
  #committed: Checkpoint;
  #lastCommit = 0;

  private constructor(out: string, fd: number, state: Checkpoint) {
    this.out = out;
    this.#fd = fd;
    this.#state = state;
    this.#committed = structuredClone(state);
  }

  /**
   * Opens `out` for a run: resumes from its checkpoint when one exists (and
   * `fresh` is false), else starts an empty results file and a checkpoint.
   */
  static open(out: string, fingerprint: Record<string, unknown>, at: string, fresh: boolean): ResultWriter {
    const existing = fresh ? undefined : readCheckpoint(out);
    if (existing) {
      if (!sameJson(existing.fingerprint, fingerprint)) {
        throw new CheckpointError(`${checkpointPath(out)} belongs to a run with other options (${JSON.stringify(existing.fingerprint)}); repeat them, or use --fresh`);
      }
      let fd: number;
      try {
        fd = openSync(out, 'r+');
      } catch (err) {
        throw new CheckpointError(`${out} cannot be reopened to resume: ${(err as NodeJS.ErrnoException).code ?? String(err)}`);
      }
      if (fstatSync(fd).size < existing.bytes) {
        closeSync(fd);
        throw new CheckpointError(`${out} is shorter than its checkpoint says (${existing.bytes} bytes): it was changed after the run`);
      }
      ftruncateSync(fd, existing.bytes); // drops a torn line and anything after the last commit
      fsyncSync(fd);
      return new ResultWriter(out, fd, existing);
    }
    let fd: number;
    try {
      removeCheckpoint(out); // first: a kill between the two steps must not leave a stale checkpoint over an empty file
      fd = openSync(out, 'w', 0o644);
    } catch (err) {
      throw new CheckpointError(`--out ${out} cannot be written: ${(err as NodeJS.ErrnoException).code ?? String(err)}`);
    }
    const state: Checkpoint = { format: CHECKPOINT_FORMAT, version: 1, fingerprint, at, consumed: 0, inputOffset: 0, written: 0, bytes: 0, counts: emptyCounts(), complete: false };
    const writer = new ResultWriter(out, fd, state);
    writer.commit();
    return writer;
  }

  /** The state as of the last commit (what a restart would resume from). */
  get committed(): Readonly<Checkpoint> {
    return this.#committed;
  }

  get state(): Readonly<Checkpoint> {
    return this.#state;
  }

  /** Appends the results (`counts` counts them) of input records up to `consumed` (exclusive); commits every `intervalMs`. */
  append(data: Uint8Array, counts: Counts, consumed: number, inputOffset: number, now: number, intervalMs: number): void {
    let at = 0;
    while (at < data.length) at += writeSync(this.#fd, data, at, data.length - at, this.#state.bytes + at);
    addCounts(this.#state.counts, counts); // #committed holds its own copy
    this.#state = { ...this.#state, bytes: this.#state.bytes + data.length, written: this.#state.written + counts.records, consumed, inputOffset };
    if (now - this.#lastCommit >= intervalMs) {
      this.commit();
      this.#lastCommit = now;
    }
  }

  /** Makes everything appended so far durable, then points the checkpoint at it. */
  commit(complete = false): void {
    fsyncSync(this.#fd);
    this.#state = { ...this.#state, complete: complete || this.#state.complete };
    writeFileAtomic(checkpointPath(this.out), `${JSON.stringify(this.#state)}\n`);
    this.#committed = structuredClone(this.#state);
  }

  close(): void {
    closeSync(this.#fd);
  }
}

/** Removes a checkpoint (a new run, before it truncates the results file). */
export function removeCheckpoint(out: string): void {
  rmSync(checkpointPath(out), { force: true });
}
