/**
 * s16 red team, proxy finding 2 (low): one IPv6 /48 could fill the failure table. The gateway still
 * looks up one key-shaped API key per /64 and interval of a limited client (src/net/lookup-throttle.ts)
 * and records each wrong one with fail(); fail() made a fresh /64 key (and /56 key) under the /48 that
 * was limited already, each limited after 10 lookups, until the table held maxClients limited keys.
 * From then on retryAfter refused every client not in the table (the table-full rule), valid API keys
 * included but for one request per second. Now fail() makes no new key under a limited wider one.
 * Round 2 (s16 change review, finding 1): /64s and /56s that had failed once before their /48 was
 * limited kept counting under it and became limited (201 to 321 keys per /48); now, under a limited
 * key, only keys limited themselves are counted, and a full table does not drop a /48 or /56 while a
 * key below it is limited.
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

  it('under a limited /48 only limited keys count: a tracked /64 that is not limited is not counted, a limited one is', () => {
    const l = new AuthFailureLimiter({ maxFailures: 2, maxFailuresPer56: 1000, maxFailuresPer48: 5 });
    const limited64 = attacker(0);
    const tracked64 = attacker(1);
    l.fail(limited64, t0);
    l.fail(limited64, t0); // the /64 is limited (2), the /48 has 2
    l.fail(tracked64, t0); // tracked, not limited (1); the /48 has 3
    l.fail(attacker(2), t0 + 10);
    l.fail(attacker(2), t0 + 10); // the /48's 5th failure: limited until t0 + 60 000
    expect(l.retryAfter(attacker(100), t0 + 10)).toBeGreaterThan(0);
    const before = l.size;
    l.fail(attacker(100), t0 + 20); // new under a limited /48: not tracked
    expect(l.size).toBe(before);
    l.fail(tracked64, t0 + 30_000);
    l.fail(tracked64, t0 + 30_000); // tracked but not limited: not counted (f05f4c4 limited it until t0 + 90 000)
    l.fail(limited64, t0 + 30_000);
    l.fail(limited64, t0 + 30_000); // limited itself: refreshed, it stays limited while it keeps failing
    // At t0 + 60 030 the /48 has only its 4 failures of t0 + 30 000 left (free again).
    const later = t0 + 60_030;
    expect(l.retryAfter(attacker(200), later)).toBe(0);
    expect(l.retryAfter(limited64, later)).toBeGreaterThan(0);
    expect(l.retryAfter(tracked64, later)).toBe(0);
    expect(l.retryAfter(attacker(100), later)).toBe(0);
  });
});

/** The n-th /64 of 2001:db8:<net>::/48 in the order of the change review: `per56` /64s in each /56. */
const spread = (net: number, n: number, per56: number): string =>
  clientKey(`2001:db8:${net.toString(16)}:${((Math.floor(n / per56) << 8) | n % per56).toString(16)}::1`);

/**
 * The change review's order (s16 change review, finding 1): while the /48 is free, one wrong key-shaped
 * token from each of 160 /64s (the 160th limits the /48); then, the /48 limited, each /64 one more per
 * second (what the lookup throttle grants). f05f4c4 went on counting the tracked /64s (and /56s), so
 * they all became limited: 201 (4 /64s per /56) or 321 (1 per /56) limited keys from one /48.
 */
function preTracked(l: AuthFailureLimiter, nets: number[], per56: number, seconds: number): number {
  for (const net of nets) for (let n = 0; n < 160; n++) l.fail(spread(net, n, per56), t0);
  for (let s = 1; s <= seconds; s++) for (const net of nets) for (let n = 0; n < 160; n++) l.fail(spread(net, n, per56), t0 + s * 1000);
  return t0 + seconds * 1000;
}

describe('AuthFailureLimiter: the order of the failures does not matter (s16 change review, finding 1)', () => {
  it('the review\'s pre-tracked order with a 201-key table: a stranger is not refused, and one /48 keeps at most 21 keys', () => {
    const l = new AuthFailureLimiter({ maxClients: 201 });
    const now = preTracked(l, [1], 4, 10);
    l.fail(clientKey('2001:db8:9:1::1'), now); // a new key: the table is full, one unlimited key is dropped
    expect(l.retryAfter(clientKey('198.51.100.7'), now)).toBe(0);
    expect(l.retryAfter(clientKey('2001:db8:2:1::1'), now)).toBe(0);
    expect(l.retryAfter(spread(1, 5, 4), now)).toBeGreaterThan(0); // the /48 is still limited
    // Kept up past the window: the /64s tracked only by phase 1 age out, the limited keys are what is left.
    const m = new AuthFailureLimiter();
    const end = preTracked(m, [1], 4, 70);
    expect(m.retryAfter(spread(1, 5, 4), end)).toBeGreaterThan(0);
    expect(m.size).toBeLessThanOrEqual(1 + 4 + 16);
  });

  it('50 /48s, default table (10 000 keys): a never-failed client is not refused', () => {
    const l = new AuthFailureLimiter(); // f05f4c4: 50 × 201 limited keys, the table full of them (stranger refused 51 s)
    const nets = Array.from({ length: 50 }, (_, i) => 0x100 + i);
    const now = preTracked(l, nets, 4, 10);
    for (const net of nets) expect(l.retryAfter(spread(net, 0, 4), now)).toBeGreaterThan(0);
    l.fail(clientKey('2001:db8:9:1::1'), now);
    expect(l.retryAfter(clientKey('198.51.100.7'), now)).toBe(0);
    expect(l.retryAfter(clientKey('2001:db8:2:1::1'), now)).toBe(0);
  });

  it('a full table does not drop a /48 whose /64s are limited (it would count anew and limit more)', () => {
    // f05f4c4 dropped the /48 (its oldest key not limited): it never became limited although its /64s
    // failed 32 times (limit 10), and 10 of the 12 keys were limited /64s of it.
    // 2 failures per /64, 10 per /48: a free /48 holds at most 4 limited /64s (+ 1 when it becomes limited).
    const l = new AuthFailureLimiter({ maxFailures: 2, maxFailuresPer56: 1000, maxFailuresPer48: 10, maxClients: 12 });
    let v4 = 0;
    for (let cycle = 0; cycle < 4; cycle++) {
      // 4 fresh /64s of the /48 limited (8 failures: the /48 stays free), then strangers' single failures
      // churn the full table so that the oldest key that is not limited would be the /48.
      for (let n = cycle * 4; n < cycle * 4 + 4; n++) for (let i = 0; i < 2; i++) l.fail(attacker(n), t0);
      for (let i = 0; i < 12; i++) l.fail(clientKey(`192.0.2.${++v4}`), t0);
    }
    expect(l.retryAfter(attacker(999), t0)).toBeGreaterThan(0); // the /48 kept its count: limited
    expect(l.retryAfter(clientKey('198.51.100.7'), t0)).toBe(0);
    for (let i = 0; i < l.maxFailures; i++) l.fail(clientKey('198.51.100.7'), t0);
    expect(l.retryAfter(clientKey('198.51.100.7'), t0)).toBeGreaterThan(0);
  });
});
