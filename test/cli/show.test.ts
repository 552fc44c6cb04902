import { mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';

import { run } from '../../src/cli/index.js';
import { defaultVectorsDir } from '../../src/cli/demo-vectors.js';
import { capture } from './capture.js';

const vectors = defaultVectorsDir();
const tmp = mkdtempSync(join(tmpdir(), 'tee-verify-show-'));
afterAll(() => rmSync(tmp, { recursive: true, force: true }));

function tempFile(name: string, data: Uint8Array | string): string {
  const path = join(tmp, name);
  writeFileSync(path, data);
  return path;
}

describe('tee-verify show', () => {
  it('prints a summary of a TDX quote', async () => {
    const c = capture();
    expect(await run(['show', join(vectors, 'tdx-v5-td15.bin')], c.io)).toBe(0);
    expect(c.stdout()).toContain('Intel TDX quote v5, body type 3');
    expect(c.stdout()).toMatch(/MRTD +[0-9a-f]{96}/);
    expect(c.stdout()).toContain('Parsed only');
  });

  it('prints a summary of an SNP report with the decoded TCB', async () => {
    const c = capture();
    expect(await run(['show', join(vectors, 'snp-v3-milan.bin')], c.io)).toBe(0);
    expect(c.stdout()).toContain('AMD SEV-SNP report v3');
    expect(c.stdout()).toMatch(/REPORTED_TCB +04000000000018db \(bl 4, tee 0, snp 24, ucode 219\)/);
  });

  it('prints evidenceToJSON with --json', async () => {
    const c = capture();
    expect(await run(['show', join(vectors, 'sgx-v3.bin'), '--json'], c.io)).toBe(0);
    const json = JSON.parse(c.stdout()) as { kind: string; version: number };
    expect(json).toMatchObject({ kind: 'sgx', version: 3 });
  });

  it('decodes hex input (auto or --encoding hex)', async () => {
    const a = capture();
    expect(await run(['show', join(vectors, 'tdx-v4.hex')], a.io)).toBe(0);
    const b = capture();
    expect(await run(['show', join(vectors, 'tdx-v4.hex'), '--encoding', 'hex', '--json'], b.io)).toBe(0);
    expect(JSON.parse(b.stdout())).toMatchObject({ kind: 'tdx', version: 4 });
  });

  it('returns 1 on malformed evidence and prints the error code, offset and check id on stderr', async () => {
    const truncated = tempFile('truncated.bin', readFileSync(join(vectors, 'tdx-v4.bin')).subarray(0, 600));
    const c = capture();
    expect(await run(['show', truncated], c.io)).toBe(1);
    expect(c.stderr()).toMatch(/^error: ERR_TRUNCATED at offset \d+ \(check T0\d\)/);
    expect(c.stdout()).toBe('');
  });

  it('applies --trailing: zero padding passes by default, fails with strict (T05)', async () => {
    const padded = tempFile('padded.bin', Buffer.concat([readFileSync(join(vectors, 'tdx-v4.bin')), Buffer.alloc(70)]));
    const ok = capture();
    expect(await run(['show', padded], ok.io)).toBe(0);
    expect(ok.stdout()).toMatch(/trailing bytes +70 \(all zero, ignored\)/);
    const strict = capture();
    expect(await run(['show', padded, '--trailing', 'strict'], strict.io)).toBe(1);
    expect(strict.stderr()).toContain('ERR_TRAILING_DATA');
    expect(strict.stderr()).toContain('check T05');
  });

  it('rejects a certificate given as evidence with exit 1', async () => {
    const c = capture();
    expect(await run(['show', join(vectors, 'snp-v3-milan-vcek.der')], c.io)).toBe(1);
    expect(c.stderr()).toMatch(/^error: ERR_/);
  });

  it('returns 2 for a missing or empty file, naming it in one line', async () => {
    const missing = capture();
    expect(await run(['show', join(tmp, 'missing.bin')], missing.io)).toBe(2);
    expect(missing.stderr()).toMatch(/^error: cannot read evidence file .*missing\.bin: no such file\n$/);
    const empty = capture();
    expect(await run(['show', tempFile('empty.bin', '')], empty.io)).toBe(2);
    expect(empty.stderr()).toMatch(/^error: evidence file .*empty\.bin is empty\n$/);
  });

  it('returns 1 for garbage', async () => {
    const c = capture();
    expect(await run(['show', tempFile('garbage.bin', 'hello world, not a quote')], c.io)).toBe(1);
    expect(c.stderr()).toMatch(/^error: ERR_/);
  });
});

describe('tee-verify usage', () => {
  it('prints help with --help and for each command', async () => {
    const argvs = [['--help'], [], ['help', 'demo'], ['show', '--help'], ['demo', '-h'], ['help', 'verify'], ['verify', '--help'], ['collateral', '--help'], ['collateral', 'fetch', '--help'], ['policy', '--help'], ['policy', 'lint', '-h'], ['dev', '--help'], ['dev', 'quote', '--help'], ['batch', '--help'], ['help', 'batch']];
    for (const argv of argvs) {
      const c = capture();
      expect(await run(argv, c.io)).toBe(0);
      expect(c.stdout()).toContain('tee-verify');
    }
  });

  it('gives examples in the help of every subcommand', async () => {
    for (const topic of ['verify', 'show', 'collateral', 'policy', 'dev', 'demo']) {
      const c = capture();
      expect(await run(['help', topic], c.io)).toBe(0);
      expect(c.stdout()).toMatch(/Examples?:\n {2}tee-verify /);
    }
  });

  it.each([
    [['frob']],
    [['show']],
    [['show', 'a', 'b']],
    [['show', 'x', '--trailing', 'sloppy']],
    [['show', 'x', '--encoding', 'utf8']],
    [['show', 'x', '--product', 'Naples']],
    [['demo', '--bogus']],
    [['help', 'nothing']],
  ])('returns 2 for %j with one error line', async (argv) => {
    const c = capture();
    expect(await run(argv, c.io)).toBe(2);
    expect(c.stderr()).toMatch(/^error: [^\n]+\n$/);
  });
});
