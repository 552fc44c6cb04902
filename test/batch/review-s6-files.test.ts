/**
 * Review (session 6): a write error during a run is exit 70 with a message
 * naming it (never Node's exit 1 of an unhandled rejection, which means "some
 * records rejected"), and the same command resumes afterwards; the files a run
 * writes never alias the files it reads or each other (exit 2, input untouched).
 */
import { createHash } from 'node:crypto';
import { spawn } from 'node:child_process';
import { copyFileSync, existsSync, linkSync, mkdirSync, mkdtempSync, readFileSync, rmSync, symlinkSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';

import { runBatchCli } from '../../src/cli/batch.js';
import { capture, exitOf, ids, MAIN, makeArchive, readResults, requireBuilt, ROOT, type Archive } from './helpers.js';

const AT = new Date('2026-03-01T12:00:00Z');
let archive: Archive;
let work: string;

beforeAll(async () => {
  requireBuilt();
  archive = await makeArchive(300, AT);
  work = mkdtempSync(join(tmpdir(), 'tee-verify-batch-s6-files-'));
}, 120_000);

afterAll(() => {
  for (const dir of [archive?.dir, work]) if (dir) rmSync(dir, { recursive: true, force: true });
});

const common = (): string[] => ['--at', AT.toISOString(), '--collateral', archive.collateral, '--trust-root', archive.trustRoot, '--workers', '1'];

async function run(args: string[]) {
  const c = capture();
  const code = await runBatchCli(args, c.io);
  return { code, stdout: c.stdout(), stderr: c.stderr() };
}

/** `node dist/batch/main.js` under a shell with `ulimit -f <blocks>` (bash counts 1024-byte blocks). */
function runLimited(blocks: number, args: string[]) {
  const quoted = [process.execPath, MAIN, ...args].map((a) => `'${a.replace(/'/g, "'\\''")}'`).join(' ');
  return exitOf(spawn('bash', ['-c', `ulimit -f ${blocks} && exec ${quoted}`], { cwd: ROOT, stdio: ['ignore', 'pipe', 'pipe'] }));
}

const digest = (path: string): string => createHash('sha256').update(readFileSync(path)).digest('hex');

describe('review s6: a write error stops the run with exit 70, and the run resumes', () => {
  it('results past the file size limit (EFBIG): exit 70 naming the error, no unhandled rejection; then a resume completes them', async () => {
    const clean = join(work, 'clean.jsonl');
    const first = await run([archive.jsonl, '--out', clean, ...common()]);
    expect(readResults(clean)).toHaveLength(300);
    expect(readFileSync(clean).length).toBeGreaterThan(40 * 1024); // the limit below is really hit

    const out = join(work, 'limited.jsonl');
    const summary = join(work, 'limited-summary.json');
    const args = [archive.jsonl, '--out', out, '--summary', summary, ...common()];
    const limited = await runLimited(20, args);
    expect(limited.code, `signal ${limited.signal}; stderr: ${limited.stderr}`).toBe(70);
    expect(limited.stderr).toContain('EFBIG');
    expect(limited.stderr).toContain(`cannot write the results file ${out}`);
    expect(limited.stderr.toLowerCase()).not.toContain('unhandled');
    expect(existsSync(summary)).toBe(false); // no summary of a partial run
    const cp = JSON.parse(readFileSync(`${out}.checkpoint`, 'utf8')) as { complete: boolean; consumed: number };
    expect(cp.complete).toBe(false);
    expect(cp.consumed).toBeLessThan(300);

    const resumed = await run(args);
    expect(resumed.code).toBe(first.code);
    expect(resumed.stdout).toMatch(/resumed after input record \d+|^300 records/);
    expect(ids(readResults(out))).toEqual(ids(readResults(clean)));
    expect(readFileSync(out, 'utf8')).toBe(readFileSync(clean, 'utf8'));
    expect(JSON.parse(readFileSync(summary, 'utf8')).records).toBe(300);
  }, 120_000);
});

describe('review s6: written files never alias read files or each other (exit 2, input untouched)', () => {
  /** A private copy of the archive's JSONL and a results path next to it. */
  function setup(name: string): { dir: string; input: string; out: string } {
    const dir = join(work, name);
    mkdirSync(dir, { recursive: true });
    const input = join(dir, 'archive.jsonl');
    copyFileSync(archive.jsonl, input);
    return { dir, input, out: join(dir, 'out.jsonl') };
  }

  async function refused(args: string[], untouched: string[], pattern: RegExp): Promise<void> {
    const before = untouched.map(digest);
    const r = await run([...args, ...common()]);
    expect(r.stderr).toMatch(pattern);
    expect(r.code).toBe(2);
    expect(untouched.map(digest)).toEqual(before);
  }

  it('--out equal to the input', async () => {
    const { input } = setup('out-input');
    await refused([input, '--out', input], [input], /--out .* and the input .* are the same file/);
  });

  it('--out a symbolic link to the input, and a hard link to it', async () => {
    const { dir, input } = setup('out-links');
    symlinkSync(input, join(dir, 'sym.jsonl'));
    linkSync(input, join(dir, 'hard.jsonl'));
    await refused([input, '--out', join(dir, 'sym.jsonl')], [input], /same file/);
    await refused([input, '--out', join(dir, 'hard.jsonl')], [input], /same file/);
  });

  it('--out equal to --previous (through a symbolic link)', async () => {
    const { dir, input, out } = setup('out-previous');
    expect((await run([input, '--out', out, ...common()])).code).not.toBe(2);
    symlinkSync(out, join(dir, 'prev-link.jsonl'));
    await refused([input, '--out', out, '--previous', join(dir, 'prev-link.jsonl')], [out], /--out .* and --previous .* are the same file/);
  });

  it('--summary equal to the input', async () => {
    const { input, out } = setup('summary-input');
    await refused([input, '--out', out, '--summary', input], [input], /--summary .* and the input .* are the same file/);
  });

  it('--summary equal to --previous', async () => {
    const { dir, input, out } = setup('summary-previous');
    const previous = join(dir, 'previous.jsonl');
    expect((await run([input, '--out', previous, ...common()])).code).not.toBe(2);
    await refused([input, '--out', out, '--summary', previous, '--previous', previous], [previous], /--summary .* and --previous .* are the same file/);
  });

  it('--summary equal to the checkpoint of --out, or to a bundle', async () => {
    const { input, out } = setup('summary-checkpoint');
    await refused([input, '--out', out, '--summary', `${out}.checkpoint`], [input], /--summary .* and the checkpoint .* are the same file/);
    await refused([input, '--out', out, '--summary', archive.collateral], [archive.collateral], /same file/);
  });

  it('--out and --summary not yet existing, the same file through a linked directory', async () => {
    const { dir, input, out } = setup('new-through-dir');
    mkdirSync(join(dir, 'real'));
    symlinkSync(join(dir, 'real'), join(dir, 'alias'));
    await refused([input, '--out', join(dir, 'real', 'r.jsonl'), '--summary', join(dir, 'alias', 'r.jsonl')], [input], /same file/);
    expect(existsSync(join(dir, 'real', 'r.jsonl'))).toBe(false);
    expect(existsSync(out)).toBe(false);
  });

  it('--out through a dangling symbolic link to the input\'s path is where the link points', async () => {
    const { dir, input } = setup('dangling');
    symlinkSync(join(dir, 'later.jsonl'), join(dir, 'dangling.jsonl'));
    await refused([input, '--out', join(dir, 'later.jsonl'), '--summary', join(dir, 'dangling.jsonl')], [input], /same file/);
  });

  it('--out inside a directory input', async () => {
    const dir = join(work, 'dir-input');
    mkdirSync(join(dir, 'evidence'), { recursive: true });
    writeFileSync(join(dir, 'evidence', 'a.bin'), 'AAAA');
    await refused([join(dir, 'evidence'), '--out', join(dir, 'evidence', 'results.jsonl')], [join(dir, 'evidence', 'a.bin')], /inside the input directory/);
    expect(existsSync(join(dir, 'evidence', 'results.jsonl'))).toBe(false);
  });

  it('stdin redirected from --out (batch - --out x < x)', async () => {
    const { input, out } = setup('stdin');
    copyFileSync(input, out);
    const before = digest(out);
    const quoted = [process.execPath, MAIN, '-', '--out', out, ...common()].map((a) => `'${a}'`).join(' ');
    const r = await exitOf(spawn('bash', ['-c', `exec ${quoted} < '${out}'`], { cwd: ROOT, stdio: ['ignore', 'pipe', 'pipe'] }));
    expect(r.stderr).toMatch(/the input \(stdin\)/);
    expect(r.code).toBe(2);
    expect(digest(out)).toBe(before);
  });
});
