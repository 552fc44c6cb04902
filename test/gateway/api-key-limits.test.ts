/**
 * Proxied requests without a valid API key are limited per client (429 +
 * Retry-After before any key lookup, nothing reaches the upstream), the
 * client is taken from X-Forwarded-For only when the peer is a trusted proxy,
 * and /metrics counts the 429s of each limiter. Second client addresses come
 * from 127.0.0.2 (all of 127.0.0.0/8 is loopback on Linux); further clients
 * from X-Forwarded-For values sent through a trusted peer.
 */
import { randomBytes } from 'node:crypto';

import { Agent, request } from 'undici';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';

import { runGatewayCli } from '../../src/gateway/cli.js';
import { startGateway, type Gateway } from '../../src/gateway/index.js';
import { ollamaChat, SECRET, simulated, startHarness, type Harness } from './helpers.js';

const WRONG_KEY = `tgw_${'A'.repeat(43)}`;
const WRONG_ADMIN = `tgwa_${'A'.repeat(43)}`;

interface Answer {
  status: number;
  code: string | undefined;
  retryAfter: unknown;
}

/** A chat request carrying the secret marker; `token: null` sends no Authorization header. */
async function chat(agent: Agent, gateway: Gateway, token: string | null, headers: Record<string, string | string[]> = {}, path = '/api/chat'): Promise<Answer> {
  const res = await request(`${gateway.url}${path}`, {
    method: 'POST',
    dispatcher: agent,
    headers: { 'content-type': 'application/json', ...(token === null ? {} : { authorization: `Bearer ${token}` }), ...headers },
    body: ollamaChat(`${SECRET} hello`, false),
  });
  const text = await res.body.text();
  let code: string | undefined;
  try {
    code = JSON.parse(text).error?.code;
  } catch {
    code = undefined;
  }
  return { status: res.statusCode, code, retryAfter: res.headers['retry-after'] };
}

function expectLimited(a: Answer, windowS = 60): void {
  expect(a).toMatchObject({ status: 429, code: 'ERR_GATEWAY_TOO_MANY_AUTH_FAILURES' });
  expect(Number(a.retryAfter)).toBeGreaterThanOrEqual(1);
  expect(Number(a.retryAfter)).toBeLessThanOrEqual(windowS);
}

/** Counts the store's API-key lookups (each one a database query). */
function countLookups(gateway: Gateway): { n: number } {
  const counter = { n: 0 };
  const authenticate = gateway.keys.authenticate.bind(gateway.keys);
  gateway.keys.authenticate = (token: string) => {
    counter.n += 1;
    return authenticate(token);
  };
  return counter;
}

async function metric(h: Harness, limiter: 'admin' | 'api_key'): Promise<number> {
  const text = (await h.call('GET', '/metrics', { token: null })).text;
  const m = new RegExp(`^tee_gateway_auth_rate_limited_total\\{limiter="${limiter}"\\} (\\d+)$`, 'm').exec(text);
  expect(m, text).not.toBeNull();
  return Number(m![1]);
}

describe('failed API keys on proxied requests are limited per client', () => {
  let h: Harness;
  let lookups: { n: number };
  let other: Agent;
  let admin: string;

  beforeAll(async () => {
    // A long lookup interval: the guesses below fall inside it however slow the machine.
    h = await startHarness({ apiKeyFailureLimit: { maxFailures: 3, windowMs: 60_000 }, adminFailureLimit: { maxFailures: 2, windowMs: 60_000 }, limitedLookupIntervalMs: 60_000 });
    lookups = countLookups(h.gateway);
    admin = (await h.gateway.keys.createAdminToken('ops')).token;
    other = new Agent({ localAddress: '127.0.0.2', connect: { rejectUnauthorized: false } });
  });
  afterAll(async () => {
    await other?.close();
    await h?.close();
  });

  it('after 3 failures: 429 with Retry-After and no lookup for no key or a malformed one; nothing of theirs reaches the upstream', async () => {
    expect(await chat(h.insecure, h.gateway, h.token)).toMatchObject({ status: 200 });
    expect(lookups.n).toBe(1);
    const before = h.upstream.received.length;
    for (let i = 0; i < 3; i++) expect(await chat(h.insecure, h.gateway, WRONG_KEY)).toMatchObject({ status: 401, code: 'ERR_GATEWAY_UNAUTHORIZED' });
    expect(lookups.n).toBe(4);
    for (const token of [null, 'not a key', `${WRONG_KEY}x`]) expectLimited(await chat(h.insecure, h.gateway, token));
    expect(lookups.n).toBe(4);
    expect(h.upstream.received.length).toBe(before);
    expect(h.upstream.received.map((r) => r.body).slice(before).join('')).not.toContain(SECRET);
  });

  it('a limited client\'s token of an API key\'s shape is still looked up, once per interval: the valid key is served (users sharing the address keep working); a flood of guesses costs one lookup', async () => {
    const before = h.upstream.received.length;
    expect(await chat(h.insecure, h.gateway, h.token)).toMatchObject({ status: 200 });
    expect(lookups.n).toBe(5);
    expect(h.upstream.received.length).toBe(before + 1);
    // Inside the lookup interval, 50 concurrent key-shaped guesses: all 429, no further lookup.
    const guesses = await Promise.all(Array.from({ length: 50 }, () => chat(h.insecure, h.gateway, `tgw_${randomBytes(32).toString('base64url')}`)));
    for (const g of guesses) expectLimited(g);
    expect(lookups.n).toBe(5);
    expect(h.upstream.received.length).toBe(before + 1);
  });

  it('another client is served; its success does not reset the limited client', async () => {
    expect(await chat(other, h.gateway, h.token)).toMatchObject({ status: 200 });
    expectLimited(await chat(h.insecure, h.gateway, null));
  });

  it('a request without Authorization counts as a failure (no lookup)', async () => {
    const n = lookups.n;
    expect(await chat(other, h.gateway, null)).toMatchObject({ status: 401, code: 'ERR_GATEWAY_UNAUTHORIZED' });
    expect(await chat(other, h.gateway, null)).toMatchObject({ status: 401 });
    expect(lookups.n).toBe(n);
    expect(await chat(other, h.gateway, WRONG_KEY)).toMatchObject({ status: 401 });
    expectLimited(await chat(other, h.gateway, null));
    expect(lookups.n).toBe(n + 1);
  });

  it('the gateway\'s own routes and the admin API (its own limiter) still answer the limited client', async () => {
    expect((await h.call('GET', '/health', { token: null })).status).toBe(200);
    expect((await h.call('GET', '/admin/v1/keys', { token: admin })).status).toBe(200);
  });

  it('/metrics counts the 429s of each limiter', async () => {
    const apiKey = await metric(h, 'api_key');
    expect(apiKey).toBe(55); // three in the first test, fifty in the second, one in each of the next two
    expect(await metric(h, 'admin')).toBe(0);
    for (let i = 0; i < 2; i++) expect((await h.call('GET', '/admin/v1/keys', { token: WRONG_ADMIN })).status).toBe(401);
    expect((await h.call('GET', '/admin/v1/keys', { token: admin })).status).toBe(429);
    expect(await metric(h, 'admin')).toBe(1);
    expectLimited(await chat(h.insecure, h.gateway, null));
    expect(await metric(h, 'api_key')).toBe(apiKey + 1);
  });
});

describe('trusted proxies: X-Forwarded-For names the client only from a trusted peer', () => {
  let h: Harness;
  let lookups: { n: number };
  let untrusted: Agent;
  let admin: string;
  const xff = (v: string | string[]): Record<string, string | string[]> => ({ 'x-forwarded-for': v });

  beforeAll(async () => {
    // 127.0.0.1 is the reverse proxy; 127.0.0.2 is a client reaching the gateway directly.
    h = await startHarness({ trustedProxies: ['127.0.0.1/32'], apiKeyFailureLimit: { maxFailures: 2, windowMs: 60_000 }, adminFailureLimit: { maxFailures: 2, windowMs: 60_000 } });
    lookups = countLookups(h.gateway);
    admin = (await h.gateway.keys.createAdminToken('ops')).token;
    untrusted = new Agent({ localAddress: '127.0.0.2', connect: { rejectUnauthorized: false } });
  });
  afterAll(async () => {
    await untrusted?.close();
    await h?.close();
  });

  it('from the trusted peer, each forwarded client has its own count', async () => {
    for (let i = 0; i < 2; i++) expect(await chat(h.insecure, h.gateway, WRONG_KEY, xff('203.0.113.1'))).toMatchObject({ status: 401 });
    expectLimited(await chat(h.insecure, h.gateway, null, xff('203.0.113.1')));
    expect(await chat(h.insecure, h.gateway, h.token, xff('203.0.113.2'))).toMatchObject({ status: 200 });
    expect(await chat(h.insecure, h.gateway, h.token, xff('[2001:db8:1:2::5]:4711'))).toMatchObject({ status: 200 });
    // The proxy itself (no header) is another client.
    expect(await chat(h.insecure, h.gateway, h.token)).toMatchObject({ status: 200 });
  });

  it('a limited client cannot escape by forging entries left of what the proxy appended (one header or several)', async () => {
    const n = lookups.n;
    expectLimited(await chat(h.insecure, h.gateway, null, xff('198.51.100.50, 203.0.113.1')));
    expectLimited(await chat(h.insecure, h.gateway, null, xff(['198.51.100.51', '203.0.113.1'])));
    expectLimited(await chat(h.insecure, h.gateway, null, xff('198.51.100.52, 203.0.113.1, 127.0.0.1')));
    expect(lookups.n).toBe(n);
  });

  it('from an untrusted peer the header is ignored: rotating X-Forwarded-For does not evade the limit', async () => {
    expect(await chat(untrusted, h.gateway, WRONG_KEY, xff('192.0.2.1'))).toMatchObject({ status: 401 });
    expect(await chat(untrusted, h.gateway, WRONG_KEY, xff('192.0.2.2'))).toMatchObject({ status: 401 });
    const n = lookups.n;
    for (const spoof of ['192.0.2.3', '203.0.113.2', '127.0.0.9']) expectLimited(await chat(untrusted, h.gateway, null, xff(spoof)));
    expect(lookups.n).toBe(n);
    // ...and its failures were not charged to the addresses it named.
    expect(await chat(h.insecure, h.gateway, h.token, xff('192.0.2.1'))).toMatchObject({ status: 200 });
  });

  it('a malformed header from the trusted peer counts against the peer, not a name the sender chose', async () => {
    for (const junk of ['unknown', 'evil.example, 203.0.113.7:0']) expect(await chat(h.insecure, h.gateway, WRONG_KEY, xff(junk))).toMatchObject({ status: 401 });
    expectLimited(await chat(h.insecure, h.gateway, null));
    expectLimited(await chat(h.insecure, h.gateway, null, xff('garbage')));
    expect(await chat(h.insecure, h.gateway, h.token, xff('203.0.113.7'))).toMatchObject({ status: 200 });
  });

  it('the admin limiter counts the same derived client', async () => {
    const call = async (token: string, from: string) =>
      (await request(`${h.gateway.url}/admin/v1/keys`, { dispatcher: h.insecure, headers: { authorization: `Bearer ${token}`, 'x-forwarded-for': from } })).statusCode;
    expect(await call(WRONG_ADMIN, '198.51.100.7')).toBe(401);
    expect(await call(WRONG_ADMIN, '198.51.100.7')).toBe(401);
    expect(await call(admin, '198.51.100.7')).toBe(429);
    expect(await call(admin, '198.51.100.8')).toBe(200);
  });
});

describe('tee-gateway serve: --api-key-max-failures, --api-key-failure-window, --trusted-proxy', () => {
  let h: Harness;
  let gateway: Gateway | undefined;

  beforeAll(async () => {
    h = await startHarness();
  });
  afterAll(async () => {
    await gateway?.close();
    await h?.close();
  });

  it('reach the server', async () => {
    const io = { stdout: () => {}, stderr: () => {}, env: {} };
    const r = await runGatewayCli(['serve', '--upstream', h.upstream.url, '--db', h.db, '--listen', '127.0.0.1:0', '--simulated-tee',
      '--api-key-max-failures', '1', '--api-key-failure-window', '30', '--trusted-proxy', '10.0.0.0/8', '--trusted-proxy', '127.0.0.1'], io);
    expect(r.code).toBe(0);
    gateway = r.gateway as Gateway;
    expect(await chat(h.insecure, gateway, WRONG_KEY, { 'x-forwarded-for': '203.0.113.1' })).toMatchObject({ status: 401 });
    expectLimited(await chat(h.insecure, gateway, null, { 'x-forwarded-for': '203.0.113.1' }), 30);
    expect(await chat(h.insecure, gateway, h.token, { 'x-forwarded-for': '203.0.113.2' })).toMatchObject({ status: 200 });
  });

  it('a bad range or limit is refused at start: ERR_GATEWAY_CONFIG, exit status 78 from the CLI', async () => {
    const io = { stdout: () => {}, stderr: () => {}, env: {} };
    for (const bad of [['--trusted-proxy', '10.0.0.1/8'], ['--trusted-proxy', '0.0.0.0/0'], ['--trusted-proxy', 'proxy.local']]) {
      expect((await runGatewayCli(['serve', '--upstream', h.upstream.url, '--db', h.db, '--listen', '127.0.0.1:0', '--simulated-tee', ...bad], io)).code, bad.join(' ')).toBe(78);
    }
    expect((await runGatewayCli(['serve', '--upstream', h.upstream.url, '--db', h.db, '--listen', '127.0.0.1:0', '--simulated-tee', '--api-key-max-failures', '1.5'], io)).code).toBe(2);
    for (const bad of [{ trustedProxies: ['::/0'] }, { apiKeyFailureLimit: { maxFailures: 0 } }, { trustedProxies: '10.0.0.0/8' as unknown as string[] }]) {
      await expect(startGateway({ upstream: h.upstream.url, db: h.db, provider: simulated, port: 0, log: () => {}, ...bad })).rejects.toMatchObject({ code: 'ERR_GATEWAY_CONFIG' });
    }
  });
});
