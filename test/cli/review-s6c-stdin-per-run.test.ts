/**
 * Review s6c, #3: standard input was recorded as read once per process
 * (module-level), but run() never exits the process: an embedder or an
 * in-process test calling run() twice with `-` got a usage error the second
 * time. The record is now kept per run() call, and `-` reads the stream the
 * call was given (io.stdin).
 */
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { PassThrough } from 'node:stream';
import { describe, expect, it } from 'vitest';

import { defaultVectorsDir } from '../../src/cli/demo-vectors.js';
import { run } from '../../src/cli/index.js';
import { capture } from './capture.js';

const vectors = defaultVectorsDir();
const streamOf = (bytes: Uint8Array) => {
  const s = new PassThrough();
  s.end(bytes);
  return s;
};

describe('standard input per run() call (review s6c #3)', () => {
  it('two run() calls each read "-" from their own stream', async () => {
    const first = capture();
    expect(await run(['show', '-'], { ...first.io, stdin: streamOf(readFileSync(join(vectors, 'tdx-v5-td15.bin'))) })).toBe(0);
    expect(first.stdout()).toContain('Intel TDX quote v5');

    const second = capture();
    expect(await run(['show', '-'], { ...second.io, stdin: streamOf(readFileSync(join(vectors, 'snp-v3-milan.bin'))) })).toBe(0);
    expect(second.stderr()).toBe('');
    expect(second.stdout()).toContain('AMD SEV-SNP report v3');
  });

  it('within one call "-" is still read once: a second "-" input is a usage error', async () => {
    const c = capture();
    const code = await run(['verify', '-', '--policy', '-'], { ...c.io, stdin: streamOf(readFileSync(join(vectors, 'tdx-v5-td15.bin'))) });
    expect(code).toBe(2);
    expect(c.stderr()).toContain('--policy -: standard input is already read as the evidence file');
  });

  it('concurrent calls keep their own records and streams', async () => {
    const a = capture();
    const b = capture();
    const codes = await Promise.all([
      run(['show', '-'], { ...a.io, stdin: streamOf(readFileSync(join(vectors, 'sgx-v3.bin'))) }),
      run(['show', '-'], { ...b.io, stdin: streamOf(readFileSync(join(vectors, 'snp-v3-milan.bin'))) }),
    ]);
    expect(codes).toEqual([0, 0]);
    expect(a.stdout()).toContain('SGX');
    expect(b.stdout()).toContain('AMD SEV-SNP report v3');
  });
});
