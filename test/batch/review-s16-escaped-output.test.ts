/**
 * s16 CLI red team #5 (low): results.jsonl and the --summary file wrote record ids and messages with
 * raw C1 controls (U+009B CSI, U+0085), bidi overrides / isolates and U+2028 / U+2029, which
 * `verify --json` escapes (terminal-text.ts jsonText): `cat` / `tail -f` of the file in a CI log
 * handed them to the terminal. Now both files are written with jsonLine (jsonText on one line):
 * the raw bytes hold none of them, and JSON.parse reads back the original strings. A resume re-reads
 * the kept results by parsing them, so escaped ids (and the raw ids of a results file written before
 * this change) still match the input's ids.
 */
import { copyFileSync, mkdirSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';

import { checkpointPath } from '../../src/batch/checkpoint.js';
import { countResult, emptyCounts, errorResult, resultLine, type ResultRecord } from '../../src/batch/result.js';
import { runBatchCli } from '../../src/cli/batch.js';
import { jsonLine, jsonText } from '../../src/cli/terminal-text.js';
import { capture, makeArchive, readResults, requireBuilt, type Archive } from './helpers.js';

const AT = new Date('2026-03-01T12:00:00Z');
const RECORDS = 10;
/** Everything a terminal acts on that JSON.stringify leaves raw. */
const HOSTILE = '\u007f\u0085\u009b2J\u009b1;1HALL OK\u061c\u200e\u200f\u2028\u2029\u202a\u202e\u2066\u2069';
// eslint-disable-next-line no-control-regex
const UNSAFE = /[\u007f-\u009f\u061c\u200e\u200f\u2028\u2029\u202a-\u202e\u2066-\u2069]/;
const idOf = (i: number): string => `host-${i}${HOSTILE}-${i}`;

/** The raw bytes hold no unsafe character: not in UTF-8 (c2 80-9f, e2 80 a8 ...), and no C1 byte at all. */
function expectClean(bytes: Buffer, what: string): void {
  expect(UNSAFE.test(bytes.toString('utf8')), what).toBe(false);
  expect(bytes.includes(Buffer.from('\u009b', 'utf8')), what).toBe(false);
  expect(bytes.includes(Buffer.from('\u2028', 'utf8')), what).toBe(false);
  expect(bytes.includes(Buffer.from('\u202e', 'utf8')), what).toBe(false);
}

describe('s16 #5: jsonLine and resultLine escape what a terminal acts on', () => {
  it('jsonLine is jsonText on one line, and parses back to the same value', () => {
    const value = { id: `a${HOSTILE}b`, list: [HOSTILE, 'plain ☃ 😀'], n: 1 };
    expect(jsonLine(value)).not.toContain('\n');
    expect(JSON.parse(jsonText(value))).toEqual(value);
    expect(JSON.parse(jsonLine(value))).toEqual(value);
    expectClean(Buffer.from(jsonLine(value)), 'jsonLine');
    expect(jsonLine(value)).toContain('\\u009b2J');
    // Non-control text is left as it is.
    expect(jsonLine({ s: 'plain ☃ 😀' })).toBe(JSON.stringify({ s: 'plain ☃ 😀' }));
  });

  it('a result line with such an id and message has none of them raw; JSON.parse gives back the strings', () => {
    const r = errorResult(`id${HOSTILE}`, { code: 'ERR_BAD_RECORD', class: 'ARGUMENT', message: `msg${HOSTILE}` });
    const line = resultLine(r);
    expect(line.endsWith('}\n')).toBe(true);
    expect(line.indexOf('\n')).toBe(line.length - 1);
    expectClean(Buffer.from(line), 'resultLine');
    expect(JSON.parse(line)).toEqual(r);
  });
});

describe('s16 #5: batch output files and resume with hostile ids', () => {
  let archive: Archive;
  let work: string;
  let input: string;
  let full: string;
  let fullText: string;
  let fullCode: number;
  /** The byte offset after each input line. */
  let ends: number[];

  const common = (): string[] => ['--at', AT.toISOString(), '--collateral', archive.collateral, '--trust-root', archive.trustRoot, '--workers', '1'];

  async function run(args: string[]): Promise<{ code: number; stdout: string; stderr: string }> {
    const c = capture();
    const code = await runBatchCli(args, c.io);
    return { code, stdout: c.stdout(), stderr: c.stderr() };
  }

  beforeAll(async () => {
    requireBuilt();
    archive = await makeArchive(RECORDS, AT);
    work = mkdtempSync(join(tmpdir(), 'tee-verify-batch-s16-escape-'));
    const records = readFileSync(archive.jsonl, 'utf8').trim().split('\n').map((l, i) => ({ ...(JSON.parse(l) as Record<string, unknown>), id: idOf(i) }));
    input = join(work, 'hostile.jsonl');
    let end = 0;
    const lines = records.map((r) => `${JSON.stringify(r)}\n`);
    ends = lines.map((l) => (end += Buffer.byteLength(l)));
    writeFileSync(input, lines.join(''));
    full = join(work, 'full.jsonl');
    fullCode = (await run([input, '--out', full, ...common(), '--fresh'])).code;
    fullText = readFileSync(full, 'utf8');
  }, 120_000);

  afterAll(() => {
    for (const dir of [archive?.dir, work]) if (dir) rmSync(dir, { recursive: true, force: true });
  });

  it('the checkpoint of a directory input holds its last file name escaped (s16 change review batch #3)', async () => {
    const dir = join(work, 'evidence-dir');
    mkdirSync(dir);
    const name = `host${HOSTILE}.bin`;
    const first = JSON.parse(readFileSync(archive.jsonl, 'utf8').split('\n')[0]!) as { evidence: string };
    writeFileSync(join(dir, name), Buffer.from(first.evidence, 'base64'));
    const out = join(work, 'dir-out.jsonl');
    const r = await run([dir, '--out', out, ...common(), '--fresh']);
    expect([0, 1, 4], r.stderr).toContain(r.code);
    const raw = readFileSync(checkpointPath(out));
    expectClean(raw, 'checkpoint file');
    expect((JSON.parse(raw.toString('utf8')) as { lastPath?: string }).lastPath).toBe(name);
  });

  it('results.jsonl holds no raw C1 / bidi / U+2028, and JSON.parse gives back every original id', () => {
    expect([0, 1, 4]).toContain(fullCode);
    expectClean(readFileSync(full), 'results file');
    expect(readResults(full).map((r) => r.id)).toEqual(Array.from({ length: RECORDS }, (_, i) => idOf(i)));
    expect(fullText).toContain('\\u009b2J');
  });

  it('the --summary file (changed entries against --previous) holds none raw either; the ids parse back', async () => {
    // A previous results file written raw (as before this change), every record with another status.
    const previous = join(work, 'previous.jsonl');
    writeFileSync(previous, readResults(full).map((r) => `${JSON.stringify({ ...r, ok: false, tcbStatus: 'OutOfDate', error: null })}\n`).join(''));
    expect(readFileSync(previous, 'utf8')).toContain('\u009b');
    const summary = join(work, 'summary.json');
    const out = join(work, 'again.jsonl');
    const r = await run([input, '--out', out, ...common(), '--fresh', '--previous', previous, '--summary', summary]);
    expect(r.code).toBe(fullCode);
    const bytes = readFileSync(summary);
    expectClean(bytes, 'summary file');
    const s = JSON.parse(bytes.toString('utf8')) as { changed: { id: string }[]; previous: { compared: number; new: number } };
    expect(s.previous).toMatchObject({ compared: RECORDS, new: 0 });
    expect(s.changed.length).toBeGreaterThan(0);
    for (const c of s.changed) expect(Array.from({ length: RECORDS }, (_, i) => idOf(i))).toContain(c.id);
  }, 60_000);

  /** A checkpoint for the first `kept` lines of `lines` (as a run stopped after a commit leaves it). */
  function cutTo(out: string, lines: string[], kept: number): void {
    const cp = JSON.parse(readFileSync(checkpointPath(full), 'utf8')) as Record<string, unknown>;
    const keptLines = lines.slice(0, kept);
    const counts = emptyCounts();
    for (const l of keptLines) countResult(counts, JSON.parse(l) as ResultRecord);
    const text = keptLines.map((l) => `${l}\n`).join('');
    writeFileSync(out, text);
    writeFileSync(checkpointPath(out), JSON.stringify({ ...cp, consumed: kept, written: kept, bytes: Buffer.byteLength(text), counts, inputOffset: ends[kept - 1], complete: false }));
  }

  it('a resume over kept results with escaped ids matches them to the input and finishes the same file', async () => {
    const out = join(work, 'resume.jsonl');
    cutTo(out, fullText.trim().split('\n'), 4);
    const r = await run([input, '--out', out, ...common()]);
    expect(r.stderr).not.toMatch(/checkpoint|--fresh/i);
    expect(r.stdout).toContain(`verified ${RECORDS - 4} records in this run, resumed after input record 4`);
    expect(r.code).toBe(fullCode);
    expect(readFileSync(out, 'utf8')).toBe(fullText);
  }, 60_000);

  it('a resume over kept results written raw (before this change) matches them too; new lines are escaped', async () => {
    const out = join(work, 'resume-raw.jsonl');
    const lines = fullText.trim().split('\n');
    const raw = lines.map((l) => JSON.stringify(JSON.parse(l)));
    expect(raw[0]).toContain('\u009b');
    cutTo(out, raw, 4);
    const r = await run([input, '--out', out, ...common()]);
    expect(r.stderr).not.toMatch(/checkpoint|--fresh/i);
    expect(r.stdout).toContain(`verified ${RECORDS - 4} records in this run, resumed after input record 4`);
    expect(r.code).toBe(fullCode);
    expect(readFileSync(out, 'utf8')).toBe([...raw.slice(0, 4), ...lines.slice(4)].map((l) => `${l}\n`).join(''));
  }, 60_000);

  it('a finished run re-summarised (complete checkpoint) accepts its escaped ids', async () => {
    const out = join(work, 'done.jsonl');
    copyFileSync(full, out);
    copyFileSync(checkpointPath(full), checkpointPath(out));
    const r = await run([input, '--out', out, ...common()]);
    expect(r.stderr).not.toMatch(/checkpoint|--fresh/i);
    expect(r.stdout).toContain('verified 0 records in this run');
    expect(r.code).toBe(fullCode);
    expect(readFileSync(out, 'utf8')).toBe(fullText);
  }, 60_000);
});
