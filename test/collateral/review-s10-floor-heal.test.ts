/**
 * Review s10: a process holding a stricter floor than the disk writes it back
 * at the key's next cold lookup (refresh), also when its own write had
 * succeeded. Since review s11 writers no longer replace each other's files,
 * so a concurrent raise cannot lower the disk any more; what remains is a disk
 * that lost the floor some other way (the key's files removed while the
 * process ran, or a lower single file left by a version before review s11),
 * and that is still healed from memory.
 */
import { createHash } from 'node:crypto';
import { mkdtempSync, readdirSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterEach, describe, expect, it } from 'vitest';

import { RollbackFloors, type Floor } from '../../src/collateral/floors.js';

const dirs: string[] = [];
afterEach(() => {
  for (const d of dirs.splice(0)) rmSync(d, { recursive: true, force: true });
});
function tempDir(): string {
  const d = mkdtempSync(join(tmpdir(), 'tee-verify-s10-floor-'));
  dirs.push(d);
  return d;
}
const KEY = 'intel-tcb-info:tdx:00906ED50000:update=standard';
const FROM = Date.parse('2026-06-01T00:00:00Z');
const floor = (n: number): Floor => ({ text: String(n), sequence: BigInt(n), from: FROM });
/** What a new process reads from `directory` for KEY. */
const onDisk = (directory: string) => new RollbackFloors({ directory }).get(KEY).sequence;
/** The single floor file of versions before review s11. */
const legacyFile = (directory: string) => join(directory, `${createHash('sha256').update(KEY).digest('hex')}-floor.json`);
const floorText = (n: number) => JSON.stringify({ format: 'tee-verify-collateral-floor', version: 1, key: KEY, sequence: String(n), from: new Date(FROM).toISOString() });
const floorNames = (directory: string) => readdirSync(directory).filter((n) => n.endsWith('-floor.json'));

describe('a disk floor lower than memory', () => {
  it('is written back by the process that holds the stricter floor at its next cold lookup', () => {
    const directory = tempDir();
    const a = new RollbackFloors({ directory });
    expect(a.raise(KEY, floor(7))).toBe(true);
    expect(onDisk(directory)).toBe(7n);

    // The key's files were replaced by a lower one (an older version's single file) while A ran.
    for (const f of a.files(KEY)) rmSync(f);
    writeFileSync(legacyFile(directory), floorText(6), { mode: 0o600 });
    expect(onDisk(directory)).toBe(6n);

    expect(a.refresh(KEY).sequence).toBe(7n);
    expect(onDisk(directory)).toBe(7n);
  });

  it('a removed floor file is written again from memory', () => {
    const directory = tempDir();
    const a = new RollbackFloors({ directory });
    a.raise(KEY, floor(9));
    for (const f of a.files(KEY)) rmSync(f);
    expect(floorNames(directory)).toEqual([]);
    expect(a.refresh(KEY).sequence).toBe(9n);
    expect(floorNames(directory)).toHaveLength(1);
    expect(onDisk(directory)).toBe(9n);
  });

  it('a stricter floor on disk is still adopted, never overwritten', () => {
    const directory = tempDir();
    const a = new RollbackFloors({ directory });
    a.raise(KEY, floor(5));
    new RollbackFloors({ directory }).raise(KEY, floor(8));
    expect(a.refresh(KEY).sequence).toBe(8n);
    expect(onDisk(directory)).toBe(8n);
    expect(floorNames(directory)).toHaveLength(1); // 5's file went when 8's was written
  });

  it('a warm lookup (get) does not heal: only the cold path reads the disk', () => {
    const directory = tempDir();
    const a = new RollbackFloors({ directory });
    a.raise(KEY, floor(4));
    for (const f of a.files(KEY)) rmSync(f);
    expect(a.get(KEY).sequence).toBe(4n);
    expect(floorNames(directory)).toEqual([]);
  });
});
