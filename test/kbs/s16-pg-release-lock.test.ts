/**
 * Session 16 finding 1 (red team, several instances on one PostgreSQL): a release in flight on
 * instance B could commit after instance A had acknowledged a move, rotation or deletion of its key
 * (the release re-read the key row without a lock), and an admin change authorised by a token could
 * commit after another instance had acknowledged the token's revocation (the token was checked
 * outside the change's transaction).
 *
 * Deterministic, no timing: a third session holds a table lock that stops the release (or the admin
 * change) at a known statement; pg_stat_activity shows when it waits there. Then the competing change
 * is started on the other instance, and the test waits until that change is either answered or itself
 * waits for a lock. Only then is the table lock released. The invariant (as on one SQLite instance):
 * no change is acknowledged while an old-state release can still commit; no change commits under a
 * token whose revocation was acknowledged.
 */
import { randomBytes } from 'node:crypto';

import pg from 'pg';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';

import { createPgDatabase, PG_SKIP_REASON, warnIfPgSkipped, type PgTestDatabase } from '../helpers/postgres.js';
import { makePlatform, newClient, startHarness, tdxPolicy, transferBody, transferPath, unwrap, type Harness } from './helpers.js';

warnIfPgSkipped('test/kbs/s16-pg-release-lock.test.ts');

const sleep = (ms: number): Promise<void> => new Promise((r) => setTimeout(r, ms));

/** The backends of this database waiting for a lock, by the start of their statement. */
async function lockWaiters(c: pg.Client): Promise<string[]> {
  await c.query('SELECT pg_stat_clear_snapshot()');
  const r = await c.query<{ q: string }>("SELECT left(query, 60) AS q FROM pg_stat_activity WHERE datname = current_database() AND wait_event_type = 'Lock' AND pid <> pg_backend_pid()");
  return r.rows.map((x) => x.q);
}

/** Polls (a bounded number of times) until `done()` says the awaited state is reached. */
async function until(what: string, done: () => Promise<boolean>): Promise<void> {
  for (let i = 0; i < 2000; i++) {
    if (await done()) return;
    await sleep(10);
  }
  throw new Error(`never reached: ${what}`);
}

describe.skipIf(PG_SKIP_REASON)('two brokers on one PostgreSQL: a change is never acknowledged under an in-flight release or a revoked token (s16 F1)', () => {
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

  const blocker = async (table: string): Promise<pg.Client> => {
    const c = new pg.Client({ connectionString: db.url });
    await c.connect();
    await c.query('BEGIN');
    await c.query(`LOCK TABLE ${table} IN SHARE MODE`);
    return c;
  };

  for (const change of ['move', 'rotate', 'delete'] as const) {
    it(`${change} on A while a release on B is about to commit: the ${change} waits for the release (or the release is refused)`, async () => {
      const material = randomBytes(32);
      const pol = await A.call('POST', '/kbs/v1/key-transfer-policies', { body: tdxPolicy(A.platform), token: tok });
      const key = await A.call('POST', '/kbs/v1/keys', { body: { key_information: { algorithm: 'AES', key_length: 256, key_data: material.toString('base64') }, transfer_policy_id: pol.json.id }, token: tok });
      expect(key.status).toBe(201);
      const keyId = key.json.id as string;
      const tight = await A.call('POST', '/kbs/v1/key-transfer-policies', { body: tdxPolicy(A.platform, { mrTd: ['00'.repeat(48)] }), token: tok });
      const nonce = await B.call('POST', transferPath(keyId), { token: null });
      expect(nonce.status).toBe(200);
      const body = transferBody(A, client, { nonce: nonce.json });

      // The release's log insert waits behind this lock (a stand-in for a slow COMMIT); the admin change never touches attestation_log.
      const held = await blocker('attestation_log');
      const order: string[] = [];
      let releaseHeld = true;
      const release = B.call('POST', transferPath(keyId), { body, token: null, headers: { 'attestation-type': 'TDX' } }).then((r) => {
        order.push('release answered');
        return r;
      });
      await until('the release waits at its log insert', async () => (await lockWaiters(held)).some((q) => q.startsWith('INSERT INTO attestation_log')));

      let answered = false;
      const ack = (
        change === 'move'
          ? A.call('PUT', `/kbs/v1/keys/${keyId}`, { body: { transfer_policy_id: tight.json.id }, token: tok })
          : change === 'rotate'
            ? A.call('PUT', `/kbs/v1/keys/${keyId}`, { body: { key_information: {} }, token: tok })
            : A.call('DELETE', `/kbs/v1/keys/${keyId}`, { token: tok })
      ).then((r) => {
        answered = true;
        order.push(`${change} answered${releaseHeld ? ' while the release was held' : ''}`);
        return r;
      });
      // Either the change was answered (before the fix) or it waits for a lock the release holds.
      await until(`the ${change} is answered or waits`, async () => answered || (await lockWaiters(held)).some((q) => !q.startsWith('INSERT INTO attestation_log')));
      const answeredWhileHeld = answered;
      releaseHeld = false;
      await held.query('COMMIT');
      await held.end();
      const [r, a] = await Promise.all([release, ack]);

      expect(answeredWhileHeld, `the ${change} was acknowledged while a release of the old state was still to commit (${order.join(', ')})`).toBe(false);
      expect(a.status).toBe(change === 'delete' ? 204 : 200);
      if (r.status === 200) {
        // The release committed before the change (which waited for it): it is the state before the change, correctly.
        expect(unwrap(client, r.json).equals(material)).toBe(true);
      } else expect(r.status).toBe(404);
      // A fresh nonce transfer after the change: the key as changed (deleted: 404; moved: the policy refuses; rotated: new material).
      const after = await B.call('POST', transferPath(keyId), { token: null });
      if (change === 'delete') expect(after.status).toBe(404);
      else {
        const r2 = await B.call('POST', transferPath(keyId), { body: transferBody(A, client, { nonce: after.json }), token: null, headers: { 'attestation-type': 'TDX' } });
        if (change === 'move') expect(r2.status).toBe(401);
        else {
          expect(r2.status).toBe(200);
          expect(unwrap(client, r2.json).equals(material)).toBe(false);
        }
      }
    }, 60_000);
  }

  it('a token revoked on B (acknowledged) while its change on A is in flight: the change is refused, nothing of it commits', async () => {
    const minted = await A.call('POST', '/kbs/v1/tokens', { body: { label: 'to-revoke' }, token: tok });
    expect(minted.status).toBe(201);
    const x = minted.json.token as string;
    const before = await A.call('GET', '/kbs/v1/key-transfer-policies', { token: tok });

    // The policy insert waits behind this lock, after the request's token check passed; a revocation touches no policy.
    const held = await blocker('policies');
    const change = A.call('POST', '/kbs/v1/key-transfer-policies', { body: tdxPolicy(A.platform), token: x });
    await until('the change waits at its policy insert', async () => (await lockWaiters(held)).some((q) => q.startsWith('INSERT INTO policies')));
    const revoked = await B.call('DELETE', `/kbs/v1/tokens/${minted.json.id}`, { token: tok });
    expect(revoked.status).toBe(204);
    await held.query('COMMIT');
    await held.end();
    const r = await change;

    expect({ status: r.status, code: r.json?.code }, 'a change committed under a token whose revocation was acknowledged').toEqual({ status: 401, code: 'ERR_KBS_UNAUTHORIZED' });
    const afterList = await A.call('GET', '/kbs/v1/key-transfer-policies', { token: tok });
    expect(afterList.json.length).toBe(before.json.length);
    const audit = await A.call('GET', '/kbs/v1/admin-audit', { token: tok });
    expect((audit.json as { token_id: string | null; action: string }[]).filter((e) => e.token_id === minted.json.id).map((e) => e.action)).toEqual([]);
  }, 60_000);

  it('a token revoking itself still works (its own row is deleted in the same transaction)', async () => {
    const minted = await A.call('POST', '/kbs/v1/tokens', { body: { label: 'self' }, token: tok });
    const self = await B.call('DELETE', `/kbs/v1/tokens/${minted.json.id}`, { token: minted.json.token });
    expect(self.status).toBe(204);
    expect((await A.call('GET', '/kbs/v1/key-transfer-policies', { token: minted.json.token })).status).toBe(401);
  }, 60_000);
});
