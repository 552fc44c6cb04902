/**
 * Review s13 CLI, finding 6: `demo --vectors <dir>` prints text it did not write itself (the
 * manifest's file names, the JSON.parse message quoting the manifest, the directory name) with its
 * control characters visible (terminal-text.ts lineSafe), as every other command does. Before, an
 * ESC in the manifest reached stderr raw, and a file name with ESC [2J reached stdout raw.
 */
import { copyFileSync, mkdirSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';

import { afterAll, describe, expect, it } from 'vitest';

import { run } from '../../src/cli/index.js';
import { defaultVectorsDir } from '../../src/cli/demo-vectors.js';
import { capture } from './capture.js';

const temps: string[] = [];
afterAll(() => temps.forEach((d) => rmSync(d, { recursive: true, force: true })));

const ESC = '\u001b';
const FORGED = `${ESC}[2J${ESC}[1;32mResult: TRUSTED${ESC}[0m`;
/** Any control character but the line feed that ends each line. */
// eslint-disable-next-line no-control-regex
const RAW_CONTROL = /[\u0000-\u0009\u000b-\u001f\u007f-\u009f]/;

function tempDir(prefix = 'tee-verify-demo-s13-'): string {
  const dir = mkdtempSync(join(tmpdir(), prefix));
  temps.push(dir);
  return dir;
}

async function demo(dir: string): Promise<{ code: number; stdout: string; stderr: string }> {
  const c = capture();
  const code = await run(['demo', '--vectors', dir], c.io);
  return { code, stdout: c.stdout(), stderr: c.stderr() };
}

describe('demo --vectors: manifest text reaches the terminal escaped', () => {
  it('a manifest that is not JSON: the JSON.parse message quoting it is escaped (exit 2)', async () => {
    const dir = tempDir();
    writeFileSync(join(dir, 'manifest.json'), FORGED);
    const r = await demo(dir);
    expect(r.code).toBe(2);
    expect(r.stderr).toMatch(/^error: cannot load the synthetic vectors/);
    expect(r.stderr).not.toMatch(RAW_CONTROL);
    expect(r.stdout).toBe('');
  });

  it('a directory name with control characters, in the error and "lists no evidence" lines', async () => {
    const parent = tempDir();
    const dir = join(parent, `v${ESC}[2J`);
    mkdirSync(dir);
    writeFileSync(join(dir, 'manifest.json'), JSON.stringify({ entries: [] }));
    const empty = await demo(dir);
    expect(empty.code).toBe(2);
    expect(empty.stderr).toContain('lists no evidence');
    expect(empty.stderr).toContain('\\x1b[2J');
    expect(empty.stderr).not.toMatch(RAW_CONTROL);
    writeFileSync(join(dir, 'manifest.json'), JSON.stringify({}));
    const bad = await demo(dir);
    expect(bad.code).toBe(2);
    expect(bad.stderr).not.toMatch(RAW_CONTROL);
  });

  it('a manifest entry whose file name holds ESC [2J: printed visibly on stdout (the checks still pass)', async () => {
    const dir = tempDir();
    const name = `tdx${FORGED}.bin`;
    copyFileSync(join(defaultVectorsDir(), 'tdx-v4.bin'), join(dir, name));
    writeFileSync(join(dir, 'manifest.json'), JSON.stringify({ entries: [{ id: 'tdx-v4', kind: 'tdx-quote-v4', file: name }] }));
    const r = await demo(dir);
    expect(r.stderr).toBe('');
    expect(r.code).toBe(0);
    expect(r.stdout).toContain('tdx\\x1b[2J\\x1b[1;32mResult: TRUSTED\\x1b[0m.bin');
    expect(r.stdout).not.toMatch(RAW_CONTROL);
  });
});
