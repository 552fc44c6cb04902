/**
 * s15 red team, batch finding 1: a resume of a plain JSONL / stdin run (no
 * --shard, no --only-unavailable) trusted the checkpoint's position and its
 * `complete` flag. An edit of the checkpoint alone (its `inputOffset` moved
 * forward, or `complete: true` set early) dropped records silently, exited 0
 * with the summary of a trusted prefix, and truncated the real results to the
 * checkpoint's `bytes`. Now every resume re-reads the input up to the
 * checkpoint (resume-check.ts), a finished run is drained to the input's end,
 * a finished run's results file must be exactly `bytes` long, and a refused
 * resume leaves the results file as it was.
 *
 * s15 change review r4 #2: a finished stdin / pipe run was re-summarised
 * without reading its stream, so `complete: true` set on the checkpoint of a
 * run killed before its first commit (consumed 0, an empty results file) gave
 * "0 records ... 0 rejected", exit 0, for a 60-record stream. Now the stream is
 * read again and checked to its end like a file; an empty stream for a
 * checkpoint that counts records is refused.
 */
import { execFileSync, spawn, type ChildProcess } from 'node:child_process';
import { copyFileSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { Readable } from 'node:stream';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';

import { CheckpointError, checkpointPath } from '../../src/batch/checkpoint.js';
import { countResult, emptyCounts, type ResultRecord } from '../../src/batch/result.js';
import { runBatch } from '../../src/batch/run.js';
import { parseBatchArgs, runBatchCli } from '../../src/cli/batch.js';
import { capture, exitOf, ids, makeArchive, readResults, requireBuilt, type Archive } from './helpers.js';

const AT = new Date('2026-03-01T12:00:00Z');
const RECORDS = 60;
let archive: Archive;
let work: string;
/** The byte offset after each input line. */
let ends: number[];
let full: string;
let fullText: string;
let fullCode: number;

beforeAll(async () => {
  requireBuilt();
  archive = await makeArchive(RECORDS, AT);
  work = mkdtempSync(join(tmpdir(), 'tee-verify-batch-s15-resume-'));
  let end = 0;
  ends = readFileSync(archive.jsonl, 'utf8').split('\n').filter((l) => l.length > 0).map((l) => (end += Buffer.byteLength(l) + 1));
  full = join(work, 'full.jsonl');
  fullCode = (await run([archive.jsonl, '--out', full, ...common()])).code;
  fullText = readFileSync(full, 'utf8');
}, 120_000);

const writers: ChildProcess[] = [];

afterAll(() => {
  for (const w of writers) if (w.exitCode === null && w.signalCode === null) w.kill(); // a FIFO never opened for reading
  for (const dir of [archive?.dir, work]) if (dir) rmSync(dir, { recursive: true, force: true });
});

const common = (): string[] => ['--at', AT.toISOString(), '--collateral', archive.collateral, '--trust-root', archive.trustRoot, '--workers', '1'];

async function run(args: string[], stdin?: Buffer) {
  const c = capture();
  const code = await runBatchCli(args, c.io, stdin === undefined ? {} : { stdin: Readable.from([stdin]) });
  return { code, stdout: c.stdout(), stderr: c.stderr() };
}

async function resumeError(args: string[], stdin?: Buffer): Promise<string | undefined> {
  try {
    await runBatch(parseBatchArgs(args)!, stdin === undefined ? {} : { stdin: Readable.from([stdin]) });
  } catch (err) {
    return err instanceof CheckpointError ? err.code : `not a CheckpointError: ${String(err)}`;
  }
  return undefined;
}

/** A copy of the full run's results and checkpoint under another name. */
function copyOfFull(name: string): string {
  const out = join(work, name);
  copyFileSync(full, out);
  copyFileSync(checkpointPath(full), checkpointPath(out));
  return out;
}

/**
 * Rewrites ONLY the checkpoint (as the red team's forge.mjs): it keeps the real first `kept` result
 * lines (bytes, written, consumed, counts recomputed, so the recount agrees) and points `inputOffset`
 * at the end of input record `offsetAfter - 1`. The results file is not touched.
 */
function forgeCheckpoint(out: string, kept: number, offsetAfter: number, extra: Record<string, unknown> = {}): void {
  const cp = JSON.parse(readFileSync(checkpointPath(out), 'utf8')) as Record<string, unknown>;
  const lines = readFileSync(out, 'utf8').split('\n').slice(0, kept);
  const counts = emptyCounts();
  for (const l of lines) countResult(counts, JSON.parse(l) as ResultRecord);
  const bytes = lines.reduce((n, l) => n + Buffer.byteLength(l) + 1, 0);
  writeFileSync(checkpointPath(out), JSON.stringify({ ...cp, consumed: kept, written: kept, bytes, counts, inputOffset: offsetAfter === 0 ? 0 : ends[offsetAfter - 1], complete: false, ...extra }));
}

/** Cuts the results file to its first `kept` lines (what the checkpoint of a run killed at a commit covers). */
function cutResults(out: string, kept: number): void {
  writeFileSync(out, fullText.split('\n').slice(0, kept).map((l) => `${l}\n`).join(''));
}

describe('s15 batch #1: a whole-input JSONL resume checks the checkpoint against the input', () => {
  it('the full run is the reference (some records rejected or unavailable)', () => {
    expect(fullCode).toBe(4);
    expect(readResults(full)).toHaveLength(RECORDS);
  });

  it('a checkpoint whose inputOffset was moved forward (results untouched) is refused; the results are not truncated', async () => {
    const out = copyOfFull('offset.jsonl');
    forgeCheckpoint(out, 10, 40); // keep 10 results, resume after input record 40: 30 records would vanish
    const r = await run([archive.jsonl, '--out', out, ...common()]);
    expect(r.code).toBe(2);
    expect(r.stderr).toMatch(/the input before byte \d+ is not what .* describes: .*ending at byte/);
    expect(await resumeError([archive.jsonl, '--out', out, ...common()])).toBe('ERR_CHECKPOINT_INVALID');
    expect(readFileSync(out, 'utf8')).toBe(fullText); // nothing cut
  });

  it('the same edit with the results cut to the kept lines is refused too', async () => {
    const out = copyOfFull('offset-cut.jsonl');
    forgeCheckpoint(out, 10, 40);
    cutResults(out, 10);
    expect(await resumeError([archive.jsonl, '--out', out, ...common()])).toBe('ERR_CHECKPOINT_INVALID');
    expect(readResults(out)).toHaveLength(10);
  });

  it('a checkpoint with nothing done but an offset into the input is refused (it would skip the first records)', async () => {
    const out = copyOfFull('offset-zero.jsonl');
    forgeCheckpoint(out, 0, 20);
    cutResults(out, 0);
    expect(await resumeError([archive.jsonl, '--out', out, ...common()])).toBe('ERR_CHECKPOINT_INVALID');
  });

  it('"complete": true set early (results untouched) is refused and nothing is truncated', async () => {
    const out = copyOfFull('complete.jsonl');
    forgeCheckpoint(out, 5, 5, { complete: true });
    const r = await run([archive.jsonl, '--out', out, ...common()]);
    expect(r.code).toBe(2);
    expect(r.stderr).toMatch(/says the run is complete with \d+ bytes of results, but .* holds \d+/);
    expect(await resumeError([archive.jsonl, '--out', out, ...common()])).toBe('ERR_CHECKPOINT_RESULTS');
    expect(readFileSync(out, 'utf8')).toBe(fullText);
  });

  it('"complete": true over the results of a run killed at a commit is refused, never exit 0 with a prefix summary', async () => {
    const trustedPrefix = readResults(full).findIndex((x) => !x.ok);
    expect(trustedPrefix).toBeGreaterThan(0);
    const out = copyOfFull('complete-cut.jsonl');
    forgeCheckpoint(out, trustedPrefix, trustedPrefix, { complete: true });
    cutResults(out, trustedPrefix);
    const r = await run([archive.jsonl, '--out', out, ...common()]);
    expect(r.code).toBe(2);
    expect(r.stderr).toMatch(new RegExp(`says the run is complete, but the input has record ${trustedPrefix} after its last record`));
    expect(await resumeError([archive.jsonl, '--out', out, ...common()])).toBe('ERR_CHECKPOINT_INPUT_CHANGED');
    expect(readResults(out)).toHaveLength(trustedPrefix);
  });

  it('stdin: an offset moved forward is refused as well', async () => {
    const input = readFileSync(archive.jsonl);
    const out = join(work, 'stdin.jsonl');
    expect((await run(['-', '--out', out, ...common()], input)).code).toBe(4);
    const before = readFileSync(out, 'utf8');
    forgeCheckpoint(out, 10, 40);
    expect(await resumeError(['-', '--out', out, ...common()], input)).toBe('ERR_CHECKPOINT_INVALID');
    expect(readFileSync(out, 'utf8')).toBe(before);
    // stdin: a finished run reads the stream again to its end, and its results must be exactly the checkpoint's.
    forgeCheckpoint(out, 10, 10, { complete: true });
    expect(await resumeError(['-', '--out', out, ...common()], input)).toBe('ERR_CHECKPOINT_RESULTS');
    expect(readFileSync(out, 'utf8')).toBe(before);
  });

  it('genuine resumes still work: a run killed at a commit, and one with uncommitted lines past the checkpoint', async () => {
    const atCommit = copyOfFull('genuine.jsonl');
    forgeCheckpoint(atCommit, 25, 25);
    cutResults(atCommit, 25);
    const r = await run([archive.jsonl, '--out', atCommit, ...common()]);
    expect(r.code).toBe(fullCode);
    expect(r.stdout).toContain('resumed after input record 25');
    expect(readFileSync(atCommit, 'utf8')).toBe(fullText);
    // Lines written after the last commit (and a torn one) are dropped and verified again.
    const past = copyOfFull('genuine-past.jsonl');
    forgeCheckpoint(past, 25, 25);
    writeFileSync(past, `${fullText.split('\n').slice(0, 31).join('\n')}\n{"id":"torn`);
    const again = await run([archive.jsonl, '--out', past, ...common()]);
    expect(again.code).toBe(fullCode);
    expect(ids(readResults(past))).toEqual(ids(readResults(full)));
    expect(readFileSync(past, 'utf8')).toBe(fullText);
    // A finished run is re-summarised (its input drained to the end), with the same exit code.
    const done = await run([archive.jsonl, '--out', past, ...common()]);
    expect(done.code).toBe(fullCode);
    expect(done.stdout).toContain(`verified 0 records in this run, resumed after input record ${RECORDS}`);
  });
});

describe('s15 change review r4 #2: a finished stdin / pipe run is checked against its stream when re-summarised', () => {
  /** The checkpoint of a run killed before its first commit (genuine: consumed 0, no results), then marked complete. */
  function killedBeforeFirstCommit(out: string): void {
    const cp = JSON.parse(readFileSync(checkpointPath(out), 'utf8')) as Record<string, unknown>;
    writeFileSync(out, '');
    writeFileSync(checkpointPath(out), JSON.stringify({ ...cp, consumed: 0, inputOffset: 0, written: 0, bytes: 0, counts: emptyCounts(), complete: true }));
  }

  it('stdin: "complete": true on a consumed-0 checkpoint is refused when the stream has records, never exit 0 with 0 records', async () => {
    const input = readFileSync(archive.jsonl);
    const out = join(work, 'stdin-complete0.jsonl');
    expect((await run(['-', '--out', out, ...common()], input)).code).toBe(4);
    killedBeforeFirstCommit(out);
    const r = await run(['-', '--out', out, ...common()], input);
    expect(r.code).toBe(2);
    expect(r.stdout).toBe('');
    expect(r.stderr).toMatch(/says the run is complete, but the input has record 0 after its last record/);
    expect(await resumeError(['-', '--out', out, ...common()], input)).toBe('ERR_CHECKPOINT_INPUT_CHANGED');
    expect(readFileSync(out, 'utf8')).toBe('');
  });

  it('stdin: a genuine finished run fed its stream again is re-summarised with its exit code; an empty stream is refused', async () => {
    const input = readFileSync(archive.jsonl);
    const out = join(work, 'stdin-done.jsonl');
    expect((await run(['-', '--out', out, ...common()], input)).code).toBe(fullCode);
    const again = await run(['-', '--out', out, ...common()], input);
    expect(again.code).toBe(fullCode);
    expect(again.stdout).toContain(`verified 0 records in this run, resumed after input record ${RECORDS}`);
    const empty = await run(['-', '--out', out, ...common()], Buffer.alloc(0));
    expect(empty.code).toBe(2);
    expect(empty.stderr).toMatch(/0 records where it counts 60 \(the input is empty/);
    expect(await resumeError(['-', '--out', out, ...common()], Buffer.alloc(0))).toBe('ERR_CHECKPOINT_INVALID');
    expect(readFileSync(out, 'utf8')).toBe(readFileSync(full, 'utf8'));
    // An empty stream's own finished run is checked by an empty stream: 0 records, exit 0.
    const none = join(work, 'stdin-none.jsonl');
    expect((await run(['-', '--out', none, ...common()], Buffer.alloc(0))).code).toBe(0);
    expect((await run(['-', '--out', none, ...common()], Buffer.alloc(0))).code).toBe(0);
    expect((await run(['-', '--out', none, ...common()], input)).code).toBe(2); // the stream grew
  });

  it('a pipe (FIFO): the same forged checkpoint is refused', async () => {
    const fifo = join(work, 'complete-fifo');
    execFileSync('mkfifo', [fifo]);
    const feed = (): Promise<unknown> => {
      const child = spawn('sh', ['-c', 'cat "$1" > "$2"', 'sh', archive.jsonl, fifo], { stdio: 'ignore' });
      writers.push(child);
      return exitOf(child).catch(() => undefined);
    };
    const out = join(work, 'fifo-complete0.jsonl');
    let writer = feed();
    expect((await run([fifo, '--out', out, ...common()])).code).toBe(fullCode);
    await writer;
    writer = feed();
    expect((await run([fifo, '--out', out, ...common()])).code).toBe(fullCode); // genuine: re-summarised
    await writer;
    killedBeforeFirstCommit(out);
    writer = feed();
    const r = await run([fifo, '--out', out, ...common()]);
    expect(r.code).toBe(2);
    expect(r.stderr).toMatch(/says the run is complete, but the input has record 0 after its last record/);
  });
});
