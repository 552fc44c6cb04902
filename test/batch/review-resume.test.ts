/**
 * Review fixes: a resume trusts the results file, not the checkpoint. The
 * checkpoint's counts are a cache that must agree with the kept results; a
 * fixed --at is the command's own; a regenerated input at the same path is
 * refused. Each case edits a finished run's files and runs the same command
 * again: the exit code must never come from an edited checkpoint.
 */
import { copyFileSync, mkdtempSync, readFileSync, rmSync, utimesSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';

import { CheckpointError, checkpointPath, ResultWriter } from '../../src/batch/checkpoint.js';
import { runBatch } from '../../src/batch/run.js';
import { parseBatchArgs, runBatchCli } from '../../src/cli/batch.js';
import { capture, makeArchive, readResults, requireBuilt, type Archive } from './helpers.js';

const AT = new Date('2026-03-01T12:00:00Z');
let archive: Archive;
let work: string;
let lines: string[];

beforeAll(async () => {
  requireBuilt();
  archive = await makeArchive(40, AT);
  lines = readFileSync(archive.jsonl, 'utf8').trim().split('\n');
  work = mkdtempSync(join(tmpdir(), 'tee-verify-batch-resume-'));
}, 60_000);

afterAll(() => {
  for (const dir of [archive?.dir, work]) if (dir) rmSync(dir, { recursive: true, force: true });
});

/** A copy of the archive's JSONL (the tests rewrite it) and the command over it. */
function setup(name: string): { input: string; out: string; args: string[] } {
  const input = join(work, `${name}.jsonl`);
  copyFileSync(archive.jsonl, input);
  const out = join(work, `${name}-out.jsonl`);
  return { input, out, args: [input, '--out', out, '--at', AT.toISOString(), '--collateral', archive.collateral, '--trust-root', archive.trustRoot, '--workers', '1'] };
}

async function run(args: string[]) {
  const c = capture();
  const code = await runBatchCli(args, c.io);
  return { code, stdout: c.stdout(), stderr: c.stderr() };
}

const editCheckpoint = (out: string, edit: (cp: Record<string, any>) => void): void => {
  const cp = JSON.parse(readFileSync(checkpointPath(out), 'utf8')) as Record<string, any>;
  edit(cp);
  writeFileSync(checkpointPath(out), JSON.stringify(cp));
};

/** The CheckpointError code of running `args` again (the library call, for the typed error). */
async function resumeError(args: string[]): Promise<string | undefined> {
  try {
    await runBatch(parseBatchArgs(args)!);
  } catch (err) {
    return err instanceof CheckpointError ? err.code : `not a CheckpointError: ${String(err)}`;
  }
  return undefined;
}

describe('resume: the checkpoint is checked against the results and the input', () => {
  it('an unedited finished run resumes with the same exit code and counts', async () => {
    const { out, args } = setup('clean');
    const first = await run(args);
    expect(first.code).toBe(4); // rejected records, and unavailable ones (a platform the bundle lacks)
    const again = await run(args);
    expect(again.code).toBe(4);
    expect(again.stdout.split('\n')[0]).toBe(first.stdout.split('\n')[0]);
    expect(readResults(out).length).toBe(40);
  });

  it('edited outcome counts in the checkpoint are refused, not reported as trusted', async () => {
    const { out, args } = setup('counts');
    expect((await run(args)).code).toBe(4);
    editCheckpoint(out, (cp) => {
      cp.counts.outcomes = { trusted: cp.written, rejected: 0, unavailable: 0 };
    });
    const again = await run(args);
    expect(again.code).toBe(2);
    expect(again.stdout).toBe('');
    expect(again.stderr).toMatch(/disagree with the results/);
    expect(await resumeError(args)).toBe('ERR_CHECKPOINT_RESULTS');
    expect(readResults(out).some((r) => !r.ok)).toBe(true);
  });

  it('a checkpoint that skips records without results is refused', async () => {
    const { out, args } = setup('skip');
    expect((await run(args)).code).toBe(4);
    editCheckpoint(out, (cp) => {
      Object.assign(cp, { written: 0, bytes: 0, counts: { records: 0, outcomes: { trusted: 0, rejected: 0, unavailable: 0 }, byStatus: {}, byErrorCode: {} } });
    });
    const again = await run(args);
    expect(again.code).toBe(2);
    expect(again.stderr).toMatch(/40 input records done but 0 results/);
    expect(await resumeError(args)).toBe('ERR_CHECKPOINT_INVALID');
  });

  it('a results file with fewer lines than the checkpoint says is refused', async () => {
    const { out, args } = setup('lines');
    expect((await run(args)).code).toBe(4);
    const text = readFileSync(out, 'utf8');
    const kept = text.split('\n').slice(0, 20).join('\n');
    writeFileSync(out, `${kept}\n${' '.repeat(text.length - kept.length - 1)}`); // same length, fewer lines
    expect(await resumeError(args)).toBe('ERR_CHECKPOINT_RESULTS');
    expect((await run(args)).code).toBe(2);
  });

  it('a fixed --at always wins: a checkpoint of another instant is refused', async () => {
    const { out, args } = setup('instant');
    expect((await run(args)).code).toBe(4);
    editCheckpoint(out, (cp) => {
      cp.at = '2019-01-01T00:00:00.000Z';
    });
    const again = await run(args);
    expect(again.code).toBe(2);
    expect(again.stderr).toMatch(/instant "2019-01-01T00:00:00.000Z", not "2026-03-01T12:00:00.000Z"/);
    expect(await resumeError(args)).toBe('ERR_CHECKPOINT_INSTANT');
  });

  it('an input regenerated at the same path is refused with a hint to start over', async () => {
    const { input, args } = setup('regen');
    expect((await run(args)).code).toBe(4);
    // The same records without the first one: every offset of the old run is now wrong.
    writeFileSync(input, `${lines.slice(1).join('\n')}\n`);
    const again = await run(args);
    expect(again.code).toBe(2);
    expect(again.stderr).toMatch(/the input changed .*--fresh/);
    expect(await resumeError(args)).toBe('ERR_CHECKPOINT_INPUT_CHANGED');
    // Same size and content but touched: refused as well (mtime is part of the identity).
    writeFileSync(input, `${lines.join('\n')}\n`);
    expect(await resumeError([...args, '--fresh'])).toBeUndefined();
    utimesSync(input, new Date('2026-01-01T00:00:00Z'), new Date('2026-01-01T00:00:00Z'));
    expect(await resumeError(args)).toBe('ERR_CHECKPOINT_INPUT_CHANGED');
    expect((await run([...args, '--fresh'])).code).toBe(4);
  });

  it('ResultWriter: a reopen recounts the kept lines; --at now adopts the checkpoint instant only when asked', () => {
    const out = join(work, 'unit.jsonl');
    const fp = { input: 'x' };
    const w = ResultWriter.open(out, fp, '2026-01-01T00:00:00.000Z', false);
    const line = (id: string, ok: boolean) => `${JSON.stringify({ id, ok, tee: 'tdx', tcbStatus: 'UpToDate', advisoryIds: [], error: ok ? null : { code: 'ERR_X', class: 'CHAIN', message: '' }, violations: [], warnings: [], at: '2026-01-01T00:00:00.000Z' })}\n`; // judged at the instant (s15 change review r4 #1: lines with "at": null alone keep no instant)
    const c = { records: 2, outcomes: { trusted: 1, rejected: 1, unavailable: 0 }, byStatus: { UpToDate: 1, ERR_X: 1 }, byErrorCode: { ERR_X: 1 } };
    w.append(new TextEncoder().encode(line('a', true) + line('b', false)), c, 2, 10, 0, 0);
    w.close();
    const again = ResultWriter.open(out, fp, '2026-06-01T00:00:00.000Z', false, { instantFromCheckpoint: true }) // --at now: the current time;
    expect(again.state.counts).toEqual(c);
    expect(again.state.at).toBe('2026-01-01T00:00:00.000Z');
    again.close();
    expect(() => ResultWriter.open(out, fp, '2026-02-01T00:00:00.000Z', false)).toThrow(expect.objectContaining({ code: 'ERR_CHECKPOINT_INSTANT' }));
    editCheckpoint(out, (cp) => {
      cp.at = 'not an instant';
    });
    expect(() => ResultWriter.open(out, fp, '2026-06-01T00:00:00.000Z', false, { instantFromCheckpoint: true })).toThrow(expect.objectContaining({ code: 'ERR_CHECKPOINT_INSTANT' }));
  });
});
