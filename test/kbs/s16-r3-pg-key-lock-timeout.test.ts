/**
 * Session 16 round-2 change review #2 (low, availability): since the per-key advisory lock (ce576d4), a release that
 * begins while a move, rotation or deletion waits for the key's exclusive lock waits behind that change. A change
 * queued behind a stalled release (a frozen instance mid-transaction) so held every later release of the key until the
 * change's statement_timeout (30 s), and then failed with 503 anyway; before ce576d4 those releases went through. Now a
 * change waits for the exclusive key lock at most KEY_CHANGE_LOCK_TIMEOUT_MS (lock_timeout), then fails with the
 * retryable 503 ERR_KBS_STORAGE_UNAVAILABLE, nothing changed, and the releases queued behind it go on.
 *
 * Deterministic, no timed assertion: a third session's row lock on R1's nonce holds release R1 open (it already holds
 * the key's shared lock); pg_stat_activity shows who waits. The move's answer and R2's are asserted while R1 is still
 * held: on the code before, the move waited until R1's own statement_timeout ended R1 and then moved the key.
 */
import { randomBytes } from 'node:crypto';

import pg from 'pg';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';

import { KEY_CHANGE_LOCK_TIMEOUT_MS } from '../../src/kbs/store.js';
import { createPgDatabase, PG_SKIP_REASON, warnIfPgSkipped, type PgTestDatabase } from '../helpers/postgres.js';
import { makePlatform, newClient, startHarness, tdxPolicy, transferBody, transferPath, unwrap, type Harness } from './helpers.js';

warnIfPgSkipped('test/kbs/s16-r3-pg-key-lock-timeout.test.ts');

const sleep = (ms: number): Promise<void> => new Promise((r) => setTimeout(r, ms));

/** The backends of this database waiting for a lock, by the start of their statement. */
async function lockWaiters(c: pg.Client): Promise<string[]> {
  await c.query('SELECT pg_stat_clear_snapshot()');
  const r = await c.query<{ q: string }>("SELECT left(query, 60) AS q FROM pg_stat_activity WHERE datname = current_database() AND wait_event_type = 'Lock' AND pid <> pg_backend_pid()");
  return r.rows.map((x) => x.q);
}

/** Polls (a bounded number of times) until `done()` says the awaited state is reached. */
async function until(what: string, done: () => Promise<boolean>): Promise<void> {
  for (let i = 0; i < 3000; i++) {
    if (await done()) return;
    await sleep(10);
  }
  throw new Error(`never reached: ${what}`);
}

type Answer = { status: number; json: any; headers: Record<string, unknown> };

describe.skipIf(PG_SKIP_REASON)('a change waits for the releases in flight a bounded time, then lets the releases behind it go on (s16 r2 change review #2)', () => {
  let db: PgTestDatabase;
  let A: Harness;
  let B: Harness;
  let tok = '';
  const client = newClient(2048);

  beforeAll(async () => {
    db = await createPgDatabase();
    const platform = makePlatform();
    const o = { allowNoNonce: false, env: { TEE_KBS_MASTER_KEY: randomBytes(32).toString('base64') }, rateLimit: { burst: 100_000, perSecond: 100_000 } };
    A = await startHarness(o, platform, 'postgres', db.url);
    B = await startHarness(o, platform, 'postgres', db.url);
    tok = A.token || B.token;
  }, 60_000);
  afterAll(async () => {
    await A?.close();
    await B?.close();
    await db?.drop();
  });

  it('the bound is a few seconds, well below statement_timeout (30 s)', () => {
    expect(KEY_CHANGE_LOCK_TIMEOUT_MS).toBeGreaterThanOrEqual(1000);
    expect(KEY_CHANGE_LOCK_TIMEOUT_MS).toBeLessThanOrEqual(10_000);
  });

  it('a move behind a stalled release fails with 503 while that release is still held; a release begun meanwhile goes through', async () => {
    const material = randomBytes(32);
    const pol = await A.call('POST', '/kbs/v1/key-transfer-policies', { body: tdxPolicy(A.platform), token: tok });
    const key = await A.call('POST', '/kbs/v1/keys', { body: { key_information: { algorithm: 'AES', key_length: 256, key_data: material.toString('base64') }, transfer_policy_id: pol.json.id }, token: tok });
    expect(key.status).toBe(201);
    const keyId = key.json.id as string;
    const tight = await A.call('POST', '/kbs/v1/key-transfer-policies', { body: tdxPolicy(A.platform, { mrTd: ['00'.repeat(48)] }), token: tok });
    const nonceOf = async (): Promise<any> => {
      const n = await B.call('POST', transferPath(keyId), { token: null });
      expect(n.status).toBe(200);
      return n.json;
    };
    const releaseWith = (nonce: any): Promise<Answer> => B.call('POST', transferPath(keyId), { body: transferBody(A, client, { nonce }), token: null, headers: { 'attestation-type': 'TDX' } });

    // R1: its nonce row is locked by a third session, so R1 stalls at its nonce consumption, holding the key's shared lock.
    const n1 = await nonceOf();
    const held = new pg.Client({ connectionString: db.url });
    held.on('error', () => {}); // a failed run drops the database under it
    await held.connect();
    await held.query('BEGIN');
    expect((await held.query('SELECT val FROM nonces WHERE key_id = $1 AND consumed_at IS NULL FOR UPDATE', [keyId])).rowCount).toBe(1);
    let r1Answered = false;
    const r1 = releaseWith(n1).then((r) => ((r1Answered = true), r));
    await until('R1 waits at its nonce', async () => (await lockWaiters(held)).some((q) => q.startsWith('UPDATE nonces')));

    // The move queues for the key's exclusive lock behind R1.
    let moveAnswered = false;
    const move = A.call('PUT', `/kbs/v1/keys/${keyId}`, { body: { transfer_policy_id: tight.json.id }, token: tok }).then((r) => ((moveAnswered = true), r));
    await until('the move waits for the key lock', async () => (await lockWaiters(held)).some((q) => q.includes('pg_advisory_xact_lock(')));

    // R2 begins while the move waits (its nonce is its own row, not the locked one): it queues behind the move.
    const n2 = await nonceOf();
    const r2 = releaseWith(n2);
    await until('R2 waits behind the move, or the move was answered', async () => moveAnswered || (await lockWaiters(held)).some((q) => q.includes('pg_advisory_xact_lock_shared(')));

    const mv = await move;
    // R1 is still held: the move gave up after its bound, it did not outlast R1.
    expect(r1Answered, 'the move was answered only after the stalled release ended').toBe(false);
    expect((await lockWaiters(held)).some((q) => q.startsWith('UPDATE nonces')), 'R1 still waits at its nonce').toBe(true);
    expect({ status: mv.status, code: mv.json?.code }).toEqual({ status: 503, code: 'ERR_KBS_STORAGE_UNAVAILABLE' });
    expect(mv.headers['retry-after']).toBe('5');
    expect(mv.json.error ?? mv.json.message ?? JSON.stringify(mv.json)).toMatch(/releases of this key in flight did not finish/);
    // R2 goes through while R1 is still held: the key was not moved.
    const a2 = await r2;
    expect(a2.status).toBe(200);
    expect(unwrap(client, a2.json).equals(material)).toBe(true);
    expect(r1Answered).toBe(false);

    // R1 let go: it releases too (the key is where it was), and the move, retried, goes through.
    await held.query('COMMIT');
    await held.end();
    const a1 = await r1;
    expect(a1.status).toBe(200);
    expect(unwrap(client, a1.json).equals(material)).toBe(true);
    const audit = ((await A.call('GET', '/kbs/v1/admin-audit')).json as { action: string; object_id: string }[]).filter((e) => e.object_id === keyId).map((e) => e.action);
    expect(audit, 'the refused move left no audit row').toEqual(['key.create']);
    const again = await A.call('PUT', `/kbs/v1/keys/${keyId}`, { body: { transfer_policy_id: tight.json.id }, token: tok });
    expect(again.status).toBe(200);
    const r3 = await releaseWith(await nonceOf());
    expect(r3.status).toBe(401); // the tight policy pins another MRTD
  }, 120_000);
});
