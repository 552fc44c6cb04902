/**
 * s15 red team, batch finding 2: under `--at now` a resume took the
 * verification instant from the checkpoint unchecked. A checkpoint edited to
 * an older instant judged every remaining record then (OutOfDate / revoked
 * machines reported trusted), with no note at all when the checkpoint counted
 * no record yet; an instant in the future was accepted too. Now:
 * - a checkpoint holding no result yet gives way to the current time (and
 *   says so on stderr);
 * - a kept instant must not be later than now, and every kept result line
 *   must carry it (or null); otherwise ERR_CHECKPOINT_INSTANT;
 * - the note about the kept instant appears whenever it is used.
 * The kept lines' instant is checked for a fixed --at resume as well.
 *
 * s15 change review r4 #1: "no result yet" keyed on `written === 0`, so a
 * checkpoint whose kept lines were all refused before an instant was chosen
 * (`"at": null`: a first line that is not JSON) still imposed its (forged, old)
 * instant, and no kept line could contradict it. Now the instant is kept only
 * when some kept line carries a non-null `at` (judgedPrefix, decided before the
 * workers start and found again by ResultWriter.open's recount).
 */
import { copyFileSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';

import { CheckpointError, checkpointPath, ResultWriter } from '../../src/batch/checkpoint.js';
import { countResult, emptyCounts, type ResultRecord } from '../../src/batch/result.js';
import { judgedPrefix } from '../../src/batch/recount.js';
import { runBatch } from '../../src/batch/run.js';
import { parseBatchArgs, runBatchCli } from '../../src/cli/batch.js';
import { capture, makeArchive, readResults, requireBuilt, type Archive } from './helpers.js';

const AT = new Date('2026-03-01T12:00:00Z');
const OLD = new Date(AT.getTime() - 29 * 86_400_000); // inside the archive's older collateral window
const LATER = new Date(AT.getTime() + 3_600_000);
const RECORDS = 30;
let archive: Archive;
let work: string;
let ends: number[];
let full: string;

beforeAll(async () => {
  requireBuilt();
  archive = await makeArchive(RECORDS, AT);
  work = mkdtempSync(join(tmpdir(), 'tee-verify-batch-s15-now-'));
  let end = 0;
  ends = readFileSync(archive.jsonl, 'utf8').split('\n').filter((l) => l.length > 0).map((l) => (end += Buffer.byteLength(l) + 1));
  full = join(work, 'full.jsonl');
  expect((await run(args(full), AT)).code).toBe(4);
}, 120_000);

afterAll(() => {
  for (const dir of [archive?.dir, work]) if (dir) rmSync(dir, { recursive: true, force: true });
});

const args = (out: string, at = 'now'): string[] => [archive.jsonl, '--out', out, '--at', at, '--collateral', archive.collateral, '--trust-root', archive.trustRoot, '--workers', '1'];

async function run(a: string[], now: Date) {
  const c = capture();
  const code = await runBatchCli(a, c.io, { now: () => now });
  return { code, stdout: c.stdout(), stderr: c.stderr() };
}

async function resumeError(a: string[], now: Date): Promise<string | undefined> {
  try {
    await runBatch(parseBatchArgs(a, () => now)!, { now: () => now });
  } catch (err) {
    return err instanceof CheckpointError ? err.code : `not a CheckpointError: ${String(err)}`;
  }
  return undefined;
}

/** A copy of the full run as a run killed after `kept` records left it; `at` replaces the checkpoint's instant only. */
function killedCopy(name: string, kept: number, at?: Date): string {
  const out = join(work, name);
  copyFileSync(full, out);
  const cp = JSON.parse(readFileSync(checkpointPath(full), 'utf8')) as Record<string, unknown>;
  const lines = readFileSync(full, 'utf8').split('\n').slice(0, kept);
  const text = lines.map((l) => `${l}\n`).join('');
  writeFileSync(out, text);
  const counts = emptyCounts();
  for (const l of lines) countResult(counts, JSON.parse(l) as ResultRecord);
  writeFileSync(checkpointPath(out), JSON.stringify({ ...cp, consumed: kept, inputOffset: kept === 0 ? 0 : ends[kept - 1], written: kept, bytes: Buffer.byteLength(text), counts, complete: false, ...(at ? { at: at.toISOString() } : {}) }));
  return out;
}

describe('s15 batch #2: --at now resumes check the kept instant', () => {
  it('the full run was judged at its "now"', () => {
    expect(new Set(readResults(full).map((r) => r.at))).toEqual(new Set([AT.toISOString()]));
  });

  it('a checkpoint without results (killed before the first commit, or edited) takes the current time and says so', async () => {
    const out = killedCopy('empty.jsonl', 0, OLD);
    const r = await run(args(out), LATER);
    expect(r.code).toBe(4);
    expect(r.stdout).toContain(`${RECORDS} records at ${LATER.toISOString()}`);
    expect(r.stderr).toContain(`note: --at now: ${out}.checkpoint holds no result judged at an instant yet, so records are verified at ${LATER.toISOString()}, the current time, not at its instant ${OLD.toISOString()}`);
    expect(new Set(readResults(out).map((r) => r.at).filter((a) => a !== null))).toEqual(new Set([LATER.toISOString()]));
    expect(JSON.parse(readFileSync(checkpointPath(out), 'utf8')).at).toBe(LATER.toISOString());
  });

  it('a kept instant edited in the checkpoint (results untouched) is refused: the kept lines carry another', async () => {
    const out = killedCopy('edited.jsonl', 10, OLD);
    const before = readFileSync(out, 'utf8');
    const r = await run(args(out), LATER);
    expect(r.code).toBe(2);
    expect(r.stderr).toMatch(/is for the instant .*, but its results disagree: result line 1 .* was judged at/);
    expect(await resumeError(args(out), LATER)).toBe('ERR_CHECKPOINT_INSTANT');
    expect(readFileSync(out, 'utf8')).toBe(before);
  });

  it('a kept instant later than the current time is refused', async () => {
    const out = killedCopy('future.jsonl', 10);
    const earlier = new Date(AT.getTime() - 60_000);
    const r = await run(args(out), earlier);
    expect(r.code).toBe(2);
    expect(r.stderr).toMatch(/later than the current time/);
    expect(await resumeError(args(out), earlier)).toBe('ERR_CHECKPOINT_INSTANT');
  });

  it('a genuine resume keeps the first instant and says so, also when the run was already complete', async () => {
    const out = killedCopy('genuine.jsonl', 10);
    const r = await run(args(out), LATER);
    expect(r.code).toBe(4);
    expect(r.stderr).toContain(`note: --at now: resuming from ${out}.checkpoint, so records are verified at ${AT.toISOString()}`);
    expect(readFileSync(out, 'utf8')).toBe(readFileSync(full, 'utf8'));
    const again = await run(args(out), LATER);
    expect(again.stdout).toContain(`${RECORDS} records at ${AT.toISOString()}`);
    expect(again.stderr).toContain(`verified at ${AT.toISOString()}, the instant of the first attempt`);
  });

  it('a fixed --at resume refuses kept lines judged at another instant', async () => {
    const out = killedCopy('fixed.jsonl', 10);
    const cp = JSON.parse(readFileSync(checkpointPath(out), 'utf8')) as Record<string, any>;
    // As a run of --at <AT> would have written it (its fingerprint names the instant).
    writeFileSync(checkpointPath(out), JSON.stringify({ ...cp, fingerprint: { ...cp.fingerprint, instant: AT.toISOString() } }));
    expect(await resumeError(args(out, AT.toISOString()), LATER)).toBeUndefined();
    const lines = readFileSync(full, 'utf8').split('\n').slice(0, 10);
    lines[3] = lines[3]!.replace(AT.toISOString(), OLD.toISOString());
    const text = lines.map((l) => `${l}\n`).join('');
    writeFileSync(out, text);
    writeFileSync(checkpointPath(out), JSON.stringify({ ...cp, fingerprint: { ...cp.fingerprint, instant: AT.toISOString() }, bytes: Buffer.byteLength(text) }));
    expect(await resumeError(args(out, AT.toISOString()), LATER)).toBe('ERR_CHECKPOINT_INSTANT');
  });

  it('a checkpoint whose kept lines were all refused before an instant was chosen ("at": null) takes the current time, not its forged instant', async () => {
    // A first line that is not JSON: ERR_BAD_RECORD, "at": null.
    const input = join(work, 'bad-first.jsonl');
    writeFileSync(input, Buffer.concat([Buffer.from('not json\n'), readFileSync(archive.jsonl)]));
    const a = (out: string): string[] => [input, ...args(out).slice(1)];
    const ref = join(work, 'bad-first-ref.jsonl');
    expect((await run(a(ref), LATER)).code).toBe(4);
    const refLines = readFileSync(ref, 'utf8').split('\n');
    expect(JSON.parse(refLines[0]!)).toMatchObject({ id: '#0', at: null, error: { code: 'ERR_BAD_RECORD' } });
    // As the reviewer's forge-at.mjs: the checkpoint only, keeping line 1 and naming an older instant.
    const out = join(work, 'bad-first-forged.jsonl');
    writeFileSync(out, `${refLines[0]}\n`);
    const cp = JSON.parse(readFileSync(checkpointPath(ref), 'utf8')) as Record<string, unknown>;
    const counts = emptyCounts();
    countResult(counts, JSON.parse(refLines[0]!) as ResultRecord);
    writeFileSync(checkpointPath(out), JSON.stringify({ ...cp, at: OLD.toISOString(), consumed: 1, inputOffset: 9, written: 1, bytes: Buffer.byteLength(refLines[0]!) + 1, counts, complete: false }));
    const r = await run(a(out), LATER);
    expect(r.code).toBe(4);
    expect(r.stdout).toContain(`${RECORDS + 1} records at ${LATER.toISOString()}`);
    expect(r.stderr).toContain(`verified at ${LATER.toISOString()}, the current time, not at its instant ${OLD.toISOString()}`);
    expect(new Set(readResults(out).map((x) => x.at).filter((x) => x !== null))).toEqual(new Set([LATER.toISOString()]));
    expect(readFileSync(out, 'utf8')).toBe(readFileSync(ref, 'utf8'));
    expect(JSON.parse(readFileSync(checkpointPath(out), 'utf8')).at).toBe(LATER.toISOString());
    // A kept line judged at an instant still keeps it (the genuine resume of the same input).
    const kept = join(work, 'bad-first-kept.jsonl');
    const two = `${refLines[0]}\n${refLines[1]}\n`;
    writeFileSync(kept, two);
    countResult(counts, JSON.parse(refLines[1]!) as ResultRecord);
    writeFileSync(checkpointPath(kept), JSON.stringify({ ...cp, consumed: 2, inputOffset: 9 + ends[0]!, written: 2, bytes: Buffer.byteLength(two), counts, complete: false }));
    const later = new Date(LATER.getTime() + 60_000);
    const k = await run(a(kept), later);
    expect(k.stdout).toContain(`${RECORDS + 1} records at ${LATER.toISOString()}`);
    expect(k.stderr).toContain(`verified at ${LATER.toISOString()}, the instant of the first attempt`);
    expect(readFileSync(kept, 'utf8')).toBe(readFileSync(ref, 'utf8'));
    expect(judgedPrefix(kept, Buffer.byteLength(two))).toBe(true);
    // ResultWriter.open: the recount must find what the caller decided before starting workers.
    writeFileSync(out, `${refLines[0]}\n`);
    writeFileSync(checkpointPath(out), JSON.stringify({ ...cp, at: OLD.toISOString(), consumed: 1, inputOffset: 9, written: 1, bytes: Buffer.byteLength(refLines[0]!) + 1, counts: (() => { const c = emptyCounts(); countResult(c, JSON.parse(refLines[0]!) as ResultRecord); return c; })(), complete: false }));
    const fp = cp.fingerprint as Record<string, unknown>;
    const input1 = (JSON.parse(readFileSync(checkpointPath(out), 'utf8')) as { input: unknown }).input as never;
    expect(judgedPrefix(out, Buffer.byteLength(refLines[0]!) + 1)).toBe(false);
    const w = ResultWriter.open(out, fp, later.toISOString(), false, { instantFromCheckpoint: true, input: input1 });
    expect(w.state.at).toBe(later.toISOString());
    w.close();
    expect(() => ResultWriter.open(out, fp, later.toISOString(), false, { instantFromCheckpoint: true, input: input1, judged: true })).toThrow(expect.objectContaining({ code: 'ERR_CHECKPOINT_RESULTS' }));
  });

  it('ResultWriter.open: --at now needs the current time as an instant', () => {
    const out = join(work, 'unit.jsonl');
    ResultWriter.open(out, { input: 'x' }, AT.toISOString(), false).close();
    expect(() => ResultWriter.open(out, { input: 'x' }, 'now', false, { instantFromCheckpoint: true })).toThrow(TypeError);
    const w = ResultWriter.open(out, { input: 'x' }, LATER.toISOString(), false, { instantFromCheckpoint: true });
    expect(w.state.at).toBe(LATER.toISOString()); // no result kept: the current time
    w.close();
  });
});
