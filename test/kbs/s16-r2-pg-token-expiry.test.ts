/**
 * Session 16 change review #2 (low): the admin token re-read inside a change's transaction (round 1, F1) judged its
 * expiry at the request's instant, so a token that expired while its change waited still committed the change. Now
 * the broker's clock (the one injected clock) is read again in the transaction, after the token row was read.
 *
 * Deterministic, no timing: the clock is injected and moved by hand; a third session's table lock holds the change
 * at its policy insert, after the request's token check passed.
 *
 * Session 16 round-2 change review #1 (low): the expiry was then judged before the change waited for the audit-order
 * advisory lock (shared by every admin change on every instance), so a token that expired during that wait still
 * committed (201). Now the token is judged after that lock, the last one the change takes; the third session holds
 * the audit-order lock instead.
 */
import { createHash, randomBytes } from 'node:crypto';

import pg from 'pg';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';

import { createPgDatabase, PG_SKIP_REASON, warnIfPgSkipped, type PgTestDatabase } from '../helpers/postgres.js';
import { makePlatform, startHarness, tdxPolicy, type Harness } from './helpers.js';

warnIfPgSkipped('test/kbs/s16-r2-pg-token-expiry.test.ts');

const sleep = (ms: number): Promise<void> => new Promise((r) => setTimeout(r, ms));
/** store.ts's AUDIT_ORDER_LOCK: SHA-256 of "tee-kbs:admin-audit-order", first 8 bytes as a signed 64-bit integer. */
const AUDIT_ORDER_LOCK = createHash('sha256').update('tee-kbs:admin-audit-order').digest().readBigInt64BE(0).toString();

describe.skipIf(PG_SKIP_REASON)('an admin token that expires while its change waits refuses the change (s16 change review #2)', () => {
  let db: PgTestDatabase;
  let A: Harness;
  let clock = Date.now();

  beforeAll(async () => {
    db = await createPgDatabase();
    A = await startHarness({ now: () => new Date(clock), env: { TEE_KBS_MASTER_KEY: randomBytes(32).toString('base64') } }, makePlatform(), 'postgres', db.url);
  }, 60_000);
  afterAll(async () => {
    await A?.close();
    await db?.drop();
  });

  /**
   * Starts a policy creation with `token`, held at its policy insert (`at: 'insert'`) or at the audit-order lock, after
   * its token row was read (`at: 'audit-order'`: another admin change on any instance holds it to its COMMIT); returns
   * it and the hold's release.
   */
  async function heldChange(token: string, at: 'insert' | 'audit-order' = 'insert'): Promise<{ change: Promise<{ status: number; json: any }>; letGo: () => Promise<void> }> {
    const held = new pg.Client({ connectionString: db.url });
    await held.connect();
    await held.query('BEGIN');
    if (at === 'insert') await held.query('LOCK TABLE policies IN SHARE MODE');
    else await held.query(`SELECT pg_advisory_xact_lock(${AUDIT_ORDER_LOCK})`);
    const change = A.call('POST', '/kbs/v1/key-transfer-policies', { body: tdxPolicy(A.platform), token });
    const waiting = at === 'insert' ? "query LIKE 'INSERT INTO policies%'" : `wait_event = 'advisory' AND query LIKE '%pg_advisory_xact_lock(${AUDIT_ORDER_LOCK})%'`;
    for (let i = 0; ; i++) {
      await held.query('SELECT pg_stat_clear_snapshot()');
      const r = await held.query(`SELECT 1 FROM pg_stat_activity WHERE datname = current_database() AND wait_event_type = 'Lock' AND ${waiting}`);
      if (r.rowCount) break;
      if (i > 2000) throw new Error(`the change never waited (${at})`);
      await sleep(10);
    }
    return {
      change,
      letGo: async () => {
        await held.query('COMMIT');
        await held.end();
      },
    };
  }

  const policyCount = async (): Promise<number> => (await A.call('GET', '/kbs/v1/key-transfer-policies')).json.length as number;
  const auditOf = async (tokenId: string): Promise<string[]> =>
    ((await A.call('GET', '/kbs/v1/admin-audit')).json as { token_id: string | null; action: string }[]).filter((e) => e.token_id === tokenId).map((e) => e.action);

  it('expired while it waited: 401, nothing committed, no audit row', async () => {
    const m = await A.call('POST', '/kbs/v1/tokens', { body: { label: 'short', expires_in_seconds: 60 } });
    expect(m.status).toBe(201);
    const before = await policyCount();
    const { change, letGo } = await heldChange(m.json.token);
    clock += 120_000; // the token expires on the broker's clock while the change waits
    expect((await A.call('GET', '/kbs/v1/key-transfer-policies', { token: m.json.token })).status).toBe(401);
    await letGo();
    const r = await change;
    expect({ status: r.status, code: r.json?.code }, 'a change committed after its token expired').toEqual({ status: 401, code: 'ERR_KBS_UNAUTHORIZED' });
    expect(r.json.error ?? r.json.message ?? JSON.stringify(r.json)).toMatch(/expired/);
    expect(await policyCount()).toBe(before);
    expect(await auditOf(m.json.id)).toEqual([]);
  }, 60_000);

  it('still valid when the change commits: 201 (the clock read again, not a fixed margin)', async () => {
    const m = await A.call('POST', '/kbs/v1/tokens', { body: { label: 'short-2', expires_in_seconds: 60 } });
    const { change, letGo } = await heldChange(m.json.token);
    clock += 30_000; // half its life: still valid
    await letGo();
    const r = await change;
    expect(r.status).toBe(201);
    expect(await auditOf(m.json.id)).toEqual(['policy.create']);
  }, 60_000);
  it('expired while it waited for the audit-order lock (after its token row was read): 401, nothing committed (s16 r2 change review #1)', async () => {
    const m = await A.call('POST', '/kbs/v1/tokens', { body: { label: 'short-audit', expires_in_seconds: 60 } });
    expect(m.status).toBe(201);
    const before = await policyCount();
    const { change, letGo } = await heldChange(m.json.token, 'audit-order');
    clock += 120_000; // the token expires on the broker's clock while the change waits for the audit-order lock
    expect((await A.call('GET', '/kbs/v1/key-transfer-policies', { token: m.json.token })).status).toBe(401);
    await letGo();
    const r = await change;
    expect({ status: r.status, code: r.json?.code }, 'a change committed after its token expired').toEqual({ status: 401, code: 'ERR_KBS_UNAUTHORIZED' });
    expect(r.json.error ?? r.json.message ?? JSON.stringify(r.json)).toMatch(/expired/);
    expect(await policyCount()).toBe(before);
    expect(await auditOf(m.json.id)).toEqual([]);
  }, 60_000);

  it('still valid after the audit-order wait: 201', async () => {
    const m = await A.call('POST', '/kbs/v1/tokens', { body: { label: 'short-audit-2', expires_in_seconds: 60 } });
    const { change, letGo } = await heldChange(m.json.token, 'audit-order');
    clock += 30_000;
    await letGo();
    const r = await change;
    expect(r.status).toBe(201);
    expect(await auditOf(m.json.id)).toEqual(['policy.create']);
  }, 60_000);
});
