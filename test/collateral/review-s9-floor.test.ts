/**
 * Review s9, F1: the rollback floor outlives the versions that set it.
 *
 * Before, the floor lived in the resolver's memory (bounded by maxKeys, next
 * to a placeholder for every key looked up) and was seeded on a key's first
 * lookup from the cached versions carrying the verified mark. Once those
 * versions were evicted or expired and dropped (and after a restart, or once
 * other keys pushed the floor out), it was forgotten, and a rogue or lagging
 * PCCS could serve an older evaluation again. Now the cache keeps it apart
 * from the versions: in memory for every key with a floor (its own bound),
 * and in floor files per key on disk (one per write since review s11).
 */
import { createHash } from 'node:crypto';
import { mkdtempSync, readdirSync, readFileSync, rmSync, symlinkSync, writeFileSync, existsSync, lstatSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterEach, describe, expect, it } from 'vitest';

import { CollateralCache, type CollateralArtifact } from '../../src/index.js';
import { ArtifactResolver, artifactKey } from '../../src/collateral/index.js';
import { createSyntheticIntelPlatform, intelArtifact, signCollateralJson } from '../../src/testing/index.js';

const AT = new Date('2026-06-01T12:00:00Z');
const DAY = 86_400_000;
const dirs: string[] = [];
afterEach(() => {
  for (const d of dirs.splice(0)) rmSync(d, { recursive: true, force: true });
});
function tempDir(): string {
  const d = mkdtempSync(join(tmpdir(), 'tee-verify-s9-floor-'));
  dirs.push(d);
  return d;
}
const sha256 = (text: string) => createHash('sha256').update(text).digest('hex');

const p = createSyntheticIntelPlatform({ tee: 'tdx', at: AT, seed: 'review s9 floor' });
const iso = (ms: number) => new Date(ms).toISOString().replace('.000Z', 'Z');
/** The platform's TCB info (for `fmspc`) at `evaluation`, valid `from` .. `to` days after AT, as a source answers it. */
function tcbAt(evaluation: number, from: number, to: number, fmspc = String(p.tcbInfo['fmspc'])): CollateralArtifact {
  const doc = { ...p.tcbInfo, fmspc, tcbEvaluationDataNumber: evaluation, issueDate: iso(AT.getTime() + from * DAY), nextUpdate: iso(AT.getTime() + to * DAY) };
  const body = signCollateralJson('tcbInfo', doc as never, p.pki.tcbSigning.key.privateKey);
  const key = artifactKey.tcbInfo({ tee: 'tdx', fmspc });
  return { ...intelArtifact('intel-tcb-info', key, body, p.pki.tcbSigningChainPem), source: { origin: 'network' } };
}
const v18 = tcbAt(18, -1, 29);
const v17 = tcbAt(17, -5, 55); // Intel serves earlier evaluations with fresh dates
const KEY = v18.key;
const at = (days: number) => new Date(AT.getTime() + days * DAY);
const LATER = at(30); // v18 has expired, v17 is inside its window

const serves = (a: CollateralArtifact) => async () => a;
const rollback = { code: 'ERR_COLLATERAL_UNAVAILABLE', check: 'X03', details: { reason: 'rollback', sequence: '17', floor: '18' } };

/** A verification at AT used evaluation 18 from the source. */
async function verified18(resolver: ArtifactResolver): Promise<void> {
  expect((await resolver.resolve(KEY, serves(v18), AT)).artifact.sequence).toBe('18');
  resolver.markVerified(v18);
}

const entryFiles = (directory: string) => readdirSync(join(directory, 'v1')).filter((n) => /^[0-9a-f]{64}-[0-9a-f]{16}\.json$/.test(n));
/** The key's floor files now (`<sha256(key)>-<pid>-<12 hex>-floor.json`, one per write; review s11). */
const floorFiles = (directory: string, key = KEY) =>
  readdirSync(join(directory, 'v1'))
    .filter((n) => n.startsWith(`${sha256(key)}-`) && n.endsWith('-floor.json'))
    .sort()
    .map((n) => join(directory, 'v1', n));
/** The key's only floor file. */
function floorPath(directory: string): string {
  const files = floorFiles(directory);
  expect(files).toHaveLength(1);
  return files[0]!;
}
const floorOnDisk = (directory: string) => JSON.parse(readFileSync(floorPath(directory), 'utf8'));

describe('F1: the floor survives the versions that set it (memory)', () => {
  it('every version of the key left memory (LRU over keys) and other keys were looked up: still refused', async () => {
    const cache = new CollateralCache({ directory: null, maxKeys: 1 });
    const resolver = new ArtifactResolver({ cache, refreshIntervalMs: 0, maxKeys: 1 });
    await verified18(resolver);
    // Another TCB info key pushes this key's versions out of the cache (and, before, its floor out of the resolver).
    const other = tcbAt(18, -1, 29, '00A067110000');
    await resolver.resolve(other.key, serves(other), AT);
    expect(cache.versions(KEY)).toEqual([]);
    await expect(resolver.resolve(KEY, serves(v17), LATER)).rejects.toMatchObject(rollback);
    // A new resolver on the same cache (another CollateralService) shares the floor.
    await expect(new ArtifactResolver({ cache, refreshIntervalMs: 0 }).resolve(KEY, serves(v17), LATER)).rejects.toMatchObject(rollback);
  });

  it('the verified version expired and was evicted: a new resolver on the same cache still refuses', async () => {
    const cache = new CollateralCache({ directory: null, maxVersions: 1 });
    await verified18(new ArtifactResolver({ cache, refreshIntervalMs: 0 }));
    cache.put(v17, [], { now: LATER }); // v18 has passed at LATER: it is the one evicted
    expect(cache.versions(KEY).map((a) => a.sequence)).toEqual(['17']);
    const resolver = new ArtifactResolver({ cache, refreshIntervalMs: 0 });
    expect(resolver.cached(KEY, LATER)).toBeUndefined();
    await expect(resolver.resolve(KEY, serves(v17), LATER)).rejects.toMatchObject(rollback);
    // Unchanged: an instant before evaluation 18 existed, and a newer answer.
    expect((await resolver.resolve(KEY, serves(v17), at(-3))).artifact.sequence).toBe('17');
    expect((await resolver.resolve(KEY, serves(tcbAt(19, 28, 58)), LATER)).artifact.sequence).toBe('19');
  });

  it('without a cache the resolver keeps its floors apart from keys merely looked up', async () => {
    const resolver = new ArtifactResolver({ cache: null, refreshIntervalMs: 0, maxKeys: 1 });
    await verified18(resolver);
    for (const fmspc of ['00A067110000', '00A067110001', '00A067110002']) {
      const other = tcbAt(18, -1, 29, fmspc);
      await resolver.resolve(other.key, serves(other), AT);
    }
    await expect(resolver.resolve(KEY, serves(v17), LATER)).rejects.toMatchObject(rollback);
  });
});

describe('F1: the floor survives the versions that set it (disk, across a restart)', () => {
  it('the verified version evicted from disk, then every version file removed: a new cache on the directory refuses', async () => {
    const directory = tempDir();
    const cache = new CollateralCache({ directory, maxVersions: 1 });
    await verified18(new ArtifactResolver({ cache, refreshIntervalMs: 0 }));
    cache.put(v17, [], { now: LATER }); // evicts v18, memory and disk
    const restart = () => new ArtifactResolver({ cache: new CollateralCache({ directory }), refreshIntervalMs: 0 });
    await expect(restart().resolve(KEY, serves(v17), LATER)).rejects.toMatchObject(rollback);
    // Expired versions dropped (an operator's clean-up, or prune): no version of the key is left at all.
    for (const name of entryFiles(directory)) rmSync(join(directory, 'v1', name));
    const fresh = new CollateralCache({ directory });
    expect(fresh.versions(KEY)).toEqual([]);
    await expect(new ArtifactResolver({ cache: fresh, refreshIntervalMs: 0 }).resolve(KEY, serves(v17), LATER)).rejects.toMatchObject(rollback);
    expect(floorOnDisk(directory)).toMatchObject({ key: KEY, sequence: '18', from: v18.validity.notBefore });
    expect(fresh.floorFiles(KEY)).toEqual(floorFiles(directory));
  });

  it('clearMemory (a new process) re-reads the floor from its file', async () => {
    const directory = tempDir();
    const cache = new CollateralCache({ directory });
    await verified18(new ArtifactResolver({ cache, refreshIntervalMs: 0 }));
    for (const name of entryFiles(directory)) rmSync(join(directory, 'v1', name));
    cache.clearMemory();
    expect(cache.floor(KEY)).toMatchObject({ text: '18', from: Date.parse(v18.validity.notBefore) });
  });

  it('an upgrade: a directory with verified marks but no floor file gets one on the key\'s first lookup', async () => {
    const directory = tempDir();
    const cache = new CollateralCache({ directory });
    await verified18(new ArtifactResolver({ cache, refreshIntervalMs: 0 }));
    rmSync(floorPath(directory)); // as an older release left it
    const restarted = new CollateralCache({ directory });
    await expect(new ArtifactResolver({ cache: restarted, refreshIntervalMs: 0 }).resolve(KEY, serves(v17), LATER)).rejects.toMatchObject(rollback);
    expect(floorOnDisk(directory)).toMatchObject({ sequence: '18' });
  });

  it('only ever raised: another process on the same directory that verified an older evaluation does not lower the file', async () => {
    const directory = tempDir();
    const a = new CollateralCache({ directory });
    const b = new CollateralCache({ directory });
    expect(b.floor(KEY).text).toBe(''); // B looked the key up before A raised it
    await verified18(new ArtifactResolver({ cache: a, refreshIntervalMs: 0 }));
    // B verifies at an instant before evaluation 18 existed, with 17 (batch re-verification).
    const rb = new ArtifactResolver({ cache: b, refreshIntervalMs: 0 });
    expect((await rb.resolve(KEY, serves(v17), at(-3))).artifact.sequence).toBe('17');
    rb.markVerified(v17);
    expect(floorOnDisk(directory)).toMatchObject({ sequence: '18' }); // the only file: B wrote none
    expect(b.floor(KEY).text).toBe('18'); // and B adopted the file's
    await expect(rb.resolve(KEY, serves(v17), LATER)).rejects.toMatchObject(rollback);
  });
});

describe('F1: a floor file that is not a valid one of ours is ignored, and rebuilt from the marks', () => {
  async function setUp(): Promise<string> {
    const directory = tempDir();
    await verified18(new ArtifactResolver({ cache: new CollateralCache({ directory }), refreshIntervalMs: 0 }));
    return directory;
  }
  const restarted = (directory: string) => new ArtifactResolver({ cache: new CollateralCache({ directory }), refreshIntervalMs: 0 });

  it.each([
    ['torn JSON', () => '{"format":"tee-verify-collateral-floor","vers'],
    ['another key\'s floor', () => JSON.stringify({ format: 'tee-verify-collateral-floor', version: 1, key: 'intel/tcb-info/tdx/000000000000/update=standard', sequence: '99', from: '2026-01-01T00:00:00.000Z' })],
    ['a sequence that is not an integer', () => JSON.stringify({ format: 'tee-verify-collateral-floor', version: 1, key: KEY, sequence: '18.5', from: '2026-01-01T00:00:00.000Z' })],
    ['a date that is not ISO', () => JSON.stringify({ format: 'tee-verify-collateral-floor', version: 1, key: KEY, sequence: '99', from: 'yesterday' })],
  ])('%s, next to the verified version: the floor is rebuilt from its mark and written again', async (_name, content) => {
    const directory = await setUp();
    const file = floorPath(directory);
    writeFileSync(file, content());
    await expect(restarted(directory).resolve(KEY, serves(v17), LATER)).rejects.toMatchObject(rollback);
    expect(existsSync(file)).toBe(false);
    expect(floorOnDisk(directory)).toMatchObject({ key: KEY, sequence: '18' });
  });

  it('a lower floor in the file than the marks: raised to the marks', async () => {
    const directory = await setUp();
    writeFileSync(floorPath(directory), JSON.stringify({ format: 'tee-verify-collateral-floor', version: 1, key: KEY, sequence: '3', from: '2026-01-01T00:00:00.000Z' }));
    await expect(restarted(directory).resolve(KEY, serves(v17), LATER)).rejects.toMatchObject(rollback);
    expect(floorOnDisk(directory)).toMatchObject({ sequence: '18' }); // a new file; the lower one, outranked, deleted
  });

  it('corrupt with no version left to rebuild from: ignored (no floor), and removed (documented trade-off)', async () => {
    const directory = await setUp();
    for (const name of entryFiles(directory)) rmSync(join(directory, 'v1', name));
    writeFileSync(floorPath(directory), 'not json');
    expect((await restarted(directory).resolve(KEY, serves(v17), LATER)).artifact.sequence).toBe('17');
    expect(floorFiles(directory)).toEqual([]);
  });

  it('a symbolic link is never followed, even to a valid floor file; the link goes, its target stays', async () => {
    const directory = await setUp();
    for (const name of entryFiles(directory)) rmSync(join(directory, 'v1', name));
    const elsewhere = join(tempDir(), 'floor.json');
    const file = floorPath(directory);
    writeFileSync(elsewhere, readFileSync(file), { mode: 0o600 });
    rmSync(file);
    symlinkSync(elsewhere, file);
    // Followed, the link would give floor 18 and refuse 17.
    expect((await restarted(directory).resolve(KEY, serves(v17), LATER)).artifact.sequence).toBe('17');
    expect(lstatSync(file, { throwIfNoEntry: false })).toBeUndefined();
    expect(JSON.parse(readFileSync(elsewhere, 'utf8'))).toMatchObject({ sequence: '18' });
  });

  it('files are written 0600', async () => {
    const directory = await setUp();
    expect(lstatSync(floorPath(directory)).mode & 0o777).toBe(0o600);
  });
});

describe('F1: the bound', () => {
  const keys = ['00A067110010', '00A067110011', '00A067110012'].map((fmspc) => ({ v18: tcbAt(18, -1, 29, fmspc), v17: tcbAt(17, -5, 55, fmspc) }));
  async function verifyAll(resolver: ArtifactResolver): Promise<void> {
    for (const k of keys) {
      await resolver.resolve(k.v18.key, serves(k.v18), AT);
      resolver.markVerified(k.v18);
    }
  }

  it('default: 65536 floors in memory (memory only: the 65537th pushes out the one held longest)', () => {
    const cache = new CollateralCache({ directory: null });
    const keyOf = (i: number) => artifactKey.tcbInfo({ tee: 'tdx', fmspc: i.toString(16).padStart(12, '0') });
    // raiseFloor judges nothing: the same verified document under 65537 keys.
    for (let i = 0; i <= 65_536; i++) expect(cache.raiseFloor({ ...v18, key: keyOf(i) })).toBe(true);
    expect(cache.floorCount).toBe(65_536);
    expect(cache.floor(keyOf(0)).text).toBe('');
    expect(cache.floor(keyOf(1)).text).toBe('18');
    expect(cache.floor(keyOf(65_536)).text).toBe('18');
  });

  it('lookups of keys without a floor never push one out, even with the bound at the number of floors', async () => {
    const cache = new CollateralCache({ directory: null, maxKeys: 2, maxFloors: 3 });
    const resolver = new ArtifactResolver({ cache, refreshIntervalMs: 0, maxKeys: 2 });
    await verifyAll(resolver);
    expect(cache.floorCount).toBe(3); // above maxKeys: floors have their own bound
    for (let i = 0; i < 50; i++) cache.floor(artifactKey.tcbInfo({ tee: 'tdx', fmspc: `00A0${String(i).padStart(8, '0')}` }));
    expect(cache.floorCount).toBe(3);
    for (const k of keys) await expect(resolver.resolve(k.v18.key, serves(k.v17), LATER)).rejects.toMatchObject(rollback);
  });

  it('beyond maxFloors, memory only: the floor held longest is forgotten (as before review s9 for every key)', async () => {
    const cache = new CollateralCache({ directory: null, maxKeys: 1, maxFloors: 2 });
    const resolver = new ArtifactResolver({ cache, refreshIntervalMs: 0 });
    await verifyAll(resolver);
    expect(cache.floorCount).toBe(2);
    expect((await resolver.resolve(keys[0]!.v18.key, serves(keys[0]!.v17), LATER)).artifact.sequence).toBe('17');
    await expect(resolver.resolve(keys[2]!.v18.key, serves(keys[2]!.v17), LATER)).rejects.toMatchObject(rollback);
  });

  // Review s9 changes-c #3: these two ran clearMemory() before, which hid the re-read after an eviction
  // (a mutant that records the evicted key as having no floor passed them).
  it('beyond maxFloors with a disk, same process: the floor leaves memory only and is read again from its file (fetched)', async () => {
    const directory = tempDir();
    const cache = new CollateralCache({ directory, maxKeys: 1, maxFloors: 2 });
    const resolver = new ArtifactResolver({ cache, refreshIntervalMs: 0 });
    await verifyAll(resolver);
    expect(cache.floorCount).toBe(2);
    for (const k of keys) await expect(resolver.resolve(k.v18.key, serves(k.v17), LATER)).rejects.toMatchObject(rollback);
  });

  it('beyond maxFloors with a disk, same process: a cached older version is not served warm once its floor left memory', async () => {
    const directory = tempDir();
    const cache = new CollateralCache({ directory, maxFloors: 2 });
    const resolver = new ArtifactResolver({ cache, refreshIntervalMs: 0 });
    for (const k of keys) {
      await resolver.resolve(k.v18.key, serves(k.v18), AT);
      resolver.markVerified(k.v18);
      // Evaluation 17 used at an instant before 18 existed (batch re-verification): cached, floor-checked.
      expect((await resolver.resolve(k.v18.key, serves(k.v17), at(-3))).artifact.sequence).toBe('17');
    }
    expect(cache.floorCount).toBe(2); // the first key's floor left memory
    const first = keys[0]!;
    expect(resolver.cached(first.v18.key, LATER)).toBeUndefined();
    await expect(resolver.resolve(first.v18.key, serves(first.v17), LATER)).rejects.toMatchObject(rollback);
  });

  it('maxFloors must be a positive integer', () => {
    expect(() => new CollateralCache({ directory: null, maxFloors: 0 })).toThrow(expect.objectContaining({ code: 'ERR_INVALID_ARGUMENT' }));
  });
});

describe('F1: unchanged', () => {
  it('an explicit bundle is not judged by the floor and sets none', async () => {
    const cache = new CollateralCache({ directory: null });
    await verified18(new ArtifactResolver({ cache, refreshIntervalMs: 0 }));
    const bundled17 = { ...v17, source: { origin: 'bundle' as const } };
    const withBundle = new ArtifactResolver({ cache, refreshIntervalMs: 0, bundle: { lookup: (k) => (k === KEY ? bundled17 : undefined) } });
    expect((await withBundle.resolve(KEY, serves(v17), LATER)).artifact).toBe(bundled17);
    const bundled19 = { ...tcbAt(19, 28, 58), source: { origin: 'bundle' as const } };
    withBundle.markVerified(bundled19);
    expect(cache.floor(KEY).text).toBe('18');
  });

  it('no floor without a passing verification', async () => {
    const directory = tempDir();
    const resolver = new ArtifactResolver({ cache: new CollateralCache({ directory }), refreshIntervalMs: 0 });
    await resolver.resolve(KEY, serves(v18), AT);
    expect(floorFiles(directory)).toEqual([]);
    expect((await resolver.resolve(KEY, serves(v17), LATER)).artifact.sequence).toBe('17');
  });
});
