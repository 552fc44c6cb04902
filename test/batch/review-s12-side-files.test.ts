/**
 * Review s12 (batch) finding 4: --previous / --summary naming a directory
 * (or --previous a FIFO) passed the up-front checks, every record was
 * verified, and the run then failed with exit 70 (or blocked opening the
 * FIFO); now a usage error (exit 2) before any record is verified.
 */
import { execFileSync } from 'node:child_process';
import { existsSync, mkdirSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';

import { runBatchCli } from '../../src/cli/batch.js';
import { capture, makeArchive, requireBuilt, type Archive } from './helpers.js';

const AT = new Date('2026-03-01T12:00:00Z');
let archive: Archive;
let work: string;
let small: string;

beforeAll(async () => {
  requireBuilt();
  archive = await makeArchive(30, AT);
  work = mkdtempSync(join(tmpdir(), 'tee-verify-batch-s12-side-'));
  small = join(work, 'small.jsonl');
  writeFileSync(small, `${readFileSync(archive.jsonl, 'utf8').split('\n').slice(0, 5).join('\n')}\n`);
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

describe('review s12 #4: --previous / --summary that are not regular files', () => {
  it('--previous naming a directory: exit 2 before any record is verified', async () => {
    const dir = join(work, 'prev-dir');
    mkdirSync(dir);
    const out = join(work, 'prev-dir-out.jsonl');
    const r = await run([small, '--out', out, '--previous', dir, ...common()]);
    expect(r.code).toBe(2);
    expect(r.stderr).toContain('--previous');
    expect(r.stderr).toContain('not a regular file');
    expect(existsSync(out) ? readFileSync(out, 'utf8') : '').toBe('');
  });

  it('--previous naming a FIFO: exit 2 (it would be read twice)', async () => {
    const fifo = join(work, 'prev-fifo');
    execFileSync('mkfifo', [fifo]);
    const out = join(work, 'prev-fifo-out.jsonl');
    const r = await run([small, '--out', out, '--previous', fifo, ...common()]);
    expect(r.code).toBe(2);
    expect(existsSync(out) ? readFileSync(out, 'utf8') : '').toBe('');
  });

  it('--summary naming an existing directory: exit 2 before any record is verified', async () => {
    const dir = join(work, 'sum-dir');
    mkdirSync(dir);
    const out = join(work, 'sum-dir-out.jsonl');
    const r = await run([small, '--out', out, '--summary', dir, ...common()]);
    expect(r.code).toBe(2);
    expect(r.stderr).toContain('--summary');
    expect(existsSync(out) ? readFileSync(out, 'utf8') : '').toBe('');
  });

  it('--summary naming a file that does not exist yet, or a regular file: accepted', async () => {
    const out = join(work, 'sum-ok-out.jsonl');
    const summary = join(work, 'sum-ok.json');
    expect((await run([small, '--out', out, '--summary', summary, ...common()])).code).not.toBe(2);
    expect((await run([small, '--out', out, '--summary', summary, '--fresh', ...common()])).code).not.toBe(2);
    expect(JSON.parse(readFileSync(summary, 'utf8')).records).toBe(5);
  });
});
