/**
 * Key-broker server hardening: bounded request receipt (a client dribbling
 * its TLS handshake, request head or body is cut), failed admin logins (a
 * wrong admin token or bootstrap secret) limited per client without touching
 * the database, and the per-client limits keyed by the normalised client key
 * (src/net/client-key.ts). A second client address comes from 127.0.0.2 (all
 * of 127.0.0.0/8 is loopback); a broker listening on "::" sees IPv4 peers as
 * IPv4-mapped addresses.
 */
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';

import { Agent, request } from 'undici';
import { afterAll, afterEach, beforeAll, describe, expect, it, vi } from 'vitest';

import { exportBundle } from '../../src/index.js';
import { runKbsCli, startKeyBroker, type KeyBroker } from '../../src/kbs/index.js';
import { RateLimiter } from '../../src/kbs/rate-limit.js';
import { KbsStore } from '../../src/kbs/store.js';
import { dribbleBody, dribbleHandshake, dribbleHeaders, isCut, silentAfterHandshake } from '../gateway/slow-client-hardening.js';
import { collateralOf, makePlatform, startHarness, transferPath, type Harness } from './helpers.js';

const BOUND_MS = 300;
const SECRET = 'correct horse battery staple';
const WRONG_TOKEN = 'W'.repeat(43);
const KEY_ID = '0b6b4a39-4f0e-4d39-9d8a-5d6f8a1c2e3f';

async function call(agent: Agent, url: string, o: { method?: 'GET' | 'POST'; token?: string; body?: unknown } = {}): Promise<{ status: number; code: string | undefined; retryAfter: unknown }> {
  const res = await request(url, {
    method: o.method ?? 'GET',
    dispatcher: agent,
    headers: { ...(o.token ? { authorization: `Bearer ${o.token}` } : {}), ...(o.body === undefined ? {} : { 'content-type': 'application/json' }) },
    ...(o.body === undefined ? {} : { body: JSON.stringify(o.body) }),
  });
  const text = await res.body.text();
  let code: string | undefined;
  try {
    code = JSON.parse(text).code;
  } catch {
    code = undefined;
  }
  return { status: res.statusCode, code, retryAfter: res.headers['retry-after'] };
}

describe('request receipt is bounded (slow clients are cut)', () => {
  let h: Harness;
  beforeAll(async () => {
    h = await startHarness({ headersTimeoutMs: BOUND_MS, requestTimeoutMs: BOUND_MS, keepAliveTimeoutMs: BOUND_MS });
  });
  afterAll(async () => h?.close());

  it('a request head sent one byte at a time is answered 408 and closed', async () => {
    expect((await dribbleHeaders(h.broker.url, '/version')).answer).toMatch(/^HTTP\/1\.1 408 /);
  });

  it('a body sent one byte at a time is cut (transfer and admin routes)', async () => {
    expect(isCut(await dribbleBody(h.broker.url, transferPath(KEY_ID), { 'Attestation-Type': 'TDX' }))).toBe(true);
    expect(isCut(await dribbleBody(h.broker.url, '/kbs/v1/keys', { authorization: `Bearer ${h.token}` }))).toBe(true);
  });

  it('a silent connection and a dribbled TLS handshake are cut', async () => {
    expect(isCut(await silentAfterHandshake(h.broker.url))).toBe(true);
    expect((await dribbleHandshake(h.broker.url)).answer).toBe('');
  });

  it('an ordinary request is still served', async () => {
    expect((await h.call('GET', '/kbs/v1/keys')).status).toBe(200);
  });

  it('refuses a headers bound above the request bound, or a zero bound (ERR_KBS_CONFIG)', async () => {
    const p = makePlatform();
    for (const bad of [{ headersTimeoutMs: 2000, requestTimeoutMs: 1000 }, { headersTimeoutMs: 0 }, { keepAliveTimeoutMs: -1 }]) {
      await expect(startKeyBroker({ db: join(h.dir, 'bad.sqlite'), port: 0, collateral: collateralOf(p), trustRoots: p.trustRoots, log: () => {}, ...bad })).rejects.toMatchObject({ code: 'ERR_KBS_CONFIG' });
    }
  });
});

describe('failed admin logins are limited per client', () => {
  let h: Harness;
  let other: Agent;
  let local: Agent;
  beforeAll(async () => {
    h = await startHarness({ bootstrapSecret: SECRET, adminFailureLimit: { maxFailures: 3, windowMs: 60_000 } });
    local = new Agent({ connect: { rejectUnauthorized: false } });
    other = new Agent({ localAddress: '127.0.0.2', connect: { rejectUnauthorized: false } });
  });
  afterAll(async () => {
    await local?.close();
    await other?.close();
    await h?.close();
  });
  afterEach(() => vi.restoreAllMocks());

  it('wrong tokens and wrong bootstrap secrets count; past 3: 429 ERR_KBS_TOO_MANY_AUTH_FAILURES with Retry-After, no database statement, even with valid credentials', async () => {
    const keys = `${h.broker.url}/kbs/v1/keys`;
    const token = `${h.broker.url}/kbs/v1/token`;
    expect(await call(local, keys, { token: WRONG_TOKEN })).toMatchObject({ status: 401, code: 'ERR_KBS_UNAUTHORIZED' });
    expect(await call(local, token, { method: 'POST', body: { username: 'admin', password: 'wrong' } })).toMatchObject({ status: 401, code: 'ERR_KBS_UNAUTHORIZED' });
    expect(await call(local, keys)).toMatchObject({ status: 401, code: 'ERR_KBS_UNAUTHORIZED' });
    const lookups = vi.spyOn(KbsStore.prototype, 'checkToken');
    const buckets = vi.spyOn(RateLimiter.prototype, 'take');
    for (const attempt of [{ token: WRONG_TOKEN }, { token: h.token }, { method: 'POST' as const, body: { username: 'admin', password: SECRET } }]) {
      const r = await call(local, attempt.method === 'POST' ? token : keys, attempt);
      expect(r).toMatchObject({ status: 429, code: 'ERR_KBS_TOO_MANY_AUTH_FAILURES' });
      expect(Number(r.retryAfter)).toBeGreaterThanOrEqual(1);
      expect(Number(r.retryAfter)).toBeLessThanOrEqual(60);
    }
    expect(lookups).not.toHaveBeenCalled();
    expect(buckets).not.toHaveBeenCalled();
  });

  it('another client is served, and its success does not reset the locked client', async () => {
    const keys = `${h.broker.url}/kbs/v1/keys`;
    expect(await call(other, keys, { token: h.token })).toMatchObject({ status: 200 });
    expect(await call(other, keys, { token: WRONG_TOKEN })).toMatchObject({ status: 401, code: 'ERR_KBS_UNAUTHORIZED' });
    expect(await call(local, keys, { token: h.token })).toMatchObject({ status: 429, code: 'ERR_KBS_TOO_MANY_AUTH_FAILURES' });
  });

  it('transfers (attested, no admin token) are not affected by the admin lockout', async () => {
    const r = await call(local, `${h.broker.url}${transferPath(KEY_ID)}`, { method: 'POST' });
    expect(r.code).not.toBe('ERR_KBS_TOO_MANY_AUTH_FAILURES');
    expect(r.status).toBe(404);
  });
});

describe('per-client limits use the normalised client key', () => {
  let h: Harness;
  beforeAll(async () => {
    // On "::" (dual stack) a peer at 127.0.0.2 is reported as ::ffff:127.0.0.2.
    h = await startHarness({ host: '::', rateLimit: { burst: 2, perSecond: 0.01 }, adminFailureLimit: { maxFailures: 1 } });
  });
  afterAll(async () => h?.close());
  afterEach(() => vi.restoreAllMocks());

  const at = (path: string): string => `https://127.0.0.1:${new URL(h.broker.url).port}${path}`;

  it('the database rate limit is keyed by the IPv4 address of an IPv4-mapped peer, per client', async () => {
    const take = vi.spyOn(RateLimiter.prototype, 'take');
    const a = new Agent({ localAddress: '127.0.0.2', connect: { rejectUnauthorized: false } });
    const b = new Agent({ localAddress: '127.0.0.3', connect: { rejectUnauthorized: false } });
    try {
      const statuses = [];
      for (let i = 0; i < 3; i++) statuses.push((await call(a, at(transferPath(KEY_ID)), { method: 'POST' })).status);
      expect(statuses).toEqual([404, 404, 429]);
      expect((await call(b, at(transferPath(KEY_ID)), { method: 'POST' })).status).toBe(404);
      expect(take.mock.calls.map((c) => c[0])).toEqual(['127.0.0.2', '127.0.0.2', '127.0.0.2', '127.0.0.3']);
    } finally {
      await a.close();
      await b.close();
    }
  });

  it('the failed-login limit is keyed the same way (one failure locks 127.0.0.4, not 127.0.0.5)', async () => {
    const a = new Agent({ localAddress: '127.0.0.4', connect: { rejectUnauthorized: false } });
    const b = new Agent({ localAddress: '127.0.0.5', connect: { rejectUnauthorized: false } });
    try {
      expect((await call(a, at('/kbs/v1/keys'), { token: WRONG_TOKEN })).status).toBe(401);
      expect((await call(a, at('/kbs/v1/keys'), { token: WRONG_TOKEN })).status).toBe(429);
      expect((await call(b, at('/kbs/v1/keys'), { token: h.token })).status).toBe(200);
    } finally {
      await a.close();
      await b.close();
    }
  });
});

describe('tee-kbs serve flags', () => {
  let dir: string;
  let broker: KeyBroker | undefined;
  const platform = makePlatform();
  beforeAll(() => {
    dir = mkdtempSync(join(tmpdir(), 'tee-kbs-hardening-'));
    writeFileSync(join(dir, 'root.pem'), platform.pki.root.pem);
    writeFileSync(join(dir, 'bundle.json'), exportBundle(Object.values(platform.collateral)));
  });
  afterAll(async () => {
    await broker?.close();
    rmSync(dir, { recursive: true, force: true });
  });
  const serve = (extra: string[]) =>
    runKbsCli(['serve', '--db', join(dir, 'kbs.sqlite'), '--listen', '127.0.0.1:0', '--trust-root', join(dir, 'root.pem'), '--collateral', join(dir, 'bundle.json'), ...extra], { stdout: () => {}, stderr: () => {}, env: {} });

  it('--headers-timeout / --request-timeout / --keep-alive-timeout (seconds) and --admin-max-failures / --admin-failure-window reach the server', async () => {
    const r = await serve(['--headers-timeout', '0.3', '--request-timeout', '0.3', '--keep-alive-timeout', '1', '--admin-max-failures', '1', '--admin-failure-window', '30']);
    expect(r.code).toBe(0);
    broker = r.broker as KeyBroker;
    expect((await dribbleHeaders(broker.url, '/version')).answer).toMatch(/^HTTP\/1\.1 408 /);
    const agent = new Agent({ connect: { rejectUnauthorized: false } });
    try {
      expect((await call(agent, `${broker.url}/kbs/v1/keys`, { token: WRONG_TOKEN })).status).toBe(401);
      const limited = await call(agent, `${broker.url}/kbs/v1/keys`, { token: WRONG_TOKEN });
      expect(limited).toMatchObject({ status: 429, code: 'ERR_KBS_TOO_MANY_AUTH_FAILURES' });
      expect(Number(limited.retryAfter)).toBeLessThanOrEqual(30);
    } finally {
      await agent.close();
    }
  });

  it('refuses a timeout that is not a positive number (usage, exit 2)', async () => {
    expect((await serve(['--keep-alive-timeout', 'soon'])).code).toBe(2);
  });
});
