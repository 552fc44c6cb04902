/**
 * Client addresses behind trusted proxies (src/net/forwarded.ts): range
 * parsing and matching, X-Forwarded-For entries, and the right-to-left walk
 * (spoofing from untrusted peers, malformed and oversized headers).
 */
import { describe, expect, it } from 'vitest';

import { clientKey } from '../../src/net/client-key.js';
import { forwardedAddress, forwardedClient, MAX_FORWARDED_CHARS, parseCidr, TrustedProxies } from '../../src/net/forwarded.js';

describe('parseCidr / TrustedProxies.contains', () => {
  it('IPv4 ranges and single addresses', () => {
    const t = new TrustedProxies(['10.0.0.0/8', '192.168.1.7']);
    expect(t.contains('10.255.0.1')).toBe(true);
    expect(t.contains('11.0.0.1')).toBe(false);
    expect(t.contains('192.168.1.7')).toBe(true);
    expect(t.contains('192.168.1.8')).toBe(false);
  });

  it('an IPv4 range matches the IPv4-mapped IPv6 form, and a mapped range matches plain IPv4', () => {
    expect(new TrustedProxies(['10.0.0.0/8']).contains('::ffff:10.1.2.3')).toBe(true);
    expect(new TrustedProxies(['10.0.0.0/8']).contains('::ffff:a01:203')).toBe(true);
    expect(new TrustedProxies(['::ffff:10.0.0.0/104']).contains('10.9.9.9')).toBe(true);
    expect(new TrustedProxies(['10.0.0.0/8']).contains('::10.1.2.3')).toBe(false);
  });

  it('IPv6 ranges; a peer zone id is ignored', () => {
    const t = new TrustedProxies(['2001:db8:1::/48', 'fe80::/10']);
    expect(t.contains('2001:db8:1:ffff::1')).toBe(true);
    expect(t.contains('2001:db8:2::1')).toBe(false);
    expect(t.contains('fe80::1%eth0')).toBe(true);
    expect(t.contains('1.2.3.4')).toBe(false);
    expect(new TrustedProxies(['::1']).contains('::1')).toBe(true);
    expect(new TrustedProxies(['::1']).contains('::2')).toBe(false);
  });

  it('no ranges, no peer or a peer that is not an address: not trusted', () => {
    expect(new TrustedProxies().contains('127.0.0.1')).toBe(false);
    expect(new TrustedProxies(['127.0.0.0/8']).contains(undefined)).toBe(false);
    expect(new TrustedProxies(['127.0.0.0/8']).contains('localhost')).toBe(false);
  });

  it('refuses malformed ranges, host bits beyond the prefix, and /0', () => {
    for (const bad of ['10.0.0.0/33', '2001:db8::/129', '10.0.0.0/', '10.0.0.0/8/8', '10.0.0.0/-1', '10.0.0.0/ 8', 'proxy.local', '', '10.0.0.1/8', '2001:db8::1/64', '0.0.0.0/0', '::/0', 'fe80::1%eth0', '10.0.0.0/08a']) {
      expect(() => parseCidr(bad), bad).toThrow(RangeError);
    }
    expect(parseCidr('10.0.0.0/8')).toMatchObject({ prefix: 104 });
    expect(parseCidr('2001:db8::/32')).toMatchObject({ prefix: 32 });
  });
});

describe('forwardedAddress (one X-Forwarded-For element)', () => {
  it('accepts IPv4, IPv6 and IPv4-mapped IPv6, with optional spaces', () => {
    expect(forwardedAddress(' 203.0.113.9 ')).toBe('203.0.113.9');
    expect(forwardedAddress('2001:db8::7')).toBe('2001:db8::7');
    expect(forwardedAddress('::ffff:203.0.113.9')).toBe('::ffff:203.0.113.9');
  });

  it('accepts a port after IPv4 and brackets around IPv6 (with or without a port), dropping the port', () => {
    expect(forwardedAddress('203.0.113.9:51234')).toBe('203.0.113.9');
    expect(forwardedAddress('[2001:db8::7]')).toBe('2001:db8::7');
    expect(forwardedAddress('[2001:db8::7]:443')).toBe('2001:db8::7');
  });

  it('refuses everything else', () => {
    for (const bad of ['', 'unknown', '_hidden', 'proxy.example', '203.0.113.9:0', '203.0.113.9:65536', '203.0.113.9:', '[203.0.113.9]', '2001:db8::7:443x', '[2001:db8::7', 'fe80::1%eth0', '[fe80::1%25eth0]',
      '256.1.1.1', '01.2.3.4', '1.2.3', '1.2.3.4.5', '1.2.3.4 5.6.7.8', '\u00a01.2.3.4', '2001:db8::7]:80', '"1.2.3.4"', 'for=1.2.3.4']) {
      expect(forwardedAddress(bad), JSON.stringify(bad)).toBeUndefined();
    }
  });
});

describe('forwardedClient', () => {
  const trusted = new TrustedProxies(['10.0.0.0/8', '2001:db8:ffff::/48']);

  it('an untrusted peer is the client whatever its X-Forwarded-For says (no spoofing)', () => {
    expect(forwardedClient('198.51.100.1', '203.0.113.9', trusted)).toBe('198.51.100.1');
    expect(forwardedClient('198.51.100.1', ['203.0.113.9', '10.0.0.1'], trusted)).toBe('198.51.100.1');
    expect(forwardedClient('198.51.100.1', '203.0.113.9', new TrustedProxies())).toBe('198.51.100.1');
  });

  it('a trusted peer: the right-most entry that is not a trusted proxy', () => {
    expect(forwardedClient('10.0.0.1', '203.0.113.9', trusted)).toBe('203.0.113.9');
    // The client put a forged entry first; our proxies appended the real address after it.
    expect(forwardedClient('10.0.0.1', '192.0.2.66, 203.0.113.9, 10.0.0.2', trusted)).toBe('203.0.113.9');
    expect(forwardedClient('::ffff:10.0.0.1', '203.0.113.9,10.2.2.2', trusted)).toBe('203.0.113.9');
    expect(forwardedClient('2001:db8:ffff::1', '[2001:db8:1:2::99]:5000, 2001:db8:ffff::2', trusted)).toBe('2001:db8:1:2::99');
  });

  it('several headers are one list in their order', () => {
    expect(forwardedClient('10.0.0.1', ['192.0.2.66', '203.0.113.9, 10.0.0.3'], trusted)).toBe('203.0.113.9');
    expect(forwardedClient('10.0.0.1', ['203.0.113.9', '10.0.0.3'], trusted)).toBe('203.0.113.9');
  });

  it('a trusted peer without the header, or with only empty elements, is itself the client', () => {
    expect(forwardedClient('10.0.0.1', undefined, trusted)).toBe('10.0.0.1');
    expect(forwardedClient('10.0.0.1', '', trusted)).toBe('10.0.0.1');
    expect(forwardedClient('10.0.0.1', ' , ,', trusted)).toBe('10.0.0.1');
    expect(forwardedClient('10.0.0.1', '203.0.113.9, ,10.0.0.2', trusted)).toBe('203.0.113.9');
  });

  it('every entry trusted: the left-most one', () => {
    expect(forwardedClient('10.0.0.1', '10.0.0.9, 10.0.0.2', trusted)).toBe('10.0.0.9');
  });

  it('a malformed entry reached by the walk makes the peer the client; one left of the client is never read', () => {
    for (const header of ['garbage', '203.0.113.9, unknown', '203.0.113.9, 10.0.0.2, _hidden', '203.0.113.9;for=1.2.3.4', '1.2.3.4\u0000']) {
      expect(forwardedClient('10.0.0.1', header, trusted), header).toBe('10.0.0.1');
    }
    expect(forwardedClient('10.0.0.1', 'garbage, unknown, 203.0.113.9', trusted)).toBe('203.0.113.9');
  });

  it('reads only the right-most MAX_FORWARDED_CHARS; a walk reaching the cut falls back to the peer', () => {
    const padding = `${'192.0.2.1, '.repeat(Math.ceil(MAX_FORWARDED_CHARS / 11) + 10)}`;
    expect(forwardedClient('10.0.0.1', `${padding}203.0.113.9`, trusted)).toBe('203.0.113.9');
    const allTrusted = `${'10.0.0.9, '.repeat(Math.ceil(MAX_FORWARDED_CHARS / 10) + 10)}10.0.0.2`;
    expect(forwardedClient('10.0.0.1', allTrusted, trusted)).toBe('10.0.0.1');
    // A cut exactly at a comma leaves an empty first element: still the cut, still the peer.
    const tail = `${'10.0.0.9,'.repeat(400)}10.0.0.2`;
    const atComma = `203.0.113.9,${' '.repeat(MAX_FORWARDED_CHARS - 1 - tail.length)}${tail}`;
    expect(atComma.slice(-MAX_FORWARDED_CHARS).startsWith(',')).toBe(true);
    expect(forwardedClient('10.0.0.1', atComma, trusted)).toBe('10.0.0.1');
    // A huge header full of junk is read only at its end.
    expect(forwardedClient('10.0.0.1', `${'x'.repeat(1 << 20)}, 203.0.113.9`, trusted)).toBe('203.0.113.9');
  });

  it('the derived address keys like a peer address (IPv6 /64, IPv4-mapped as IPv4)', () => {
    expect(clientKey(forwardedClient('10.0.0.1', '2001:db8:1:2::99', trusted))).toBe('2001:db8:1:2::/64');
    expect(clientKey(forwardedClient('10.0.0.1', '::ffff:203.0.113.9', trusted))).toBe('203.0.113.9');
  });
});
