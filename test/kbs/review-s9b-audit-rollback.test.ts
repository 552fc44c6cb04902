/**
 * Review s9 changes (a): the rollback of an admin change whose audit row cannot be written was
 * tested only for policy creation and token minting. Here every other audited change: key create,
 * move, rotate and delete, policy delete, token revoke. A database writer makes every admin_audit
 * insert fail; each change must then answer an error and leave the database as it was (the change
 * and its row commit together or not at all). SQLite and PostgreSQL.
 */
import { randomBytes } from 'node:crypto';

import { afterAll, afterEach, beforeAll, beforeEach, describe, expect, it } from 'vitest';

import type { Storage } from '../../src/storage/index.js';
import { BACKENDS, warnIfPgSkipped } from '../helpers/postgres.js';
import { registerKey, startHarness, tdxPolicy, type Harness } from './helpers.js';

warnIfPgSkipped('test/kbs/review-s9b-audit-rollback.test.ts');

interface KeyView {
  id: string;
  key_info: { version: number };
  transfer_policy_id: string;
}

describe.each(BACKENDS)('an admin change whose audit row fails is rolled back, on $name (review s9 changes a)', ({ name: backend, skip }) => {
  describe.skipIf(skip)('', () => {
    let h: Harness;
    let db: Storage;

    beforeAll(async () => {
      h = await startHarness({}, undefined, backend);
      db = await h.storage();
    }, 60_000);
    afterAll(async () => h?.close());

    /** Through a second connection (only a database writer can do this): every audit insert fails. */
    const failAudits = async (): Promise<void> => {
      if (backend === 'sqlite') await db.exec("CREATE TRIGGER s9b_fail BEFORE INSERT ON admin_audit BEGIN SELECT RAISE(ABORT, 's9b audit insert refused'); END;");
      else {
        await db.exec("CREATE FUNCTION s9b_fail() RETURNS trigger LANGUAGE plpgsql AS $$ BEGIN RAISE EXCEPTION 's9b audit insert refused'; END $$;");
        await db.exec('CREATE TRIGGER s9b_fail BEFORE INSERT ON admin_audit FOR EACH ROW EXECUTE FUNCTION s9b_fail();');
      }
    };
    const auditRows = async (): Promise<number> => Number((await db.get<{ n: number | string }>('SELECT COUNT(*) AS n FROM admin_audit'))?.n);
    const key = async (id: string): Promise<{ status: number; view?: KeyView }> => {
      const r = await h.call('GET', `/kbs/v1/keys/${id}`);
      return { status: r.status, ...(r.status === 200 ? { view: r.json as KeyView } : {}) };
    };
    /** The key's stored row as it is in the database (sealed material included). */
    const keyRow = (id: string) => db.get<Record<string, unknown>>('SELECT id, policy_id, version, iv, ciphertext, tag, rotated_at FROM keys WHERE id = ?', [id]);
    const newPolicy = async (): Promise<string> => {
      const r = await h.call('POST', '/kbs/v1/key-transfer-policies', { body: tdxPolicy(h.platform) });
      expect(r.status, r.text).toBe(201);
      return r.json.id as string;
    };

    // Made while audits still work (each is an audited change itself): a key, a policy no key uses, a read-only token.
    let keyId: string;
    let spare: string;
    let token: { id: string; token: string };
    let rowsBefore: number;
    beforeEach(async () => {
      keyId = await registerKey(h, randomBytes(32));
      spare = await newPolicy();
      const minted = await h.call('POST', '/kbs/v1/tokens', { body: { label: 'to-revoke', scopes: ['read'] } });
      expect(minted.status, minted.text).toBe(201);
      token = minted.json as { id: string; token: string };
      rowsBefore = await auditRows();
      await failAudits();
    });
    afterEach(async () => {
      await db.exec(backend === 'sqlite' ? 'DROP TRIGGER s9b_fail' : 'DROP TRIGGER s9b_fail ON admin_audit; DROP FUNCTION s9b_fail();');
      expect(await auditRows()).toBe(rowsBefore);
    });

    it('key create', async () => {
      const policyId = (await key(keyId)).view!.transfer_policy_id;
      const keys = (await h.call('GET', '/kbs/v1/keys')).json.length as number;
      const r = await h.call('POST', '/kbs/v1/keys', { body: { key_information: { algorithm: 'AES', key_length: 256 }, transfer_policy_id: policyId } });
      expect(r.status, r.text).toBeGreaterThanOrEqual(500);
      expect((await h.call('GET', '/kbs/v1/keys')).json).toHaveLength(keys);
    });

    it('key move', async () => {
      const before = await keyRow(keyId);
      const r = await h.call('PUT', `/kbs/v1/keys/${keyId}`, { body: { transfer_policy_id: spare } });
      expect(r.status, r.text).toBeGreaterThanOrEqual(500);
      expect(await keyRow(keyId)).toEqual(before);
      expect((await key(keyId)).view!.transfer_policy_id).toBe(before!['policy_id']);
    });

    it('key rotate', async () => {
      const before = await keyRow(keyId);
      const r = await h.call('PUT', `/kbs/v1/keys/${keyId}`, { body: {} });
      expect(r.status, r.text).toBeGreaterThanOrEqual(500);
      expect(await keyRow(keyId)).toEqual(before);
      expect((await key(keyId)).view!.key_info.version).toBe(1);
    });

    it('key delete', async () => {
      const r = await h.call('DELETE', `/kbs/v1/keys/${keyId}`);
      expect(r.status, r.text).toBeGreaterThanOrEqual(500);
      expect((await key(keyId)).status).toBe(200);
    });

    it('policy delete', async () => {
      // No key uses it: the only thing that can stop its deletion here is the audit row.
      const r = await h.call('DELETE', `/kbs/v1/key-transfer-policies/${spare}`);
      expect(r.status, r.text).toBeGreaterThanOrEqual(500);
      expect((await h.call('GET', `/kbs/v1/key-transfer-policies/${spare}`)).status).toBe(200);
    });

    it('token revoke', async () => {
      const r = await h.call('DELETE', `/kbs/v1/tokens/${token.id}`);
      expect(r.status, r.text).toBeGreaterThanOrEqual(500);
      expect(((await h.call('GET', '/kbs/v1/tokens')).json as { id: string }[]).map((t) => t.id)).toContain(token.id);
      expect((await h.call('GET', '/kbs/v1/keys', { token: token.token })).status).toBe(200);
    });
  });
});
