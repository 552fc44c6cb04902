/**
 * s16 red team, proxy finding 2 (low): one IPv6 /48 could fill the failure table. The gateway still
 * looks up one key-shaped API key per /64 and interval of a limited client (src/net/lookup-throttle.ts)
 * and records each wrong one with fail(); fail() made a fresh /64 key (and /56 key) under the /48 that
 * was limited already, each limited after 10 lookups, until the table held maxClients limited keys.
 * From then on retryAfter refused every client not in the table (the table-full rule), valid API keys
 * included but for one request per second. Now fail() makes no new key under a limited wider one.
 */
import { describe, expect, it } from 'vitest';

import { AuthFailureLimiter } from '../../src/net/auth-failures.js';
import { clientKey } from '../../src/net/client-key.js';

const t0 = 1_000_000;

/** The n-th /64 of 2001:db8:1::/48 (256 per /56, in order). */
const attacker = (n: number): string => clientKey(`2001:db8:1:${(n & 0xffff).toString(16)}::1`);

/** The gateway's path for a limited client with a key-shaped token: looked up, wrong, recorded (no retryAfter check). */
function lookups(l: AuthFailureLimiter, slash64s: number, perClient: number, now: number): void {
  for (let n = 0; n < slash64s; n++) for (let i = 0; i < perClient; i++) l.fail(attacker(n), now);
}

describe('AuthFailureLimiter: a limited /48 cannot fill the table', () => {
  it('small table (30 keys): 2 000 /64s of one /48 failing 10 times each leave other clients unrefused', () => {
    const l = new AuthFailureLimiter({ maxClients: 30 });
    lookups(l, 2_000, 10, t0);
    expect(l.retryAfter(attacker(5_000), t0)).toBeGreaterThan(0); // the /48 itself is limited
    // Strangers, who never failed: an IPv4 client and a /64 of another /48.
    expect(l.retryAfter(clientKey('198.51.100.7'), t0)).toBe(0);
    expect(l.retryAfter(clientKey('2001:db8:2:1::1'), t0)).toBe(0);
    // And their own failures are still counted.
    for (let i = 0; i < l.maxFailures; i++) l.fail(clientKey('198.51.100.7'), t0);
    expect(l.retryAfter(clientKey('198.51.100.7'), t0)).toBeGreaterThan(0);
  });

  it('default table: one /48 holds a handful of keys, not one per /64 it tried', () => {
    const l = new AuthFailureLimiter(); // 10 per /64, 40 per /56, 160 per /48
    lookups(l, 3_000, 10, t0);
    // The /48, the /56s and /64s counted before it was limited: at most 1 + 160 / 10 + its /56s touched meanwhile.
    expect(l.size).toBeLessThanOrEqual(1 + 16 + 16);
    expect(l.retryAfter(clientKey('2001:db8:2:1::1'), t0)).toBe(0);
  });

  it('a /64 already tracked under a limited /48 still has its failures counted', () => {
    const l = new AuthFailureLimiter({ maxFailures: 2, maxFailuresPer56: 1000, maxFailuresPer48: 3 });
    const first = attacker(0);
    l.fail(attacker(1), t0);
    l.fail(attacker(2), t0);
    l.fail(first, t0 + 10); // tracked; the /48's 3rd failure: limited until t0 + 60 000
    expect(l.retryAfter(attacker(100), t0 + 10)).toBeGreaterThan(0);
    const before = l.size;
    l.fail(attacker(100), t0 + 20); // new under a limited /48: not tracked
    expect(l.size).toBe(before);
    l.fail(first, t0 + 30_000);
    l.fail(first, t0 + 30_000); // counted on the tracked /64 (the /48 is still limited)
    // The /48 has 2 failures left in its window (free); the tracked /64 is limited by its own 2.
    expect(l.retryAfter(attacker(200), t0 + 60_030)).toBe(0);
    expect(l.retryAfter(first, t0 + 60_030)).toBeGreaterThan(0);
    expect(l.retryAfter(attacker(100), t0 + 60_030)).toBe(0);
  });
});
