/**
 * The per-client connection cap (src/net/connection-cap.ts; s15 red team, service finding 2):
 * keys as client-key.ts (IPv4-mapped folded, IPv6 by /64 with the /56 and /48 sharing the cap),
 * exempt peers not counted, a closed socket releasing its count, the refusal counter.
 */
import { EventEmitter } from 'node:events';
import type { Socket } from 'node:net';

import { describe, expect, it } from 'vitest';

import { ConnectionCap, defaultConnectionsPerClient } from '../../src/net/connection-cap.js';

class FakeSocket extends EventEmitter {
  destroyed = false;
  constructor(readonly remoteAddress: string | undefined) {
    super();
  }
  destroy(): this {
    this.destroyed = true;
    return this;
  }
  close(): void {
    this.emit('close');
  }
}

const sock = (address: string | undefined): FakeSocket & Socket => new FakeSocket(address) as FakeSocket & Socket;

describe('ConnectionCap', () => {
  it('admits up to perClient per client, destroys and counts the next, and releases on close', () => {
    const cap = new ConnectionCap({ perClient: 2 });
    const a = [sock('192.0.2.1'), sock('192.0.2.1'), sock('192.0.2.1')];
    expect(a.map((s) => cap.admit(s))).toEqual([true, true, false]);
    expect(a.map((s) => s.destroyed)).toEqual([false, false, true]);
    expect(cap.refused).toBe(1);
    // Another client is not affected.
    expect(cap.admit(sock('192.0.2.2'))).toBe(true);
    a[0]!.close();
    expect(cap.openFor('192.0.2.1')).toBe(1);
    expect(cap.admit(sock('192.0.2.1'))).toBe(true);
    expect(cap.admit(sock('192.0.2.1'))).toBe(false);
    expect(cap.refused).toBe(2);
  });

  it('an IPv4-mapped IPv6 peer is the same client as its IPv4 address', () => {
    const cap = new ConnectionCap({ perClient: 1 });
    expect(cap.admit(sock('203.0.113.9'))).toBe(true);
    expect(cap.admit(sock('::ffff:203.0.113.9'))).toBe(false);
    expect(cap.admit(sock('::ffff:203.0.113.10'))).toBe(true);
  });

  it('IPv6: one /64 is one client, and its /56 and /48 share the same cap', () => {
    const cap = new ConnectionCap({ perClient: 2 });
    expect(cap.admit(sock('2001:db8:1:2::1'))).toBe(true);
    expect(cap.admit(sock('2001:db8:1:2:ffff::9'))).toBe(true);
    expect(cap.admit(sock('2001:db8:1:2::3'))).toBe(false); // same /64
    expect(cap.admit(sock('2001:db8:1:3::1'))).toBe(false); // another /64, same /56 and /48, already at the cap
    expect(cap.admit(sock('2001:db8:2::1'))).toBe(true); // another /48
    expect(cap.openFor('2001:db8:1:2::/64')).toBe(2);
    expect(cap.openFor('2001:db8:1::/48')).toBe(2);
  });

  it('exempt peers (trusted proxies) are never counted nor refused', () => {
    const cap = new ConnectionCap({ perClient: 1, exempt: (a) => a === '10.0.0.5' });
    for (let i = 0; i < 5; i++) expect(cap.admit(sock('10.0.0.5'))).toBe(true);
    expect(cap.trackedKeys).toBe(0);
    expect(cap.admit(sock('10.0.0.6'))).toBe(true);
    expect(cap.admit(sock('10.0.0.6'))).toBe(false);
  });

  it('a socket without an address counts as the one client "unknown"', () => {
    const cap = new ConnectionCap({ perClient: 1 });
    expect(cap.admit(sock(undefined))).toBe(true);
    expect(cap.admit(sock(undefined))).toBe(false);
  });

  it('refuses a cap that is not a positive integer; the default is a sixteenth of maxConnections, at least 8', () => {
    for (const perClient of [0, -1, 1.5, Number.NaN, Infinity]) expect(() => new ConnectionCap({ perClient })).toThrow(RangeError);
    expect(defaultConnectionsPerClient(1024)).toBe(64);
    expect(defaultConnectionsPerClient(10_000)).toBe(625);
    expect(defaultConnectionsPerClient(20)).toBe(8);
  });
});
