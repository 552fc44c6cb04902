/**
 * Review s6, finding 1: failed-login limits per client (src/net/auth-failures.ts).
 * Rotating IPv6 /64s inside one /48 used to get a fresh budget per /64 (655 360
 * failures accepted from one /48 in one window), and churn through 10 000 other
 * clients evicted — and so unlocked — a locked client.
 */
import { describe, expect, it } from 'vitest';

import { AuthFailureLimiter } from '../../src/net/auth-failures.js';
import { clientKey, widerClientKeys } from '../../src/net/client-key.js';

const t0 = 1_000_000;

/** What the servers do: ask first, count a failure only for an attempt that was let through. */
function attempt(l: AuthFailureLimiter, key: string, now: number): 'refused' | 'failed' {
  if (l.retryAfter(key, now) > 0) return 'refused';
  l.fail(key, now);
  return 'failed';
}

describe('widerClientKeys', () => {
  it('an IPv6 /64 key belongs to its /56 and /48 (zone kept); IPv4 and other keys to nothing wider', () => {
    expect(widerClientKeys(clientKey('2001:db8:aa00:1234::1'))).toEqual(['2001:db8:aa00:1200::/56', '2001:db8:aa00::/48']);
    expect(widerClientKeys(clientKey('fe80::1%eth0'))).toEqual(['fe80:0:0:0::/56%eth0', 'fe80:0:0::/48%eth0']);
    expect(widerClientKeys(clientKey('10.1.2.3'))).toEqual([]);
    expect(widerClientKeys(clientKey('::ffff:10.1.2.3'))).toEqual([]);
    expect(widerClientKeys('other:x::/64')).toEqual([]);
  });
});

describe('AuthFailureLimiter: IPv6 prefixes wider than /64', () => {
  it('11 000 /64s of one /48 failing once each: the /48 runs out of budget, and its next attempt is refused', () => {
    const l = new AuthFailureLimiter(); // 10 per key, 40 per /56, 160 per /48, 60 s, 10 000 keys
    let failed = 0;
    for (let s = 0; s < 11_000; s++) if (attempt(l, clientKey(`2001:db8:aa00:${s.toString(16)}::1`), t0) === 'failed') failed++;
    expect(failed).toBe(l.maxFailuresPer48);
    expect(l.retryAfter(clientKey('2001:db8:aa00:ffff::7'), t0)).toBeGreaterThan(0);
    // Another /48 has its own budget; the window ends the refusal.
    expect(l.retryAfter(clientKey('2001:db8:bb00:1::1'), t0)).toBe(0);
    expect(l.retryAfter(clientKey('2001:db8:aa00:ffff::7'), t0 + 60_000)).toBe(0);
  });

  it('a /56 is limited before its /48: 256 /64s of one /56 get maxFailuresPer56 failures', () => {
    const l = new AuthFailureLimiter({ maxFailures: 3, maxFailuresPer56: 5, maxFailuresPer48: 50 });
    let failed = 0;
    for (let s = 0; s < 256; s++) if (attempt(l, clientKey(`2001:db8:1:${(0x4200 + s).toString(16)}::1`), t0) === 'failed') failed++;
    expect(failed).toBe(5);
    expect(l.retryAfter(clientKey('2001:db8:1:4300::1'), t0)).toBe(0); // the next /56 of the same /48
  });

  it('refuses nonsense prefix budgets', () => {
    expect(() => new AuthFailureLimiter({ maxFailuresPer56: 0 })).toThrow(RangeError);
    expect(() => new AuthFailureLimiter({ maxFailuresPer48: 1.5 })).toThrow(RangeError);
  });
});

describe('AuthFailureLimiter: eviction never unlocks a limited client', () => {
  it('a locked /64 stays locked while 20 000 other clients fail (the table is bounded)', () => {
    const l = new AuthFailureLimiter();
    const locked = clientKey('2001:db8:aa00:1::1');
    for (let i = 0; i < 10; i++) l.fail(locked, t0);
    expect(l.retryAfter(locked, t0)).toBeGreaterThan(0);
    for (let i = 0; i < 20_000; i++) attempt(l, `10.${(i >> 16) & 255}.${(i >> 8) & 255}.${i & 255}`, t0 + 1 + (i % 1000));
    expect(l.size).toBeLessThanOrEqual(l.maxClients);
    expect(l.retryAfter(locked, t0 + 2000)).toBeGreaterThan(0);
  });

  it('when every tracked key is limited, a new key is refused (not admitted by dropping a limited one) until a key leaves its window', () => {
    const l = new AuthFailureLimiter({ maxFailures: 1, windowMs: 60_000, maxClients: 3 });
    for (const k of ['a', 'b', 'c']) l.fail(k, t0);
    l.fail('d', t0 + 1); // no room: nobody is dropped
    expect(l.size).toBe(3);
    expect(['a', 'b', 'c'].map((k) => l.retryAfter(k, t0 + 2) > 0)).toEqual([true, true, true]);
    expect(l.retryAfter('e', t0 + 2)).toBe(60);
    // Once a, b, c leave the window, new clients are let in again.
    expect(l.retryAfter('e', t0 + 60_000)).toBe(0);
    l.fail('e', t0 + 60_000);
    expect(l.retryAfter('e', t0 + 60_000)).toBeGreaterThan(0);
  });

  it('to admit a new key when full, the oldest key that is not limited is dropped', () => {
    const l = new AuthFailureLimiter({ maxFailures: 2, windowMs: 60_000, maxClients: 3 });
    l.fail('a', t0);
    l.fail('a', t0); // a is limited
    l.fail('b', t0 + 1);
    l.fail('c', t0 + 2);
    l.fail('d', t0 + 3); // b (oldest unlimited) goes, a stays
    expect(l.size).toBe(3);
    expect(l.retryAfter('a', t0 + 4)).toBeGreaterThan(0);
    l.fail('b', t0 + 5);
    expect(l.retryAfter('b', t0 + 5)).toBe(0); // b's first failure was forgotten: one failure so far
  });
});
