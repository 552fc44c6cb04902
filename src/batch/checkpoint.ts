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
 * The truncation waits for the first new result, so it happens only once the
 * resume check (resume-check.ts) has matched the checkpoint to the input; a
 * finished run's results file must be exactly `bytes` long and is never cut.
 *
 * The checkpoint is a pointer, not a source of verdicts: on resume every count
 * is recomputed from the kept prefix of the results file and must agree with
 * the checkpoint's (whose counts are a cache), the instant must be the one the
 * command asks for (`--at now`: the kept one, not later than now and the kept
 * lines' own, when a kept line was judged at an instant; else the current time), and a JSONL input must be the same file (size, mtime, a hash of
 * its ends). Anything else is a typed CheckpointError (exit 2).
 */
import { closeSync, fsyncSync, ftruncateSync, openSync, readFileSync, renameSync, fstatSync, writeSync, rmSync } from 'node:fs';
import { basename, dirname, join } from 'node:path';

import { jsonLine } from '../cli/terminal-text.js';
import { DuplicateIds } from './duplicates.js';
import type { InputIdentity } from './input-identity.js';
import { PrefixError, PrefixInstantError, recountPrefix, type IdSink } from './recount.js';
import { addCounts, emptyCounts, type Counts } from './result.js';
import { IdSequence, isPartial, type Selection } from './selection.js';
import { describeContentChange } from './setup-digests.js';
import { WHOLE, type Shard } from './shard.js';

export const CHECKPOINT_FORMAT = 'tee-verify-batch-checkpoint';

export interface Checkpoint {
  format: typeof CHECKPOINT_FORMAT;
  version: 2;
  /** The run's options that a resume must repeat (input, shard, collateral, policy, ...). */
  fingerprint: Record<string, unknown>;
  /** The verification instant of a fixed-instant run ("now" is resolved once and kept), or "collected". */
  at: string;
  /** Input records done: the next record to read has this index. */
  consumed: number;
  /** Byte offset in a JSONL input just after record `consumed - 1`. */
  inputOffset: number;
  /**
   * A directory input: the relative path of record `consumed - 1`; a resume goes on after it
   * in the walk's order and first checks that the listing up to it is the one the results cover.
   */
  lastPath?: string;
  /** Result lines in the first `bytes` bytes of the results file. */
  written: number;
  bytes: number;
  /** What those result lines count: a cache, recomputed from the results file on resume. */
  counts: Counts;
  /** The JSONL input file's identity (null for stdin and directories). */
  input: InputIdentity | null;
  complete: boolean;
}

export type CheckpointErrorCode =
  /** Unreadable, not a checkpoint, or inconsistent in itself. */
  | 'ERR_CHECKPOINT_INVALID'
  /** Written by a run with other options that decide the results. */
  | 'ERR_CHECKPOINT_OPTIONS'
  /** Its instant differs from the fixed --at of this command. */
  | 'ERR_CHECKPOINT_INSTANT'
  /** The JSONL input at the same path is not the file the checkpoint was written for. */
  | 'ERR_CHECKPOINT_INPUT_CHANGED'
  /** The results file disagrees with the checkpoint (shorter, other lines, other counts). */
  | 'ERR_CHECKPOINT_RESULTS'
  /** The results file cannot be opened or created. */
  | 'ERR_CHECKPOINT_IO';

/** The checkpoint cannot be used with these options, or the files disagree with it (exit 2). */
export class CheckpointError extends Error {
  readonly code: CheckpointErrorCode;
  constructor(code: CheckpointErrorCode, message: string) {
    super(message);
    this.name = 'CheckpointError';
    this.code = code;
  }
}

/**
 * The results file, its checkpoint or the summary could not be written during
 * the run (ENOSPC, EFBIG, EIO, EACCES, ...): the run stops; the checkpoint on
 * disk still describes a durable prefix, so the same command resumes from it
 * once the cause is fixed. Exit 70.
 */
export class BatchWriteError extends Error {
  readonly code = 'ERR_BATCH_WRITE';
  /** `what`: the file and its role, e.g. "the results file /data/out.jsonl or its checkpoint". */
  constructor(what: string, cause: unknown) {
    const sys = (cause as NodeJS.ErrnoException | undefined)?.code;
    super(`cannot write ${what}${sys ? ` (${sys})` : ''}: ${cause instanceof Error ? cause.message : String(cause)}; the run stopped and keeps the results up to its last checkpoint: fix the cause and run the same command again to resume`, { cause });
    this.name = 'BatchWriteError';
  }
}

const START_OVER = 'start over with --fresh';

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
    try {
      writeSync(fd, text);
      fsyncSync(fd);
    } finally {
      closeSync(fd);
    }
    renameSync(temp, path);
  } catch (err) {
    rmSync(temp, { force: true }); // a full disk must not also leave a stray temporary file
    throw err;
  }
  fsyncDirectory(dirname(path));
}

export function readCheckpoint(out: string): Checkpoint | undefined {
  let text: string;
  try {
    text = readFileSync(checkpointPath(out), 'utf8');
  } catch (err) {
    if ((err as NodeJS.ErrnoException).code === 'ENOENT') return undefined;
    throw new CheckpointError('ERR_CHECKPOINT_IO', `cannot read ${checkpointPath(out)}: ${(err as Error).message}`);
  }
  let cp: Checkpoint;
  try {
    cp = JSON.parse(text) as Checkpoint;
  } catch {
    throw new CheckpointError('ERR_CHECKPOINT_INVALID', `${checkpointPath(out)} is not a checkpoint (remove it or use --fresh)`);
  }
  const numbers = [cp?.consumed, cp?.inputOffset, cp?.written, cp?.bytes, cp?.counts?.records]; // "null" parses too
  if (cp === null || typeof cp !== 'object' || cp.format !== CHECKPOINT_FORMAT || cp.version !== 2 || !numbers.every((n) => Number.isSafeInteger(n) && (n as number) >= 0) || typeof cp.at !== 'string' || (cp.lastPath !== undefined && typeof cp.lastPath !== 'string')) {
    throw new CheckpointError('ERR_CHECKPOINT_INVALID', `${checkpointPath(out)} is not a version 2 checkpoint (remove it or use --fresh)`);
  }
  return cp;
}

const sameJson = (a: unknown, b: unknown): boolean => JSON.stringify(a) === JSON.stringify(b);

/** Same counts whatever the key order of the per-status maps. */
function sameCounts(a: Counts, b: Counts): boolean {
  const sorted = (m: Record<string, number>): [string, number][] => Object.entries(m).sort(([x], [y]) => (x < y ? -1 : x > y ? 1 : 0));
  const canonical = (c: Counts): string => JSON.stringify([c.records, c.outcomes.trusted, c.outcomes.rejected, c.outcomes.unavailable, sorted(c.byStatus ?? {}), sorted(c.byErrorCode ?? {})]);
  return typeof b === 'object' && b !== null && typeof b.outcomes === 'object' && b.outcomes !== null && canonical(a) === canonical(b);
}

/** An ISO-8601 instant exactly as this program writes it (Date#toISOString). */
const isIsoInstant = (at: string): boolean => !Number.isNaN(Date.parse(at)) && new Date(at).toISOString() === at;

export interface OpenOptions {
  /** The JSONL input's identity now; null for stdin and directories (default). */
  input?: InputIdentity | null;
  /** The run's shard: every kept result must belong to it (default: the whole input). */
  shard?: Shard;
  /** The run's selection (shard and retry list); replaces `shard` when given. */
  selection?: Selection;
  /**
   * `--at now` (`at` is then the current time, an ISO instant): a checkpoint whose kept results
   * include one judged at an instant (a non-null `at`) gives the resumed run its instant (the
   * first attempt's), which must not be later than `at` and must be the kept lines' instant; one
   * without such a result (none kept, or only records refused before an instant was chosen) takes
   * `at` (s15 batch #2; s15 change review r4 #1). Otherwise the checkpoint's instant must equal `at`.
   */
  instantFromCheckpoint?: boolean;
  /**
   * With `instantFromCheckpoint`: what the caller found with judgedPrefix when it chose the
   * instant (before starting workers with it). The recount must find the same; a results file
   * that changed in between is ERR_CHECKPOINT_RESULTS. Without it, the recount alone decides.
   */
  judged?: boolean;
}

const selectionOf = (o: OpenOptions): Selection => o.selection ?? { shard: o.shard ?? WHOLE };

/** The checks a checkpoint must pass before its results file is touched; see the module comment. */
function checkResumable(cp: Checkpoint, out: string, fingerprint: Record<string, unknown>, at: string, options: OpenOptions): void {
  const where = checkpointPath(out);
  if (!sameJson(cp.fingerprint, fingerprint)) {
    const content = describeContentChange(cp.fingerprint, fingerprint);
    if (content !== undefined) throw new CheckpointError('ERR_CHECKPOINT_OPTIONS', `${where} ${content}; restore those files, or ${START_OVER}`);
    throw new CheckpointError('ERR_CHECKPOINT_OPTIONS', `${where} belongs to a run with other options (${JSON.stringify(cp.fingerprint)}); repeat them, or ${START_OVER}`);
  }
  if (options.instantFromCheckpoint ? !isIsoInstant(cp.at) : cp.at !== at) {
    throw new CheckpointError('ERR_CHECKPOINT_INSTANT', `${where} is for the instant ${JSON.stringify(cp.at)}, not ${JSON.stringify(at)}; ${START_OVER}`);
  }
  const input = options.input ?? null;
  if (!sameJson(cp.input ?? null, input)) {
    throw new CheckpointError('ERR_CHECKPOINT_INPUT_CHANGED', `the input changed since ${where} was written (size, modification time or content: ${JSON.stringify(cp.input ?? null)} then, ${JSON.stringify(input)} now): resuming would skip or split records; ${START_OVER}`);
  }
  if (input && cp.inputOffset > input.size) {
    throw new CheckpointError('ERR_CHECKPOINT_INVALID', `${where} points past the end of the input (offset ${cp.inputOffset} of ${input.size} bytes); ${START_OVER}`);
  }
  // Every selected input record has exactly one result line: with the whole input, one per record.
  if (isPartial(selectionOf(options)) ? cp.written > cp.consumed : cp.written !== cp.consumed) {
    throw new CheckpointError('ERR_CHECKPOINT_INVALID', `${where} counts ${cp.consumed} input records done but ${cp.written} results; ${START_OVER}`);
  }
}

/**
 * The counts of the kept prefix, from its lines; they must agree with the checkpoint's cache (and
 * its instant). `seen.judged`: some kept line carries a non-null `at` (then it is the checkpoint's).
 */
function recountKept(fd: number, out: string, cp: Checkpoint, selection: Selection, ids: IdSink, seen: { judged: boolean }): Counts {
  let counts: Counts;
  try {
    counts = recountPrefix(fd, cp.bytes, selection, ids, cp.at === 'collected' ? undefined : cp.at, seen);
  } catch (err) {
    if (err instanceof PrefixInstantError) {
      throw new CheckpointError('ERR_CHECKPOINT_INSTANT', `${checkpointPath(out)} is for the instant ${cp.at}, but its results disagree: ${err.message}; ${START_OVER}`);
    }
    if (!(err instanceof PrefixError)) throw err;
    throw new CheckpointError('ERR_CHECKPOINT_RESULTS', `the first ${cp.bytes} bytes of ${out} are not what its checkpoint says: ${err.message}; ${START_OVER}`);
  }
  if (counts.records !== cp.written) {
    throw new CheckpointError('ERR_CHECKPOINT_RESULTS', `${out} holds ${counts.records} results where its checkpoint says ${cp.written}; ${START_OVER}`);
  }
  if (!sameCounts(counts, cp.counts)) {
    throw new CheckpointError('ERR_CHECKPOINT_RESULTS', `the counts in ${checkpointPath(out)} disagree with the results in ${out} (${JSON.stringify(counts.outcomes)} in the file); ${START_OVER}`);
  }
  return counts;
}

/** Appends results and commits checkpoints; see the module comment. */
export class ResultWriter {
  readonly out: string;
  readonly #fd: number;
  #state: Checkpoint;
  #committed: Checkpoint;
  #lastCommit = 0;
  /** The digest (IdSequence) of the ids of the result lines kept on open, in order. */
  readonly keptIds: string;
  /** Every result line's id, kept and appended: counts the lines that repeat an earlier id. */
  readonly duplicates: DuplicateIds;
  /** Opened from an existing checkpoint (a resume, or a finished run re-summarised). */
  readonly resumed: boolean;
  /**
   * A resume's results file is cut to the checkpoint's `bytes` only when the first result is
   * appended or committed, i.e. after the resume check read the input up to the checkpoint
   * (resume-check.ts): a refused resume leaves the results file as it was (s15 batch #1).
   */
  #truncatePending: boolean;

  private constructor(out: string, fd: number, state: Checkpoint, resumed = false, keptIds: string = new IdSequence().digest(), duplicates = new DuplicateIds()) {
    this.out = out;
    this.duplicates = duplicates;
    this.#fd = fd;
    this.#state = state;
    this.#committed = structuredClone(state);
    this.keptIds = keptIds;
    this.resumed = resumed;
    this.#truncatePending = resumed;
  }

  /**
   * Opens `out` for a run: resumes from its checkpoint when one exists (and
   * `fresh` is false), else starts an empty results file and a checkpoint.
   */
  static open(out: string, fingerprint: Record<string, unknown>, at: string, fresh: boolean, options: OpenOptions = {}): ResultWriter {
    if (options.instantFromCheckpoint && !isIsoInstant(at)) throw new TypeError(`ResultWriter.open: with instantFromCheckpoint, at must be the current time as an ISO instant (got ${JSON.stringify(at)})`);
    const existing = fresh ? undefined : readCheckpoint(out);
    if (existing) {
      checkResumable(existing, out, fingerprint, at, options);
      let fd: number;
      try {
        fd = openSync(out, 'r+');
      } catch (err) {
        throw new CheckpointError('ERR_CHECKPOINT_IO', `${out} cannot be reopened to resume: ${(err as NodeJS.ErrnoException).code ?? String(err)}`);
      }
      try {
        const size = fstatSync(fd).size;
        if (size < existing.bytes) {
          throw new CheckpointError('ERR_CHECKPOINT_RESULTS', `${out} is shorter than its checkpoint says (${existing.bytes} bytes): it was changed after the run; ${START_OVER}`);
        }
        // A finished run wrote nothing after its last commit: a longer file is not the one the
        // checkpoint describes (s15 batch #1: a checkpoint marked complete early cut the results).
        if (existing.complete && size !== existing.bytes) {
          throw new CheckpointError('ERR_CHECKPOINT_RESULTS', `${checkpointPath(out)} says the run is complete with ${existing.bytes} bytes of results, but ${out} holds ${size}: one of them was changed after the run (nothing was truncated); ${START_OVER}`);
        }
        // Recounted in place (only the first `bytes` bytes are read); the tail past them is dropped
        // once the resume check has passed (see #truncatePending).
        const ids = new IdSequence();
        const duplicates = new DuplicateIds();
        const seen = { judged: false };
        const counts = recountKept(fd, out, existing, selectionOf(options), { add: (id) => (ids.add(id), duplicates.add(id)) }, seen);
        if (options.instantFromCheckpoint && options.judged !== undefined && options.judged !== seen.judged) {
          throw new CheckpointError('ERR_CHECKPOINT_RESULTS', `${out} changed while the run started (its kept results ${seen.judged ? 'now hold' : 'no longer hold'} a record judged at an instant); run the command again`);
        }
        // --at now without a kept result judged at an instant (none kept, or only records refused
        // before one was chosen, whose "at" is null): nothing was judged at the checkpoint's
        // instant and no kept line could contradict it, so the current time replaces it (written
        // with the next commit; s15 batch #2, s15 change review r4 #1).
        const keeps = !options.instantFromCheckpoint || seen.judged;
        // The kept instant judges every remaining record, so it must be one this program could have
        // read from the clock (not in the future); the recount checked it is the kept lines' instant.
        if (options.instantFromCheckpoint && keeps && Date.parse(existing.at) > Date.parse(at)) {
          throw new CheckpointError('ERR_CHECKPOINT_INSTANT', `${checkpointPath(out)} is for the instant ${existing.at}, later than the current time ${at} (this machine's clock is behind the first attempt's, or the checkpoint was edited): --at now never judges at a future instant; ${START_OVER}`);
        }
        const instant = keeps ? existing.at : at;
        return new ResultWriter(out, fd, { ...existing, counts, at: instant }, true, ids.digest(), duplicates);
      } catch (err) {
        closeSync(fd);
        throw err;
      }
    }
    let fd: number;
    try {
      removeCheckpoint(out); // first: a kill between the two steps must not leave a stale checkpoint over an empty file
      fd = openSync(out, 'w', 0o644);
    } catch (err) {
      throw new CheckpointError('ERR_CHECKPOINT_IO', `--out ${out} cannot be written: ${(err as NodeJS.ErrnoException).code ?? String(err)}`);
    }
    const state: Checkpoint = { format: CHECKPOINT_FORMAT, version: 2, fingerprint, at, consumed: 0, inputOffset: 0, written: 0, bytes: 0, counts: emptyCounts(), input: options.input ?? null, complete: false };
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

  /**
   * Appends the results (`counts` counts them) of input records up to `consumed` (exclusive),
   * the last of them a directory's `lastPath` when given; commits every `intervalMs`.
   */
  append(data: Uint8Array, counts: Counts, consumed: number, inputOffset: number, now: number, intervalMs: number, lastPath?: string, ids: readonly string[] = []): void {
    this.#truncateOnce();
    let at = 0;
    while (at < data.length) at += writeSync(this.#fd, data, at, data.length - at, this.#state.bytes + at);
    for (const id of ids) this.duplicates.add(id);
    addCounts(this.#state.counts, counts); // #committed holds its own copy
    this.#state = { ...this.#state, bytes: this.#state.bytes + data.length, written: this.#state.written + counts.records, consumed, inputOffset, ...(lastPath === undefined ? {} : { lastPath }) };
    if (now - this.#lastCommit >= intervalMs) {
      this.commit();
      this.#lastCommit = now;
    }
  }

  /** Makes everything appended so far durable, then points the checkpoint at it. */
  commit(complete = false): void {
    this.#truncateOnce();
    fsyncSync(this.#fd);
    this.#state = { ...this.#state, complete: complete || this.#state.complete };
    // jsonLine: a directory input's lastPath is an archive-supplied name (s16 change review batch #3)
    writeFileAtomic(checkpointPath(this.out), `${jsonLine(this.#state)}\n`);
    this.#committed = structuredClone(this.#state);
  }

  close(): void {
    closeSync(this.#fd);
  }

  /** Drops a torn line and anything written after the last commit of the run resumed. */
  #truncateOnce(): void {
    if (!this.#truncatePending) return;
    ftruncateSync(this.#fd, this.#state.bytes);
    fsyncSync(this.#fd);
    this.#truncatePending = false;
  }
}

/** Removes a checkpoint (a new run, before it truncates the results file). */
export function removeCheckpoint(out: string): void {
  rmSync(checkpointPath(out), { force: true });
}
