/**
 * Review s13 CLI, finding 4: `collateral fetch` / `export` check their options and read every file
 * (--collateral, --certs) before the evidence is parsed, as `verify` does, so a usage error is exit 2
 * even when the evidence is malformed (before: the evidence's PARSE error, exit 1).
 */
import { existsSync } from 'node:fs';
import { join } from 'node:path';

import { afterAll, describe, expect, it } from 'vitest';

import { TempDirs, cli } from './helpers.js';

const temps = new TempDirs();
afterAll(() => temps.cleanup());

/** Not evidence of any kind: parsing it is a PARSE error (exit 1). */
const junk = (): string => temps.file('junk.bin', new Uint8Array(100).fill(0xee));
const outPath = (): string => join(temps.make(), 'out.json');

describe('collateral fetch / export: options and files before the evidence (finding 4)', () => {
  it('control: malformed evidence with good options is exit 1 (evidence rejected)', async () => {
    for (const sub of ['fetch', 'export']) {
      const r = await cli(['collateral', sub, junk(), '--offline', '--cache-dir', temps.make(), '--out', outPath()]);
      expect(r.code).toBe(1);
      expect(r.stderr).toMatch(/^error: ERR_/);
    }
  });

  it('fetch: a plain-http --pcs-url off loopback is exit 2, named, before the evidence is parsed', async () => {
    const out = outPath();
    const r = await cli(['collateral', 'fetch', junk(), '--pcs-url', 'http://pccs.example.com', '--no-cache', '--out', out]);
    expect(r.code).toBe(2);
    expect(r.stderr).toMatch(/--pcs-url/);
    expect(r.stderr).not.toMatch(/ERR_UNSUPPORTED_VERSION|ERR_UNKNOWN_FORMAT|T03/);
    expect(existsSync(out)).toBe(false);
  });

  it('fetch: a --kds-url with credentials is exit 2 before the evidence is parsed', async () => {
    const r = await cli(['collateral', 'fetch', junk(), '--kds-url', 'https://user:secret@kds.example', '--no-cache', '--out', outPath()]);
    expect(r.code).toBe(2);
    expect(r.stderr).toMatch(/--kds-url/);
    expect(r.stderr).not.toContain('secret');
  });

  for (const sub of ['fetch', 'export']) {
    it(`${sub}: a missing --collateral file is exit 2 before the evidence is parsed`, async () => {
      const r = await cli(['collateral', sub, junk(), '--collateral', join(temps.make(), 'missing.json'), '--no-cache', '--offline', '--out', outPath()]);
      expect(r.code).toBe(2);
      expect(r.stderr).toMatch(/missing\.json/);
    });
  }
});
