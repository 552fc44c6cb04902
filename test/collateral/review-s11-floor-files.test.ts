/**
 * Review s11 (client/collateral item 2): the O_EXCL lock file of review s10
 * could have two holders (a holder paused past its 10 s stale rule, or two
 * processes removing a dead holder's lock at once), and a holder's final
 * removal could delete another's lock. Floors now need no lock: every write
 * makes a file of its own under a fresh name, a read takes the strictest of
 * the key's files, and a file is deleted only by a process that has just read
 * (or written) one that ranks above it (stricter, or the same floor under a
 * smaller name). These tests replay interleavings of processes by running
 * another RollbackFloors on the same directory inside a file operation of the
 * first (the same code path another process runs).
 */
import { createHash } from 'node:crypto';
import * as fs from 'node:fs';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { basename, join } from 'node:path';
import { afterEach, describe, expect, it, vi } from 'vitest';

import { CollateralCache } from '../../src/index.js';
import { RollbackFloors, type Floor } from '../../src/collateral/floors.js';

type FsOp = 'list' | 'open' | 'remove' | 'rename';
/**
 * Called at each file operation on the floors (a listing of a directory, an
 * open, removal or rename of a floor file); what it returns runs during that
 * operation: before an open, removal or rename, and around a listing, which
 * then shows only the names present both before and after it (what POSIX
 * allows for entries added or removed while a directory is read).
 */
let onFloorOp: ((op: FsOp, path: string) => (() => void) | void) | undefined;
/** Rewrites every listing (another process's directory order). */
let listingOrder: ((names: string[]) => string[]) | undefined;
vi.mock('node:fs', async (importOriginal) => {
  const real = await importOriginal<typeof import('node:fs')>();
  const isFloor = (p: fs.PathLike) => String(p).endsWith('-floor.json');
  const during = (op: FsOp, path: fs.PathLike, run: () => unknown) => {
    const concurrent = onFloorOp?.(op, String(path));
    concurrent?.();
    return run();
  };
  const readdirSync = ((path: fs.PathLike, ...rest: unknown[]) => {
    const list = () => (real.readdirSync as (...a: unknown[]) => string[])(path, ...rest);
    const concurrent = onFloorOp?.('list', String(path));
    let names: string[];
    if (concurrent === undefined) names = list();
    else {
      const before = list();
      concurrent();
      const after = new Set(list());
      names = before.filter((n) => after.has(n));
    }
    return listingOrder === undefined ? names : listingOrder(names);
  }) as typeof real.readdirSync;
  const openSync = ((path: fs.PathLike, ...rest: unknown[]) => {
    const open = () => (real.openSync as (...a: unknown[]) => number)(path, ...rest);
    return isFloor(path) ? during('open', path, open) : open();
  }) as typeof real.openSync;
  const rmSync = ((path: fs.PathLike, ...rest: unknown[]) => {
    const rm = () => (real.rmSync as (...a: unknown[]) => void)(path, ...rest);
    return isFloor(path) ? during('remove', path, rm) : rm();
  }) as typeof real.rmSync;
  const renameSync = ((from: fs.PathLike, to: fs.PathLike) => {
    const rename = () => real.renameSync(from, to);
    return isFloor(to) ? during('rename', to, rename) : rename();
  }) as typeof real.renameSync;
  const mocked = { readdirSync, openSync, rmSync, renameSync };
  return { ...real, ...mocked, default: { ...real, ...mocked } };
});

const dirs: string[] = [];
afterEach(() => {
  onFloorOp = undefined;
  listingOrder = undefined;
  for (const d of dirs.splice(0)) rmSync(d, { recursive: true, force: true });
});
function tempDir(): string {
  const d = mkdtempSync(join(tmpdir(), 'tee-verify-s11-floor-'));
  dirs.push(d);
  return d;
}
const KEY = 'intel-tcb-info:tdx:00906ED50000:update=standard';
const SHA = createHash('sha256').update(KEY).digest('hex');
const FROM = Date.parse('2026-06-01T00:00:00Z');
const floor = (n: number): Floor => ({ text: String(n), sequence: BigInt(n), from: FROM });
/** What a new process reads from `directory` for KEY. */
const onDisk = (directory: string) => new RollbackFloors({ directory }).get(KEY).sequence;
const floorNames = (directory: string) => fs.readdirSync(directory).filter((n) => n.endsWith('-floor.json')).sort();
/** A floor file of KEY at `n` under `name` (default: the single file of versions before review s11). */
function plant(directory: string, n: number, name = `${SHA}-floor.json`): string {
  writeFileSync(join(directory, name), JSON.stringify({ format: 'tee-verify-collateral-floor', version: 1, key: KEY, sequence: String(n), from: new Date(FROM).toISOString() }), { mode: 0o600 });
  return name;
}
/** A writer's file name (`<sha256(key)>-<pid>-<12 hex>-floor.json`) from a 12-hex tag. */
const writerName = (tag: string) => `${SHA}-4242-${tag}-floor.json`;
/** Runs `step` once, at the first floor operation of kind `op`. */
function atFirst(op: FsOp, step: () => void): void {
  onFloorOp = (seen) => {
    if (seen !== op) return;
    onFloorOp = undefined;
    return step;
  };
}

describe('rollback floors without a lock file', () => {
  it("B raises to 8 between A's read and A's write: the disk ends at 8, and A's raise to 7 still counts", () => {
    const directory = tempDir();
    new RollbackFloors({ directory }).raise(KEY, floor(6));
    const a = new RollbackFloors({ directory });
    const b = new RollbackFloors({ directory });
    expect(a.get(KEY).sequence).toBe(6n);
    expect(b.get(KEY).sequence).toBe(6n);
    let inside: bigint | undefined;
    atFirst('rename', () => {
      // A has read 6 and is about to make its 7 durable: B raises (with the lock, B could only wait).
      expect(b.raise(KEY, floor(8))).toBe(true);
      inside = onDisk(directory);
    });
    expect(a.raise(KEY, floor(7))).toBe(true);
    expect(inside).toBe(8n); // B's write was not held back
    expect(onDisk(directory)).toBe(8n); // A's later write did not replace it (before review s10 it did: 7)
    expect(a.refresh(KEY).sequence).toBe(8n); // A adopts it at its next cold lookup
    expect(floorNames(directory)).toHaveLength(1); // 6's and 7's files outranked and deleted
    expect(fs.readdirSync(directory).filter((n) => n.endsWith('.lock'))).toEqual([]);
  });

  it('a writer paused for any length of time (the lock-two-holders case) lowers nothing when it resumes', () => {
    const directory = tempDir();
    const a = new RollbackFloors({ directory });
    atFirst('rename', () => {
      // While A is paused before its rename, two other processes raise one after the other.
      new RollbackFloors({ directory }).raise(KEY, floor(9));
      new RollbackFloors({ directory }).raise(KEY, floor(11));
    });
    a.raise(KEY, floor(5));
    expect(onDisk(directory)).toBe(11n);
  });

  it('two readers pruning each other (the same floor under two names, listed in opposite orders) keep one file of the highest floor', () => {
    const directory = tempDir();
    const first = plant(directory, 8, writerName('aaaaaaaaaaaa'));
    plant(directory, 8, writerName('bbbbbbbbbbbb'));
    plant(directory, 5, writerName('cccccccccccc'));
    const a = new RollbackFloors({ directory });
    const b = new RollbackFloors({ directory });
    atFirst('remove', () => {
      // A has read all three and starts deleting; B, whose directory lists them the other way round, reads and deletes too.
      listingOrder = (names) => [...names].reverse();
      expect(b.get(KEY).sequence).toBe(8n);
      listingOrder = undefined;
    });
    expect(a.get(KEY).sequence).toBe(8n);
    expect(floorNames(directory)).toEqual([first]); // the same file won for both: the smaller name
    expect(onDisk(directory)).toBe(8n);
  });

  it('two writers each deleting what they read keep the higher floor, whichever renames last', () => {
    for (const [outer, inner] of [[8, 9], [9, 8]] as const) {
      const directory = tempDir();
      new RollbackFloors({ directory }).raise(KEY, floor(7));
      const a = new RollbackFloors({ directory });
      const b = new RollbackFloors({ directory });
      expect(a.get(KEY).sequence).toBe(7n);
      expect(b.get(KEY).sequence).toBe(7n);
      // Both read 7; B writes and deletes 7 inside A's rename, then A deletes what it read.
      atFirst('rename', () => void b.raise(KEY, floor(inner)));
      a.raise(KEY, floor(outer));
      expect(onDisk(directory)).toBe(9n);
      expect(floorNames(directory)).toHaveLength(1);
    }
  });

  it('a cache written before review s11 (the single <sha256(key)>-floor.json) is still honoured, and kept', () => {
    const directory = tempDir();
    const legacy = plant(directory, 9);
    const a = new RollbackFloors({ directory });
    expect(a.get(KEY).sequence).toBe(9n);
    expect(a.raise(KEY, floor(8))).toBe(false);
    expect(floorNames(directory)).toEqual([legacy]); // nothing written below it
    expect(a.raise(KEY, floor(10))).toBe(true);
    expect(onDisk(directory)).toBe(10n);
    // The old file stays: a process of the earlier version may still rename a floor over it.
    expect(floorNames(directory)).toContain(legacy);
    expect(floorNames(directory)).toHaveLength(2);
    plant(directory, 12); // such a process raised it meanwhile
    expect(a.refresh(KEY).sequence).toBe(12n);
  });

  for (const mode of ['before', 'around'] as const) {
    it(`a reader never returns less than a floor durably written before it began (a raise ${mode} each of its file operations)`, () => {
      let operations = 0;
      for (let k = 0; ; k++) {
        const directory = tempDir();
        const writer = new RollbackFloors({ directory });
        writer.raise(KEY, floor(7)); // durable before the read begins
        const reader = new RollbackFloors({ directory });
        let seen = 0;
        let fired = false;
        onFloorOp = (op) => {
          if (seen++ !== k) return;
          if (mode === 'around' && op !== 'list') return;
          onFloorOp = undefined;
          fired = true;
          return () => void writer.raise(KEY, floor(8)); // writes 8, deletes 7
        };
        const got = reader.get(KEY).sequence;
        onFloorOp = undefined;
        if (seen <= k) break;
        if (!fired) continue;
        operations++;
        expect({ k, got: got >= 7n }).toEqual({ k, got: true });
        expect(reader.isUnreadable(KEY)).toBe(false);
        expect(onDisk(directory)).toBe(8n);
      }
      expect(operations).toBeGreaterThanOrEqual(mode === 'before' ? 3 : 2); // listings and the open at least
    });
  }

  // 64 reads (4 passes of 16) plus one open per pass to sync the strictest file's content before pruning (changes-d #3).
  const MAX_OPENS = 64 + 4;
  it('the files of a key are bounded: leftovers are pruned by reads, each read opening at most 64 of them (and syncing one per pass)', () => {
    const directory = tempDir();
    // 40 writers that all read before any wrote (each deletes only what it read): 40 files.
    for (let i = 0; i < 40; i++) plant(directory, 100 + i, writerName((0xa00000000000 + i * 7919).toString(16)));
    let opens = 0;
    onFloorOp = (op) => void (op === 'open' && opens++);
    const reader = new RollbackFloors({ directory });
    expect(reader.get(KEY).sequence).toBe(139n);
    expect(reader.isUnreadable(KEY)).toBe(false);
    expect(opens).toBeLessThanOrEqual(MAX_OPENS);
    expect(floorNames(directory)).toHaveLength(1);

    // More than one read can go through: it gives up (fails closed) after 64 opens, having pruned, and the next read goes on.
    for (let i = 0; i < 100; i++) plant(directory, 200 + i, writerName((0xb00000000000 + i * 7919).toString(16)));
    opens = 0;
    const next = new RollbackFloors({ directory });
    next.get(KEY);
    expect(next.isUnreadable(KEY)).toBe(true);
    expect(opens).toBeLessThanOrEqual(MAX_OPENS);
    let reads = 1;
    while (next.isUnreadable(KEY) && reads < 5) {
      opens = 0;
      next.refresh(KEY);
      expect(opens).toBeLessThanOrEqual(MAX_OPENS);
      reads++;
    }
    expect(next.refresh(KEY).sequence).toBe(299n);
    expect(floorNames(directory)).toHaveLength(1);
  });

  it("the remedy's glob (entryGlob) matches every floor file of the key; removing them removes the floor", () => {
    const root = tempDir();
    const cache = new CollateralCache({ directory: root });
    const directory = join(root, 'v1');
    const a = new RollbackFloors({ directory });
    const b = new RollbackFloors({ directory });
    expect(a.get(KEY).sequence).toBe(-1n);
    expect(b.get(KEY).sequence).toBe(-1n);
    atFirst('rename', () => void b.raise(KEY, floor(4))); // two files at once
    a.raise(KEY, floor(3));
    plant(directory, 2); // and the single file of an earlier version
    expect(floorNames(directory)).toHaveLength(3);
    const glob = cache.entryGlob(KEY)!;
    expect(glob.startsWith(`${directory}/`)).toBe(true);
    const pattern = new RegExp(`^${basename(glob).replace(/[.]/g, '\\.').replace(/\*/g, '[^/]*')}$`);
    for (const name of floorNames(directory)) expect(name).toMatch(pattern);
    expect(cache.floorFiles(KEY).map((f) => basename(f))).toEqual(floorNames(directory));
    for (const name of floorNames(directory)) rmSync(join(directory, name));
    expect(new CollateralCache({ directory: root }).floor(KEY).text).toBe('');
  });
});
