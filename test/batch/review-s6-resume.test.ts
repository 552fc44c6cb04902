/**
 * Review (session 6): a resume that cannot count on one result per input
 * record re-reads the input up to the checkpoint. A sharded run's checkpoint
 * edited consistently (consumed and inputOffset moved together) or with its
 * kept lines reordered is refused instead of skipping records; a directory
 * resumes after the checkpoint's last path, and a listing changed before it
 * is refused instead of shifting the walk.
 */
import { copyFileSync, mkdirSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { Readable } from 'node:stream';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';

import { checkpointPath } from '../../src/batch/checkpoint.js';
import { compareWalkOrder, walkDirectory } from '../../src/batch/records.js';
import { countResult, emptyCounts, type ResultRecord } from '../../src/batch/result.js';
import { shardOf } from '../../src/batch/shard.js';
import { runBatchCli } from '../../src/cli/batch.js';
import { capture, ids, makeArchive, readResults, requireBuilt, type Archive } from './helpers.js';

const AT = new Date('2026-03-01T12:00:00Z');
let archive: Archive;
let work: string;
/** Per input record of the archive: its id and the byte offset after its line. */
let records: { id: string; end: number }[];

beforeAll(async () => {
  requireBuilt();
  archive = await makeArchive(300, AT);
  work = mkdtempSync(join(tmpdir(), 'tee-verify-batch-s6-resume-'));
  let end = 0;
  records = readFileSync(archive.jsonl, 'utf8').split('\n').filter((l) => l.length > 0).map((l) => {
    end += Buffer.byteLength(l) + 1;
    return { id: (JSON.parse(l) as { id: string }).id, end };
  });
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

/**
 * Rewrites a finished run's checkpoint as a run killed after input record
 * `consumed - 1` would have left it, keeping the first `written` result lines
 * (optionally reordered): consistent in itself, as an edit would make it.
 */
function rewind(out: string, o: { consumed: number; inputOffset: number; written: number; lastPath?: string; swap?: [number, number] }): void {
  const cp = JSON.parse(readFileSync(checkpointPath(out), 'utf8')) as Record<string, unknown>;
  const lines = readFileSync(out, 'utf8').split('\n').slice(0, o.written);
  if (o.swap) [lines[o.swap[0]], lines[o.swap[1]]] = [lines[o.swap[1]] as string, lines[o.swap[0]] as string];
  const text = lines.map((l) => `${l}\n`).join('');
  writeFileSync(out, text);
  const counts = emptyCounts();
  for (const l of lines) countResult(counts, JSON.parse(l) as ResultRecord);
  const { lastPath: _, ...rest } = cp;
  writeFileSync(checkpointPath(out), JSON.stringify({ ...rest, consumed: o.consumed, inputOffset: o.inputOffset, written: o.written, bytes: Buffer.byteLength(text), counts, complete: false, ...(o.lastPath === undefined ? {} : { lastPath: o.lastPath }) }));
}

/** Records of shard 0/2 among the first `n` input records. */
const inShard0 = (n: number): number => records.slice(0, n).filter((r) => shardOf(r.id, 2) === 0).length;

describe('review s6: a sharded resume re-reads the input up to the checkpoint', () => {
  let full: string;
  beforeAll(async () => {
    full = join(work, 'shard-full.jsonl');
    expect((await run([archive.jsonl, '--out', full, '--shard', '0/2', ...common()])).code).toBe(4);
  });

  function copyOfFull(name: string): string {
    const out = join(work, name);
    copyFileSync(full, out);
    copyFileSync(checkpointPath(full), checkpointPath(out));
    return out;
  }

  it('an honest checkpoint resumes to the same results as the uninterrupted run', async () => {
    const out = copyOfFull('shard-honest.jsonl');
    rewind(out, { consumed: 100, inputOffset: records[99]!.end, written: inShard0(100) });
    const r = await run([archive.jsonl, '--out', out, '--shard', '0/2', ...common()]);
    expect(r.stdout).toContain('resumed after input record 100');
    expect(r.code).toBe(4);
    expect(readFileSync(out, 'utf8')).toBe(readFileSync(full, 'utf8'));
  });

  it('consumed and inputOffset moved forward together: ERR_CHECKPOINT_INVALID, not 50 records skipped', async () => {
    const out = copyOfFull('shard-skip.jsonl');
    rewind(out, { consumed: 150, inputOffset: records[149]!.end, written: inShard0(100) });
    const r = await run([archive.jsonl, '--out', out, '--shard', '0/2', ...common()]);
    expect(r.stderr).toMatch(/not what .*checkpoint describes/);
    expect(r.code).toBe(2);
    expect(readResults(out)).toHaveLength(inShard0(100)); // nothing appended
  });

  it('an offset that is not the end of record consumed - 1 is refused', async () => {
    const out = copyOfFull('shard-offset.jsonl');
    rewind(out, { consumed: 100, inputOffset: records[100]!.end, written: inShard0(100) });
    const r = await run([archive.jsonl, '--out', out, '--shard', '0/2', ...common()]);
    expect(r.stderr).toMatch(/ending at byte/);
    expect(r.code).toBe(2);
  });

  it('the kept lines reordered (same counts): the ids must be the shard\'s in input order', async () => {
    const out = copyOfFull('shard-swap.jsonl');
    rewind(out, { consumed: 100, inputOffset: records[99]!.end, written: inShard0(100), swap: [0, 1] });
    const r = await run([archive.jsonl, '--out', out, '--shard', '0/2', ...common()]);
    expect(r.stderr).toMatch(/ids of the kept results in order/);
    expect(r.code).toBe(2);
  });

  it('stdin: the same checks on the stream (an honest resume goes on, a moved one is refused)', async () => {
    const bytes = readFileSync(archive.jsonl);
    const honest = join(work, 'stdin-honest.jsonl');
    const base = ['-', '--shard', '0/2', ...common()];
    expect((await run(['-', '--out', honest, ...base.slice(1)], bytes)).code).toBe(4);
    const full = readFileSync(honest, 'utf8');
    rewind(honest, { consumed: 100, inputOffset: records[99]!.end, written: inShard0(100) });
    expect((await run(['-', '--out', honest, ...base.slice(1)], bytes)).code).toBe(4);
    expect(readFileSync(honest, 'utf8')).toBe(full);
    rewind(honest, { consumed: 150, inputOffset: records[149]!.end, written: inShard0(100) });
    const moved = await run(['-', '--out', honest, ...base.slice(1)], bytes);
    expect(moved.code).toBe(2);
    expect(moved.stderr).toContain('another stream');
  });

  it('a finished sharded run whose checkpoint was moved is refused on re-summary too', async () => {
    const out = copyOfFull('shard-complete.jsonl');
    const cp = JSON.parse(readFileSync(checkpointPath(out), 'utf8')) as Record<string, unknown>;
    writeFileSync(checkpointPath(out), JSON.stringify({ ...cp, consumed: 250, inputOffset: records[249]!.end }));
    expect((await run([archive.jsonl, '--out', out, '--shard', '0/2', ...common()])).code).toBe(2);
  });
});

describe('review s6: a directory resumes after its last path', () => {
  const names = Array.from({ length: 20 }, (_, i) => `f${String(i).padStart(2, '0')}`);
  /** A directory of 20 (unverifiable) evidence files, a finished run over it, and a copy of its results to rewind. */
  async function finished(name: string): Promise<{ dir: string; out: string; args: string[]; full: string }> {
    const dir = join(work, name, 'evidence');
    mkdirSync(dir, { recursive: true });
    for (const n of names) writeFileSync(join(dir, n), 'AAAA');
    const out = join(work, name, 'out.jsonl');
    const args = [dir, '--out', out, ...common()];
    expect((await run(args)).code).toBe(1);
    const full = readFileSync(out, 'utf8');
    expect(JSON.parse(readFileSync(checkpointPath(out), 'utf8')).lastPath).toBe('f19'); // what a real run records
    rewind(out, { consumed: 10, inputOffset: 0, written: 10, lastPath: 'f09' });
    return { dir, out, args, full };
  }

  it('a file added after the resume point is verified once; the results are the walk in order', async () => {
    const { dir, out, args } = await finished('dir-after');
    writeFileSync(join(dir, 'f15a'), 'AAAA');
    const r = await run(args);
    expect(r.code).toBe(1);
    expect(ids(readResults(out))).toEqual([...names.slice(0, 16), 'f15a', ...names.slice(16)]);
  });

  it('a file added before the resume point: ERR_CHECKPOINT_INPUT_CHANGED, not a record verified twice', async () => {
    const { dir, out, args } = await finished('dir-added');
    writeFileSync(join(dir, 'f04a'), 'AAAA');
    const r = await run(args);
    expect(r.stderr).toMatch(/added, removed or renamed before the resume point/);
    expect(r.code).toBe(2);
    expect(readResults(out)).toHaveLength(10);
  });

  it('a file removed before the resume point is refused too', async () => {
    const { dir, args } = await finished('dir-removed');
    rmSync(join(dir, 'f03'));
    expect((await run(args)).code).toBe(2);
  });

  it('unchanged: resumes after f09 to the same results as the uninterrupted run', async () => {
    const { out, args, full } = await finished('dir-same');
    const r = await run(args);
    expect(r.stdout).toContain('resumed after input record 10');
    expect(readFileSync(out, 'utf8')).toBe(full);
  });

  it('the walk order: a directory sorts by its name before its files ("a/b" before "a.txt")', async () => {
    const dir = join(work, 'walk-order');
    mkdirSync(join(dir, 'a'), { recursive: true });
    for (const f of ['a/b', 'a.txt', 'a-', 'b']) writeFileSync(join(dir, f), 'x');
    const walked: string[] = [];
    for await (const p of walkDirectory(dir)) walked.push(p);
    expect(walked).toEqual([...walked].sort(compareWalkOrder));
    expect(walked).toEqual(['a/b', 'a-', 'a.txt', 'b']); // by whole paths' bytes it would be a-, a.txt, a/b
    expect([...walked].sort()).not.toEqual(walked);
  });
});
