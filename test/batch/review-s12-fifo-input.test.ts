/**
 * Review s12 (batch) finding 5: a FIFO (process substitution) as input was
 * exit 70 (ESPIPE: the JSONL reader reads at positions); now it is read as a
 * JSONL stream, and a resume from it (it cannot seek) is refused (exit 2).
 */
import { execFileSync, spawn, type ChildProcess } from 'node:child_process';
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';

import { checkpointPath } from '../../src/batch/checkpoint.js';
import { runBatchCli } from '../../src/cli/batch.js';
import { capture, exitOf, makeArchive, readResults, requireBuilt, type Archive } from './helpers.js';

const AT = new Date('2026-03-01T12:00:00Z');
let archive: Archive;
let work: string;
let small: string;

beforeAll(async () => {
  requireBuilt();
  archive = await makeArchive(30, AT);
  work = mkdtempSync(join(tmpdir(), 'tee-verify-batch-s12-fifo-'));
  small = join(work, 'small.jsonl');
  writeFileSync(small, `${readFileSync(archive.jsonl, 'utf8').split('\n').slice(0, 5).join('\n')}\n`);
}, 120_000);

afterAll(() => {
  // A writer whose FIFO was never opened for reading (a failing run) would block forever.
  for (const w of writers) if (w.exitCode === null && w.signalCode === null) w.kill();
  for (const dir of [archive?.dir, work]) if (dir) rmSync(dir, { recursive: true, force: true });
});

const common = (): string[] => ['--at', AT.toISOString(), '--collateral', archive.collateral, '--trust-root', archive.trustRoot, '--workers', '1'];

async function run(args: string[]) {
  const c = capture();
  const code = await runBatchCli(args, c.io);
  return { code, stdout: c.stdout(), stderr: c.stderr() };
}

const writers: ChildProcess[] = [];

/** A FIFO fed with `file` by a child process (the writer end opens once the run reads). */
function feed(fifo: string, file: string) {
  const child = spawn('sh', ['-c', 'cat "$1" > "$2"', 'sh', file, fifo], { stdio: 'ignore' });
  writers.push(child);
  return exitOf(child);
}

describe('review s12 #5: a FIFO as input', () => {
  it('is read as a JSONL stream: the same results as the regular file', async () => {
    const plainOut = join(work, 'plain-out.jsonl');
    const plain = await run([small, '--out', plainOut, ...common()]);
    const fifo = join(work, 'in-fifo');
    execFileSync('mkfifo', [fifo]);
    const out = join(work, 'fifo-out.jsonl');
    const writer = feed(fifo, small);
    const r = await run([fifo, '--out', out, ...common()]);
    await writer;
    expect(r.stderr).toBe('');
    expect(r.code).toBe(plain.code);
    expect(readResults(out)).toEqual(readResults(plainOut));
  });

  it('a checkpoint that is not complete is not resumed from a FIFO (exit 2, says why); --fresh starts over', async () => {
    const fifo = join(work, 'resume-fifo');
    execFileSync('mkfifo', [fifo]);
    const out = join(work, 'resume-fifo-out.jsonl');
    const writer = feed(fifo, small);
    await run([fifo, '--out', out, ...common()]);
    await writer;
    const cp = JSON.parse(readFileSync(checkpointPath(out), 'utf8')) as Record<string, unknown>;
    expect(cp['consumed']).toBe(5);
    writeFileSync(checkpointPath(out), JSON.stringify({ ...cp, complete: false }));
    const refused = await run([fifo, '--out', out, ...common()]); // refused before the FIFO is opened
    expect(refused.code).toBe(2);
    expect(refused.stderr).toContain('cannot be resumed');
    const again = feed(fifo, small);
    const fresh = await run([fifo, '--out', out, '--fresh', ...common()]);
    await again;
    expect(fresh.stderr).toBe('');
    expect(readResults(out)).toHaveLength(5);
  });
});
