/**
 * s16 env red team, finding 5: an empty or relative HOME (with no absolute
 * XDG_CACHE_HOME) put the default collateral cache, with its rollback floors,
 * under the current directory (`HOME= tee-verify verify …` created
 * ./.cache/tee-verify/v1). Decision (docs/collateral.md): a relative
 * XDG_CACHE_HOME is ignored (the XDG rule), and a home directory that is not
 * an absolute path gives no default cache: ERR_COLLATERAL_CACHE_DIR (class
 * ARGUMENT; the CLI exits 2), never a silent fallback.
 */
import { existsSync, mkdtempSync, readdirSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';

import { CollateralCache, CollateralService, defaultCacheDirectory } from '../../src/index.js';
import { run } from '../../src/cli/index.js';
import { capture } from '../cli/capture.js';

const AT = '2026-06-01T00:00:00Z';
let work = '';
let savedHome: string | undefined;
let savedCwd = '';
let savedXdg: string | undefined;
beforeEach(() => {
  work = mkdtempSync(join(tmpdir(), 'tee-verify-s16-home-'));
  savedHome = process.env['HOME'];
  savedXdg = process.env['XDG_CACHE_HOME'];
  delete process.env['XDG_CACHE_HOME'];
  savedCwd = process.cwd();
  process.chdir(work); // where a relative default would land
});
afterEach(() => {
  process.chdir(savedCwd);
  if (savedHome === undefined) delete process.env['HOME'];
  else process.env['HOME'] = savedHome;
  if (savedXdg === undefined) delete process.env['XDG_CACHE_HOME'];
  else process.env['XDG_CACHE_HOME'] = savedXdg;
  rmSync(work, { recursive: true, force: true });
});
const refused = expect.objectContaining({ code: 'ERR_COLLATERAL_CACHE_DIR', errorClass: 'ARGUMENT', message: expect.stringContaining('no default collateral cache directory') });

async function cli(argv: string[], env: Record<string, string> = {}) {
  const c = capture({ env });
  const code = await run(argv, c.io);
  return { code, stdout: c.stdout(), stderr: c.stderr() };
}

describe('s16 env #5: no default cache under the current directory', () => {
  it('an empty or relative HOME with no absolute XDG_CACHE_HOME is ERR_COLLATERAL_CACHE_DIR', () => {
    for (const home of ['', 'rel', './x', '.']) {
      process.env['HOME'] = home;
      for (const env of [{}, { XDG_CACHE_HOME: '' }, { XDG_CACHE_HOME: 'relative/cache' }]) {
        expect(() => defaultCacheDirectory(env)).toThrow(refused);
      }
      expect(() => defaultCacheDirectory()).toThrow(refused); // process.env
      expect(() => new CollateralCache()).toThrow(refused);
      expect(() => new CollateralService({})).toThrow(refused);
    }
    expect(readdirSync(work)).toEqual([]);
  });

  it('an absolute XDG_CACHE_HOME or HOME still gives the default; a relative XDG_CACHE_HOME is ignored', () => {
    process.env['HOME'] = '';
    expect(defaultCacheDirectory({ XDG_CACHE_HOME: '/var/cache/me' })).toBe('/var/cache/me/tee-verify');
    process.env['HOME'] = '/home/someone';
    expect(defaultCacheDirectory({})).toBe('/home/someone/.cache/tee-verify');
    expect(defaultCacheDirectory({ XDG_CACHE_HOME: 'relative' })).toBe('/home/someone/.cache/tee-verify');
    // Memory only, or a named directory, needs no home at all.
    process.env['HOME'] = '';
    expect(() => new CollateralCache({ directory: null })).not.toThrow();
    expect(() => new CollateralService({ cache: null })).not.toThrow();
  });

  it('the CLI (HOME= tee-verify verify … with the default cache) exits 2 and creates nothing in the current directory', async () => {
    const dev = join(work, 'dev');
    expect((await cli(['dev', 'quote', '--tee', 'tdx', '--at', AT, '--out', dev])).code).toBe(0);
    process.env['HOME'] = '';
    const argv = ['verify', join(dev, 'evidence.bin'), '--collateral', join(dev, 'collateral.json'), '--trust-root', join(dev, 'trust-root.pem'), '--pcs-url', 'http://127.0.0.1:9', '--at', AT];
    const r = await cli(argv);
    expect(r.code).toBe(2);
    expect(r.stderr).toContain('no default collateral cache directory');
    expect(existsSync(join(work, '.cache'))).toBe(false);
    // The ways out work: --no-cache, or XDG_CACHE_HOME set to an absolute directory.
    expect((await cli([...argv, '--no-cache'])).code).toBe(0);
    expect((await cli(argv, { XDG_CACHE_HOME: join(work, 'xdg') })).code).toBe(0);
    expect(existsSync(join(work, 'xdg', 'tee-verify', 'v1'))).toBe(true);
    expect(existsSync(join(work, '.cache'))).toBe(false);
  });
});
