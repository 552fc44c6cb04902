/**
 * The building blocks of per-client limits: the client key (src/net/client-key.ts: an IPv6
 * client cannot escape a limit by rotating addresses inside its /64) and the failed-login
 * limiter (src/net/auth-failures.ts: bounded memory, no reset by someone else's success).
 * The clock is passed in, so nothing here waits.
 */
import { describe, expect, it } from 'vitest';

import { clientKey } from '../../src/net/client-key.js';
import { AuthFailureLimiter } from '../../src/net/auth-failures.js';

describe('clientKey', () => {
  it('an IPv4 address is its own key', () => {
    expect(clientKey('203.0.113.7')).toBe('203.0.113.7');
    expect(clientKey('127.0.0.1')).toBe('127.0.0.1');
  });

  it('an IPv4-mapped IPv6 address is the IPv4 address, in dotted or hex form, any case', () => {
    expect(clientKey('::ffff:203.0.113.7')).toBe('203.0.113.7');
    expect(clientKey('::FFFF:127.0.0.1')).toBe('127.0.0.1');
    expect(clientKey('::ffff:cb00:7107')).toBe('203.0.113.7');
    expect(clientKey('0:0:0:0:0:ffff:7f00:1')).toBe('127.0.0.1');
  });

  it('an IPv4 client through the NAT64 well-known prefix (64:ff9b::/96) is the IPv4 address, not one shared /64', () => {
    expect(clientKey('64:ff9b::203.0.113.7')).toBe('203.0.113.7');
    expect(clientKey('64:ff9b::cb00:7108')).toBe('203.0.113.8');
  });

  it('other IPv6 addresses are their /64 prefix: every address of one /64 shares a key, neighbours do not', () => {
    const key = clientKey('2001:db8:1:2:aaaa:bbbb:cccc:dddd');
    expect(key).toBe('2001:db8:1:2::/64');
    for (const a of ['2001:db8:1:2::1', '2001:0DB8:0001:0002:ffff:ffff:ffff:ffff', '2001:db8:1:2:0:0:0:0', '2001:db8:1:2::9.9.9.9']) expect(clientKey(a)).toBe(key);
    expect(clientKey('2001:db8:1:3::1')).toBe('2001:db8:1:3::/64');
    expect(clientKey('2001:db8::1')).toBe('2001:db8:0:0::/64');
    expect(clientKey('::ffff:0:1:1')).toBe('0:0:0:0::/64'); // ::ffff:0:0/96 is mapped; this is not in it
  });

  it('::1 and :: fall in ::/64, never in an IPv4 key', () => {
    expect(clientKey('::1')).toBe('0:0:0:0::/64');
    expect(clientKey('::')).toBe('0:0:0:0::/64');
    expect(clientKey('::1')).not.toBe(clientKey('127.0.0.1'));
  });

  it('a zone id (Node reports one for link-local peers) is kept: the same prefix on two links is two clients', () => {
    expect(clientKey('fe80::1%eth0')).toBe('fe80:0:0:0::/64%eth0');
    expect(clientKey('fe80::2:3%eth0')).toBe('fe80:0:0:0::/64%eth0');
    expect(clientKey('fe80::1%eth1')).toBe('fe80:0:0:0::/64%eth1');
    expect(clientKey('fe80::1%2')).toBe('fe80:0:0:0::/64%2');
  });

  it('anything that is not an IP address is one shared bucket per spelling (never an exception)', () => {
    expect(clientKey(undefined)).toBe('unknown');
    expect(clientKey('')).toBe('unknown');
    expect(clientKey('not an address')).toBe('other:not an address');
    expect(clientKey('1.2.3')).toBe('other:1.2.3');
    expect(clientKey('2001:db8::1::2')).toBe('other:2001:db8::1::2');
  });
});

describe('AuthFailureLimiter', () => {
  const t0 = 1_000_000;

  it('after maxFailures failures inside the window the client waits (Retry-After in whole seconds), until the oldest failure leaves the window', () => {
    const l = new AuthFailureLimiter({ maxFailures: 3, windowMs: 60_000 });
    for (let i = 0; i < 3; i++) {
      expect(l.retryAfter('a', t0 + i * 1000)).toBe(0);
      l.fail('a', t0 + i * 1000);
    }
    expect(l.retryAfter('a', t0 + 3000)).toBe(57);
    expect(l.retryAfter('a', t0 + 59_999)).toBe(1);
    expect(l.retryAfter('a', t0 + 60_000)).toBe(0); // the first failure left the window: one more try
    l.fail('a', t0 + 60_000);
    expect(l.retryAfter('a', t0 + 60_000)).toBe(1);
    expect(l.retryAfter('a', t0 + 63_000)).toBe(0);
  });

  it('counts per client: another client is not limited, and a success (nothing recorded) resets nobody', () => {
    const l = new AuthFailureLimiter({ maxFailures: 2, windowMs: 10_000 });
    l.fail('a', t0);
    l.fail('a', t0);
    expect(l.retryAfter('a', t0)).toBeGreaterThan(0);
    expect(l.retryAfter('b', t0)).toBe(0);
    l.fail('b', t0);
    expect(l.retryAfter('b', t0)).toBe(0);
    expect(l.retryAfter('a', t0 + 1)).toBeGreaterThan(0);
  });

  it('tracks at most maxClients clients, evicting the one whose last failure is oldest among those not limited (review s6: never a limited one)', () => {
    const l = new AuthFailureLimiter({ maxFailures: 2, windowMs: 60_000, maxClients: 3 });
    l.fail('a', t0);
    l.fail('b', t0 + 1);
    l.fail('c', t0 + 2);
    l.fail('a', t0 + 3); // a is refreshed (and limited): b is now the oldest
    l.fail('d', t0 + 4);
    expect(l.size).toBe(3);
    expect(l.retryAfter('a', t0 + 5)).toBeGreaterThan(0);
    l.fail('b', t0 + 5);
    expect(l.retryAfter('b', t0 + 5)).toBe(0); // b's first failure was dropped with it
  });

  it('forgets clients whose failures all left the window', () => {
    const l = new AuthFailureLimiter({ maxFailures: 5, windowMs: 1000, maxClients: 100 });
    for (let i = 0; i < 50; i++) l.fail(`c${i}`, t0);
    l.fail('late', t0 + 5000);
    expect(l.size).toBe(1);
  });

  it('refuses nonsense settings', () => {
    expect(() => new AuthFailureLimiter({ maxFailures: 0 })).toThrow(RangeError);
    expect(() => new AuthFailureLimiter({ windowMs: 0 })).toThrow(RangeError);
    expect(() => new AuthFailureLimiter({ maxClients: 0.5 })).toThrow(RangeError);
  });
});
