/**
 * Review s9 changes-c #6: `collateral prune --dry-run` on a directory without
 * v1/ created v1/ (the cache's constructor prepares its directory), and
 * leftover temporary files of the cache's writes (a crash between write and
 * rename) were never pruned. Now the command creates nothing where there is no
 * cache, and prune removes temporary files named like this cache's own, last
 * written before the bound and over an hour ago, never through a link. Also
 * exit 70 through the command, which the API test could not show as root.
 */
import { createHash } from 'node:crypto';
import * as fs from 'node:fs';
import { existsSync, lstatSync, mkdtempSync, readdirSync, readFileSync, rmSync, symlinkSync, utimesSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterEach, describe, expect, it, vi } from 'vitest';

import { CollateralCache, type CollateralArtifact } from '../../src/index.js';
import { artifactKey } from '../../src/collateral/index.js';
import { createSyntheticIntelPlatform, intelArtifact, signCollateralJson } from '../../src/testing/index.js';
import { cli } from '../cli/helpers.js';

/** Removal of version files fails while set (as a directory the process cannot write to does, also for root). */
const refuseVersionRemoval = { on: false };
vi.mock('node:fs', async (importOriginal) => {
  const real = await importOriginal<typeof import('node:fs')>();
  const rmSync = (path: fs.PathLike, ...rest: unknown[]) => {
    if (refuseVersionRemoval.on && /[0-9a-f]{64}-[0-9a-f]{16}\.json$/.test(String(path))) throw Object.assign(new Error(`EACCES: permission denied, unlink '${String(path)}'`), { code: 'EACCES' });
    return (real.rmSync as (...a: unknown[]) => void)(path, ...rest);
  };
  return { ...real, rmSync, default: { ...real, rmSync } };
});

const DAY = 86_400_000;
const HOUR = 3_600_000;
const dirs: string[] = [];
afterEach(() => {
  refuseVersionRemoval.on = false;
  for (const d of dirs.splice(0)) rmSync(d, { recursive: true, force: true });
});
function tempDir(): string {
  const d = mkdtempSync(join(tmpdir(), 'tee-verify-s9c-leftovers-'));
  dirs.push(d);
  return d;
}

// The command prunes relative to the clock: windows and file times are placed around it.
const NOW = new Date();
const p = createSyntheticIntelPlatform({ tee: 'tdx', at: NOW, seed: 'review s9 leftovers' });
const iso = (ms: number) => new Date(ms).toISOString().replace(/\.\d{3}Z$/, 'Z');
function tcb(n: number, from: number, to: number): CollateralArtifact {
  const fmspc = String(p.tcbInfo['fmspc']);
  const doc = { ...p.tcbInfo, fmspc, tcbEvaluationDataNumber: n, issueDate: iso(NOW.getTime() + from * DAY), nextUpdate: iso(NOW.getTime() + to * DAY) };
  const body = signCollateralJson('tcbInfo', doc as never, p.pki.tcbSigning.key.privateKey);
  return { ...intelArtifact('intel-tcb-info', artifactKey.tcbInfo({ tee: 'tdx', fmspc }), body, p.pki.tcbSigningChainPem), source: { origin: 'network' } };
}
const expired = tcb(10, -130, -100);
const current = tcb(20, -1, 29);
const digest = createHash('sha256').update(current.key).digest('hex');

/** A file in v1 last written `agoMs` before NOW. */
function plant(directory: string, name: string, agoMs: number, content = '{"format":"tee-verify-collateral-cache-entry"'): string {
  const file = join(directory, 'v1', name);
  writeFileSync(file, content, { mode: 0o600 });
  const t = new Date(NOW.getTime() - agoMs);
  utimesSync(file, t, t);
  return file;
}

describe('review s9 changes-c #6: prune creates nothing where there is no cache', () => {
  it.each([[['--dry-run']], [[]]])('a directory without v1/ (%j): nothing to prune, nothing created', async (extra) => {
    const directory = tempDir();
    const r = await cli(['collateral', 'prune', '--older-than', '30', '--cache-dir', directory, ...extra]);
    expect(r.code).toBe(0);
    expect(r.stdout).toContain('nothing to prune');
    expect(readdirSync(directory)).toEqual([]);
  });
});

describe('review s9 changes-c #6: leftover temporary files', () => {
  function cacheWithLeftovers() {
    const directory = tempDir();
    const cache = new CollateralCache({ directory });
    cache.put(current);
    const old = [
      plant(directory, `${digest}-0123456789abcdef.json.4242.00112233aabb.tmp`, 40 * DAY), // a version's write that crashed
      plant(directory, `${digest}-floor.json.7.a1b2c3d4e5f6.tmp`, 40 * DAY), // a floor file's
    ];
    const inProgress = plant(directory, `${digest}-fedcba9876543210.json.4242.ffeeddccbbaa.tmp`, 10 * 60_000); // minutes ago
    const notOurs = [
      plant(directory, 'notes.tmp', 40 * DAY),
      plant(directory, `${digest}-0123456789abcdef.json.tmp`, 40 * DAY), // no pid and random part
      plant(directory, `${digest}-0123456789abcdef.json.1.XYZ.tmp`, 40 * DAY),
    ];
    const target = join(tempDir(), 'target');
    writeFileSync(target, 'keep me', { mode: 0o600 });
    const link = join(directory, 'v1', `${digest}-floor.json.9.abcdefabcdef.tmp`);
    symlinkSync(target, link);
    return { directory, cache, old, inProgress, notOurs, link, target };
  }

  it('removes those named like the cache\'s own, last written before the bound and over an hour ago; never a link (skipped) or any other name', () => {
    const { cache, old, inProgress, notOurs, link, target } = cacheWithLeftovers();
    expect(cache.prune({ expiredBefore: new Date(NOW.getTime() - 30 * DAY), now: NOW })).toEqual({ removed: 0, kept: 1, skipped: 1, failed: 0, temporary: 2, floors: 0 });
    for (const f of old) expect(existsSync(f)).toBe(false);
    expect(existsSync(inProgress)).toBe(true);
    for (const f of notOurs) expect(existsSync(f)).toBe(true);
    expect(lstatSync(link).isSymbolicLink()).toBe(true);
    expect(readFileSync(target, 'utf8')).toBe('keep me');
    expect(cache.versions(current.key)).toHaveLength(1);
  });

  it('the bound applies: files written after expiredBefore stay; with --older-than 0 a write minutes old stays too', async () => {
    const { directory, cache, old, inProgress } = cacheWithLeftovers();
    expect(cache.prune({ expiredBefore: new Date(NOW.getTime() - 60 * DAY), now: NOW })).toMatchObject({ temporary: 0 });
    for (const f of old) expect(existsSync(f)).toBe(true);
    const r = await cli(['collateral', 'prune', '--older-than', '0', '--cache-dir', directory]);
    expect(r.code).toBe(0);
    expect(r.stdout).toMatch(/; kept 1 versions and 0 rollback floors, and removed 2 leftover temporary files\n$/);
    expect(existsSync(inProgress)).toBe(true);
  });

  it('a dry run counts them and removes nothing', async () => {
    const { directory, old } = cacheWithLeftovers();
    const r = await cli(['collateral', 'prune', '--older-than', '30', '--cache-dir', directory, '--dry-run']);
    expect(r.code).toBe(0);
    expect(r.stdout).toMatch(/, and would remove 2 leftover temporary files\n$/);
    for (const f of old) expect(existsSync(f)).toBe(true);
  });
});

describe('exit 70 through the command (also as root)', () => {
  it('a version the disk refuses to remove: exit 70, error on stderr, the version stays', async () => {
    const directory = tempDir();
    const cache = new CollateralCache({ directory });
    cache.put(expired);
    cache.put(current);
    refuseVersionRemoval.on = true;
    const r = await cli(['collateral', 'prune', '--older-than', '30', '--cache-dir', directory]);
    refuseVersionRemoval.on = false;
    expect(r.code).toBe(70);
    expect(r.stderr).toMatch(/^error: 1 expired versions in .* could not be removed/m);
    expect(new CollateralCache({ directory }).versions(current.key)).toHaveLength(2);
  });
});
