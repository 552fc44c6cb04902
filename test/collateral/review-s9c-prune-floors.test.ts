/**
 * Review s9 changes-c #2: prune on a cache from before review s9 lost floors.
 * Such a cache has no floor files: a key's floor is only in the verified marks
 * of its versions until the key's next lookup writes one. Pruning the marked
 * versions first left no floor at all, and a restarted verifier served the
 * older evaluation (R1). Now prune (outside a dry run) raises the key's floor
 * from each verified version before removing it, and keeps the version when
 * that write fails (counted as failed).
 */
import { createHash } from 'node:crypto';
import * as fs from 'node:fs';
import { mkdtempSync, readdirSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterEach, describe, expect, it, vi } from 'vitest';

import { CollateralCache, type CollateralArtifact } from '../../src/index.js';
import { ArtifactResolver, artifactKey } from '../../src/collateral/index.js';
import { createSyntheticIntelPlatform, intelArtifact, signCollateralJson } from '../../src/testing/index.js';

/** Writes of floor files fail while set (a full disk, a read-only remount). */
const refuseFloorWrites = { on: false };
vi.mock('node:fs', async (importOriginal) => {
  const real = await importOriginal<typeof import('node:fs')>();
  const writeFileSync = (file: fs.PathOrFileDescriptor, ...rest: unknown[]) => {
    if (refuseFloorWrites.on && String(file).includes('-floor.json')) throw Object.assign(new Error(`ENOSPC: no space left on device, open '${String(file)}'`), { code: 'ENOSPC' });
    return (real.writeFileSync as (...a: unknown[]) => void)(file, ...rest);
  };
  return { ...real, writeFileSync, default: { ...real, writeFileSync } };
});

const AT = new Date('2026-06-01T12:00:00Z');
const DAY = 86_400_000;
const dirs: string[] = [];
afterEach(() => {
  refuseFloorWrites.on = false;
  for (const d of dirs.splice(0)) rmSync(d, { recursive: true, force: true });
});
function tempDir(): string {
  const d = mkdtempSync(join(tmpdir(), 'tee-verify-s9c-prune-'));
  dirs.push(d);
  return d;
}

const p = createSyntheticIntelPlatform({ tee: 'tdx', at: AT, seed: 'review s9 floor' });
const iso = (ms: number) => new Date(ms).toISOString().replace('.000Z', 'Z');
function tcbAt(evaluation: number, from: number, to: number): CollateralArtifact {
  const fmspc = String(p.tcbInfo['fmspc']);
  const doc = { ...p.tcbInfo, fmspc, tcbEvaluationDataNumber: evaluation, issueDate: iso(AT.getTime() + from * DAY), nextUpdate: iso(AT.getTime() + to * DAY) };
  const body = signCollateralJson('tcbInfo', doc as never, p.pki.tcbSigning.key.privateKey);
  return { ...intelArtifact('intel-tcb-info', artifactKey.tcbInfo({ tee: 'tdx', fmspc }), body, p.pki.tcbSigningChainPem), source: { origin: 'network' } };
}
const v18 = tcbAt(18, -1, 29);
const v17 = tcbAt(17, -5, 55);
const KEY = v18.key;
const LATER = new Date(AT.getTime() + 30 * DAY); // v18 has expired
const serves = (a: CollateralArtifact) => async () => a;
/** The key's floor files (one per write since review s11). */
const floorFiles = (d: string) => readdirSync(join(d, 'v1')).filter((n) => n.startsWith(`${createHash('sha256').update(KEY).digest('hex')}-`) && n.endsWith('-floor.json'));
const versionFiles = (d: string) => readdirSync(join(d, 'v1')).filter((n) => /^[0-9a-f]{64}-[0-9a-f]{16}\.json$/.test(n));
const rollback = { code: 'ERR_COLLATERAL_UNAVAILABLE', check: 'X03', details: { reason: 'rollback', sequence: '17', floor: '18' } };
const restarted = (d: string) => new ArtifactResolver({ cache: new CollateralCache({ directory: d }), refreshIntervalMs: 0 });

/** A cache as a release before review s9 left it: v18 carries the verified mark, there is no floor file. */
async function preS9Cache(): Promise<string> {
  const d = tempDir();
  const r = new ArtifactResolver({ cache: new CollateralCache({ directory: d }), refreshIntervalMs: 0 });
  await r.resolve(KEY, serves(v18), AT);
  r.markVerified(v18);
  for (const name of floorFiles(d)) rmSync(join(d, 'v1', name));
  expect(versionFiles(d)).toHaveLength(1);
  return d;
}

describe('review s9 changes-c #2: prune keeps the floors of a cache from before floor files', () => {
  it('R1: the verified version is pruned after its floor went to the floor file; a restarted verifier refuses the rollback', async () => {
    const d = await preS9Cache();
    expect(new CollateralCache({ directory: d }).prune({ expiredBefore: LATER, now: LATER })).toEqual({ removed: 1, kept: 0, skipped: 0, failed: 0, temporary: 0, floors: 1 });
    expect(versionFiles(d)).toEqual([]);
    expect(floorFiles(d)).toHaveLength(1);
    expect(JSON.parse(readFileSync(join(d, 'v1', floorFiles(d)[0]!), 'utf8'))).toMatchObject({ key: KEY, sequence: '18', from: new Date(v18.validity.notBefore).toISOString() });
    await expect(restarted(d).resolve(KEY, serves(v17), LATER)).rejects.toMatchObject(rollback);
  });

  it('the floor file cannot be written: the verified version stays (failed), and so does its floor', async () => {
    const d = await preS9Cache();
    refuseFloorWrites.on = true;
    expect(new CollateralCache({ directory: d }).prune({ expiredBefore: LATER, now: LATER })).toEqual({ removed: 0, kept: 0, skipped: 0, failed: 1, temporary: 0, floors: 0 });
    refuseFloorWrites.on = false;
    expect(versionFiles(d)).toHaveLength(1);
    await expect(restarted(d).resolve(KEY, serves(v17), LATER)).rejects.toMatchObject(rollback);
  });

  it('a dry run writes no floor file', async () => {
    const d = await preS9Cache();
    expect(new CollateralCache({ directory: d }).prune({ expiredBefore: LATER, now: LATER, dryRun: true })).toMatchObject({ removed: 1, failed: 0 });
    expect(floorFiles(d)).toEqual([]);
    expect(versionFiles(d)).toHaveLength(1);
  });

  it('an unverified version sets no floor when pruned', async () => {
    const d = tempDir();
    const cache = new CollateralCache({ directory: d });
    cache.put(v18);
    expect(cache.prune({ expiredBefore: LATER, now: LATER })).toEqual({ removed: 1, kept: 0, skipped: 0, failed: 0, temporary: 0, floors: 0 });
    expect(floorFiles(d)).toEqual([]);
    expect((await restarted(d).resolve(KEY, serves(v17), LATER)).artifact.sequence).toBe('17');
  });

  it('memory only: a verified version pruned from memory leaves its floor there', async () => {
    const cache = new CollateralCache({ directory: null });
    cache.put(v18);
    cache.markVerified(v18); // the cache's mark alone (no resolver raised the floor)
    expect(cache.prune({ expiredBefore: LATER, now: LATER })).toMatchObject({ removed: 1, failed: 0 });
    expect(cache.versions(KEY)).toEqual([]);
    await expect(new ArtifactResolver({ cache, refreshIntervalMs: 0 }).resolve(KEY, serves(v17), LATER)).rejects.toMatchObject(rollback);
  });
});
