/**
 * Review session 6, finding 3: one unauthenticated peer could spend the whole per-instance
 * evidence budget (shared by /v1/attestation, /api/v1/tee/quote, /aTLS and Cube) so that every new
 * client failed with ERR_ATTEST_EXCHANGE 429. Now each client key (src/net/client-key.ts; from
 * X-Forwarded-For only behind a trusted proxy) gets a share of the budget (default a quarter), the
 * client retries once after Retry-After when that fits in timeoutMs, and `tee-verify chat` exits 3
 * (retry later) for a rate limit, not 1. Real TLS on 127.0.0.1.
 */
import { Agent, request } from 'undici';
import { afterAll, afterEach, beforeAll, describe, expect, it, vi } from 'vitest';

import { runChatSession, type ChatIo } from '../../src/gateway/chat-cli.js';
import { AttestationRefusedError, AttestedClient, EvidenceRateLimiter, startGateway } from '../../src/gateway/index.js';
import { clientOptions, mrTdOf, simulated, startHarness, tdxPolicy, type Harness } from './helpers.js';
import { startStub } from './review-s6-stub.js';

let policy: ReturnType<typeof tdxPolicy>;
beforeAll(async () => {
  policy = tdxPolicy(await mrTdOf(simulated));
});

describe('EvidenceRateLimiter: a share per client inside the instance bound', () => {
  it('one client gets at most its share (default a quarter); another client still gets grants', () => {
    const l = new EvidenceRateLimiter(10);
    expect(l.perClient).toBe(3);
    for (let i = 0; i < 3; i++) expect(l.take(1000 + i, '203.0.113.7')).toBe(0);
    expect(l.take(1010, '203.0.113.7')).toBe(1);
    expect(l.take(1020, '198.51.100.1')).toBe(0);
    // the client's share frees up when its oldest grant leaves the window
    expect(l.take(2000, '203.0.113.7')).toBe(0); // the grant at 1000 left
    expect(l.take(2000, '203.0.113.7')).toBe(1); // 1001, 1002 and 2000 are in the window
  });

  it('the instance bound still holds across clients, and without a client key only it applies', () => {
    const l = new EvidenceRateLimiter(4, 2);
    expect(l.take(0, 'a')).toBe(0);
    expect(l.take(1, 'a')).toBe(0);
    expect(l.take(2, 'b')).toBe(0);
    expect(l.take(3)).toBe(0);
    expect(l.take(4, 'c')).toBe(1); // 4 grants in the window
    expect(l.take(5)).toBe(1);
  });

  it('an IPv6 holder cannot multiply its share with fresh /64s: its /56 and /48 share one budget', () => {
    const l = new EvidenceRateLimiter(10, 2);
    expect(l.take(0, '2001:db8:1:1::/64')).toBe(0);
    expect(l.take(1, '2001:db8:1:2::/64')).toBe(0);
    expect(l.take(2, '2001:db8:1:3::/64')).toBe(1);
    expect(l.take(3, '2001:db8:2:1::/64')).toBe(0); // another /48
  });

  it('the share is a positive integer, at most the bound', () => {
    expect(() => new EvidenceRateLimiter(10, 0)).toThrow(RangeError);
    expect(() => new EvidenceRateLimiter(10, 1.5)).toThrow(RangeError);
    expect(new EvidenceRateLimiter(10, 50).perClient).toBe(10);
    expect(new EvidenceRateLimiter(1).perClient).toBe(1);
  });
});

describe('the gateway: one peer saturating its share does not lock others out', () => {
  let h: Harness;
  let insecure: Agent;
  // The limiter's window is one second of Date.now(): sequential requests on a loaded machine can
  // take longer than that, so the window would slide and a grant could be given back mid-burst.
  // The wall clock stands still in these tests: every request of a burst falls in one window.
  afterEach(() => vi.restoreAllMocks());
  const freezeWallClock = (): void => void vi.spyOn(Date, 'now').mockReturnValue(Date.now());
  beforeAll(async () => {
    // Behind a trusted proxy on 127.0.0.1, X-Forwarded-For names the client.
    h = await startHarness({ requireApiKey: false, attestationsPerSecond: 8, attestationsPerClient: 2, trustedProxies: ['127.0.0.1'] });
    insecure = new Agent({ connect: { rejectUnauthorized: false }, connections: 1 });
  });
  afterAll(async () => {
    await insecure?.close();
    await h?.close();
  });

  it('the default share is a quarter of the bound (a gateway started without the option)', async () => {
    const g = await startGateway({ upstream: h.upstream.url, db: `${h.db}.default`, provider: simulated, port: 0, log: () => {}, attestationsPerSecond: 8 });
    try {
      freezeWallClock();
      const statuses: number[] = [];
      for (let i = 0; i < 4; i++) {
        const r = await request(`${g.url}/api/v1/tee/quote`, { dispatcher: insecure });
        await r.body.dump();
        statuses.push(r.statusCode);
      }
      expect(statuses).toEqual([200, 200, 429, 429]);
    } finally {
      await g.close();
    }
  });

  it('12 quote requests from one client: 429 beyond its share; a second client (another key) still attests at once', async () => {
    freezeWallClock();
    const statuses: number[] = [];
    for (let i = 0; i < 12; i++) {
      const r = await request(`${h.gateway.url}/api/v1/tee/quote`, { dispatcher: insecure, headers: { 'x-forwarded-for': '203.0.113.7' } });
      const body = (await r.body.json()) as { error?: { code: string } };
      statuses.push(r.statusCode);
      if (r.statusCode === 429) {
        expect(body.error?.code).toBe('ERR_GATEWAY_RATE_LIMITED');
        expect(Number(r.headers['retry-after'])).toBeGreaterThanOrEqual(1);
      }
    }
    expect(statuses).toEqual([200, 200, ...Array<number>(10).fill(429)]);
    // The window never moves (the wall clock stands still): a retry after Retry-After would get 429
    // again, so this passes only because its own share is free.
    const client = new AttestedClient(h.gateway.url, clientOptions(policy));
    try {
      const v = await client.attest();
      expect(v.spkiSha256).toBe(h.gateway.spkiSha256);
    } finally {
      await client.close();
    }
  });

  it('X-Forwarded-For from a peer that is not a trusted proxy is ignored: rotating it does not escape the share', async () => {
    const g = await startHarness({ requireApiKey: false, attestationsPerSecond: 8, attestationsPerClient: 2 });
    try {
      freezeWallClock();
      const statuses: number[] = [];
      for (let i = 0; i < 12; i++) {
        const r = await request(`${g.gateway.url}/api/v1/tee/quote`, { dispatcher: insecure, headers: { 'x-forwarded-for': `203.0.113.${i + 1}` } });
        await r.body.dump();
        statuses.push(r.statusCode);
      }
      expect(statuses).toEqual([200, 200, ...Array<number>(10).fill(429)]);
    } finally {
      await g.close();
    }
  });
});

describe('the client retries a 429 once, after its Retry-After', () => {
  it('429 with Retry-After: 1, then an answer: attest() succeeds on a new connection', async () => {
    const stub = await startStub((t) => (t.n === 1 ? t.tooMany(1) : t.answer()));
    const client = new AttestedClient(stub.url, clientOptions(policy));
    try {
      const v = await client.attest();
      expect(v.spkiSha256).toBe(stub.spkiSha256);
      const attestations = stub.requests.filter((r) => r.path === '/v1/attestation');
      expect(attestations.map((r) => r.connection)).toEqual([1, 2]);
    } finally {
      await client.close();
      await stub.close();
    }
  });

  it('only once: a second 429 is the refusal (ERR_ATTEST_EXCHANGE, status 429, retryAfterMs)', async () => {
    const stub = await startStub((t) => t.tooMany(1));
    const client = new AttestedClient(stub.url, clientOptions(policy));
    try {
      const err = await client.attest().catch((e: unknown) => e);
      expect(err).toBeInstanceOf(AttestationRefusedError);
      expect((err as AttestationRefusedError).code).toBe('ERR_ATTEST_EXCHANGE');
      expect((err as AttestationRefusedError).details).toMatchObject({ status: 429, serverCode: 'ERR_GATEWAY_RATE_LIMITED', retryAfterMs: 1000 });
      expect(stub.requests.filter((r) => r.path === '/v1/attestation')).toHaveLength(2);
    } finally {
      await client.close();
      await stub.close();
    }
  });

  it('no retry when Retry-After exceeds timeoutMs: refused at once', async () => {
    const stub = await startStub((t) => t.tooMany(30));
    const client = new AttestedClient(stub.url, { ...clientOptions(policy), timeoutMs: 5000 });
    try {
      const err = await client.attest().catch((e: unknown) => e);
      expect((err as AttestationRefusedError).details).toMatchObject({ status: 429, retryAfterMs: 30_000 });
      expect(stub.requests.filter((r) => r.path === '/v1/attestation')).toHaveLength(1);
    } finally {
      await client.close();
      await stub.close();
    }
  });
});

describe('tee-verify chat and a rate-limited gateway', () => {
  const capture = (): ChatIo & { out: () => string; err: () => string } => {
    let out = '';
    let err = '';
    return { stdout: (t) => void (out += t), stderr: (t) => void (err += t), out: () => out, err: () => err };
  };

  it('still 429 after the one retry: exit 3 (retry later), not 1; nothing sent', async () => {
    const stub = await startStub((t) => t.tooMany(1));
    const io = capture();
    try {
      const code = await runChatSession({ gateway: stub.url, client: clientOptions(policy), api: 'ollama', model: 'm', prompt: 'hi' }, io);
      expect(code).toBe(3);
      expect(io.err()).toContain('refused (ERR_ATTEST_EXCHANGE)');
      expect(io.err()).toContain('(retry later)');
      expect(stub.requests.every((r) => r.path === '/v1/attestation')).toBe(true);
    } finally {
      await stub.close();
    }
  });

  it('--json names the status', async () => {
    const stub = await startStub((t) => t.tooMany(1));
    const io = capture();
    try {
      const code = await runChatSession({ gateway: stub.url, client: { ...clientOptions(policy), timeoutMs: 500 }, api: 'ollama', model: 'm', prompt: 'hi', json: true }, io);
      expect(code).toBe(3);
      expect(JSON.parse(io.out())).toMatchObject({ ok: false, error: { code: 'ERR_ATTEST_EXCHANGE', status: 429 } });
    } finally {
      await stub.close();
    }
  });
});
