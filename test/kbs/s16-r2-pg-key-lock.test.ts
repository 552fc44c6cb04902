/**
 * Session 16 change review #1 (medium): a release locked its key row FOR SHARE, and PostgreSQL lets a new FOR SHARE
 * locker take a row past a FOR UPDATE or DELETE already waiting for it. So a release that began after a move,
 * rotation or deletion was waiting still released the old state, and a stream of overlapping releases held the
 * change off until statement_timeout (503). Now every transaction on a key takes the key's advisory lock first
 * (shared for a release, exclusive for a change), which PostgreSQL queues fairly: a release that arrives after a
 * waiting change is served after it and sees it (404, or the new version); the change waits only for the releases
 * that began before it.
 *
 * Deterministic, no timing: a third session's table lock holds the first release at its log insert; pg_stat_activity
 * shows when each participant waits for a lock. Each later release is started only once everything before it waits.
 */
import { randomBytes } from 'node:crypto';

import pg from 'pg';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';

import { createPgDatabase, PG_SKIP_REASON, warnIfPgSkipped, type PgTestDatabase } from '../helpers/postgres.js';
import { makePlatform, newClient, startHarness, tdxPolicy, transferBody, transferPath, unwrap, type Harness } from './helpers.js';

warnIfPgSkipped('test/kbs/s16-r2-pg-key-lock.test.ts');

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

type Answer = { status: number; json: any };

describe.skipIf(PG_SKIP_REASON)('two brokers on one PostgreSQL: a release never overtakes a waiting move, rotation or deletion (s16 change review #1)', () => {
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

  async function makeKey(): Promise<{ keyId: string; material: Buffer; tight: string }> {
    const material = randomBytes(32);
    const pol = await A.call('POST', '/kbs/v1/key-transfer-policies', { body: tdxPolicy(A.platform), token: tok });
    const key = await A.call('POST', '/kbs/v1/keys', { body: { key_information: { algorithm: 'AES', key_length: 256, key_data: material.toString('base64') }, transfer_policy_id: pol.json.id }, token: tok });
    expect(key.status).toBe(201);
    const tight = await A.call('POST', '/kbs/v1/key-transfer-policies', { body: tdxPolicy(A.platform, { mrTd: ['00'.repeat(48)] }), token: tok });
    return { keyId: key.json.id as string, material, tight: tight.json.id as string };
  }
  /** A nonce, then the release, both on B. */
  const release = async (keyId: string): Promise<Answer> => {
    const n = await B.call('POST', transferPath(keyId), { token: null });
    expect(n.status).toBe(200);
    return B.call('POST', transferPath(keyId), { body: transferBody(A, client, { nonce: n.json }), token: null, headers: { 'attestation-type': 'TDX' } });
  };
  const changeOn = (change: 'move' | 'rotate' | 'delete', keyId: string, tight: string): Promise<Answer> =>
    change === 'move'
      ? A.call('PUT', `/kbs/v1/keys/${keyId}`, { body: { transfer_policy_id: tight }, token: tok })
      : change === 'rotate'
        ? A.call('PUT', `/kbs/v1/keys/${keyId}`, { body: { key_information: {} }, token: tok })
        : A.call('DELETE', `/kbs/v1/keys/${keyId}`, { token: tok });

  /**
   * R1 held at its log insert; then the change, once it waits; then `later` releases, each started once everything
   * before it waits for a lock (overlapping releases in flight). Then the hold is let go.
   */
  async function scenario(change: 'move' | 'rotate' | 'delete', later: number): Promise<{ material: Buffer; r1: Answer; ch: Answer; rest: Answer[] }> {
    const { keyId, material, tight } = await makeKey();
    const held = new pg.Client({ connectionString: db.url });
    await held.connect();
    await held.query('BEGIN');
    await held.query('LOCK TABLE attestation_log IN SHARE MODE');
    const r1 = release(keyId);
    await until('R1 waits at its log insert', async () => (await lockWaiters(held)).filter((q) => q.startsWith('INSERT INTO attestation_log')).length === 1);
    let chAnswered = false;
    const ch = changeOn(change, keyId, tight).then((r) => ((chAnswered = true), r));
    await until(`the ${change} waits for a lock`, async () => (await lockWaiters(held)).length === 2);
    expect(chAnswered, `the ${change} was answered while R1 was held`).toBe(false);
    const rest: Promise<Answer>[] = [];
    for (let i = 0; i < later; i++) {
      // Started only now: the change is already waiting. Before the fix it got its FOR SHARE past the waiting change
      // and waited at the log insert beside R1; now it waits for the key lock behind the change. Either way, a lock wait.
      rest.push(release(keyId));
      await until(`later release ${i + 1} waits for a lock`, async () => (await lockWaiters(held)).length === 3 + i);
    }
    await held.query('COMMIT');
    await held.end();
    const [a1, c, ...others] = await Promise.all([r1, ch, ...rest]);
    return { material, r1: a1 as Answer, ch: c as Answer, rest: others as Answer[] };
  }

  for (const change of ['move', 'rotate', 'delete'] as const) {
    it(`a release that begins while a ${change} waits is served after the ${change} and sees it`, async () => {
      const { material, r1, ch, rest } = await scenario(change, 1);
      // R1 began before the change: it commits first, with the state before the change (F1 of round 1).
      expect(r1.status).toBe(200);
      expect(unwrap(client, r1.json).equals(material)).toBe(true);
      expect(ch.status).toBe(change === 'delete' ? 204 : 200);
      const r2 = rest[0] as Answer;
      if (change === 'rotate') {
        // The new version, never the old material.
        expect(r2.status).toBe(200);
        expect(unwrap(client, r2.json).equals(material), 'a release that began after the rotation was waiting released the old material').toBe(false);
      } else {
        expect({ status: r2.status, code: r2.json?.code }, `a release that began after the ${change} was waiting released the old state`).toEqual({ status: 404, code: 'ERR_KBS_NOT_FOUND' });
      }
    }, 120_000);
  }

  it('a move waits only for the releases that began before it: a stream of overlapping releases after it is served after it', async () => {
    const { material, r1, ch, rest } = await scenario('move', 3);
    expect(r1.status).toBe(200);
    expect(unwrap(client, r1.json).equals(material)).toBe(true);
    expect(ch.status).toBe(200);
    // Each later release overlapped the ones before it (all in flight at once). Before the fix each got the row past
    // the waiting move (so an unending stream held the move off until statement_timeout); now each comes after it.
    expect(rest.map((r) => `${r.status} ${r.json?.code ?? ''}`)).toEqual(['404 ERR_KBS_NOT_FOUND', '404 ERR_KBS_NOT_FOUND', '404 ERR_KBS_NOT_FOUND']);
  }, 120_000);
});
