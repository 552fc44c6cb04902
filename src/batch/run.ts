/**
 * One batch run: read records in input order, verify them on a worker pool
 * with a bounded number of chunks outstanding (the reader waits when the
 * writer falls behind), write results in input order with checkpoints, then
 * summarise the whole results file. Memory is bounded by the chunks in flight,
 * whatever the size of the archive.
 */
import { accessSync, constants, createReadStream, statSync } from 'node:fs';
import { dirname } from 'node:path';

import type { CliStream } from '../cli/io.js';
import { BatchWriteError, CheckpointError, checkpointPath, readCheckpoint, ResultWriter, type Checkpoint } from './checkpoint.js';
import { chunkRecords, type Chunk } from './chunker.js';
import { fingerprintOf, type BatchConfig, type InstantSpec, type SetupFiles, type VerifySetup } from './config.js';
import { createContext, SetupError } from './context.js';
import { inputIdentityOf, type InputIdentity } from './input-identity.js';
import { PolicyFileError } from './judge.js';
import { readSetupFiles } from './setup-digests.js';
import { checkDistinctFiles, SameFileError } from './paths.js';
import { checkedResume, drainCheckedResume, type ResumePoint } from './resume-check.js';
import { WorkerPool } from './pool.js';
import { loadPrevious } from './previous.js';
import { describeSelection, unavailableIds, type Selection } from './selection.js';
import { ProgressBar, type ProgressState } from './progress.js';
import { judgedPrefix } from './recount.js';
import { readDirectory, readJsonlFile, splitLines, streamBlocks, type InputRecord, type ReadProgress } from './records.js';
import type { JobResult } from './protocol.js';
import { summarize, type Summary } from './summary.js';

export interface RunHooks {
  /** Where the progress bar goes; drawn only when `isTTY`. */
  stderr?: CliStream;
  /** The stream read for input "-". */
  stdin?: AsyncIterable<Uint8Array | string>;
  /** The wall clock, read once for `--at now`. */
  now?: () => Date;
  /** Default 250 ms. */
  checkpointIntervalMs?: number;
  workerUrl?: URL;
  /** Records per chunk (default 64). */
  chunkRecords?: number;
  /**
   * Called once the results file is opened from a checkpoint that counts records, or whose instant
   * `--at now` replaced (`at`: the instant used; `instant`: 'kept' the checkpoint's, 'current' the
   * current time because the checkpoint holds no result judged at an instant yet (none, or only
   * records refused before one was chosen), 'command' a fixed --at or collected).
   */
  onResume?: (info: { at: string; resumedAt: number; instant: 'kept' | 'current' | 'command'; checkpointAt: string }) => void;
}

export interface RunOutcome {
  summary: Summary;
  /** Records this process verified (after a resume: only the new ones). */
  processed: number;
  /** Input records the checkpoint already counted when this process started. */
  resumedAt: number;
  /** The instant used: ISO-8601 or "collected". */
  at: string;
  elapsedMs: number;
}

export { SetupError, CheckpointError, PolicyFileError, BatchWriteError, SameFileError };

/** `files`: the setup files' bytes, read once for the whole run (review s14 #2). */
function setupOf(config: BatchConfig, instant: InstantSpec, files: SetupFiles): VerifySetup {
  return {
    instant,
    files,
    collateral: config.collateral,
    ...(config.pcsUrl === undefined ? {} : { pcsUrl: config.pcsUrl }),
    ...(config.trustRoot === undefined ? {} : { trustRoot: config.trustRoot }),
    skipCrl: config.skipCrl,
    ...(config.policy === undefined ? {} : { policy: config.policy }),
    allowRecordPolicy: config.allowRecordPolicy,
  };
}

/** A JSONL file's identity for the checkpoint (a resume must find the same file); null for stdin and directories. */
function inputIdentity(config: BatchConfig): InputIdentity | null {
  if (config.inputKind !== 'jsonl') return null;
  try {
    return inputIdentityOf(config.input);
  } catch (err) {
    throw new SetupError(`input ${config.input} cannot be read: ${(err as NodeJS.ErrnoException).code ?? String(err)}`);
  }
}

function openInput(config: BatchConfig, hooks: RunHooks, consumed: number, inputOffset: number, progress: ReadProgress): AsyncIterable<InputRecord> {
  if (config.inputKind === 'directory') return readDirectory(config.input, { startIndex: consumed, progress });
  const options = { maxLineBytes: config.maxRecordBytes, startOffset: inputOffset, startIndex: consumed, progress };
  if (config.inputKind === 'jsonl') return readJsonlFile(config.input, options);
  // A FIFO / process substitution: read as a stream (sequentially), never at positions (review s12 #5).
  if (config.inputKind === 'pipe') return splitLines(streamBlocks(createReadStream(config.input), inputOffset), options);
  const stdin = hooks.stdin ?? (process.stdin as AsyncIterable<Uint8Array>);
  return splitLines(streamBlocks(stdin, inputOffset), options);
}

/**
 * Every resume re-reads the input up to the checkpoint (resume-check.ts), whatever the input and
 * the selection: the checkpoint's position (`consumed`, `inputOffset`) and, for a finished run,
 * its completion are checked against the input before anything is verified or truncated. Before
 * s15 (batch #1) a whole-input JSONL / stdin run trusted them, so a checkpoint with its offset
 * moved forward skipped records silently, and one marked complete early exited with the summary of
 * a prefix (0 when that prefix was trusted).
 */
function resumePointOf(config: BatchConfig, selection: Selection, writer: ResultWriter): ResumePoint | undefined {
  if (!writer.resumed) return undefined;
  return { checkpoint: writer.state, keptIds: writer.keptIds, selection, where: checkpointPath(config.out) };
}

/** The input from its start, through the resume check; see resume-check.ts. */
function openChecked(config: BatchConfig, hooks: RunHooks, point: ResumePoint, progress: ReadProgress, complete = false): AsyncIterable<InputRecord> {
  return checkedResume(openInput(config, hooks, 0, 0, progress), point, complete);
}

/** Verifies every record not yet in the results file; resolves when all are written and committed. */
async function verifyPending(config: BatchConfig, pool: WorkerPool, writer: ResultWriter, hooks: RunHooks, point: ResumePoint | undefined): Promise<number> {
  const start = writer.state;
  const progress: ReadProgress = { done: start.inputOffset, total: undefined };
  const live: ProgressState = { records: start.written, outcomes: { ...start.counts.outcomes }, fraction: undefined };
  const bar = hooks.stderr?.isTTY ? new ProgressBar(hooks.stderr) : undefined;
  const interval = hooks.checkpointIntervalMs ?? 250;
  const maxOutstanding = config.workers * 4;
  const done = new Map<number, { chunk: Chunk; result: JobResult }>();
  let nextToWrite = 0;
  let submitted = 0;
  let processed = 0;
  let failure: Error | undefined;
  let wake: (() => void) | undefined;
  const signal = (): void => {
    wake?.();
    wake = undefined;
  };
  const writeReady = (): void => {
    if (failure) return; // after a write error nothing more is written: the last commit stays the resume point
    for (let entry = done.get(nextToWrite); entry; entry = done.get(nextToWrite)) {
      done.delete(nextToWrite++);
      const { chunk, result } = entry;
      try {
        writer.append(result.data, result.counts, chunk.consumed, chunk.inputOffset, Date.now(), interval, chunk.lastPath, result.ids);
      } catch (err) {
        // ENOSPC, EFBIG, EIO, EACCES...: this runs in a promise callback, so it must stop the
        // run here (a throw would be an unhandled rejection: exit 1, "some records rejected").
        failure = new BatchWriteError(`the results file ${config.out} or its checkpoint`, err);
        signal();
        return;
      }
      processed += result.counts.records;
      live.records += result.counts.records;
      for (const k of ['trusted', 'rejected', 'unavailable'] as const) live.outcomes[k] += result.counts.outcomes[k];
    }
    live.fraction = progress.total ? progress.done / progress.total : undefined;
    bar?.update(live);
    signal();
  };
  const limits = { maxRecords: hooks.chunkRecords ?? 64, maxBytes: 256 * 1024 };
  const input = point ? openChecked(config, hooks, point, progress) : openInput(config, hooks, start.consumed, start.inputOffset, progress);
  for await (const chunk of chunkRecords(input, limits)) {
    while (!failure && submitted - nextToWrite >= maxOutstanding) await new Promise<void>((r) => (wake = r));
    if (failure) break;
    submitted++;
    pool.submit(chunk.job).then(
      (result) => {
        done.set(chunk.job.seq, { chunk, result });
        writeReady();
      },
      (err: Error) => {
        failure ??= err;
        signal();
      },
    );
  }
  while (!failure && nextToWrite < submitted) await new Promise<void>((r) => (wake = r));
  if (failure) throw failure;
  try {
    writer.commit(true);
  } catch (err) {
    throw new BatchWriteError(`the results file ${config.out} or its checkpoint`, err);
  }
  if (bar) bar.finish(live);
  return processed;
}

/**
 * --previous must be a readable regular file and --summary writable before hours of work, not after
 * (review s12 #4: a directory passed these checks and failed with exit 70 after every record; a FIFO
 * as --previous would be read twice, and opening it blocks).
 */
function checkSideFiles(config: BatchConfig): void {
  const fail = (what: string, path: string, err: unknown): never => {
    throw new SetupError(`${what} ${path}: ${(err as NodeJS.ErrnoException).code ?? String(err)}`);
  };
  if (config.previous !== undefined) {
    const path = config.previous;
    try {
      accessSync(path, constants.R_OK);
    } catch (err) {
      fail('--previous cannot be read:', path, err);
    }
    if (!statSync(path).isFile()) throw new SetupError(`--previous ${path} is not a regular file (a results file of an earlier run)`);
  }
  if (config.summary !== undefined) {
    const path = config.summary;
    try {
      accessSync(dirname(path), constants.W_OK);
    } catch (err) {
      fail('--summary cannot be written in the directory of', path, err);
    }
    let existing;
    try {
      existing = statSync(path);
    } catch {
      existing = undefined; // created at the end
    }
    if (existing && !existing.isFile()) throw new SetupError(`--summary ${path} exists and is not a regular file (it is replaced by a rename at the end)`);
  }
}

/** A pipe cannot seek: a run over one is not resumed (a complete run is only re-summarised, reading it again to check it). */
function refusePipeResume(config: BatchConfig, resume: Checkpoint | undefined): void {
  if (config.inputKind !== 'pipe' || !resume || resume.complete || resume.consumed === 0) return;
  throw new SetupError(
    `the input ${config.input} is a pipe (FIFO), and ${checkpointPath(config.out)} says ${resume.consumed} records were done: a run over a pipe cannot be resumed (it cannot seek back to check or skip them); start over with --fresh, or give the archive as a regular file`,
  );
}

/** The records this run verifies: its shard and, with --only-unavailable, that file's unavailable ids. */
async function selectionOf(config: BatchConfig): Promise<Selection> {
  if (config.onlyUnavailable === undefined) return { shard: config.shard };
  try {
    return { shard: config.shard, only: await unavailableIds(config.onlyUnavailable, 16 << 20) };
  } catch (err) {
    throw new SetupError(`--only-unavailable ${config.onlyUnavailable} cannot be read: ${(err as NodeJS.ErrnoException).code ?? String(err)}`);
  }
}

/**
 * The checkpoint this run will resume from, if any (read only: ResultWriter.open decides), and
 * whether its kept results hold a record judged at an instant (a non-null `at`; see judgedPrefix):
 * only then does `--at now` keep the checkpoint's instant. Decided here, before the workers start
 * with the instant, and handed to ResultWriter.open, whose recount must find the same.
 */
function resumable(config: BatchConfig, fingerprint: Record<string, unknown>): { checkpoint: Checkpoint | undefined; judged: boolean } {
  const existing = config.fresh ? undefined : readCheckpoint(config.out);
  if (!existing || JSON.stringify(existing.fingerprint) !== JSON.stringify(fingerprint)) return { checkpoint: undefined, judged: false };
  const atNow = config.instant.mode === 'fixed' && config.instant.now === true; // only --at now needs to know
  return { checkpoint: existing, judged: atNow && existing.written > 0 && judgedPrefix(config.out, existing.bytes) };
}

/** The summary; a failure to write its file is a BatchWriteError naming it (the results are complete). */
async function writeSummary(config: BatchConfig, input: Parameters<typeof summarize>[0]): Promise<Summary> {
  try {
    return await summarize(input);
  } catch (err) {
    if (config.summary === undefined || typeof (err as NodeJS.ErrnoException).code !== 'string') throw err;
    throw new BatchWriteError(`the summary ${config.summary} (the results file is complete)`, err);
  }
}

/** Runs (or resumes, or only re-summarises a finished) batch. Throws SetupError / CheckpointError for usage problems. */
export async function runBatch(config: BatchConfig, hooks: RunHooks = {}): Promise<RunOutcome> {
  const started = Date.now();
  checkDistinctFiles(config); // before anything is opened for writing
  const selection = await selectionOf(config);
  // The policy, trust-root and bundle files are read here, once: the checkpoint's digests, the setup
  // check below and every worker use these bytes, never the paths again (review s14 #2: a file
  // replaced while the run started was judged with other content than the checkpoint names).
  const files = readSetupFiles(config);
  const fingerprint = { ...fingerprintOf(config, files), ...describeSelection(selection) };
  const { checkpoint: resume, judged } = resumable(config, fingerprint);
  refusePipeResume(config, resume);
  // "now" is read once per run: a resumed run keeps the instant of its first attempt when results
  // were judged at it (ResultWriter.open checks it is an instant, not later than now, and the kept
  // lines' instant); a checkpoint without such a result (none, or only records refused before an
  // instant was chosen: "at": null) takes the current time (s15 batch #2, s15 change review r4 #1).
  // A fixed --at is always the command's own: a checkpoint of another instant is refused, never followed.
  const fromCheckpoint = config.instant.mode === 'fixed' && config.instant.now === true;
  const keepsInstant = fromCheckpoint && resume !== undefined && judged;
  const current = config.instant.mode === 'collected' ? 'collected' : config.instant.at;
  const at = keepsInstant ? resume.at : current;
  const instant: InstantSpec = config.instant.mode === 'collected' ? config.instant : { mode: 'fixed', at };
  // Workers load the package while this thread checks the setup and the checkpoint.
  const starting = resume?.complete
    ? undefined
    : WorkerPool.start(
        config.workers,
        {
          setup: setupOf(config, instant, files),
          shard: config.shard,
          ...(selection.only ? { only: selection.only } : {}),
          maxRecordBytes: config.maxRecordBytes,
          ...(config.inputKind === 'directory' ? { directory: config.input } : {}),
        },
        hooks.workerUrl,
      );
  starting?.catch(() => undefined); // awaited below; never an unhandled rejection
  let writer: ResultWriter;
  try {
    await createContext(setupOf(config, config.instant, files)); // bundles, trust root and policy, before the results file is touched
    checkSideFiles(config);
    // With --at now, open is given the current time; it answers with the instant the run uses.
    writer = ResultWriter.open(config.out, fingerprint, fromCheckpoint ? current : at, config.fresh, {
      input: inputIdentity(config),
      selection,
      instantFromCheckpoint: fromCheckpoint,
      ...(fromCheckpoint && resume !== undefined ? { judged } : {}),
    });
    if (writer.state.at !== at) {
      // The checkpoint changed between the two reads: the workers were started with another instant.
      writer.close();
      throw new CheckpointError('ERR_CHECKPOINT_INSTANT', `${checkpointPath(config.out)} changed while the run started (instant ${writer.state.at}, not ${at}); run the command again`);
    }
  } catch (err) {
    await starting?.then((p) => p.close(), () => undefined);
    throw err;
  }
  const resumedAt = writer.state.consumed;
  const instantOf = keepsInstant ? 'kept' : fromCheckpoint ? 'current' : 'command';
  const replaced = writer.resumed && fromCheckpoint && !keepsInstant && resume !== undefined && resume.at !== at;
  if (resumedAt > 0 || replaced) hooks.onResume?.({ at, resumedAt, instant: instantOf, checkpointAt: resume?.at ?? at });
  const point = resumePointOf(config, selection, writer);
  let processed = 0;
  try {
    // A finished run is only re-summarised; its input is still checked, to its end. stdin and a pipe
    // too (s15 change review r4 #2): re-summarised unread, a checkpoint marked complete at any commit
    // (consumed 0 included) gave the summary of its prefix, exit 0 for 0 records of a 300-record
    // stream. A resume is fed the same stream anyway; an empty one is refused when records are counted.
    if (!starting && point) await drainCheckedResume(openChecked(config, hooks, point, { done: 0, total: undefined }, true));
    if (starting) {
      const pool = await starting;
      try {
        processed = await verifyPending(config, pool, writer, hooks, point);
      } finally {
        await pool.close();
      }
    }
  } finally {
    writer.close();
  }
  const previous = config.previous ? { file: config.previous, ...(await loadPrevious(config.previous, 16 << 20)) } : undefined;
  const summary = await writeSummary(config, {
    results: config.out,
    counts: writer.state.counts,
    duplicateIds: writer.duplicates.duplicates,
    maxLineBytes: 16 << 20,
    ...(previous ? { previous: { file: previous.file, table: previous.table, skippedLines: previous.skipped, duplicateIds: previous.duplicates } } : {}),
    ...(config.summary ? { file: config.summary } : {}),
    header: { at: instant.mode === 'collected' ? 'collected' : instant.at, shard: `${config.shard.index}/${config.shard.count}`, input: config.input, out: config.out },
  });
  return { summary, processed, resumedAt, at: instant.mode === 'collected' ? 'collected' : instant.at, elapsedMs: Date.now() - started };
}
