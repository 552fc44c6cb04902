/**
 * Review s10, G1: every anonymous GET /health was a database round trip (500 probes, 500 pings),
 * queued on PostgreSQL ahead of the API-key lookups. Now one ping at a time serves every probe,
 * and its verdict is reused for 1 s of the limiters' clock (src/net/health-probe.ts). The pings are
 * counted by a wrapper on the store's storage, the clock is the test's: no timing.
 */
import { afterAll, beforeAll, describe, expect, it } from 'vitest';

import { HealthProbe } from '../../src/net/health-probe.js';
import { StorageError } from '../../src/storage/index.js';
import { startHarness, type Harness } from './helpers.js';

describe('GET /health through the gateway', () => {
  let h: Harness;
  let nowMs = 0;
  let pings = 0;
  /** While set, the next pings wait for it (single-flight check) or fail with it. */
  let gate: Promise<void> | undefined;
  let failWith: StorageError | undefined;

  beforeAll(async () => {
    h = await startHarness({ limiterClock: () => nowMs });
    const storage = h.gateway.keys.storage;
    const ping = storage.ping.bind(storage);
    storage.ping = async () => {
      pings += 1;
      if (gate) await gate;
      if (failWith) throw failWith;
      return ping();
    };
  });
  afterAll(async () => h?.close());

  const health = (): ReturnType<Harness['call']> => h.call('GET', '/health', { token: null });

  it('100 concurrent probes cost one ping; a probe after the 1 s window pings again', async () => {
    nowMs += 5000;
    pings = 0;
    const answers = await Promise.all(Array.from({ length: 100 }, health));
    expect(answers.every((a) => a.status === 200 && a.json.status === 'ok')).toBe(true);
    expect(pings).toBeLessThanOrEqual(2);
    expect(pings).toBe(1); // the clock did not move: one verdict for the whole burst
    expect((await health()).status).toBe(200);
    expect(pings).toBe(1);
    nowMs += 1001;
    expect((await health()).status).toBe(200);
    expect(pings).toBe(2);
  });

  it('probes that arrive while a ping runs wait for that ping (single-flight), none starts another', async () => {
    nowMs += 5000;
    pings = 0;
    let release!: () => void;
    gate = new Promise<void>((ok) => (release = ok));
    const waiting = Promise.all(Array.from({ length: 30 }, health));
    while (pings === 0) await new Promise((ok) => setImmediate(ok));
    nowMs += 5000; // even past the window: the running ping's verdict is the one they get
    const more = Promise.all(Array.from({ length: 10 }, health));
    release();
    gate = undefined;
    const answers = [...(await waiting), ...(await more)];
    expect(answers.map((a) => a.status)).toEqual(Array(40).fill(200));
    expect(pings).toBe(1);
  });

  it('a failing database is 503 at the next probe after the window and stays 503 within it; it recovers the same way', async () => {
    nowMs += 5000;
    expect((await health()).status).toBe(200);
    failWith = new StorageError('ERR_STORAGE_UNREACHABLE', 'connection refused');
    nowMs += 1001;
    pings = 0;
    const down = await health();
    expect(down.status).toBe(503);
    expect(down.headers['retry-after']).toBe('5');
    expect(down.json).toMatchObject({ status: 'unavailable', code: 'ERR_GATEWAY_STORAGE_UNAVAILABLE', cause: 'ERR_STORAGE_UNREACHABLE' });
    failWith = undefined; // back, but the failure is the verdict for this window
    const answers = await Promise.all(Array.from({ length: 20 }, health));
    expect(answers.every((a) => a.status === 503)).toBe(true);
    expect(pings).toBe(1);
    nowMs += 1001;
    expect((await health()).status).toBe(200);
    expect(pings).toBe(2);
  });
});

describe('HealthProbe', () => {
  it('a ping that outlives its timeout is a failure, and no second ping starts beside it within the reuse window of that verdict', async () => {
    let nowMs = 0;
    let pings = 0;
    let settle!: () => void;
    const probe = new HealthProbe({
      clock: () => nowMs,
      timeoutMs: 5,
      ping: () => {
        pings += 1;
        return pings === 1 ? new Promise<void>((ok) => (settle = ok)) : Promise.resolve();
      },
    });
    expect(await probe.check()).toEqual({ ok: false, cause: 'ERR_STORAGE_UNAVAILABLE' });
    nowMs += 999; // within the 1 s reuse window of the timeout's verdict (the test's clock stood still during the real 5 ms)
    expect(await probe.check()).toEqual({ ok: false, cause: 'ERR_STORAGE_UNAVAILABLE' });
    expect(pings).toBe(1);
    settle();
    await new Promise((ok) => setImmediate(ok));
    nowMs += 2;
    expect(await probe.check()).toEqual({ ok: true });
    expect(pings).toBe(2);
  });

  it('a ping that throws synchronously is a failure with its storage code', async () => {
    const probe = new HealthProbe({
      clock: () => 0,
      ping: () => {
        throw new StorageError('ERR_STORAGE_UNREACHABLE', 'down');
      },
    });
    expect(await probe.check()).toEqual({ ok: false, cause: 'ERR_STORAGE_UNREACHABLE' });
  });
});
