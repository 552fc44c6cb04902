/**
 * Review s14 (service / batch) finding 1: the directory walk recursed once per
 * directory level (`yield* walkEntries(...)`), so a tree about 1,900 levels
 * deep (a 3.8 KB path, under PATH_MAX) overflowed the main thread's stack: a
 * bare RangeError, exit 70 before any record, and again on every resume.
 * Anyone able to create directories in the archive could stop the run. Now
 * the walk is iterative: such a tree is walked like any other, and a tree
 * deeper than the system's path limit is one ERR_RECORD_UNREADABLE result
 * (the sub-directory that cannot be listed, ENAMETOOLONG), not a stopped run.
 *
 * The trees are made with `mkdir -p` on a one-letter name (cheap); removed with `rm -rf`.
 */
import { execFileSync } from 'node:child_process';
import { mkdirSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';

import { readDirectory } from '../../src/batch/records.js';
import { exitOf, makeArchive, readResults, requireBuilt, spawnBatch, type Archive } from './helpers.js';

const AT = new Date('2026-06-01T00:00:00Z');
/** The depth that overflowed the recursive walk (review s14 #1). */
const DEEP = 1900;
/** Deeper than PATH_MAX (4096) allows to name from the root: "d/" is 2 bytes a level. */
const TOO_DEEP = 2100;

let archive: Archive;
let work: string;
let good: Buffer;

const chain = (depth: number): string => Array.from({ length: depth }, () => 'd').join('/');

beforeAll(async () => {
  requireBuilt();
  archive = await makeArchive(1, AT);
  work = mkdtempSync(join(tmpdir(), 'tee-verify-batch-s14-deep-'));
  const line = JSON.parse(readFileSync(archive.jsonl, 'utf8').split('\n')[0]!) as { evidence: string };
  expect(archive.kindOf(0)).toBe('up-to-date');
  good = Buffer.from(line.evidence, 'base64');
}, 120_000);

afterAll(() => {
  // rm -rf walks a tree deeper than PATH_MAX (Node's rmSync may not).
  if (work) execFileSync('rm', ['-rf', work]);
  if (archive?.dir) rmSync(archive.dir, { recursive: true, force: true });
});

/** `<work>/<name>/`: one good quote "a" at the top, a chain d/d/... of `depth` levels, and `bottom` (a file name) at its end when given. */
function deepTree(name: string, depth: number, bottom?: string): string {
  const dir = join(work, name);
  mkdirSync(dir);
  writeFileSync(join(dir, 'a'), good);
  execFileSync('mkdir', ['-p', chain(depth)], { cwd: dir });
  if (bottom !== undefined) writeFileSync(join(dir, chain(depth), bottom), good);
  return dir;
}

async function walk(dir: string): Promise<{ path: string; refused?: string }[]> {
  const out: { path: string; refused?: string }[] = [];
  for await (const r of readDirectory(dir, { startIndex: 0 })) out.push({ path: r.relativePath, ...(r.refused === undefined ? {} : { refused: r.refused }) });
  return out;
}

describe('review s14 #1: a deep directory tree', () => {
  it(`${DEEP} levels: walked to the bottom, no stack overflow`, async () => {
    const dir = deepTree('deep', DEEP, 'q');
    expect(await walk(dir)).toEqual([{ path: 'a' }, { path: `${chain(DEEP)}/q` }]);
  });

  it(`deeper than the path limit (${TOO_DEEP} levels): one refused entry (ENAMETOOLONG), the rest walked`, async () => {
    const dir = deepTree('too-deep', TOO_DEEP);
    writeFileSync(join(dir, 'z'), good); // after the chain in walk order
    const entries = await walk(dir);
    expect(entries[0]).toEqual({ path: 'a' });
    expect(entries[entries.length - 1]).toEqual({ path: 'z' });
    expect(entries).toHaveLength(3);
    const refused = entries[1]!;
    expect(refused.path.startsWith(`${chain(100)}/`)).toBe(true);
    expect(refused.refused).toBe('cannot list the directory: ENAMETOOLONG');
  });

  it('batch over the deep trees: every record judged, the unlistable level is ERR_RECORD_UNREADABLE, no exit 70', async () => {
    const dir = join(work, 'both');
    mkdirSync(dir);
    execFileSync('mv', [join(work, 'deep'), join(work, 'too-deep'), dir]);
    const out = join(work, 'both.jsonl');
    // As users run it (a process of its own, the stack of a CLI: the recursive walk overflowed there at ~1,900 levels).
    const r = await exitOf(spawnBatch([dir, '--out', out, '--at', AT.toISOString(), '--collateral', archive.collateral, '--trust-root', archive.trustRoot, '--workers', '1']));
    expect(r.stderr).not.toContain('Maximum call stack');
    expect(r.code).toBe(1); // one record rejected: the unlistable level
    const results = readResults(out);
    expect(results.map((r) => [r.id, r.ok, r.error?.code ?? null])).toEqual([
      ['deep/a', true, null],
      [`deep/${chain(DEEP)}/q`, true, null],
      ['too-deep/a', true, null],
      [expect.stringMatching(/^too-deep\/d\/d\//), false, 'ERR_RECORD_UNREADABLE'],
      ['too-deep/z', true, null],
    ]);
  });
});
