/**
 * 200 concurrent transfer requests against one broker: every release unwraps
 * to the key with its own client's RSA key, every planted refusal is refused.
 */
import { randomBytes } from 'node:crypto';

import { afterAll, beforeAll, describe, expect, it } from 'vitest';

import { BACKENDS, warnIfPgSkipped } from '../helpers/postgres.js';
import { newClient, registerKey, startHarness, transferBody, transferPath, unwrap, type Client, type Harness } from './helpers.js';

warnIfPgSkipped('test/kbs/load.test.ts');

describe.each(BACKENDS)('load on $name', ({ name: backend, skip }) => {
  describe.skipIf(skip)('', () => {
    let h: Harness;
    let keyId: string;
    const material = randomBytes(32);

    beforeAll(async () => {
      h = await startHarness({ rateLimit: { burst: 1000, perSecond: 1000 } }, undefined, backend);
      keyId = await registerKey(h, material);
    }, 60_000);
    afterAll(async () => h?.close());

    it('200 concurrent transfer requests are all answered correctly', async () => {
      const clients: Client[] = Array.from({ length: 8 }, () => newClient(2048));
      const jobs = Array.from({ length: 200 }, (_, i) => {
        const client = clients[i % clients.length] as Client;
        const refuse = i % 10 === 9;
        const body = transferBody(h, client);
        if (refuse) body['user_data'] = (clients[(i + 1) % clients.length] as Client).userData;
        return { client, refuse, body };
      });
      const answers = await Promise.all(jobs.map((j) => h.call('POST', transferPath(keyId), { body: j.body, headers: { 'attestation-type': 'TDX' }, token: null })));
      answers.forEach((r, i) => {
        const j = jobs[i]!;
        if (j.refuse) {
          expect({ status: r.status, code: r.json.code }).toEqual({ status: 401, code: 'ERR_KBS_BINDING' });
        } else {
          expect(r.status).toBe(200);
          expect(unwrap(j.client, r.json).equals(material)).toBe(true);
        }
      });
    }, 120_000);
  });
});
