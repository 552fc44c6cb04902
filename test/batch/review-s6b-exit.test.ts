/**
 * Review, session 6 (second round): exit codes of the real `tee-verify batch`
 * process that a Kubernetes Job or a script acts on (docs/batch.md "Exit codes").
 *
 * - A crash outside runBatchCli (here: EPIPE on stdout, whose reader is gone)
 *   is 70 through bin/tee-verify.js too, not Node's 1 ("some rejected").
 * - A cache directory the collateral cache refuses is a setup error (2), as
 *   in `verify`, not an internal error (70) that a Job would retry forever.
 */
import { spawn } from 'node:child_process';
import { chmodSync, existsSync, mkdirSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';

import { exitOf, MAIN, requireBuilt, ROOT } from './helpers.js';

const BIN = join(ROOT, 'bin', 'tee-verify.js');
let dir = '';

beforeAll(() => {
  requireBuilt();
  dir = mkdtempSync(join(tmpdir(), 'tee-verify-s6b-exit-'));
});
afterAll(() => rmSync(dir, { recursive: true, force: true }));

describe('tee-verify batch exit codes (review s6b)', () => {
  it('EPIPE on stdout (the reader has exited) is exit 70 through the bin, not 1', async () => {
    const input = join(dir, 'empty.jsonl');
    writeFileSync(input, '');
    const child = spawn(process.execPath, [BIN, 'batch', input, '--out', join(dir, 'epipe.jsonl'), '--workers', '1'], { cwd: ROOT, stdio: ['ignore', 'pipe', 'pipe'] });
    // Close our end of the stdout pipe before the child writes its summary: every write is EPIPE.
    child.stdout.destroy();
    const r = await exitOf(child);
    expect(r.stderr).toMatch(/internal error: .*EPIPE/);
    expect(r.code).toBe(70);
    // The run itself finished: the crash was only the summary's write.
    expect(existsSync(join(dir, 'epipe.jsonl'))).toBe(true);
  });

  it.each([
    ['bin/tee-verify.js batch', [BIN, 'batch']],
    ['dist/batch/main.js', [MAIN]],
  ])('a group-writable $XDG_CACHE_HOME/tee-verify is exit 2 naming ERR_COLLATERAL_CACHE_DIR (%s)', async (label, entry) => {
    const cacheHome = join(dir, `xdg-${label.replace(/\W+/g, '-')}`);
    mkdirSync(join(cacheHome, 'tee-verify'), { recursive: true });
    chmodSync(join(cacheHome, 'tee-verify'), 0o775);
    const input = join(dir, 'one.jsonl');
    writeFileSync(input, '{"id":"a","evidence":"AAAA"}\n');
    const out = join(dir, `cache-${label.replace(/\W+/g, '-')}.jsonl`);
    const child = spawn(process.execPath, [...entry, input, '--out', out, '--workers', '1'], {
      cwd: ROOT,
      stdio: ['ignore', 'pipe', 'pipe'],
      env: { ...process.env, XDG_CACHE_HOME: cacheHome },
    });
    const r = await exitOf(child);
    expect(r.stderr).toContain('ERR_COLLATERAL_CACHE_DIR');
    expect(r.stderr).toContain('XDG_CACHE_HOME');
    expect(r.code).toBe(2);
    // Refused before the results file is touched.
    expect(existsSync(out)).toBe(false);
  });
});
