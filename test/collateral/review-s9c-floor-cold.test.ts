/**
 * Review s9 changes-c #4: a running process never saw a floor another process
 * on the same directory wrote (a key held, or looked up without a floor, was
 * never read again), so it kept serving the older evaluation until restart
 * (R3). Now the floor file is read again on the cold path only: before a
 * fetched or fallback version is served, and on a cached version's first use
 * by a resolver. Warm lookups read memory only (no file is opened), so a
 * floor written elsewhere reaches a version already in use at the key's next
 * cold lookup, or at restart (documented).
 */
import * as fs from 'node:fs';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterEach, describe, expect, it, vi } from 'vitest';

import { CollateralCache, type CollateralArtifact } from '../../src/index.js';
import { ArtifactResolver, artifactKey } from '../../src/collateral/index.js';
import { createSyntheticIntelPlatform, intelArtifact, signCollateralJson } from '../../src/testing/index.js';

/** Every open of a floor file, to show that warm lookups open none. */
const floorOpens: string[] = [];
vi.mock('node:fs', async (importOriginal) => {
  const real = await importOriginal<typeof import('node:fs')>();
  const openSync = (path: fs.PathLike, ...rest: unknown[]) => {
    if (String(path).endsWith('-floor.json')) floorOpens.push(String(path));
    return (real.openSync as (...a: unknown[]) => number)(path, ...rest);
  };
  return { ...real, openSync, default: { ...real, openSync } };
});

const AT = new Date('2026-06-01T12:00:00Z');
const DAY = 86_400_000;
const dirs: string[] = [];
afterEach(() => {
  for (const d of dirs.splice(0)) rmSync(d, { recursive: true, force: true });
});
function tempDir(): string {
  const d = mkdtempSync(join(tmpdir(), 'tee-verify-s9c-cold-'));
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
const v19 = tcbAt(19, 2, 40);
const KEY = v18.key;
const at = (days: number) => new Date(AT.getTime() + days * DAY);
const LATER = at(30); // v18 has expired, v17 is inside its window
const serves = (a: CollateralArtifact) => async () => a;
const rollback = (sequence: string, floor: string) => ({ code: 'ERR_COLLATERAL_UNAVAILABLE', check: 'X03', details: { reason: 'rollback', sequence, floor } });

/** Process B on the same directory: a verification used `a`, fetched at `now`. */
async function processBVerified(directory: string, a: CollateralArtifact, now: Date): Promise<void> {
  const rb = new ArtifactResolver({ cache: new CollateralCache({ directory }), refreshIntervalMs: 0 });
  await rb.resolve(KEY, serves(a), now);
  rb.markVerified(a);
}

describe('review s9 changes-c #4: a floor another process wrote is read on the cold path', () => {
  it('R3: A looked the key up (no floor) and holds 17; B verified 18; A refuses 17 at LATER', async () => {
    const d = tempDir();
    const a = new CollateralCache({ directory: d });
    const ra = new ArtifactResolver({ cache: a, refreshIntervalMs: 0 });
    a.put(v17);
    expect(a.floor(KEY).text).toBe(''); // A knows the key as having no floor
    await processBVerified(d, v18, AT);
    // 17 is cached and valid at LATER: its first use reads the file again.
    expect(ra.cached(KEY, LATER)).toBeUndefined();
    await expect(ra.resolve(KEY, serves(v17), LATER)).rejects.toMatchObject(rollback('17', '18'));
    expect(a.floor(KEY).text).toBe('18');
  });

  it('a fetched version is judged after the file is read again (A held 18, B raised to 19)', async () => {
    const d = tempDir();
    const a = new CollateralCache({ directory: d });
    const ra = new ArtifactResolver({ cache: a, refreshIntervalMs: 0 });
    await ra.resolve(KEY, serves(v18), AT);
    ra.markVerified(v18);
    await processBVerified(d, v19, at(3));
    // At LATER A's v18 has expired: fetched again (the source lags and answers v18), judged against 19.
    await expect(ra.resolve(KEY, serves(v18), LATER)).rejects.toMatchObject(rollback('18', '19'));
  });

  it('warm lookups open no floor file; a version already in use keeps its verdict until the key\'s next cold lookup (documented)', async () => {
    const d = tempDir();
    const a = new CollateralCache({ directory: d });
    const ra = new ArtifactResolver({ cache: a, refreshIntervalMs: 0 });
    await ra.resolve(KEY, serves(v18), AT);
    ra.markVerified(v18);
    expect(ra.cached(KEY, at(1))?.artifact.sequence).toBe('18');
    await processBVerified(d, v19, at(3));
    floorOpens.length = 0;
    for (let i = 0; i < 5; i++) expect(ra.cached(KEY, at(5))?.artifact.sequence).toBe('18');
    expect((await ra.resolve(KEY, serves(v19), at(5))).artifact.sequence).toBe('18');
    expect(floorOpens).toEqual([]);
    expect(a.floor(KEY).text).toBe('18');
    // The next cold lookup (v18 near its end: a refresh; the source still answers 18) reads 19.
    await expect(ra.resolve(KEY, serves(v18), at(28.99))).rejects.toMatchObject(rollback('18', '19'));
    expect(floorOpens.length).toBeGreaterThan(0);
    expect(a.floor(KEY).text).toBe('19');
  });
});
