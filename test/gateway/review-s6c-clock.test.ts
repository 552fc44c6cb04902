/**
 * Review session 6c, finding 1: with a fixed `at` (a Date), the caller's clock never moves, so a key
 * verified once stayed trusted for the life of the process and maxAgeMs did nothing. Now maxAgeMs
 * also runs on elapsed monotonic time (performance.now() at the verification), while the
 * collateral's expiry stays judged on the caller's clock. The monotonic clock is moved forward by a
 * spy on performance.now (no waiting). Real gateway on 127.0.0.1; evidence requests are counted.
 */
import type { TLSSocket } from 'node:tls';

import { afterAll, afterEach, beforeAll, describe, expect, it, vi } from 'vitest';

import { AttestedClient } from '../../src/gateway/index.js';
import type { EvidenceProvider } from '../../src/tee/index.js';
import { clientOptions, mrTdOf, ollamaChat, simulated, startHarness, tdxPolicy, type Harness } from './helpers.js';

/** The client's TLS sockets, in the order it opens them (tls.connect wrapped; nothing else changes). */
const opened = vi.hoisted(() => [] as TLSSocket[]);
vi.mock('node:tls', async (importOriginal) => {
  const actual = await importOriginal<typeof import('node:tls')>();
  const connect = (...args: Parameters<typeof actual.connect>): TLSSocket => {
    const socket = actual.connect(...args);
    opened.push(socket);
    return socket;
  };
  return { ...actual, connect };
});

let calls = 0;
const counting: EvidenceProvider = { name: 'simulated', getEvidence: (rd) => ((calls += 1), simulated.getEvidence(rd)) };
let h: Harness;
let policy: ReturnType<typeof tdxPolicy>;
beforeAll(async () => {
  h = await startHarness({ provider: counting, requireApiKey: false, attestationsPerSecond: 1000 });
  policy = tdxPolicy(await mrTdOf(simulated));
});
afterAll(async () => h?.close());
afterEach(() => vi.restoreAllMocks());

/** Monotonic time `skewMs` ahead of the real one from now on. */
function advanceMonotonic(skewMs: number): void {
  const real = performance.now.bind(performance);
  vi.spyOn(performance, 'now').mockImplementation(() => real() + skewMs);
}

const chat = async (client: AttestedClient): Promise<number> => {
  const r = await client.fetch('/api/chat', { method: 'POST', headers: { 'content-type': 'application/json' }, body: ollamaChat('hi', false) });
  await r.text();
  return r.status;
};

describe('maxAgeMs with a fixed `at`', () => {
  it('within maxAgeMs the key stays trusted; once maxAgeMs of monotonic time has passed, the next request attests again', async () => {
    const at = new Date();
    const client = new AttestedClient(h.gateway.url, { ...clientOptions(policy), at, maxAgeMs: 60_000 });
    try {
      const before = calls;
      expect(await chat(client)).toBe(200);
      expect(await chat(client)).toBe(200);
      expect(calls).toBe(before + 1);
      advanceMonotonic(60_001);
      expect(await chat(client)).toBe(200);
      expect(calls).toBe(before + 2);
      expect(client.last!.at).toBe(at.toISOString()); // the verification itself still runs at the caller's instant
      // The new trust runs from the new verification: no third attestation right away.
      expect(await chat(client)).toBe(200);
      expect(calls).toBe(before + 2);
    } finally {
      await client.close();
    }
  });

  // Review s9, finding 5: this test claimed that #takeSpare's trust check keeps the expired parked
  // connection from a request, but only counted attestations, and that check could not be reached
  // (it is gone). What keeps the connection out is fetch attesting again first, on a new connection
  // whose parking replaces (closes) the old one: that is asserted on the sockets themselves.
  it('an explicit attest() re-verifies; after expiry fetch attests again and the request goes on that new connection, the expired parked one is closed unused', async () => {
    const at = new Date();
    const client = new AttestedClient(h.gateway.url, { ...clientOptions(policy), at, maxAgeMs: 60_000 });
    try {
      const before = calls;
      opened.length = 0;
      await client.attest();
      expect(opened).toHaveLength(1);
      const parked = opened[0]!;
      const parkedWritten = parked.bytesWritten; // the attestation request only
      advanceMonotonic(120_000);
      expect(await chat(client)).toBe(200);
      expect(calls).toBe(before + 2); // the parked socket's attestation expired: fetch attested again
      expect(opened).toHaveLength(2); // ... on a new connection, which then carried the request
      expect(parked.destroyed).toBe(true);
      expect(parked.bytesWritten).toBe(parkedWritten); // no byte of the request went on the expired one
      expect(opened[1]!.destroyed).toBe(false); // pooled for the next request
    } finally {
      await client.close();
    }
  });
});
