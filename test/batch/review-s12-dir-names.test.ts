/**
 * Review s12 (batch) finding 1: a directory input whose names are not valid
 * UTF-8. Node decoded such a name lossily (U+FFFD), so the worker opened the
 * path spelled by the decoded string, not the file the walk listed: a
 * tampered quote named "\xff" was reported trusted when a file or a symbolic
 * link named U+FFFD held a good quote, and a sub-directory with such a name
 * stopped the run with exit 70. Now such a name is refused as that record's
 * ERR_RECORD_UNREADABLE (id escaped, "%FF"), never opened; the worker opens
 * only a regular file and never follows a symbolic link.
 */
import { closeSync, mkdirSync, mkdtempSync, openSync, readFileSync, rmSync, symlinkSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { execFileSync } from 'node:child_process';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';

import { runBatchCli } from '../../src/cli/batch.js';
import { walkDirectory } from '../../src/batch/records.js';
import { capture, makeArchive, readResults, requireBuilt, type Archive } from './helpers.js';

const AT = new Date('2026-03-01T12:00:00Z');
let archive: Archive;
let work: string;
let good: Buffer;
let tampered: Buffer;

beforeAll(async () => {
  requireBuilt();
  archive = await makeArchive(40, AT);
  work = mkdtempSync(join(tmpdir(), 'tee-verify-batch-s12-names-'));
  const lines = readFileSync(archive.jsonl, 'utf8').split('\n').filter((l) => l.length > 0).map((l) => JSON.parse(l) as { evidence: string });
  const index = (kind: string): number => lines.findIndex((_, i) => archive.kindOf(i) === kind);
  good = Buffer.from(lines[index('up-to-date')]!.evidence, 'base64');
  tampered = Buffer.from(lines[index('tampered')]!.evidence, 'base64');
}, 120_000);

afterAll(() => {
  for (const dir of [archive?.dir, work]) if (dir) rmSync(dir, { recursive: true, force: true });
});

/** `dir/<raw name bytes>` as a Buffer path. */
const raw = (dir: string, ...name: number[]): Buffer => Buffer.concat([Buffer.from(`${dir}/`), Buffer.from(name)]);

async function run(dir: string, name: string) {
  const out = join(work, `${name}.jsonl`);
  const c = capture();
  const code = await runBatchCli([dir, '--out', out, '--at', AT.toISOString(), '--collateral', archive.collateral, '--trust-root', archive.trustRoot, '--workers', '1'], c.io);
  return { code, stdout: c.stdout(), stderr: c.stderr(), results: code === 70 || code === 2 ? [] : readResults(out) };
}

describe('review s12 #1: directory names that are not UTF-8', () => {
  it('sanity: the tampered quote under a normal name is rejected', async () => {
    const dir = join(work, 'plain');
    mkdirSync(dir);
    writeFileSync(join(dir, 'q'), tampered);
    const r = await run(dir, 'plain');
    expect(r.code).toBe(1);
    expect(r.results.map((x) => x.error?.code)).toEqual(['ERR_SIG_QUOTE']);
  });

  it('"\\xff" (tampered) next to a symbolic link U+FFFD to a good quote: refused, never trusted', async () => {
    const dir = join(work, 'symlink');
    mkdirSync(dir);
    writeFileSync(join(work, 'good-elsewhere.bin'), good);
    writeFileSync(raw(dir, 0xff), tampered);
    symlinkSync(join(work, 'good-elsewhere.bin'), join(dir, '\ufffd'));
    const r = await run(dir, 'symlink');
    expect(r.code).toBe(1);
    expect(r.results).toHaveLength(1); // the link is no record (regular files only)
    expect(r.results[0]).toMatchObject({ id: '%FF', ok: false, error: { code: 'ERR_RECORD_UNREADABLE' } });
    expect(r.results[0]!.error!.message).toContain('not valid UTF-8');
  });

  it('"\\xff" (tampered) next to a regular file U+FFFD (good): each is its own record', async () => {
    const dir = join(work, 'regular');
    mkdirSync(dir);
    writeFileSync(raw(dir, 0xff), tampered);
    writeFileSync(join(dir, '\ufffd'), good);
    const r = await run(dir, 'regular');
    expect(r.code).toBe(1);
    const byId = Object.fromEntries(r.results.map((x) => [x.id, x]));
    expect(Object.keys(byId).sort()).toEqual(['%FF', '\ufffd'].sort());
    expect(byId['%FF']).toMatchObject({ ok: false, error: { code: 'ERR_RECORD_UNREADABLE' } });
    expect(byId['\ufffd']).toMatchObject({ ok: true });
    expect(r.stdout).not.toContain('repeat the id');
  });

  it('a sub-directory "\\xfe" is a refused record, not an internal error (exit 1, not 70); the other files are verified', async () => {
    const dir = join(work, 'subdir');
    mkdirSync(dir);
    mkdirSync(raw(dir, 0x61, 0xfe));
    writeFileSync(Buffer.concat([raw(dir, 0x61, 0xfe), Buffer.from('/q')]), good);
    writeFileSync(join(dir, 'b'), good);
    const r = await run(dir, 'subdir');
    expect(r.stderr).toBe('');
    expect(r.code).toBe(1);
    expect(r.results.map((x) => [x.id, x.error?.code ?? null])).toEqual([
      ['a%FE', 'ERR_RECORD_UNREADABLE'],
      ['b', null],
    ]);
  });

  it('a name starting with a byte order mark is kept as it is (not decoded away)', async () => {
    const dir = join(work, 'bom');
    mkdirSync(dir);
    writeFileSync(join(dir, '\ufeffq'), good);
    writeFileSync(join(dir, 'q'), tampered);
    const r = await run(dir, 'bom');
    const byId = Object.fromEntries(r.results.map((x) => [x.id, x.ok]));
    expect(byId).toEqual({ '\ufeffq': true, q: false });
  });

  it('the walk order puts an escaped name where its escaped id sorts (a resume compares ids in that order)', async () => {
    const dir = join(work, 'order');
    mkdirSync(dir);
    for (const n of ['%A', '%G', 'z']) writeFileSync(join(dir, n), 'x');
    writeFileSync(raw(dir, 0xff), 'x');
    const walked: string[] = [];
    for await (const p of walkDirectory(dir)) walked.push(p);
    expect(walked).toEqual(['%A', '%FF', '%G', 'z']);
  });
});

describe('review s12 #1: the worker reads only the regular file the walk listed', () => {
  // Imported here, so that the suites above report their own results on code without this module.
  let readEvidenceFile: typeof import('../../src/batch/evidence-file.js').readEvidenceFile;
  beforeAll(async () => {
    ({ readEvidenceFile } = await import('../../src/batch/evidence-file.js'));
  });

  it('a symbolic link is not followed', () => {
    const dir = join(work, 'worker-link');
    mkdirSync(dir);
    writeFileSync(join(work, 'target.bin'), good);
    symlinkSync(join(work, 'target.bin'), join(dir, 'l'));
    const r = readEvidenceFile(dir, 'l', 1 << 20);
    expect(r).toMatchObject({ id: 'l', ok: false, error: { code: 'ERR_RECORD_UNREADABLE' } });
  });

  it('a FIFO is not read (and does not hang)', () => {
    const dir = join(work, 'worker-fifo');
    mkdirSync(dir);
    execFileSync('mkfifo', [join(dir, 'p')]);
    const r = readEvidenceFile(dir, 'p', 1 << 20);
    expect(r).toMatchObject({ id: 'p', ok: false, error: { code: 'ERR_RECORD_UNREADABLE' } });
    expect((r as { error: { message: string } }).error.message).toContain('not a regular file');
  });

  it('a regular file is read whole', () => {
    const dir = join(work, 'worker-file');
    mkdirSync(dir);
    writeFileSync(join(dir, 'f'), good);
    const fd = openSync(join(dir, 'f'), 'r');
    closeSync(fd);
    const r = readEvidenceFile(dir, 'f', 1 << 20);
    expect(r instanceof Uint8Array && Buffer.from(r).equals(good)).toBe(true);
  });
});
