/**
 * Review session 6, finding 5: trust expiry read Date.now() while the verification used the
 * caller's `at`, and maxAgeMs 0 made every connection that waited for an attestation (or came
 * after a close-after-answer) fail with ERR_ATTEST_PINNING. Now `until` and validity are judged
 * on the caller's clock, and maxAgeMs 0 means: no trust outlives its attestation (every request
 * attests first; a connection is handed over with the attestation made on it or the one it
 * waited for). Real TLS on 127.0.0.1: the gateway, or a stand-in answering genuine evidence.
 */
import { afterAll, beforeAll, describe, expect, it } from 'vitest';

import { AttestedClient } from '../../src/gateway/index.js';
import type { EvidenceProvider } from '../../src/tee/index.js';
import { clientOptions, mrTdOf, ollamaChat, simulated, startHarness, tdxPolicy, type Harness } from './helpers.js';
import { startStub } from './review-s6-stub.js';

let calls = 0;
const counting: EvidenceProvider = { name: 'simulated', getEvidence: (rd) => ((calls += 1), simulated.getEvidence(rd)) };
let h: Harness;
let policy: ReturnType<typeof tdxPolicy>;
beforeAll(async () => {
  h = await startHarness({ provider: counting, requireApiKey: false, attestationsPerSecond: 1000 });
  policy = tdxPolicy(await mrTdOf(simulated));
});
afterAll(async () => h?.close());

const chat = async (client: AttestedClient, path = '/api/chat'): Promise<number> => {
  const r = await client.fetch(path, { method: 'POST', headers: { 'content-type': 'application/json' }, body: ollamaChat('hi', false) });
  await r.text();
  return r.status;
};

describe('trust expiry on the caller\'s clock', () => {
  it('the caller\'s clock moves past maxAgeMs (the wall clock does not): the next request attests again', async () => {
    let now = Date.now();
    const client = new AttestedClient(h.gateway.url, { ...clientOptions(policy), at: () => new Date(now), maxAgeMs: 60_000 });
    try {
      const before = calls;
      expect(await chat(client)).toBe(200);
      expect(calls).toBe(before + 1);
      now += 30_000;
      expect(await chat(client)).toBe(200);
      expect(calls).toBe(before + 1); // still within maxAgeMs on the caller's clock
      now += 60_000;
      expect(await chat(client)).toBe(200);
      expect(calls).toBe(before + 2);
      expect(client.last!.at).toBe(new Date(now).toISOString());
    } finally {
      await client.close();
    }
  });

  // A fixed `at` Date: maxAgeMs also runs on monotonic time (review 6c), test/gateway/review-s6c-clock.test.ts.

  it('maxAgeMs must be a finite number, 0 or more', () => {
    for (const maxAgeMs of [-1, Number.NaN, Number.POSITIVE_INFINITY, '5' as unknown as number]) {
      expect(() => new AttestedClient(h.gateway.url, { ...clientOptions(policy), maxAgeMs })).toThrow(RangeError);
    }
  });
});

describe('maxAgeMs 0: verify per connection, no ERR_ATTEST_PINNING', () => {
  it('every request attests first, and a fixed clock does not change that', async () => {
    const client = new AttestedClient(h.gateway.url, { ...clientOptions(policy), maxAgeMs: 0, at: new Date() });
    try {
      const before = calls;
      expect(await chat(client)).toBe(200);
      expect(await chat(client)).toBe(200);
      expect(calls).toBe(before + 2);
    } finally {
      await client.close();
    }
  });

  it('the server closes after its attestation answer: the next connection presents the attested key and is used', async () => {
    const stub = await startStub((t) => t.answer({ connection: 'close' }));
    const client = new AttestedClient(stub.url, { ...clientOptions(policy), maxAgeMs: 0 });
    try {
      expect(await chat(client, '/one')).toBe(200);
      expect(await chat(client, '/two')).toBe(200);
      const attestations = stub.requests.filter((r) => r.path === '/v1/attestation');
      const chats = stub.requests.filter((r) => r.path !== '/v1/attestation');
      expect(attestations.length).toBeGreaterThanOrEqual(2); // each request attests first (a new connection may attest too)
      expect(chats.map((r) => r.path)).toEqual(['/one', '/two']);
      // each request went over a connection that did not carry an attestation (the stub closed those)
      for (const r of chats) expect(attestations.some((a) => a.connection === r.connection)).toBe(false);
    } finally {
      await client.close();
      await stub.close();
    }
  });

  it('a connection that waited for the attestation in progress is handed over with its verdict', async () => {
    // The second attestation is held until a third TLS connection is up: that connection's
    // key is not trusted (maxAgeMs 0), so it waits for the attestation in progress.
    let third!: Promise<void>;
    const stub = await startStub(async (t) => {
      if (t.n >= 2) await third;
      await t.answer();
    });
    third = stub.connections(3);
    const client = new AttestedClient(stub.url, { ...clientOptions(policy), maxAgeMs: 0 });
    try {
      const statuses = await Promise.all(['/a', '/b', '/c'].map((p) => chat(client, p)));
      expect(statuses).toEqual([200, 200, 200]);
      expect(stub.sockets).toHaveLength(3);
      // one attestation for attest() (its connection carried a request), one for the second connection; the third waited
      expect(stub.requests.filter((r) => r.path === '/v1/attestation')).toHaveLength(2);
    } finally {
      await client.close();
      await stub.close();
    }
  });
});
