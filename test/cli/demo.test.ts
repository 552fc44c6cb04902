import { cpSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';

import { run } from '../../src/cli/index.js';
import { defaultVectorsDir } from '../../src/cli/demo-vectors.js';
import { capture } from './capture.js';

const CHECK_IDS = ['T02-T07', 'T08', 'T22', 'T23', 'T26', 'S02-S04', 'S05', 'S12', 'S13', 'S14'];
const temps: string[] = [];
afterAll(() => temps.forEach((d) => rmSync(d, { recursive: true, force: true })));

function copyVectors(): string {
  const dir = mkdtempSync(join(tmpdir(), 'tee-verify-demo-'));
  temps.push(dir);
  cpSync(defaultVectorsDir(), dir, { recursive: true });
  return dir;
}

describe('tee-verify demo', () => {
  it('returns 0 on the package vectors and prints every check id with a pass mark', async () => {
    const c = capture();
    expect(await run(['demo'], c.io)).toBe(0);
    const out = c.stdout();
    for (const id of CHECK_IDS) expect(out).toMatch(new RegExp(`PASS  ${id}\\b`));
    expect(out).not.toContain('FAIL');
    for (const f of ['tdx-v4.bin', 'tdx-v4.hex', 'tdx-v5-td10.bin', 'tdx-v5-td15.bin', 'sgx-v3.bin', 'snp-v3-milan.bin', 'snp-v5-turin.bin']) {
      expect(out).toContain(f);
    }
    expect(out).toMatch(/All \d+ checks passed/);
    expect(out).toMatch(/never in production/);
    // The full verification of simulated evidence runs every Intel and SNP check, in order.
    for (const id of ['T09', 'T13', 'T14', 'T17', 'T22', 'T26', 'T30', 'T32', 'S07', 'S09', 'S12', 'S13', 'S14']) expect(out).toContain(`  ${id}  `);
    expect(out).toContain('TCB status: UpToDate; default policy: met');
    expect(c.stderr()).toBe('');
  });

  it('prints no escape codes unless stdout is a TTY, and honours NO_COLOR', async () => {
    const plain = capture();
    await run(['demo'], plain.io);
    expect(plain.stdout()).not.toContain('\u001b[');
    const tty = capture({ tty: true });
    await run(['demo'], tty.io);
    expect(tty.stdout()).toContain('\u001b[32m✓');
    const noColor = capture({ tty: true, env: { NO_COLOR: '1' } });
    await run(['demo'], noColor.io);
    expect(noColor.stdout()).not.toContain('\u001b[');
  });

  it('returns 1 and marks the failed check when a vector was tampered with', async () => {
    const dir = copyVectors();
    const file = join(dir, 'tdx-v4.bin');
    const bytes = readFileSync(file);
    bytes[0xb8] = (bytes[0xb8] ?? 0) ^ 0xff; // a byte of MRTD: signed, not re-signed
    writeFileSync(file, bytes);
    const c = capture();
    expect(await run(['demo', '--vectors', dir], c.io)).toBe(1);
    expect(c.stdout()).toMatch(/FAIL {2}T26/);
    expect(c.stdout()).toMatch(/1 of \d+ checks FAILED/);
  });

  it('reports an unparsable vector as a failed parse check and skips what depends on it', async () => {
    const dir = copyVectors();
    writeFileSync(join(dir, 'snp-v5-turin.bin'), new Uint8Array(100));
    const c = capture();
    expect(await run(['demo', '--vectors', dir], c.io)).toBe(1);
    expect(c.stdout()).toMatch(/FAIL {2}S02-S04 +parses \(ERR_/);
    expect(c.stdout()).toMatch(/FAIL {2}S12 .*not run/);
  });

  it('returns 2 when the vectors folder has no manifest', async () => {
    const dir = mkdtempSync(join(tmpdir(), 'tee-verify-empty-'));
    temps.push(dir);
    const c = capture();
    expect(await run(['demo', '--vectors', dir], c.io)).toBe(2);
    expect(c.stderr()).toContain('cannot load the synthetic vectors');
  });
});
