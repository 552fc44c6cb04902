/**
 * Review s9 changes-c #1: a read of a floor file that the system failed
 * (EMFILE, ENFILE, EIO: a busy gateway, no attacker) counted as "not ours":
 * the valid file was deleted and the key recorded as having no floor, so after
 * its versions were pruned a restart served the older evaluation again. Now
 * only a file that is not ours is removed; a failed read keeps the file, uses
 * the verified marks for now, writes nothing over it, and is retried.
 *
 * The failure is made by wrapping openSync (a full descriptor table in the
 * reviewer's reproducer, R2, which needs a low `ulimit -n`).
 */
import { createHash } from 'node:crypto';
import * as fs from 'node:fs';
import { mkdtempSync, readdirSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterEach, describe, expect, it, vi } from 'vitest';

import { CollateralCache, type CollateralArtifact } from '../../src/index.js';
import { ArtifactResolver, artifactKey } from '../../src/collateral/index.js';
import { createSyntheticIntelPlatform, intelArtifact, signCollateralJson } from '../../src/testing/index.js';

/** Which paths openSync fails for, and with what (null: none). */
const failing: { test: ((path: string) => boolean) | null; code: string } = { test: null, code: 'EMFILE' };
const floorOpens: string[] = [];
vi.mock('node:fs', async (importOriginal) => {
  const real = await importOriginal<typeof import('node:fs')>();
  const openSync = (path: fs.PathLike, ...rest: unknown[]) => {
    const p = String(path);
    if (p.endsWith('-floor.json')) floorOpens.push(p);
    if (failing.test?.(p)) throw Object.assign(new Error(`${failing.code}: too many open files, open '${p}'`), { code: failing.code, syscall: 'open', path: p });
    return (real.openSync as (...a: unknown[]) => number)(path, ...rest);
  };
  return { ...real, openSync, default: { ...real, openSync } };
});

const AT = new Date('2026-06-01T12:00:00Z');
const DAY = 86_400_000;
const dirs: string[] = [];
afterEach(() => {
  failing.test = null;
  for (const d of dirs.splice(0)) rmSync(d, { recursive: true, force: true });
});
function tempDir(): string {
  const d = mkdtempSync(join(tmpdir(), 'tee-verify-s9c-read-'));
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
const LATER = new Date(AT.getTime() + 30 * DAY);
const serves = (a: CollateralArtifact) => async () => a;
/** The single floor file of versions before review s11 (still read): what another process wrote, here. */
const floorPath = (d: string) => join(d, 'v1', `${createHash('sha256').update(KEY).digest('hex')}-floor.json`);
const rollback = (floor: string) => ({ code: 'ERR_COLLATERAL_UNAVAILABLE', check: 'X03', details: { reason: 'rollback', sequence: '17', floor } });
const unreadable = { code: 'ERR_COLLATERAL_UNAVAILABLE', check: 'X03', details: { reason: 'floor-unreadable' } };
const restarted = (d: string) => new ArtifactResolver({ cache: new CollateralCache({ directory: d }), refreshIntervalMs: 0 });
/** What another process wrote: a floor at evaluation 19, in force since AT + 10 days. */
const floor19 = JSON.stringify({ format: 'tee-verify-collateral-floor', version: 1, key: KEY, sequence: '19', from: new Date(AT.getTime() + 10 * DAY).toISOString() });

async function verified18(directory: string): Promise<void> {
  const r = new ArtifactResolver({ cache: new CollateralCache({ directory }), refreshIntervalMs: 0 });
  await r.resolve(KEY, serves(v18), AT);
  r.markVerified(v18);
}

describe('review s9 changes-c #1: a failed read keeps the floor file', () => {
  it('R2: every open fails (EMFILE) after the versions were pruned: the file stays, and the next lookup reads 18', async () => {
    const d = tempDir();
    await verified18(d);
    for (const n of readdirSync(join(d, 'v1'))) if (!n.endsWith('-floor.json')) rmSync(join(d, 'v1', n)); // versions pruned
    const cache = new CollateralCache({ directory: d }); // a new process
    failing.test = () => true;
    expect(cache.floor(KEY).text).toBe(''); // nothing to go by now
    failing.test = null;
    const files = readdirSync(join(d, 'v1')).filter((n) => n.endsWith('-floor.json')); // the one the verification wrote
    expect(files).toHaveLength(1);
    expect(JSON.parse(readFileSync(join(d, 'v1', files[0]!), 'utf8'))).toMatchObject({ sequence: '18' });
    // Not recorded as having no floor: the next lookup reads the file.
    expect(cache.floor(KEY).text).toBe('18');
    await expect(new ArtifactResolver({ cache, refreshIntervalMs: 0 }).resolve(KEY, serves(v17), LATER)).rejects.toMatchObject(rollback('18'));
    await expect(restarted(d).resolve(KEY, serves(v17), LATER)).rejects.toMatchObject(rollback('18'));
  });

  it.each(['EMFILE', 'ENFILE', 'EIO'])('%s on the floor file only: the marks serve for now, the next cold lookup reads the file and adopts its stricter floor', async (code) => {
    const d = tempDir();
    await verified18(d);
    writeFileSync(floorPath(d), floor19, { mode: 0o600 }); // another process raised it meanwhile
    const cache = new CollateralCache({ directory: d });
    failing.test = (path) => path.endsWith('-floor.json');
    failing.code = code;
    expect(cache.floor(KEY).text).toBe('18'); // the verified mark
    failing.test = null;
    expect(readFileSync(floorPath(d), 'utf8')).toBe(floor19); // neither removed nor written over
    floorOpens.length = 0;
    expect(cache.floor(KEY).text).toBe('18'); // a warm lookup reads no file
    expect(floorOpens).toEqual([]);
    // A cold lookup (v18 has expired at LATER: fetched) reads the file again.
    await expect(new ArtifactResolver({ cache, refreshIntervalMs: 0 }).resolve(KEY, serves(v17), LATER)).rejects.toMatchObject(rollback('19'));
    expect(cache.floor(KEY).text).toBe('19');
  });

  // (A file that is not ours, a link for one, is still removed: review-s9-floor.test.ts.)
  it('while the file cannot be read the judged key is refused (retryable, floor-unreadable) and nothing is written over the file; once it reads again its floor applies (review s9 changes-d #1)', async () => {
    const d = tempDir();
    const cache = new CollateralCache({ directory: d });
    writeFileSync(floorPath(d), floor19, { mode: 0o600 });
    failing.test = (path) => path.endsWith('-floor.json');
    const r = new ArtifactResolver({ cache, refreshIntervalMs: 0 });
    await expect(r.resolve(KEY, serves(v18), AT)).rejects.toMatchObject(unreadable);
    failing.test = null;
    expect(readFileSync(floorPath(d), 'utf8')).toBe(floor19); // neither removed nor written over
    expect((await r.resolve(KEY, serves(v18), AT)).artifact.sequence).toBe('18'); // 19 is in force from AT + 10 days only
    expect(cache.floor(KEY).text).toBe('19');
    rmSync(floorPath(d)); // the file is lost meanwhile: memory still refuses the rollback
    await expect(r.resolve(KEY, serves(v17), LATER)).rejects.toMatchObject(rollback('19'));
  });

  it('review s9 changes-d #1: a cached, verified older evaluation is not served while the floor file cannot be read, nor warm after the error ends', async () => {
    const d = tempDir();
    // 17 cached and marked verified (an earlier run); another process's floor file says 18.
    const first = new ArtifactResolver({ cache: new CollateralCache({ directory: d }), refreshIntervalMs: 0 });
    await first.resolve(KEY, serves(v17), AT);
    first.markVerified(v17);
    writeFileSync(floorPath(d), JSON.stringify({ format: 'tee-verify-collateral-floor', version: 1, key: KEY, sequence: '18', from: new Date(AT.getTime() - DAY).toISOString() }), { mode: 0o600 });
    const cache = new CollateralCache({ directory: d }); // a new process
    const r = new ArtifactResolver({ cache, refreshIntervalMs: 0 });
    failing.test = (path) => path.endsWith('-floor.json');
    await expect(r.resolve(KEY, serves(v17), AT)).rejects.toMatchObject(unreadable);
    failing.test = null;
    for (let i = 0; i < 3; i++) await expect(r.resolve(KEY, serves(v17), AT)).rejects.toMatchObject(rollback('18'));
  });
});
