/**
 * Review s11 changes-b #4: `tee-verify batch … --pcs-url http://u:pw@127.0.0.1:1`
 * exited 70 (internal) with a message naming "baseUrl": the PCS client refused
 * the URL only once the run had started. The URL is now checked with the other
 * options: exit 2, the flag named, the password printed nowhere, no
 * checkpoint. And a URL without a scheme ("u:pw@host:1" parses with "u:" as
 * one) said "(X15): null"; it now says what is wrong, without repeating it.
 */
import { existsSync, readdirSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';

import { cli, TempDirs } from './helpers.js';

describe('batch --pcs-url refused as a usage error', () => {
  const dirs = new TempDirs();
  afterAll(() => dirs.cleanup());

  for (const url of ['http://u:S3CRET@127.0.0.1:1', 'https://u:S3CRET@pccs.example:8081/', 'u:S3CRET@127.0.0.1:1', 'http://pccs.example:8081']) {
    it(`${url}: exit 2 naming --pcs-url, "S3CRET" printed nowhere, nothing written`, async () => {
      const dir = dirs.make();
      const input = join(dir, 'in.jsonl');
      writeFileSync(input, '{"id":"a","evidence":"AAAA"}\n');
      const out = join(dir, 'out.jsonl');
      const r = await cli(['batch', input, '--out', out, '--workers', '1', '--pcs-url', url]);
      expect(r.code).toBe(2);
      expect(r.stderr).toContain('--pcs-url');
      expect(r.stderr).not.toContain('baseUrl');
      expect(r.stderr).not.toMatch(/\bnull\b/);
      expect(r.stdout + r.stderr).not.toContain('S3CRET');
      expect(r.stderr).toContain('tee-verify batch --help');
      expect(existsSync(out)).toBe(false);
      expect(readdirSync(dir)).toEqual(['in.jsonl']);
    });
  }

  it('a loopback http URL without credentials is accepted (the run starts; collateral is then unavailable)', async () => {
    const dir = dirs.make();
    const input = join(dir, 'in.jsonl');
    writeFileSync(input, '{"id":"a","evidence":"AAAA"}\n');
    const out = join(dir, 'out.jsonl');
    // The run opens the default disk cache from process.env: a temporary one, never the user's.
    const saved = process.env['XDG_CACHE_HOME'];
    process.env['XDG_CACHE_HOME'] = dirs.make();
    let r;
    try {
      r = await cli(['batch', input, '--out', out, '--workers', '1', '--pcs-url', 'http://127.0.0.1:1/']);
    } finally {
      if (saved === undefined) delete process.env['XDG_CACHE_HOME'];
      else process.env['XDG_CACHE_HOME'] = saved;
    }
    expect(r.stderr).not.toContain('--pcs-url');
    expect(r.code).not.toBe(2);
    expect(existsSync(out)).toBe(true);
  });
});
