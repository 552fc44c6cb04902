/**
 * Review s9 K2 (a): the only trail of admin changes was a stderr line of the instance that served
 * them, so a short-lived token could re-point a key and, once expired, leave nothing in the database
 * that named it. Now every admin change (policy create / delete, key create / move / rotate / delete,
 * token mint / revoke) appends an admin_audit row in the change's own transaction, naming the admin
 * token (or the bootstrap secret, or the first start); GET /kbs/v1/admin-audit reads it, nothing in
 * the API changes it, and the database refuses UPDATE and DELETE. SQLite and PostgreSQL.
 */
import { randomBytes } from 'node:crypto';

import { afterAll, beforeAll, describe, expect, it } from 'vitest';

import type { Storage } from '../../src/storage/index.js';
import { BACKENDS, warnIfPgSkipped } from '../helpers/postgres.js';
import { registerKey, startHarness, tdxPolicy, type Harness } from './helpers.js';

warnIfPgSkipped('test/kbs/review-s9-admin-audit.test.ts');

interface Entry {
  seq: number;
  actor: string;
  token_id: string | null;
  client: string | null;
  action: string;
  object_id: string;
  detail: Record<string, unknown>;
}

describe.each(BACKENDS)('the admin audit trail on $name (review s9 K2a)', ({ name: backend, skip }) => {
  describe.skipIf(skip)('', () => {
    let h: Harness;
    let db: Storage;
    let clock = Date.now();

    beforeAll(async () => {
      h = await startHarness({ now: () => new Date(clock), bootstrapSecret: 'a-bootstrap-secret-of-length' }, undefined, backend);
      db = await h.storage();
    }, 60_000);
    afterAll(async () => h?.close());

    const audit = async (afterSeq = 0): Promise<Entry[]> => {
      const r = await h.call('GET', `/kbs/v1/admin-audit${afterSeq ? `?after_seq=${afterSeq}` : ''}`);
      expect(r.status, r.text).toBe(200);
      return r.json as Entry[];
    };
    const rowCount = async (): Promise<number> => Number((await db.get<{ n: number }>('SELECT COUNT(*) AS n FROM admin_audit'))?.n);

    it('the first-start token is in the trail', async () => {
      const [first] = await audit();
      expect(first).toMatchObject({ actor: 'first-start', token_id: null, action: 'token.mint', detail: { label: 'first-start', expires_at: null } });
    });

    it('a 60-second token re-points a key: every step is a row naming it, and the rows outlive it', async () => {
      const keyId = await registerKey(h, randomBytes(32));
      const before = (await audit()).length;
      const minted = await h.call('POST', '/kbs/v1/tokens', { body: { label: 'ci', expires_in_seconds: 60 } });
      expect(minted.status).toBe(201);
      const short: string = minted.json.token;
      const shortId: string = minted.json.id;
      const from = (await h.call('GET', `/kbs/v1/keys/${keyId}`)).json.transfer_policy_id as string;
      const pol = await h.call('POST', '/kbs/v1/key-transfer-policies', { token: short, body: { ...tdxPolicy(h.platform), mrTd: 'any', allowUnpinnedMeasurement: true } });
      expect(pol.status).toBe(201);
      const moved = await h.call('PUT', `/kbs/v1/keys/${keyId}`, { token: short, body: { transfer_policy_id: pol.json.id } });
      expect(moved.status).toBe(200);

      clock += 3600_000; // the short token has expired
      expect((await h.call('GET', '/kbs/v1/keys', { token: short })).status).toBe(401);

      const rows = (await audit()).slice(before);
      expect(rows.map((e) => [e.action, e.actor, e.token_id])).toEqual([
        ['token.mint', 'admin-token', expect.any(String)],
        ['policy.create', 'admin-token', shortId],
        ['key.move', 'admin-token', shortId],
      ]);
      expect(rows[0]).toMatchObject({ object_id: shortId, detail: { label: 'ci', expires_at: minted.json.expires_at } });
      expect(rows[1]).toMatchObject({ object_id: pol.json.id, detail: { format: 'native', document_sha256: expect.stringMatching(/^[0-9a-f]{64}$/) } });
      expect(rows[2]).toMatchObject({ object_id: keyId, client: '127.0.0.1', detail: { from_policy_id: from, to_policy_id: pol.json.id, version: 1 } });
    });

    it('rotation, deletion, revocation and the bootstrap secret are recorded too', async () => {
      const keyId = await registerKey(h, randomBytes(32));
      const seq = (await audit()).at(-1)!.seq;
      expect((await h.call('PUT', `/kbs/v1/keys/${keyId}`, { body: {} })).status).toBe(200);
      const policyId = (await h.call('GET', `/kbs/v1/keys/${keyId}`)).json.transfer_policy_id as string;
      expect((await h.call('DELETE', `/kbs/v1/keys/${keyId}`)).status).toBe(204);
      expect((await h.call('DELETE', `/kbs/v1/key-transfer-policies/${policyId}`)).status).toBe(204);
      const t = await h.call('POST', '/kbs/v1/tokens', { body: { label: 'temp' } });
      expect((await h.call('DELETE', `/kbs/v1/tokens/${t.json.id}`)).status).toBe(204);
      const boot = await h.call('POST', '/kbs/v1/token', { token: null, body: { username: 'admin', password: 'a-bootstrap-secret-of-length' }, headers: { accept: 'application/jwt' } });
      expect(boot.status, boot.text).toBe(200);

      const rows = await audit(seq);
      expect(rows.map((e) => [e.action, e.object_id])).toEqual([
        ['key.rotate', keyId],
        ['key.delete', keyId],
        ['policy.delete', policyId],
        ['token.mint', t.json.id],
        ['token.revoke', t.json.id],
        ['token.mint', expect.any(String)],
      ]);
      expect(rows[0]!.detail).toEqual({ from_policy_id: policyId, to_policy_id: policyId, version: 2 });
      expect(rows[4]!.detail).toEqual({ label: 'temp', expires_at: null, scopes: ['keys', 'policies', 'read', 'tokens'] });
      expect(rows[5]).toMatchObject({ actor: 'bootstrap-secret', token_id: null, detail: { label: 'bootstrap' } });
    });

    it('a refused change leaves no row (a policy still in use cannot be deleted)', async () => {
      const keyId = await registerKey(h, randomBytes(32));
      const policyId = (await h.call('GET', `/kbs/v1/keys/${keyId}`)).json.transfer_policy_id as string;
      const n = await rowCount();
      expect((await h.call('DELETE', `/kbs/v1/key-transfer-policies/${policyId}`)).status).toBe(409);
      expect(await rowCount()).toBe(n);
    });

    it('the change and its row commit together: when the row cannot be written, the change is rolled back', async () => {
      // A second connection makes every audit insert fail (only a database writer can do this).
      if (backend === 'sqlite') await db.exec("CREATE TRIGGER s9_fail BEFORE INSERT ON admin_audit BEGIN SELECT RAISE(ABORT, 's9 audit insert refused'); END;");
      else {
        await db.exec("CREATE FUNCTION s9_fail() RETURNS trigger LANGUAGE plpgsql AS $$ BEGIN RAISE EXCEPTION 's9 audit insert refused'; END $$;");
        await db.exec('CREATE TRIGGER s9_fail BEFORE INSERT ON admin_audit FOR EACH ROW EXECUTE FUNCTION s9_fail();');
      }
      try {
        const policies = (await h.call('GET', '/kbs/v1/key-transfer-policies')).json.length as number;
        const r = await h.call('POST', '/kbs/v1/key-transfer-policies', { body: tdxPolicy(h.platform) });
        expect(r.status).toBeGreaterThanOrEqual(500);
        expect((await h.call('GET', '/kbs/v1/key-transfer-policies')).json).toHaveLength(policies);
        const tokens = (await h.call('GET', '/kbs/v1/tokens')).json.length as number;
        expect((await h.call('POST', '/kbs/v1/tokens', { body: {} })).status).toBeGreaterThanOrEqual(500);
        expect((await h.call('GET', '/kbs/v1/tokens')).json).toHaveLength(tokens);
      } finally {
        await db.exec(backend === 'sqlite' ? 'DROP TRIGGER s9_fail' : 'DROP TRIGGER s9_fail ON admin_audit; DROP FUNCTION s9_fail();');
      }
    });

    it('the API only reads the trail; the database refuses UPDATE and DELETE', async () => {
      for (const method of ['POST', 'PUT', 'DELETE'] as const) expect((await h.call(method, '/kbs/v1/admin-audit', method === 'DELETE' ? {} : { body: {} })).status).toBe(404);
      const [first] = await audit();
      expect((await h.call('DELETE', `/kbs/v1/admin-audit/${first!.seq}`)).status).toBe(404);
      expect((await h.call('GET', '/kbs/v1/admin-audit?after_seq=x')).status).toBe(400);
      expect((await h.call('GET', '/kbs/v1/admin-audit', { token: null })).status).toBe(401);
      await expect(db.run("UPDATE admin_audit SET token_id = 'someone-else'")).rejects.toThrow(/append-only/);
      await expect(db.run('DELETE FROM admin_audit')).rejects.toThrow(/append-only/);
      if (backend === 'postgres') await expect(db.run('TRUNCATE admin_audit')).rejects.toThrow(/append-only/);
      expect((await audit())[0]).toEqual(first);
    });
  });
});
