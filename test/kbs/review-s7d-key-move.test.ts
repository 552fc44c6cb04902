/**
 * Review s7d, item 1 (data loss): `PUT /kbs/v1/keys/{id}` with only `transfer_policy_id` — what
 * docs/kbs.md tells operators to send to move a key to another policy — used to rotate the key
 * (generated material, version 2), so models encrypted under it no longer decrypted. Now it moves:
 * the same material under the same version, re-sealed to the new policy, which alone releases it.
 * Rotation (`{}` or `key_information`) still makes new material.
 */
import { randomBytes } from 'node:crypto';

import { afterAll, beforeAll, describe, expect, it } from 'vitest';

import type { Storage } from '../../src/storage/index.js';
import { BACKENDS, warnIfPgSkipped } from '../helpers/postgres.js';
import { mrTdHex, newClient, quoteFor, sha512, startHarness, tdxPolicy, transferPath, unwrap, type Client, type Harness } from './helpers.js';

warnIfPgSkipped('test/kbs/review-s7d-key-move.test.ts');

const OTHER_MRTD = Buffer.alloc(48, 0x5a);

describe.each(BACKENDS)('moving a key to another policy on $name (review s7d)', ({ name: backend, skip }) => {
  describe.skipIf(skip)('', () => {
    let h: Harness;
    let db: Storage;
    const logs: string[] = [];
    let client: Client;

    beforeAll(async () => {
      h = await startHarness({ log: (l) => logs.push(l), rateLimit: { burst: 1000, perSecond: 1000 } }, undefined, backend);
      db = await h.storage();
      client = newClient(2048);
    }, 60_000);
    afterAll(async () => h?.close());

    const createPolicy = async (policy: unknown): Promise<string> => {
      const r = await h.call('POST', '/kbs/v1/key-transfer-policies', { body: policy });
      expect(r.status, r.text).toBe(201);
      return r.json.id as string;
    };
    const createKey = async (policyId: string, material: Buffer): Promise<string> => {
      const r = await h.call('POST', '/kbs/v1/keys', { body: { key_information: { algorithm: 'AES', key_length: 256, key_data: material.toString('base64') }, transfer_policy_id: policyId } });
      expect(r.status, r.text).toBe(201);
      return r.json.id as string;
    };
    /** A transfer with a genuine quote of this platform whose MRTD is `mrTd` (default: the platform's). */
    const transfer = (keyId: string, mrTd?: Buffer) => {
      const quote = quoteFor(h.platform, sha512(client.spkiDer), mrTd ? { mrTd } : {});
      return h.call('POST', transferPath(keyId), { body: { quote: quote.toString('base64'), user_data: client.userData }, headers: { 'attestation-type': 'TDX' }, token: null });
    };

    it('PUT with only transfer_policy_id: the same material and version under the new policy; the old policy no longer releases', async () => {
      expect(mrTdHex(h.platform)).not.toBe(OTHER_MRTD.toString('hex'));
      const material = randomBytes(32);
      const oldPolicy = await createPolicy(tdxPolicy(h.platform));
      const newPolicy = await createPolicy(tdxPolicy(h.platform, { mrTd: [OTHER_MRTD.toString('hex')] }));
      const keyId = await createKey(oldPolicy, material);
      // Before the move: the old policy (the platform's MRTD) releases, the new one's MRTD is refused.
      const before = await transfer(keyId);
      expect(before.status, before.text).toBe(200);
      expect(unwrap(client, before.json).equals(material)).toBe(true);
      expect((await transfer(keyId, OTHER_MRTD)).json.code).toBe('ERR_KBS_POLICY');

      const moved = await h.call('PUT', `/kbs/v1/keys/${keyId}`, { body: { transfer_policy_id: newPolicy } });
      expect(moved.status, moved.text).toBe(200);
      expect(moved.json).toMatchObject({ id: keyId, transfer_policy_id: newPolicy, key_info: { algorithm: 'AES', key_length: 256, version: 1 } });
      expect(logs.some((l) => l.includes(`key ${keyId} moved from policy ${oldPolicy} to policy ${newPolicy}`))).toBe(true);
      // The audit trail names the admin token that made each change (created, then moved).
      const tokenId = ((await h.call('GET', '/kbs/v1/tokens')).json as { id: string }[])[0]!.id;
      expect(logs).toContainEqual(`tee-kbs: key ${keyId} created under policy ${oldPolicy} by admin token ${tokenId}`);
      expect(logs.some((l) => l.startsWith(`tee-kbs: key ${keyId} moved from policy ${oldPolicy}`) && l.endsWith(`by admin token ${tokenId}`))).toBe(true);

      // After: the new policy releases the SAME material; what only the old policy admitted is refused.
      const after = await transfer(keyId, OTHER_MRTD);
      expect(after.status, after.text).toBe(200);
      expect(unwrap(client, after.json).equals(material)).toBe(true);
      const old = await transfer(keyId);
      expect({ status: old.status, code: old.json.code }).toEqual({ status: 401, code: 'ERR_KBS_POLICY' });
      expect(old.json).not.toHaveProperty('wrapped_key');
      expect((await h.call('GET', `/kbs/v1/keys/${keyId}`)).json).toMatchObject({ transfer_policy_id: newPolicy, key_info: { version: 1 } });
      // The old policy is free: the key left it.
      expect((await h.call('DELETE', `/kbs/v1/key-transfer-policies/${oldPolicy}`)).status).toBe(204);
      // The row is sealed to the new policy: pointed back at the old one through the database, it does not open.
      const back = await createPolicy(tdxPolicy(h.platform));
      await db.run('UPDATE keys SET policy_id = ? WHERE id = ?', [back, keyId]);
      expect((await transfer(keyId)).json.code).toBe('ERR_KBS_INTEGRITY');
    });

    it('rotation still makes new material: PUT {} (generated), PUT key_information with a policy (given, moved too)', async () => {
      const material = randomBytes(32);
      const policy = await createPolicy(tdxPolicy(h.platform));
      const other = await createPolicy(tdxPolicy(h.platform, { mrTd: [OTHER_MRTD.toString('hex')] }));
      const keyId = await createKey(policy, material);
      const rotated = await h.call('PUT', `/kbs/v1/keys/${keyId}`, { body: {} });
      expect(rotated.status, rotated.text).toBe(200);
      expect(rotated.json.key_info.version).toBe(2);
      const generated = unwrap(client, (await transfer(keyId)).json);
      expect(generated.length).toBe(32);
      expect(generated.equals(material)).toBe(false);
      const given = randomBytes(16);
      const both = await h.call('PUT', `/kbs/v1/keys/${keyId}`, { body: { transfer_policy_id: other, key_information: { algorithm: 'AES', key_length: 128, key_data: given.toString('base64') } } });
      expect(both.status, both.text).toBe(200);
      expect(both.json).toMatchObject({ transfer_policy_id: other, key_info: { key_length: 128, version: 3 } });
      expect(unwrap(client, (await transfer(keyId, OTHER_MRTD)).json).equals(given)).toBe(true);
      // key_information without key_data: generated material of that length, a rotation too.
      const again = await h.call('PUT', `/kbs/v1/keys/${keyId}`, { body: { key_information: {} } });
      expect(again.json.key_info).toMatchObject({ key_length: 256, version: 4 });
      const tokenId = ((await h.call('GET', '/kbs/v1/tokens')).json as { id: string }[])[0]!.id;
      expect(logs).toContainEqual(`tee-kbs: key ${keyId} rotated to version 2 (new material) by admin token ${tokenId}`);
      expect(logs).toContainEqual(`tee-kbs: key ${keyId} rotated to version 3 and moved to policy ${other} (new material) by admin token ${tokenId}`);
      expect((await h.call('DELETE', `/kbs/v1/keys/${keyId}`)).status).toBe(204);
      expect(logs).toContainEqual(`tee-kbs: key ${keyId} deleted by admin token ${tokenId}`);
    });

    it('a move to a policy that does not exist is 400 and changes nothing; an unknown key is 404', async () => {
      const material = randomBytes(32);
      const policy = await createPolicy(tdxPolicy(h.platform));
      const keyId = await createKey(policy, material);
      const r = await h.call('PUT', `/kbs/v1/keys/${keyId}`, { body: { transfer_policy_id: '00000000-0000-4000-8000-000000000000' } });
      expect({ status: r.status, code: r.json.code }).toEqual({ status: 400, code: 'ERR_KBS_BAD_REQUEST' });
      expect(unwrap(client, (await transfer(keyId)).json).equals(material)).toBe(true);
      const unknown = await h.call('PUT', '/kbs/v1/keys/00000000-0000-4000-8000-000000000001', { body: { transfer_policy_id: policy } });
      expect(unknown.status).toBe(404);
    });

    it('a key whose current policy row fails its integrity check is not moved (ERR_KBS_INTEGRITY), nor re-sealed', async () => {
      const material = randomBytes(32);
      const policy = await createPolicy(tdxPolicy(h.platform));
      const target = await createPolicy(tdxPolicy(h.platform));
      const keyId = await createKey(policy, material);
      const row = await db.get<{ mac: string }>('SELECT mac FROM policies WHERE id = ?', [policy]);
      await db.run('UPDATE policies SET mac = NULL WHERE id = ?', [policy]);
      const r = await h.call('PUT', `/kbs/v1/keys/${keyId}`, { body: { transfer_policy_id: target } });
      expect({ status: r.status, code: r.json.code }).toEqual({ status: 500, code: 'ERR_KBS_INTEGRITY' });
      expect((await h.call('GET', `/kbs/v1/keys/${keyId}`)).json.transfer_policy_id).toBe(policy);
      // With the MAC restored the key is where it was, with its material.
      await db.run('UPDATE policies SET mac = ? WHERE id = ?', [row!.mac, policy]);
      expect(unwrap(client, (await transfer(keyId)).json).equals(material)).toBe(true);
    });
  });
});
