/**
 * s15 change review r6: deciding whether a `--at now` checkpoint's kept results were judged at an
 * instant opened `--out` with a blocking read, so an --out that is a FIFO beside a matching
 * checkpoint hung the run for ever (it was refused with exit 2 before). judgedPrefix now opens
 * without blocking and reads regular files only. Run in a child process on the built code: a
 * blocked synchronous open cannot be interrupted by the test's own timeout.
 */
import { spawnSync } from 'node:child_process';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join, resolve } from 'node:path';

import { afterAll, describe, expect, it } from 'vitest';

const root = resolve(__dirname, '../..');
const dir = mkdtempSync(join(tmpdir(), 'tee-verify-s15-fifo-'));
afterAll(() => rmSync(dir, { recursive: true, force: true }));

const judged = (path: string): { status: number | null; out: string } => {
  const r = spawnSync(process.execPath, ['--input-type=module', '-e', `import { judgedPrefix } from ${JSON.stringify(join(root, 'dist/batch/recount.js'))}; console.log(judgedPrefix(${JSON.stringify(path)}, 1000));`], { encoding: 'utf8', timeout: 20_000 });
  return { status: r.status, out: r.stdout.trim() };
};

describe('judgedPrefix on an --out that is not a regular file (s15 change review r6)', () => {
  it('a FIFO: answers false at once instead of blocking', () => {
    const fifo = join(dir, 'r.jsonl');
    expect(spawnSync('mkfifo', [fifo]).status).toBe(0);
    expect(judged(fifo)).toEqual({ status: 0, out: 'false' });
  });

  it('a regular file with a judged line: true (control)', () => {
    const file = join(dir, 'ok.jsonl');
    writeFileSync(file, `${JSON.stringify({ id: 'a', ok: true, at: '2026-01-01T00:00:00.000Z' })}\n`);
    expect(judged(file)).toEqual({ status: 0, out: 'true' });
  });
});
