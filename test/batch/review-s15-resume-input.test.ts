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
 */
import { copyFileSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { Readable } from 'node:stream';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';

import { CheckpointError, checkpointPath } from '../../src/batch/checkpoint.js';
import { countResult, emptyCounts, type ResultRecord } from '../../src/batch/result.js';
import { runBatch } from '../../src/batch/run.js';
import { parseBatchArgs, runBatchCli } from '../../src/cli/batch.js';
import { capture, ids, makeArchive, readResults, requireBuilt, type Archive } from './helpers.js';

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

afterAll(() => {
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
    // stdin: a finished run is re-summarised without reading it, but its results must be exactly the checkpoint's.
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
