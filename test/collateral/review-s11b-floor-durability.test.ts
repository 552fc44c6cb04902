/**
 * Review s11 changes-b #2: floors had no fsync. A write renamed a fresh file
 * (no ext4 auto_da_alloc flush for a rename to a new name) and then deleted
 * the file it outranked, so after a power loss the deletion could be on disk
 * while the new file was empty or missing: the floor was lost. Now the new
 * file's content is synced before its rename and the directory before any
 * deletion of an outranked file. A power loss cannot be replayed in a test:
 * these tests record the order of the file system calls instead.
 */
import { createHash } from 'node:crypto';
import * as fs from 'node:fs';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterEach, describe, expect, it, vi } from 'vitest';

import { RollbackFloors, type Floor } from '../../src/collateral/floors.js';

/** File system calls in order: "fsync <path>", "rename <to>", "rm <path>" (paths as opened, renamed to, removed). */
const calls: string[] = [];
/** Makes the fsync of a path matching it fail with EIO. */
let failSync: RegExp | undefined;
vi.mock('node:fs', async (importOriginal) => {
  const real = await importOriginal<typeof import('node:fs')>();
  const opened = new Map<number, string>();
  const openSync = ((path: fs.PathLike, ...rest: unknown[]) => {
    const fd = (real.openSync as (...a: unknown[]) => number)(path, ...rest);
    opened.set(fd, String(path));
    return fd;
  }) as typeof real.openSync;
  const fsyncSync = ((fd: number) => {
    const path = opened.get(fd) ?? `fd ${fd}`;
    calls.push(`fsync ${path}`);
    if (failSync?.test(path)) throw Object.assign(new Error(`EIO: i/o error, fsync`), { code: 'EIO' });
    return real.fsyncSync(fd);
  }) as typeof real.fsyncSync;
  const renameSync = ((from: fs.PathLike, to: fs.PathLike) => {
    calls.push(`rename ${String(from)} -> ${String(to)}`);
    return real.renameSync(from, to);
  }) as typeof real.renameSync;
  const rmSync = ((path: fs.PathLike, ...rest: unknown[]) => {
    calls.push(`rm ${String(path)}`);
    return (real.rmSync as (...a: unknown[]) => void)(path, ...rest);
  }) as typeof real.rmSync;
  const mocked = { openSync, fsyncSync, renameSync, rmSync };
  return { ...real, ...mocked, default: { ...real, ...mocked } };
});

const dirs: string[] = [];
afterEach(() => {
  calls.length = 0;
  failSync = undefined;
  for (const d of dirs.splice(0)) rmSync(d, { recursive: true, force: true });
});
function tempDir(): string {
  const d = mkdtempSync(join(tmpdir(), 'tee-verify-s11b-floor-'));
  dirs.push(d);
  return d;
}
const KEY = 'intel-tcb-info:tdx:00906ED50000:update=standard';
const SHA = createHash('sha256').update(KEY).digest('hex');
const FROM = Date.parse('2026-06-01T00:00:00Z');
const floor = (n: number): Floor => ({ text: String(n), sequence: BigInt(n), from: FROM });
const floorNames = (directory: string) => fs.readdirSync(directory).filter((n) => n.endsWith('-floor.json')).sort();
/** A writer's floor file of KEY at `n` (`<sha256(key)>-<pid>-<12 hex>-floor.json`). */
function plant(directory: string, n: number, tag: string): string {
  const name = `${SHA}-4242-${tag}-floor.json`;
  writeFileSync(join(directory, name), JSON.stringify({ format: 'tee-verify-collateral-floor', version: 1, key: KEY, sequence: String(n), from: new Date(FROM).toISOString() }), { mode: 0o600 });
  return name;
}
const indexOf = (pattern: RegExp): number => calls.findIndex((c) => pattern.test(c));
const escape = (s: string) => s.replace(/[.*+?^${}()|[\]\\]/g, '\\$&');

describe('floor files are durable before an outranked file is deleted', () => {
  it('a raise: fsync of the new content, its rename, fsync of the directory, then the deletion of the file it outranks', () => {
    const directory = tempDir();
    const floors = new RollbackFloors({ directory });
    floors.raise(KEY, floor(6));
    const [six] = floorNames(directory);
    calls.length = 0;
    expect(floors.raise(KEY, floor(7))).toBe(true);
    const [seven] = floorNames(directory);
    expect(seven).not.toBe(six);

    const rename = indexOf(new RegExp(`^rename .*\\.tmp -> .*${escape(seven!)}$`));
    const temp = calls[rename]!.slice('rename '.length).split(' -> ')[0]!;
    const contentSync = calls.indexOf(`fsync ${temp}`);
    const directorySync = calls.lastIndexOf(`fsync ${directory}`);
    const deletion = calls.indexOf(`rm ${join(directory, six!)}`);
    expect(contentSync).toBeGreaterThanOrEqual(0);
    expect(rename).toBeGreaterThan(contentSync);
    expect(directorySync).toBeGreaterThan(rename);
    expect(deletion).toBeGreaterThan(directorySync);
    expect(new RollbackFloors({ directory }).get(KEY).sequence).toBe(7n);
  });

  it("a read that finds another process's stricter file syncs the directory before deleting the one it outranks", () => {
    const directory = tempDir();
    const low = plant(directory, 6, 'aaaaaaaaaaaa');
    const high = plant(directory, 8, 'bbbbbbbbbbbb'); // renamed by another process, its directory entry perhaps not yet synced
    expect(new RollbackFloors({ directory }).get(KEY).sequence).toBe(8n);
    const contentSync = calls.indexOf(`fsync ${join(directory, high)}`);
    const directorySync = calls.indexOf(`fsync ${directory}`);
    const deletion = calls.indexOf(`rm ${join(directory, low)}`);
    // The stricter file's content too: a version before d43042a never synced it (review s11 changes-d #3).
    expect(contentSync).toBeGreaterThanOrEqual(0);
    expect(directorySync).toBeGreaterThanOrEqual(0);
    expect(deletion).toBeGreaterThan(contentSync);
    expect(deletion).toBeGreaterThan(directorySync);
    expect(floorNames(directory)).toEqual([high]);
  });

  it("a stricter file whose content the disk fails to sync outranks nothing on disk yet: nothing is deleted (review s11 changes-d #3)", () => {
    const directory = tempDir();
    const low = plant(directory, 6, 'aaaaaaaaaaaa');
    const high = plant(directory, 8, 'bbbbbbbbbbbb');
    failSync = new RegExp(`${escape(high)}$`);
    expect(new RollbackFloors({ directory }).get(KEY).sequence).toBe(8n);
    expect(floorNames(directory)).toEqual([low, high].sort());
    expect(calls.some((c) => c.startsWith('rm ') && c.endsWith('-floor.json'))).toBe(false);
  });

  it('a directory the disk fails to sync: the new file stays, nothing is deleted, and the floor is held unsynced', () => {
    const directory = tempDir();
    const floors = new RollbackFloors({ directory });
    floors.raise(KEY, floor(6));
    const [six] = floorNames(directory);
    failSync = new RegExp(`^${escape(directory)}$`);
    expect(floors.raise(KEY, floor(7))).toBe(true);
    expect(floors.get(KEY).sequence).toBe(7n);
    expect(floorNames(directory)).toContain(six);
    expect(floorNames(directory)).toHaveLength(2);
    expect(calls.some((c) => c.startsWith('rm ') && c.endsWith('-floor.json'))).toBe(false);
    // The disk heals: the next cold look writes nothing new (7 is on disk) and prunes 6.
    failSync = undefined;
    expect(floors.refresh(KEY).sequence).toBe(7n);
    expect(floorNames(directory)).toHaveLength(1);
    expect(floorNames(directory)).not.toContain(six);
  });

  it('new content the disk fails to sync is never renamed to a floor file (and its temporary file is removed)', () => {
    const directory = tempDir();
    const floors = new RollbackFloors({ directory });
    floors.raise(KEY, floor(6));
    const before = floorNames(directory);
    calls.length = 0;
    failSync = /\.tmp$/;
    expect(floors.raise(KEY, floor(7))).toBe(true); // memory holds it for this process
    expect(floorNames(directory)).toEqual(before);
    expect(fs.readdirSync(directory).filter((n) => n.endsWith('.tmp'))).toEqual([]);
    expect(calls.some((c) => c.startsWith('rename '))).toBe(false);
    expect(new RollbackFloors({ directory }).get(KEY).sequence).toBe(6n);
  });
});
