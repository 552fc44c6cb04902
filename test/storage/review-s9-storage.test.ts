/**
 * Review s9, SQLite backend: a database opened with `fileMustExist` (as `tee-kbs admin
 * upgrade-integrity` opens it) whose `-volatile` side file is missing (a database from before the
 * side file existed, or one an operator removed: its loss is harmless) opens, and the side file is
 * made private (0600) (finding 1).
 */
import { randomBytes } from 'node:crypto';
import { existsSync, mkdtempSync, readdirSync, rmSync, statSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';

import { afterAll, describe, expect, it } from 'vitest';

import { KbsStore } from '../../src/kbs/store.js';
import { upgradeIntegrity } from '../../src/kbs/upgrade.js';
import { migrate, SqliteStorage } from '../../src/storage/index.js';

const dir = mkdtempSync(join(tmpdir(), 'tee-storage-s9-'));
afterAll(() => rmSync(dir, { recursive: true, force: true }));

const mode = (file: string): number => statSync(file).mode & 0o777;

function removeSideFiles(folder: string): void {
  for (const f of readdirSync(folder)) if (f.includes('-volatile')) rmSync(join(folder, f));
}

describe('review s9 finding 1: the volatile side file under fileMustExist', () => {
  it('a migrated database without its side file opens with fileMustExist; the side file is created 0600 and usable', async () => {
    const folder = mkdtempSync(join(dir, 'open-'));
    const file = join(folder, 'kbs.db');
    const s = await SqliteStorage.open(file);
    await migrate(s, { component: 'demo', migrations: [{ version: 1, name: 'items', sql: { sqlite: 'CREATE TABLE items (id TEXT PRIMARY KEY)', postgres: 'CREATE TABLE items (id TEXT PRIMARY KEY)' } }] });
    await s.close();
    removeSideFiles(folder);
    expect(existsSync(`${file}-volatile`)).toBe(false);

    const again = await SqliteStorage.open(file, { fileMustExist: true });
    try {
      expect(mode(`${file}-volatile`)).toBe(0o600);
      await again.exec('CREATE TABLE IF NOT EXISTS volatile.buckets (client TEXT PRIMARY KEY)');
      await again.run('INSERT INTO volatile.buckets VALUES (?)', ['203.0.113.7']);
      expect(await again.get('SELECT client FROM volatile.buckets')).toEqual({ client: '203.0.113.7' });
    } finally {
      await again.close();
    }
  });

  it('fileMustExist still refuses a database file that is not there (and makes no side file for it)', async () => {
    const file = join(dir, 'absent.db');
    await expect(SqliteStorage.open(file, { fileMustExist: true })).rejects.toMatchObject({ code: 'ERR_STORAGE_UNREACHABLE' });
    expect(existsSync(file)).toBe(false);
    expect(existsSync(`${file}-volatile`)).toBe(false);
  });

  it('a read-only open makes no side file', async () => {
    const folder = mkdtempSync(join(dir, 'ro-'));
    const file = join(folder, 'k.db');
    const s = await SqliteStorage.open(file, { volatile: false });
    await s.exec('CREATE TABLE t (x INTEGER)');
    await s.close();
    const ro = await SqliteStorage.open(file, { readonly: true, fileMustExist: true });
    await ro.close();
    expect(existsSync(`${file}-volatile`)).toBe(false);
  });

  it('tee-kbs admin upgrade-integrity succeeds on a key-broker database whose side file was removed', async () => {
    const folder = mkdtempSync(join(dir, 'kbs-'));
    const db = join(folder, 'kbs.db');
    const master = randomBytes(32);
    const s = await SqliteStorage.open(db);
    await KbsStore.open(s, master);
    await s.close();
    removeSideFiles(folder);
    await upgradeIntegrity({ db, env: { TEE_KBS_MASTER_KEY: master.toString('base64') }, log: () => {} });
    expect(mode(`${db}-volatile`)).toBe(0o600);
  });
});
