/**
 * Review s13 CLI, finding 5: `collateral export` (--offline implied) names the options the user gave,
 * never an --offline the user did not write. Before, `export --pcs-url` said "--offline fetches
 * nothing" and `export --no-cache` without a source "--offline needs --collateral".
 */
import { join } from 'node:path';

import { afterAll, describe, expect, it } from 'vitest';

import { TempDirs, cli } from './helpers.js';

const temps = new TempDirs();
afterAll(() => temps.cleanup());

/** Not evidence of any kind: parsing it is a PARSE error (exit 1). */
const junk = (): string => temps.file('junk.bin', new Uint8Array(100).fill(0xee));
const outPath = (): string => join(temps.make(), 'out.json');

describe('collateral export: the message names the option given (finding 5)', () => {
  for (const option of ['--pcs-url', '--kds-url']) {
    it(`export ${option}: exit 2, names ${option}, not --offline`, async () => {
      const r = await cli(['collateral', 'export', junk(), option, 'https://collateral.example', '--no-cache', '--out', outPath()]);
      expect(r.code).toBe(2);
      expect(r.stderr).toContain(option);
      expect(r.stderr).toMatch(/collateral export reads/);
      expect(r.stderr).not.toContain('--offline');
    });
  }

  it('export --no-cache without --collateral or --certs: exit 2, not "--offline needs"', async () => {
    const r = await cli(['collateral', 'export', junk(), '--no-cache', '--out', outPath()]);
    expect(r.code).toBe(2);
    expect(r.stderr).toMatch(/collateral export reads/);
    expect(r.stderr).toMatch(/--no-cache/);
    expect(r.stderr).not.toContain('--offline');
  });

  it('control: fetch --offline --pcs-url keeps the --offline message (the user gave --offline)', async () => {
    const r = await cli(['collateral', 'fetch', junk(), '--offline', '--pcs-url', 'https://pccs.example', '--no-cache', '--out', outPath()]);
    expect(r.code).toBe(2);
    expect(r.stderr).toContain('--offline fetches nothing');
  });
});

describe('collateral export: an explicit --offline keeps its own message', () => {
  it('export --offline --no-cache without a source: "--offline needs --collateral" (the user gave --offline)', async () => {
    const r = await cli(['collateral', 'export', junk(), '--offline', '--no-cache', '--out', outPath()]);
    expect(r.code).toBe(2);
    expect(r.stderr).toMatch(/--offline needs --collateral <bundle>/);
  });
});
