/**
 * Session 16 finding 2 (red team): on PostgreSQL two admin changes could commit in the opposite
 * order of their admin_audit seqs, so a reader paging GET /kbs/v1/admin-audit with
 * after_seq = the last seq read (docs/kbs.md) passed the lower row for good. Now audit inserts are
 * ordered by a transaction-level advisory lock held to COMMIT, so seq order is commit order.
 *
 * Deterministic: A's change holds its transaction open after its audit insert (a slow COMMIT); B's
 * change is started and the test waits until B either committed (before the fix) or waits for a lock.
 * A page is read then, A is let go, and the next page is read after the last seq of the first.
 */
import { randomBytes } from 'node:crypto';

import pg from 'pg';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';

import { KbsStore, type AuditEntry } from '../../src/kbs/store.js';
import { openStorage, type Storage } from '../../src/storage/index.js';
import { createPgDatabase, PG_SKIP_REASON, warnIfPgSkipped, type PgTestDatabase } from '../helpers/postgres.js';

warnIfPgSkipped('test/kbs/s16-pg-audit-paging.test.ts');

const sleep = (ms: number): Promise<void> => new Promise((r) => setTimeout(r, ms));

describe.skipIf(PG_SKIP_REASON)('admin audit trail paged with after_seq on PostgreSQL misses no row (s16 F2)', () => {
  let db: PgTestDatabase;
  const master = randomBytes(32);
  const opened: Storage[] = [];
  let A: KbsStore;
  let B: KbsStore;
  let reader: KbsStore;

  beforeAll(async () => {
    db = await createPgDatabase();
    const open = async (): Promise<KbsStore> => {
      const s = await openStorage(db.url);
      opened.push(s);
      return (await KbsStore.open(s, master)).store;
    };
    A = await open();
    B = await open();
    reader = await open();
  }, 60_000);
  afterAll(async () => {
    await Promise.all(opened.map((s) => s.close()));
    await db?.drop();
  });

  it('the change with the lower seq commits last: the reader still gets both rows', async () => {
    const by = { kind: 'bootstrap-secret' as const, client: '127.0.0.1' };
    const now = new Date();
    const doc = JSON.stringify({ tee: 'tdx' });
    let letGo!: () => void;
    const gate = new Promise<void>((r) => (letGo = r));
    let aInserted!: () => void;
    const aReady = new Promise<void>((r) => (aInserted = r));
    const tA = A.transaction(async (s) => {
      await s.addPolicy('native', doc, now, 'pol-A');
      await s.appendAudit(by, 'policy.create', 'pol-A', {}, now, () => now);
      aInserted();
      await gate;
    });
    await aReady;
    let bDone = false;
    const tB = B.transaction(async (s) => {
      await s.addPolicy('native', doc, now, 'pol-B');
      await s.appendAudit(by, 'policy.create', 'pol-B', {}, now, () => now);
    }).then(() => {
      bDone = true;
    });
    const watch = new pg.Client({ connectionString: db.url });
    await watch.connect();
    try {
      for (let i = 0; ; i++) {
        if (bDone) break;
        await watch.query('SELECT pg_stat_clear_snapshot()');
        const w = await watch.query("SELECT 1 FROM pg_stat_activity WHERE datname = current_database() AND wait_event_type = 'Lock'");
        if (w.rowCount) break;
        if (i > 2000) throw new Error('B neither committed nor waits for a lock');
        await sleep(10);
      }
    } finally {
      await watch.end();
    }
    const page1: AuditEntry[] = await reader.auditEntries(0);
    letGo();
    await Promise.all([tA, tB]);
    const cursor = page1.at(-1)?.seq ?? 0;
    const page2 = await reader.auditEntries(cursor);
    const all = await reader.auditEntries(0);
    expect(all.map((e) => e.object_id).sort()).toEqual(['pol-A', 'pol-B']);
    expect([...page1, ...page2].map((e) => e.object_id).sort(), `page 1 ${JSON.stringify(page1.map((e) => [e.seq, e.object_id]))}, page 2 after ${cursor}: ${JSON.stringify(page2.map((e) => [e.seq, e.object_id]))}`).toEqual(['pol-A', 'pol-B']);
  }, 60_000);
});
