/**
 * Gateway server hardening: bounded request receipt (a client dribbling its
 * TLS handshake, request head or body is cut; a chat answer streaming for
 * longer than the bound is not), and failed admin-token attempts limited per
 * client (429 + Retry-After without a database lookup; another client's
 * success resets nothing). Second client addresses come from 127.0.0.2: the
 * whole of 127.0.0.0/8 is loopback.
 */
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';

import { Agent, request } from 'undici';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';

import { runGatewayCli } from '../../src/gateway/cli.js';
import { startGateway, type Gateway } from '../../src/gateway/index.js';
import { ollamaChat, simulated, startHarness, type Harness } from './helpers.js';
import { dribbleBody, dribbleHandshake, dribbleHeaders, isCut, silentAfterHandshake } from './slow-client-hardening.js';
import { replyWords, startChatUpstream, type ChatUpstream } from './upstream.js';

const BOUND_MS = 300;
const WRONG_ADMIN = `tgwa_${'A'.repeat(43)}`;

async function get(agent: Agent, url: string, token: string): Promise<{ status: number; code: string | undefined; retryAfter: unknown }> {
  const res = await request(url, { dispatcher: agent, headers: { authorization: `Bearer ${token}` } });
  const text = await res.body.text();
  let code: string | undefined;
  try {
    code = JSON.parse(text).error?.code;
  } catch {
    code = undefined;
  }
  return { status: res.statusCode, code, retryAfter: res.headers['retry-after'] };
}

describe('request receipt is bounded (slow clients are cut)', () => {
  let upstream: ChatUpstream;
  let gateway: Gateway;
  let dir: string;
  let apiKey: string;
  let agent: Agent;

  beforeAll(async () => {
    // Every chunk of a chat answer waits 100 ms: a ten-word answer streams for well over the 300 ms bound.
    upstream = await startChatUpstream({ chunkDelayMs: 100 });
    dir = mkdtempSync(join(tmpdir(), 'tee-gateway-hardening-'));
    gateway = await startGateway({ upstream: upstream.url, db: join(dir, 'g.sqlite'), provider: simulated, port: 0, log: () => {}, headersTimeoutMs: BOUND_MS, requestTimeoutMs: BOUND_MS, keepAliveTimeoutMs: BOUND_MS });
    apiKey = (await gateway.keys.create('hardening')).token;
    agent = new Agent({ connect: { rejectUnauthorized: false } });
  });
  afterAll(async () => {
    await gateway?.close();
    await upstream?.close();
    await agent?.close();
    rmSync(dir, { recursive: true, force: true });
  });

  it('a request head sent one byte at a time is answered 408 and closed', async () => {
    const cut = await dribbleHeaders(gateway.url);
    expect(cut.answer).toMatch(/^HTTP\/1\.1 408 /);
  });

  it('a body sent one byte at a time is cut (own route and proxied route)', async () => {
    expect(isCut(await dribbleBody(gateway.url, '/v1/attestation'))).toBe(true);
    expect(isCut(await dribbleBody(gateway.url, '/api/chat', { authorization: `Bearer ${apiKey}` }))).toBe(true);
  });

  it('a connection that never sends a byte after the handshake is cut', async () => {
    expect(isCut(await silentAfterHandshake(gateway.url))).toBe(true);
  });

  it('a TLS handshake dribbled byte by byte is cut', async () => {
    expect((await dribbleHandshake(gateway.url)).answer).toBe('');
  });

  it('a streamed chat answer lasting longer than the bound arrives whole', async () => {
    const prompt = 'tell me a story about ten slow words in a row';
    const res = await request(`${gateway.url}/api/chat`, { method: 'POST', dispatcher: agent, headers: { authorization: `Bearer ${apiKey}`, 'content-type': 'application/json' }, body: ollamaChat(prompt) });
    expect(res.statusCode).toBe(200);
    const lines = (await res.body.text()).trim().split('\n').map((l) => JSON.parse(l) as { message: { content: string }; done: boolean });
    const words = replyWords(prompt);
    expect(words.length).toBeGreaterThanOrEqual(10); // at least 10 × 100 ms of streaming
    expect(lines.map((l) => l.message.content).join('')).toBe(words.join(''));
    expect(lines.at(-1)?.done).toBe(true);
    expect(lines).toHaveLength(words.length + 1);
  });

  it('refuses a headers bound above the request bound, or a zero bound (ERR_GATEWAY_CONFIG)', async () => {
    for (const bad of [{ headersTimeoutMs: 2000, requestTimeoutMs: 1000 }, { requestTimeoutMs: 0 }, { keepAliveTimeoutMs: Number.NaN }]) {
      await expect(startGateway({ upstream: upstream.url, db: join(dir, 'bad.sqlite'), provider: simulated, port: 0, log: () => {}, ...bad })).rejects.toMatchObject({ code: 'ERR_GATEWAY_CONFIG' });
    }
  });
});

describe('failed admin-token attempts are limited per client', () => {
  let h: Harness;
  let admin: string;
  let lookups = 0;
  let other: Agent;

  beforeAll(async () => {
    h = await startHarness({ adminFailureLimit: { maxFailures: 3, windowMs: 60_000 } });
    admin = (await h.gateway.keys.createAdminToken('ops')).token;
    const authenticateAdmin = h.gateway.keys.authenticateAdmin.bind(h.gateway.keys);
    h.gateway.keys.authenticateAdmin = (token: string) => {
      lookups += 1;
      return authenticateAdmin(token);
    };
    other = new Agent({ localAddress: '127.0.0.2', connect: { rejectUnauthorized: false } });
  });
  afterAll(async () => {
    await other?.close();
    await h?.close();
  });

  it('after 3 failures: 429 ERR_GATEWAY_TOO_MANY_AUTH_FAILURES with Retry-After, no database lookup, even for a valid token', async () => {
    const url = `${h.gateway.url}/admin/v1/keys`;
    for (let i = 0; i < 3; i++) expect(await get(h.insecure, url, WRONG_ADMIN)).toMatchObject({ status: 401, code: 'ERR_GATEWAY_UNAUTHORIZED' });
    expect(lookups).toBe(3);
    for (const token of [WRONG_ADMIN, admin, 'garbage']) {
      const r = await get(h.insecure, url, token);
      expect(r).toMatchObject({ status: 429, code: 'ERR_GATEWAY_TOO_MANY_AUTH_FAILURES' });
      expect(Number(r.retryAfter)).toBeGreaterThanOrEqual(1);
      expect(Number(r.retryAfter)).toBeLessThanOrEqual(60);
    }
    expect(lookups).toBe(3);
  });

  it('another client is served, and its success does not reset the locked client', async () => {
    const url = `${h.gateway.url}/admin/v1/keys`;
    expect(await get(other, url, admin)).toMatchObject({ status: 200 });
    expect(await get(other, url, WRONG_ADMIN)).toMatchObject({ status: 401, code: 'ERR_GATEWAY_UNAUTHORIZED' });
    expect(await get(h.insecure, url, admin)).toMatchObject({ status: 429, code: 'ERR_GATEWAY_TOO_MANY_AUTH_FAILURES' });
  });

  it('proxied requests and the gateway routes are not affected by the admin lockout', async () => {
    expect((await h.call('GET', '/health')).status).toBe(200);
    expect((await h.call('POST', '/api/chat', { body: ollamaChat('still here', false) })).status).toBe(200);
  });
});

describe('tee-gateway serve flags', () => {
  let upstream: ChatUpstream;
  let gateway: Gateway | undefined;
  let dir: string;

  beforeAll(async () => {
    upstream = await startChatUpstream();
    dir = mkdtempSync(join(tmpdir(), 'tee-gateway-hardening-cli-'));
  });
  afterAll(async () => {
    await gateway?.close();
    await upstream?.close();
    rmSync(dir, { recursive: true, force: true });
  });

  it('--headers-timeout / --request-timeout / --keep-alive-timeout (seconds) and --admin-max-failures / --admin-failure-window reach the server', async () => {
    const io = { stdout: () => {}, stderr: () => {}, env: {} };
    const r = await runGatewayCli(['serve', '--upstream', upstream.url, '--db', join(dir, 'g.sqlite'), '--listen', '127.0.0.1:0', '--simulated-tee',
      '--headers-timeout', '0.3', '--request-timeout', '0.3', '--keep-alive-timeout', '1', '--admin-max-failures', '1', '--admin-failure-window', '30'], io);
    expect(r.code).toBe(0);
    gateway = r.gateway as Gateway;
    expect((await dribbleHeaders(gateway.url)).answer).toMatch(/^HTTP\/1\.1 408 /);
    const agent = new Agent({ connect: { rejectUnauthorized: false } });
    try {
      const url = `${gateway.url}/admin/v1/keys`;
      expect(await get(agent, url, WRONG_ADMIN)).toMatchObject({ status: 401 });
      const limited = await get(agent, url, WRONG_ADMIN);
      expect(limited).toMatchObject({ status: 429, code: 'ERR_GATEWAY_TOO_MANY_AUTH_FAILURES' });
      expect(Number(limited.retryAfter)).toBeLessThanOrEqual(30);
    } finally {
      await agent.close();
    }
  });

  it('refuses a timeout that is not a positive number (usage, exit 2)', async () => {
    const io = { stdout: () => {}, stderr: () => {}, env: {} };
    expect((await runGatewayCli(['serve', '--upstream', upstream.url, '--db', join(dir, 'x.sqlite'), '--simulated-tee', '--request-timeout', '0'], io)).code).toBe(2);
  });
});
