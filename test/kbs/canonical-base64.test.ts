/**
 * The key broker reads base64 strictly and canonically, as the gateway and the attestation service
 * do (review s8 changes-a #3): the transfer body's quote / user_data and an admin's key_data have
 * one spelling each (the unused bits of the last character are zero), so a value cannot be sent
 * in two forms that decode alike.
 */
import { randomBytes } from 'node:crypto';

import { afterAll, beforeAll, describe, expect, it } from 'vitest';

import { newClient, registerKey, startHarness, tdxPolicy, transferBody, transferPath, unwrap, type Client, type Harness } from './helpers.js';

/** The same bytes, spelled with non-zero unused bits in the last character before the padding. */
function nonCanonical(b64: string): string {
  const pad = b64.length - b64.replace(/=+$/, '').length;
  expect(pad).toBeGreaterThan(0); // only a padded text has unused bits
  const i = b64.length - pad - 1;
  const alphabet = 'ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/';
  const bumped = alphabet[alphabet.indexOf(b64[i]!) + 1]!;
  const out = b64.slice(0, i) + bumped + b64.slice(i + 1);
  expect(Buffer.from(out, 'base64').equals(Buffer.from(b64, 'base64'))).toBe(true);
  return out;
}

describe('key broker: canonical base64 only', () => {
  let h: Harness;
  let client: Client;
  beforeAll(async () => {
    h = await startHarness({ rateLimit: { burst: 1000, perSecond: 1000 } });
    client = newClient(3072);
  }, 60_000);
  afterAll(async () => h?.close());

  it('a transfer whose user_data is spelled non-canonically is 400; canonical, the key is released', async () => {
    // A 3072-bit SPKI is 422 bytes: its base64 ends in padding.
    const material = randomBytes(32);
    const id = await registerKey(h, material);
    const body = transferBody(h, client) as { quote: string; user_data: string };
    expect(body.user_data).toBe(client.userData);
    const refused = await h.call('POST', transferPath(id), { body: { ...body, user_data: nonCanonical(body.user_data) }, headers: { 'attestation-type': 'TDX' }, token: null });
    expect(refused.status, refused.text).toBe(400);
    expect(refused.json.code).toBe('ERR_KBS_BAD_REQUEST');
    expect(refused.text).toContain('canonical');
    const ok = await h.call('POST', transferPath(id), { body, headers: { 'attestation-type': 'TDX' }, token: null });
    expect(ok.status, ok.text).toBe(200);
    expect(unwrap(client, ok.json).equals(material)).toBe(true);
  });

  it("an admin's key_data spelled non-canonically is 400; unpadded and padded canonical forms are taken", async () => {
    const policy = await h.call('POST', '/kbs/v1/key-transfer-policies', { body: tdxPolicy(h.platform) });
    expect(policy.status, policy.text).toBe(201);
    const pid = policy.json.id as string;
    const material = randomBytes(32); // 32 bytes: 43 characters and one '='
    const padded = material.toString('base64');
    const post = (keyData: string) => h.call('POST', '/kbs/v1/keys', { body: { transfer_policy_id: pid, key_information: { algorithm: 'AES', key_length: 256, key_data: keyData } } });
    const refused = await post(nonCanonical(padded));
    expect(refused.status, refused.text).toBe(400);
    expect(refused.text).toContain('canonical');
    expect((await post(padded)).status).toBe(201);
    expect((await post(padded.replace(/=+$/, ''))).status).toBe(201);
  });
});
