/**
 * Two processes that raise one key's floor at once each read the file, then
 * rename their own over it: the later rename wins, so the file can end with
 * the lower floor while the stricter process holds the higher one in memory.
 * That process now writes its floor back at the key's next cold lookup
 * (refresh), also when its own write had succeeded; before, the file kept the
 * lower value until the next raise, and a restart started from it.
 */
import { chmodSync, copyFileSync, existsSync, mkdtempSync, rmSync } from 'node:fs';
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
const floor = (n: number): Floor => ({ text: String(n), sequence: BigInt(n), from: Date.parse('2026-06-01T00:00:00Z') });
/** What a new process reads from `directory` for KEY. */
const onDisk = (directory: string) => new RollbackFloors({ directory }).get(KEY).sequence;

describe('a floor file lowered by a concurrent writer', () => {
  it('is written back by the process that holds the stricter floor at its next cold lookup', () => {
    const directory = tempDir();
    const a = new RollbackFloors({ directory });
    expect(a.raise(KEY, floor(7))).toBe(true);
    expect(onDisk(directory)).toBe(7n);

    // The other process read the file before a's rename and renamed its floor 6 over it afterwards.
    const elsewhere = tempDir();
    new RollbackFloors({ directory: elsewhere }).raise(KEY, floor(6));
    const file = a.file(KEY)!;
    copyFileSync(new RollbackFloors({ directory: elsewhere }).file(KEY)!, file);
    chmodSync(file, 0o600);
    expect(onDisk(directory)).toBe(6n);

    expect(a.refresh(KEY).sequence).toBe(7n);
    expect(onDisk(directory)).toBe(7n);
  });

  it('a removed floor file is written again from memory', () => {
    const directory = tempDir();
    const a = new RollbackFloors({ directory });
    a.raise(KEY, floor(9));
    const file = a.file(KEY)!;
    rmSync(file);
    expect(a.refresh(KEY).sequence).toBe(9n);
    expect(existsSync(file)).toBe(true);
    expect(onDisk(directory)).toBe(9n);
  });

  it('a stricter floor in the file is still adopted, never overwritten', () => {
    const directory = tempDir();
    const a = new RollbackFloors({ directory });
    a.raise(KEY, floor(5));
    new RollbackFloors({ directory }).raise(KEY, floor(8));
    expect(a.refresh(KEY).sequence).toBe(8n);
    expect(onDisk(directory)).toBe(8n);
  });
});
