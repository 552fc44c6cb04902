/**
 * Review s8, finding D2: the gateway's limiters read a monotonic clock, not the wall clock. With the
 * wall clock a backward step (NTP, a restored VM) kept every grant and failure "in the future" inside
 * its window: an hour's step meant an hour of 429s. The gateway's limiter clock is injected here
 * (GatewayOptions.limiterClock) and stepped back an hour; about one window of limiter time later the
 * client is served again. No real waiting.
 */
import { randomBytes } from 'node:crypto';

import { describe, expect, it } from 'vitest';

import { EvidenceRateLimiter } from '../../src/gateway/index.js';
import { steadyClock } from '../../src/net/steady-clock.js';
import { ollamaChat, startHarness } from './helpers.js';

const HOUR = 3_600_000;

/** A hand-moved clock (ms) standing in for a wall clock that NTP steps back. */
function manualClock(start = 1_796_000_000_000): { now: () => number; set: (t: number) => void; t: () => number } {
  let t = start;
  return { now: () => t, set: (v) => void (t = v), t: () => t };
}

describe('steadyClock', () => {
  it('never goes back and keeps advancing with its source after a backward step', () => {
    const c = manualClock(10_000);
    const steady = steadyClock(c.now);
    expect(steady()).toBe(10_000);
    c.set(10_500);
    expect(steady()).toBe(10_500);
    c.set(10_500 - HOUR); // stepped back an hour
    expect(steady()).toBe(10_500);
    c.set(10_500 - HOUR + 700);
    expect(steady()).toBe(11_200);
  });
});

describe('EvidenceRateLimiter on a clock stepped back', () => {
  it('grants again one window of limiter time after the step, not an hour later', () => {
    const c = manualClock();
    const l = new EvidenceRateLimiter(2, 2, steadyClock(c.now));
    const t0 = c.t();
    expect(l.takeOrRefuse('a')).toBeUndefined();
    expect(l.takeOrRefuse('a')).toBeUndefined();
    expect(() => l.takeOrRefuse('a')).toThrow(expect.objectContaining({ code: 'ERR_GATEWAY_RATE_LIMITED' }));
    c.set(t0 - HOUR);
    expect(l.take(undefined, 'a')).toBe(1); // one second to wait in limiter time, not 3601
    c.set(t0 - HOUR + 1001);
    expect(l.takeOrRefuse('a')).toBeUndefined();
  });
});

describe('gateway limiters on a clock stepped back (limiterClock)', () => {
  it('evidence rate: 429, the clock steps back an hour, 1001 ms later 200', async () => {
    const c = manualClock();
    const g = await startHarness({ limiterClock: c.now, attestationsPerSecond: 2 });
    try {
      const attest = () => g.call('POST', '/v1/attestation', { body: JSON.stringify({ nonce: randomBytes(32).toString('base64') }), token: null });
      expect((await attest()).status).toBe(200);
      expect((await attest()).status).toBe(200);
      expect((await attest()).status).toBe(429);
      const t0 = c.t();
      c.set(t0 - HOUR);
      expect((await attest()).status).toBe(429); // the window has not passed in limiter time
      c.set(t0 - HOUR + 1001);
      expect((await attest()).status).toBe(200);
    } finally {
      await g.close();
    }
  });

  it('API-key failures and the lookup throttle: served again one window / interval after an hour\'s step back', async () => {
    const c = manualClock();
    const g = await startHarness({ limiterClock: c.now, apiKeyFailureLimit: { maxFailures: 2, windowMs: 60_000 } });
    try {
      const chat = (token: string) => g.call('POST', '/api/chat', { body: ollamaChat('x', false), token });
      expect((await chat('tgw_bad')).status).toBe(401);
      expect((await chat('tgw_bad')).status).toBe(401);
      expect((await chat('tgw_bad')).status).toBe(429);
      // A limited client's valid key is still looked up once per interval (1000 ms).
      expect((await chat(g.token)).status).toBe(200);
      const t0 = c.t();
      c.set(t0 - HOUR);
      expect((await chat(g.token)).status).toBe(429); // its interval has not passed in limiter time
      c.set(t0 - HOUR + 1001);
      expect((await chat(g.token)).status).toBe(200);
      c.set(t0 - HOUR + 60_001);
      expect((await chat('tgw_bad')).status).toBe(401); // the failures left the window: refused, not limited
    } finally {
      await g.close();
    }
  });

  it('admin-token failures: served again one window after an hour\'s step back', async () => {
    const c = manualClock();
    const g = await startHarness({ limiterClock: c.now, adminFailureLimit: { maxFailures: 1, windowMs: 60_000 } });
    try {
      const list = () => g.call('GET', '/admin/v1/keys', { token: `tgwa_${'A'.repeat(43)}` });
      expect((await list()).status).toBe(401);
      expect((await list()).status).toBe(429);
      const t0 = c.t();
      c.set(t0 - HOUR);
      expect((await list()).status).toBe(429);
      c.set(t0 - HOUR + 60_001);
      expect((await list()).status).toBe(401);
    } finally {
      await g.close();
    }
  });
});
