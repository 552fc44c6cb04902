/**
 * Review s10 changes A, item 2 (reviewer's reproducer, adapted): one ping that never settles (a query on
 * a blackholed PostgreSQL connection: no client-side bound, TCP gives up after ~15 min) kept GET /health
 * at 503 for as long as it hung, although every later ping would have succeeded. Now a fresh ping starts
 * once the hung one's timeout verdict is past the reuse window, at most two running at once. The clock is
 * the test's; the pings' timeouts are real but tiny and only ever reached by pings that never settle.
 */
import { describe, expect, it } from 'vitest';

import { HealthProbe, MAX_PINGS_IN_FLIGHT } from '../../src/net/health-probe.js';

const UNAVAILABLE = { ok: false, cause: 'ERR_STORAGE_UNAVAILABLE' };

describe('HealthProbe after a hung ping', () => {
  it('a database that answers again is reported healthy once the hung ping is past its timeout and the TTL', async () => {
    let now = 0;
    let calls = 0;
    const probe = new HealthProbe({
      clock: () => now,
      ttlMs: 1000,
      timeoutMs: 10,
      ping: () => (++calls === 1 ? new Promise<void>(() => {}) : Promise.resolve()),
    });
    expect(await probe.check()).toEqual(UNAVAILABLE); // ping 1 timed out, still running
    now += 60_000; // a minute later the database answers every new query
    await probe.check();
    now += 60_000;
    expect(calls).toBeGreaterThan(1);
    expect(await probe.check()).toEqual({ ok: true });
  });

  it('hung pings are capped at two: a third waits until one of them settles', async () => {
    expect(MAX_PINGS_IN_FLIGHT).toBe(2);
    let now = 0;
    let calls = 0;
    let settleFirst!: () => void;
    const probe = new HealthProbe({
      clock: () => now,
      ttlMs: 1000,
      timeoutMs: 10,
      ping: () => {
        calls += 1;
        if (calls === 1) return new Promise<void>((ok) => (settleFirst = ok));
        if (calls === 2) return new Promise<void>(() => {});
        return Promise.resolve();
      },
    });
    expect(await probe.check()).toEqual(UNAVAILABLE);
    now += 1010; // exactly timeout + TTL after ping 1 started: ping 2 starts (and hangs too)
    expect(await probe.check()).toEqual(UNAVAILABLE);
    expect(calls).toBe(2);
    for (let i = 0; i < 5; i++) {
      now += 60_000;
      expect(await probe.check()).toEqual(UNAVAILABLE); // two hang: no third, however long
    }
    expect(calls).toBe(2);
    settleFirst();
    await new Promise((ok) => setImmediate(ok));
    now += 60_000;
    expect(await probe.check()).toEqual({ ok: true }); // one slot free and ping 2 is old: ping 3
    expect(calls).toBe(3);
  });

  it('within the reuse window of the hung ping\'s timeout verdict no fresh ping starts, and a flood of probes starts none', async () => {
    let now = 0;
    let calls = 0;
    const probe = new HealthProbe({
      clock: () => now,
      ttlMs: 1000,
      timeoutMs: 10,
      ping: () => (++calls === 1 ? new Promise<void>(() => {}) : Promise.resolve()),
    });
    expect(await probe.check()).toEqual(UNAVAILABLE);
    now += 999; // the test's clock stood still during the real 10 ms timeout: the verdict is from 0
    const answers = await Promise.all(Array.from({ length: 50 }, () => probe.check()));
    expect(answers).toEqual(Array(50).fill(UNAVAILABLE));
    expect(calls).toBe(1);
    now += 1;
    const next = await Promise.all(Array.from({ length: 50 }, () => probe.check()));
    expect(next).toEqual(Array(50).fill({ ok: true }));
    expect(calls).toBe(2);
  });
});

describe('HealthProbe: a healthy verdict beside a hung ping (review s10 changes-c #4)', () => {
  it('is reused for the reuse window only, then a fresh ping judges again', async () => {
    let now = 0;
    let calls = 0;
    let databaseUp = true;
    const probe = new HealthProbe({
      clock: () => now,
      ttlMs: 1000,
      timeoutMs: 10,
      ping: () => (++calls === 1 ? new Promise<void>(() => {}) : databaseUp ? Promise.resolve() : Promise.reject(new Error('down'))),
    });
    expect(await probe.check()).toEqual(UNAVAILABLE); // ping 1 hangs
    now += 1000;
    expect(await probe.check()).toEqual({ ok: true }); // ping 2, beside the hung one
    databaseUp = false;
    now += 1000; // the healthy verdict is 1 s old: it was held ~4 s before
    expect(await probe.check()).toEqual(UNAVAILABLE);
    expect(calls).toBe(3);
  });
});
