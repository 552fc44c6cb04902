/**
 * Review s10 changes-c #5 / changes-d #5: a GET /health whose database ping was running when
 * shutdown began answered 200 "ok" during the drain. The gateway checks shutdown again after the
 * ping (the broker's test is in test/kbs/review-s10-health-flood.test.ts).
 */
import { expect, it } from 'vitest';

import { startHarness } from './helpers.js';

it('gateway: a probe whose ping runs when shutdown begins answers 503 shutting-down', async () => {
  const h = await startHarness({});
  const storage = (h.gateway as unknown as { keys: { storage: { ping(): Promise<void> } } }).keys.storage;
  const ping = storage.ping.bind(storage);
  let release: (() => void) | undefined;
  storage.ping = async () => {
    await new Promise<void>((ok) => (release = ok));
    return ping();
  };
  const probe = h.call('GET', '/health', { token: null });
  while (!release) await new Promise((ok) => setImmediate(ok));
  const closing = h.close();
  await new Promise((ok) => setImmediate(ok));
  release();
  const answer = await probe;
  await closing;
  expect({ status: answer.status, json: answer.json }).toMatchObject({ status: 503, json: { status: 'shutting-down' } });
});
