/**
 * Review finding 4 (checklist T34): "debug never releases" covered only
 * TDATTRIBUTES bit 0. Any bit of the TD-under-debug group (bits 7:1,
 * `tdAttributes & 0xff`) now refuses too, whatever the policy says
 * (allowDebug: true included), with 401 ERR_KBS_DEBUG.
 */
import { randomBytes } from 'node:crypto';

import { afterAll, beforeAll, describe, expect, it } from 'vitest';

import { newClient, registerKey, startHarness, tdxPolicy, transferBody, transferPath, unwrap, type Client, type Harness } from './helpers.js';

const SEPT_VE_DISABLE = 1n << 28n; // the synthetic TD's default attributes

describe('key broker: a TD with any TUD bit set gets no key (review finding 4, T34)', () => {
  let h: Harness;
  let client: Client;
  let strict: string;
  let lenient: string;
  const material = randomBytes(32);

  beforeAll(async () => {
    h = await startHarness();
    client = newClient();
    strict = await registerKey(h, material);
    // A policy that allows debug: the broker must still refuse.
    lenient = await registerKey(h, material, tdxPolicy(h.platform, { allowDebug: true, tdAttributes: 'any' }));
  }, 60_000);
  afterAll(async () => h?.close());

  const post = (id: string, tdAttributes: bigint) =>
    h.call('POST', transferPath(id), { body: transferBody(h, client, { body: { tdAttributes } }), headers: { 'attestation-type': 'TDX' }, token: null });

  it.each([0, 1, 2, 3, 4, 5, 6, 7])('TDATTRIBUTES bit %i: 401 ERR_KBS_DEBUG (T34) under both policies', async (bit) => {
    for (const id of [lenient, strict]) {
      const r = await post(id, SEPT_VE_DISABLE | (1n << BigInt(bit)));
      expect({ status: r.status, code: r.json?.code, check: r.json?.checks?.[0]?.check }).toEqual({ status: 401, code: 'ERR_KBS_DEBUG', check: 'T34' });
      expect(r.json).not.toHaveProperty('wrapped_key');
    }
  });

  it('bits outside the debug group (here bit 8) do not count as debug: the lenient policy releases', async () => {
    const r = await post(lenient, SEPT_VE_DISABLE | (1n << 8n));
    expect(r.status).toBe(200);
    expect(unwrap(client, r.json).equals(material)).toBe(true);
  });
});
