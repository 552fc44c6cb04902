/**
 * Review s10 changes-b #1: a floor write is a read, a comparison and a rename;
 * two processes running it at once could each read the old file and rename
 * their own over it, so the higher floor was lost (it then weakened X03
 * after a restart). The step now runs under `<floor file>.lock`
 * (file-lock.ts). These tests hold the lock as another process would, plant
 * an abandoned one, and replay the reviewer's interleaving.
 */
import * as fs from 'node:fs';
import { existsSync, mkdtempSync, rmSync, utimesSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterEach, describe, expect, it, vi } from 'vitest';

import { RollbackFloors, type Floor } from '../../src/collateral/floors.js';
import { withFileLock } from '../../src/collateral/file-lock.js';

/** Runs once inside the next rename of a floor file, before it happens (another process's step). */
let beforeFloorRename: (() => void) | undefined;
/** Runs after each lstat of a lock file, with its result (another process acting between two looks). */
let afterLockLstat: ((path: string) => void) | undefined;
vi.mock('node:fs', async (importOriginal) => {
  const real = await importOriginal<typeof import('node:fs')>();
  const renameSync = (from: fs.PathLike, to: fs.PathLike) => {
    const hook = String(to).endsWith('-floor.json') ? beforeFloorRename : undefined;
    beforeFloorRename = undefined;
    hook?.();
    real.renameSync(from, to);
  };
  const lstatSync = ((path: fs.PathLike, ...rest: unknown[]) => {
    const result = (real.lstatSync as (...a: unknown[]) => unknown)(path, ...rest);
    if (String(path).endsWith('.lock')) afterLockLstat?.(String(path));
    return result;
  }) as typeof real.lstatSync;
  return { ...real, renameSync, lstatSync, default: { ...real, renameSync, lstatSync } };
});

const dirs: string[] = [];
afterEach(() => {
  beforeFloorRename = undefined;
  afterLockLstat = undefined;
  vi.restoreAllMocks();
  for (const d of dirs.splice(0)) rmSync(d, { recursive: true, force: true });
});
function tempDir(): string {
  const d = mkdtempSync(join(tmpdir(), 'tee-verify-s10-lock-'));
  dirs.push(d);
  return d;
}
const KEY = 'intel-tcb-info:tdx:00906ED50000:update=standard';
const floor = (n: number): Floor => ({ text: String(n), sequence: BigInt(n), from: Date.parse('2026-06-01T00:00:00Z') });
const onDisk = (directory: string) => new RollbackFloors({ directory }).get(KEY).sequence;

describe('rollback floor writes under the key lock', () => {
  it("the reviewer's interleaving: a raise while another holds the lock does not write under it; the higher floor ends on disk", () => {
    const directory = tempDir();
    new RollbackFloors({ directory }).raise(KEY, floor(6));
    const a = new RollbackFloors({ directory });
    const b = new RollbackFloors({ directory });
    expect(a.get(KEY).sequence).toBe(6n);
    expect(b.get(KEY).sequence).toBe(6n);
    let seenInside: bigint | undefined;
    beforeFloorRename = () => {
      // B raises to 8 while A is between its read and its rename: B cannot take the lock, writes nothing.
      expect(b.raise(KEY, floor(8))).toBe(true);
      seenInside = onDisk(directory);
    };
    a.raise(KEY, floor(7));
    expect(seenInside).toBe(6n); // without the lock B renamed 8 here, and A's 7 then replaced it
    expect(onDisk(directory)).toBe(7n);
    expect(b.refresh(KEY).sequence).toBe(8n); // B held 8 unsynced: its next cold lookup writes it
    expect(onDisk(directory)).toBe(8n);
    expect(a.refresh(KEY).sequence).toBe(8n);
  });

  it('a lock held by another process is waited for, not broken: nothing is written until it is gone', () => {
    const directory = tempDir();
    const a = new RollbackFloors({ directory });
    const lock = `${a.file(KEY)!}.lock`;
    writeFileSync(lock, '', { mode: 0o600 });
    expect(a.raise(KEY, floor(9))).toBe(true);
    expect(a.get(KEY).sequence).toBe(9n); // held in memory
    expect(existsSync(a.file(KEY)!)).toBe(false);
    expect(existsSync(lock)).toBe(true);
    rmSync(lock);
    expect(a.refresh(KEY).sequence).toBe(9n);
    expect(onDisk(directory)).toBe(9n);
  });

  it('a lock abandoned by a process that died holding it (older than 10 s) is removed', () => {
    const directory = tempDir();
    const a = new RollbackFloors({ directory });
    const lock = `${a.file(KEY)!}.lock`;
    writeFileSync(lock, '', { mode: 0o600 });
    const old = new Date(Date.now() - 60_000);
    utimesSync(lock, old, old);
    a.raise(KEY, floor(4));
    expect(onDisk(directory)).toBe(4n);
    expect(existsSync(lock)).toBe(false);
  });

  it('withFileLock removes its lock when the step throws, and refuses to run under a fresh one', () => {
    const directory = tempDir();
    const file = join(directory, 'x');
    expect(() => withFileLock(file, () => { throw new Error('boom'); })).toThrow('boom');
    expect(existsSync(`${file}.lock`)).toBe(false);
    writeFileSync(`${file}.lock`, '');
    let ran = false;
    expect(withFileLock(file, () => (ran = true))).toBeUndefined();
    expect(ran).toBe(false);
  });

  it('an abandoned lock replaced by a fresh one between two looks is left alone, even with the same inode number', () => {
    const directory = tempDir();
    const file = join(directory, 'x');
    const lock = `${file}.lock`;
    writeFileSync(lock, '');
    const old = new Date(Date.now() - 60_000);
    utimesSync(lock, old, old);
    let looks = 0;
    afterLockLstat = () => {
      // After the first look: the stale lock's owner is gone, another process removed it and took a
      // fresh one. File systems reuse the freed inode number at once; here the test rewrites the
      // same file, which keeps the inode and changes its times, as such a replacement does.
      if (++looks === 1) {
        utimesSync(lock, new Date(), new Date());
      }
    };
    let ran = false;
    expect(withFileLock(file, () => (ran = true))).toBeUndefined(); // waited, then gave up
    expect(ran).toBe(false);
    expect(existsSync(lock)).toBe(true); // the fresh lock was not removed
  });

  it('a wall clock stepped back while waiting does not stretch the wait', () => {
    const directory = tempDir();
    const file = join(directory, 'x');
    writeFileSync(`${file}.lock`, '');
    let t = Date.now();
    vi.spyOn(Date, 'now').mockImplementation(() => (t -= 1000)); // steps back at every reading
    expect(withFileLock(file, () => true)).toBeUndefined(); // gives up after its 200 ms of monotonic time
  });
});
