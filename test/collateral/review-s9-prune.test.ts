/**
 * Review s9, F2: old expired disk versions of keys no longer looked up were
 * never removed. Not by default (batch re-verification at past instants
 * needs them): `CollateralCache.prune({ expiredBefore, now })` and
 * `tee-verify collateral prune --older-than <days>` remove the versions whose
 * validity ended before the limit, never a rollback floor, and never follow
 * or remove a file they cannot read as a version of this user.
 */
import { execFileSync } from 'node:child_process';
import { createHash } from 'node:crypto';
import { chmodSync, chownSync, existsSync, lstatSync, mkdtempSync, readdirSync, readFileSync, renameSync, rmSync, symlinkSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterEach, describe, expect, it } from 'vitest';

import { CollateralCache, type CollateralArtifact } from '../../src/index.js';
import { ArtifactResolver, artifactKey } from '../../src/collateral/index.js';
import { createSyntheticIntelPlatform, intelArtifact, signCollateralJson } from '../../src/testing/index.js';
import { cli } from '../cli/helpers.js';

const DAY = 86_400_000;
const dirs: string[] = [];
afterEach(() => {
  for (const d of dirs.splice(0)) {
    try {
      chmodSync(join(d, 'v1'), 0o700);
    } catch {
      // not every test has one
    }
    rmSync(d, { recursive: true, force: true });
  }
});
function tempDir(): string {
  const d = mkdtempSync(join(tmpdir(), 'tee-verify-s9-prune-'));
  dirs.push(d);
  return d;
}
const sha256 = (text: string) => createHash('sha256').update(text).digest('hex');
const isRoot = typeof process.getuid === 'function' && process.getuid() === 0;

/** TCB info of a synthetic platform made around `origin`: evaluation `n`, valid `from` .. `to` days after `origin`. */
function platformAround(origin: Date) {
  const p = createSyntheticIntelPlatform({ tee: 'tdx', at: origin, seed: 'review s9 prune' });
  const iso = (ms: number) => new Date(ms).toISOString().replace(/\.\d{3}Z$/, 'Z');
  return (n: number, from: number, to: number, fmspc = String(p.tcbInfo['fmspc'])): CollateralArtifact => {
    const doc = { ...p.tcbInfo, fmspc, tcbEvaluationDataNumber: n, issueDate: iso(origin.getTime() + from * DAY), nextUpdate: iso(origin.getTime() + to * DAY) };
    const body = signCollateralJson('tcbInfo', doc as never, p.pki.tcbSigning.key.privateKey);
    return { ...intelArtifact('intel-tcb-info', artifactKey.tcbInfo({ tee: 'tdx', fmspc }), body, p.pki.tcbSigningChainPem), source: { origin: 'network' } };
  };
}

const AT = new Date('2026-06-01T12:00:00Z');
const tcbAt = platformAround(AT);
const at = (days: number) => new Date(AT.getTime() + days * DAY);
const old15 = tcbAt(15, -200, -170);
const old16 = tcbAt(16, -100, -70);
const recent17 = tcbAt(17, -40, -10);
const v18 = tcbAt(18, -1, 29);
const other = tcbAt(18, -120, -90, '00A067110000'); // another key no longer looked up
const KEY = v18.key;

const v1 = (directory: string) => join(directory, 'v1');
const files = (directory: string) => readdirSync(v1(directory)).sort();
const versionFiles = (directory: string) => files(directory).filter((n) => /^[0-9a-f]{64}-[0-9a-f]{16}\.json$/.test(n));
/** The key's floor file (`<sha256(key)>-<pid>-<12 hex>-floor.json` since review s11). */
const floorName = (key: string) => expect.stringMatching(new RegExp(`^${sha256(key)}-[0-9]+-[0-9a-f]{12}-floor\\.json$`));

/** A disk cache holding old15, old16, recent17, v18 (verified at AT: a floor file) and `other`. */
async function filled(): Promise<{ directory: string; cache: CollateralCache }> {
  const directory = tempDir();
  const cache = new CollateralCache({ directory });
  for (const a of [old15, old16, recent17, other]) cache.put(a);
  const resolver = new ArtifactResolver({ cache, refreshIntervalMs: 0 });
  await resolver.resolve(KEY, async () => v18, AT);
  resolver.markVerified(v18);
  expect(versionFiles(directory)).toHaveLength(5);
  expect(files(directory)).toContainEqual(floorName(KEY));
  return { directory, cache };
}

/** The version file of `a` in `directory` (written by put). */
function fileOf(directory: string, a: CollateralArtifact): string {
  const name = versionFiles(directory).find((n) => n.startsWith(sha256(a.key)) && JSON.parse(readFileSync(join(v1(directory), n), 'utf8')).body === Buffer.from(a.body).toString('base64'));
  return join(v1(directory), name!);
}

describe('F2: CollateralCache.prune', () => {
  it('removes the versions whose validity ended before expiredBefore, from disk and memory; keeps the rest and the floor', async () => {
    const { directory, cache } = await filled();
    const result = cache.prune({ expiredBefore: at(-60), now: AT });
    expect(result).toEqual({ removed: 3, kept: 2, skipped: 0, failed: 0, temporary: 0, floors: 1 });
    expect(versionFiles(directory)).toHaveLength(2);
    expect(files(directory)).toContainEqual(floorName(KEY));
    expect(cache.versions(KEY).map((a) => a.sequence).sort()).toEqual(['17', '18']);
    expect(cache.versions(other.key)).toEqual([]);
    const fresh = new CollateralCache({ directory });
    expect(fresh.versions(KEY).map((a) => a.sequence).sort()).toEqual(['17', '18']);
    expect(fresh.has(other.key)).toBe(false);
    // Nothing is left to prune at the same limit.
    expect(fresh.prune({ expiredBefore: at(-60), now: AT })).toEqual({ removed: 0, kept: 2, skipped: 0, failed: 0, temporary: 0, floors: 1 });
  });

  it('a dry run counts and removes nothing', async () => {
    const { directory, cache } = await filled();
    const before = files(directory);
    expect(cache.prune({ expiredBefore: at(-60), now: AT, dryRun: true })).toEqual({ removed: 3, kept: 2, skipped: 0, failed: 0, temporary: 0, floors: 1 });
    expect(files(directory)).toEqual(before);
    expect(cache.versions(KEY)).toHaveLength(4);
  });

  it('a version ending exactly at the limit is kept (ended before, not at)', async () => {
    const { cache } = await filled();
    expect(cache.prune({ expiredBefore: new Date(Date.parse(recent17.validity.notAfter)), now: AT, dryRun: true }).removed).toBe(3);
    expect(cache.prune({ expiredBefore: new Date(Date.parse(recent17.validity.notAfter) + 1000), now: AT, dryRun: true }).removed).toBe(4);
  });

  it('never the floor: after pruning the verified version, a restarted verifier still refuses the older evaluation', async () => {
    const { directory } = await filled();
    const later = at(30);
    const v17 = tcbAt(17, -5, 55);
    expect(new CollateralCache({ directory }).prune({ expiredBefore: later, now: later })).toMatchObject({ removed: 5, kept: 0, floors: 1 });
    const restarted = new ArtifactResolver({ cache: new CollateralCache({ directory }), refreshIntervalMs: 0 });
    await expect(restarted.resolve(KEY, async () => v17, later)).rejects.toMatchObject({ code: 'ERR_COLLATERAL_UNAVAILABLE', details: { reason: 'rollback', floor: '18' } });
  });

  it('a symbolic link named like a version is not followed, not removed; its expired target stays', async () => {
    const { directory, cache } = await filled();
    const target = join(tempDir(), 'elsewhere.json');
    const oldFile = fileOf(directory, old15);
    renameSync(oldFile, target);
    symlinkSync(target, oldFile);
    const result = cache.prune({ expiredBefore: at(-60), now: AT });
    expect(result).toEqual({ removed: 2, kept: 2, skipped: 1, failed: 0, temporary: 0, floors: 1 });
    expect(lstatSync(oldFile).isSymbolicLink()).toBe(true);
    expect(existsSync(target)).toBe(true);
  });

  it('a FIFO named like a version is skipped without blocking', async () => {
    const { directory, cache } = await filled();
    const fifo = join(v1(directory), `${sha256('intel/tcb-info/tdx/00a067110009/update=standard')}-0123456789abcdef.json`);
    execFileSync('mkfifo', [fifo]);
    expect(cache.prune({ expiredBefore: at(-60), now: AT })).toMatchObject({ removed: 3, skipped: 1 });
    expect(lstatSync(fifo).isFIFO()).toBe(true);
  });

  it('a torn entry, or a valid entry under another key\'s name, is left alone and counted as skipped', async () => {
    const { directory, cache } = await filled();
    const moved = join(v1(directory), `${sha256('intel/tcb-info/tdx/00a067110009/update=standard')}${fileOf(directory, old16).slice(-22)}`);
    renameSync(fileOf(directory, old16), moved);
    const torn = join(v1(directory), `${sha256(KEY)}-00000000deadbeef.json`);
    writeFileSync(torn, '{"format":"tee-verify-collateral-cache-entry","vers', { mode: 0o600 });
    expect(cache.prune({ expiredBefore: at(-60), now: AT })).toEqual({ removed: 2, kept: 2, skipped: 2, failed: 0, temporary: 0, floors: 1 });
    expect(existsSync(torn)).toBe(true);
    expect(existsSync(moved)).toBe(true);
  });

  it.skipIf(!isRoot)('a file of another user is not read and not removed', async () => {
    const { directory, cache } = await filled();
    const foreign = fileOf(directory, old15);
    chownSync(foreign, 12345, 12345);
    expect(cache.prune({ expiredBefore: at(-60), now: AT })).toMatchObject({ removed: 2, skipped: 1 });
    expect(existsSync(foreign)).toBe(true);
  });

  it.skipIf(isRoot)('a directory that refuses removal: counted as failed, the version stays', async () => {
    const { directory, cache } = await filled();
    chmodSync(v1(directory), 0o500);
    expect(cache.prune({ expiredBefore: at(-60), now: AT })).toMatchObject({ removed: 0, failed: 3 });
  });

  it('an expiredBefore after now, or an invalid Date, is ERR_INVALID_ARGUMENT', async () => {
    const { directory, cache } = await filled();
    expect(() => cache.prune({ expiredBefore: at(1), now: AT })).toThrow(expect.objectContaining({ code: 'ERR_INVALID_ARGUMENT', errorClass: 'ARGUMENT' }));
    expect(() => cache.prune({ expiredBefore: new Date(Number.NaN), now: AT })).toThrow(expect.objectContaining({ code: 'ERR_INVALID_ARGUMENT' }));
    expect(versionFiles(directory)).toHaveLength(5);
  });

  it('a memory-only cache prunes its memory', () => {
    const cache = new CollateralCache({ directory: null });
    for (const a of [old15, old16, recent17, v18, other]) cache.put(a);
    expect(cache.prune({ expiredBefore: at(-60), now: AT })).toEqual({ removed: 3, kept: 2, skipped: 0, failed: 0, temporary: 0, floors: 0 });
    expect(cache.versions(KEY).map((a) => a.sequence).sort()).toEqual(['17', '18']);
    expect(cache.keyCount).toBe(1);
  });

  it('nothing prunes by default: versions long expired stay through lookups and puts', async () => {
    const { directory } = await filled();
    const cache = new CollateralCache({ directory });
    cache.select(KEY, at(400));
    cache.put(tcbAt(19, 28, 58), [], { now: at(30) });
    expect(versionFiles(directory)).toHaveLength(6);
  });
});

describe('F2: tee-verify collateral prune', () => {
  // The command prunes relative to the clock: windows are placed days around it.
  const NOW = new Date();
  const tcbNow = platformAround(NOW);
  const ago = (days: number) => tcbNow(20 + days, -days - 30, -days);

  function cacheWith(artifacts: CollateralArtifact[]): string {
    const directory = tempDir();
    const cache = new CollateralCache({ directory });
    for (const a of artifacts) cache.put(a);
    return directory;
  }

  it('removes versions that ended more than <days> ago, keeps the rest; --dry-run counts only', async () => {
    const directory = cacheWith([ago(200), ago(100), ago(10), tcbNow(50, -1, 29)]);
    const dry = await cli(['collateral', 'prune', '--older-than', '60', '--cache-dir', directory, '--dry-run']);
    expect(dry.code).toBe(0);
    expect(dry.stdout).toMatch(/^would remove 2 collateral versions that expired before \S+ from .*; kept 2 versions and 0 rollback floors\n$/);
    expect(versionFiles(directory)).toHaveLength(4);
    const r = await cli(['collateral', 'prune', '--older-than', '60', '--cache-dir', directory]);
    expect(r.code).toBe(0);
    expect(r.stderr).toBe('');
    expect(r.stdout).toMatch(/^removed 2 collateral versions/);
    expect(versionFiles(directory)).toHaveLength(2);
    const left = new CollateralCache({ directory }).versions(tcbNow(50, -1, 29).key).map((a) => a.sequence).sort();
    expect(left).toEqual(['30', '50']);
  });

  it('the default directory is $XDG_CACHE_HOME/tee-verify; a link is left alone with a warning', async () => {
    const xdg = tempDir();
    const directory = join(xdg, 'tee-verify');
    const cache = new CollateralCache({ directory });
    const expired = ago(100);
    cache.put(expired);
    const name = fileOf(directory, expired);
    const target = join(tempDir(), 'target.json');
    renameSync(name, target);
    symlinkSync(target, name);
    const r = await cli(['collateral', 'prune', '--older-than', '0'], { env: { XDG_CACHE_HOME: xdg } });
    expect(r.code).toBe(0);
    expect(r.stdout).toMatch(/^removed 0 collateral versions/);
    expect(r.stderr).toMatch(/^warning: left 1 files named like versions alone/);
    expect(lstatSync(name).isSymbolicLink()).toBe(true);
    expect(existsSync(target)).toBe(true);
  });

  it('no cache directory: nothing to prune, and none is created', async () => {
    const missing = join(tempDir(), 'none');
    const r = await cli(['collateral', 'prune', '--older-than', '30', '--cache-dir', missing]);
    expect(r.code).toBe(0);
    expect(r.stdout).toContain('nothing to prune');
    expect(existsSync(missing)).toBe(false);
  });

  it.each([
    [['collateral', 'prune'], /--older-than <days> is required/],
    [['collateral', 'prune', '--older-than', '-1'], /--older-than/],
    [['collateral', 'prune', '--older-than', '1.5'], /whole number of days/],
    [['collateral', 'prune', '--older-than', 'ten'], /whole number of days/],
    [['collateral', 'prune', '--older-than', '99999'], /whole number of days/],
    [['collateral', 'prune', '--older-than', '30', 'extra'], /unexpected argument/],
    [['collateral', 'prune', '--older-than', '30', '--no-cache'], /Unknown option/],
  ])('%j is a usage error (exit 2)', async (argv, message) => {
    const r = await cli([...argv, '--cache-dir', tempDir()]);
    expect(r.code).toBe(2);
    expect(r.stderr).toMatch(message);
  });

  it('a cache directory others can write to is refused (exit 2), nothing removed', async () => {
    const directory = cacheWith([ago(100)]);
    chmodSync(directory, 0o777);
    const r = await cli(['collateral', 'prune', '--older-than', '30', '--cache-dir', directory]);
    expect(r.code).toBe(2);
    expect(r.stderr).toMatch(/writable by group or others/);
    expect(versionFiles(directory)).toHaveLength(1);
  });

  it('prune --help names every option it parses', async () => {
    const { COLLATERAL_SUBCOMMAND_OPTIONS } = await import('../../src/cli/collateral.js');
    const r = await cli(['collateral', 'prune', '--help']);
    expect(r.code).toBe(0);
    const options = Object.keys(COLLATERAL_SUBCOMMAND_OPTIONS.prune);
    expect(options.sort()).toEqual(['cache-dir', 'dry-run', 'older-than']);
    expect(options.filter((k) => !new RegExp(`--${k}(?![\\w-])`).test(r.stdout))).toEqual([]);
    expect(r.stdout).toMatch(/prune --older-than <days>/);
  });
});
