/**
 * Session 7, found by the full suite (three brokers starting at once on one PostgreSQL): a start
 * reads the kbs schema history outside the migration lock, then counts keys, policies and admin
 * tokens. Another instance could migrate and write its first row between the two reads; the start
 * then saw rows without any history and refused with ERR_KBS_INTEGRITY ("history removed outside the
 * broker"), exit 78. The history is now looked at again after the counts: rows seen there were
 * committed after their history, so a second look finds it whenever the rows are genuine.
 *
 * Deterministic: instance B's storage is wrapped so that, just before B counts the keys table,
 * instance A runs its whole first start (migrations) and writes a policy.
 */
import { randomBytes } from 'node:crypto';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';

import { afterEach, describe, expect, it } from 'vitest';

import { KbsStore } from '../../src/kbs/index.js';
import { openStorage, type Storage } from '../../src/storage/index.js';
import { BACKENDS, createPgDatabase, warnIfPgSkipped } from '../helpers/postgres.js';

warnIfPgSkipped('test/kbs/review-s7c-start-race.test.ts');

/** `storage`, with `beforeKeysCount` run once, just before the first statement that looks at the keys table. */
function hookedBeforeKeysCount(storage: Storage, beforeKeysCount: () => Promise<void>): Storage {
  let fired = false;
  return new Proxy(storage, {
    get(target, prop, receiver) {
      const value = Reflect.get(target, prop, receiver) as unknown;
      if (prop !== 'get' || typeof value !== 'function') return typeof value === 'function' ? (value as (...a: unknown[]) => unknown).bind(target) : value;
      return async (sql: string, params?: unknown[]) => {
        if (!fired && Array.isArray(params) && params.includes('keys')) {
          fired = true;
          await beforeKeysCount();
        }
        return (value as (s: string, p?: unknown[]) => unknown).call(target, sql, params);
      };
    },
  });
}

describe.each(BACKENDS)('two brokers starting at once on one database ($name)', ({ name: backend, skip }) => {
  const cleanups: (() => Promise<void>)[] = [];
  afterEach(async () => {
    for (const c of cleanups.splice(0).reverse()) await c();
  });

  it.skipIf(skip !== undefined)('a start that sees the other instance\'s first rows before its schema history is not refused as a removed history', async () => {
    const dir = mkdtempSync(join(tmpdir(), 'tee-kbs-s7c-race-'));
    const pg = backend === 'postgres' ? await createPgDatabase() : undefined;
    cleanups.push(async () => {
      await pg?.drop();
      rmSync(dir, { recursive: true, force: true });
    });
    const location = pg ? pg.url : `sqlite:${join(dir, 'kbs.sqlite')}`;
    const master = randomBytes(32);
    const storageA = await openStorage(location);
    const storageB = await openStorage(location);
    cleanups.push(async () => {
      await storageA.close();
      await storageB.close();
    });

    let policyId = '';
    const b = hookedBeforeKeysCount(storageB, async () => {
      // Instance A: its first start (every migration, committed), then its first row.
      const { store } = await KbsStore.open(storageA, master);
      policyId = (await store.addPolicy('native', JSON.stringify({ tee: 'tdx', mrTd: ['ab'.repeat(48)], mrConfigId: 'any', mrOwner: 'any', mrOwnerConfig: 'any' }), new Date())).id;
    });
    const opened = await KbsStore.open(b, master);
    expect(policyId).not.toBe('');
    // B found A's schema, applied nothing and trusts A's row (its MAC verifies under the shared master key).
    expect(opened.migration?.applied).toEqual([]);
    expect(opened.upgrade).toBeUndefined();
    const read = await opened.store.getPolicy(policyId);
    expect(read?.id).toBe(policyId);
  });
});
