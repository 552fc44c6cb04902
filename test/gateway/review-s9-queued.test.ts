/**
 * Review s9 (attested client), finding 1: a request queued in the pool (every connection busy) when
 * the key was revoked, or replaced by a newly verified key, was sent afterwards on a connection
 * presenting that key: the old pool was close()d, and undici's close() still writes every queued
 * request. Now a revocation destroys the pool with a refusal naming the verdict (queued and in-flight
 * requests fail), and a key change lets the requests in flight finish while queued ones fail unsent.
 * One connection (`connections: 1`); /slow holds it until the test releases it.
 */
import { afterEach, expect, it, vi } from 'vitest';
import { Agent, type Dispatcher } from 'undici';

import { streamChat } from '../../src/gateway/chat-cli.js';
import { AttestationRefusedError, AttestedClient } from '../../src/gateway/index.js';
import { SimulatedTeeProvider } from '../../src/tee/index.js';
import { clientOptions, mrTdOf, simulated, tdxPolicy } from './helpers.js';
import { startStub, type Stub } from './review-s9-stub.js';

afterEach(() => vi.restoreAllMocks());

const nextImmediate = (): Promise<void> => new Promise((ok) => setImmediate(ok));

/** Until `cond` holds (bounded by the test's timeout, never by a timed assertion). */
async function until(cond: () => boolean): Promise<void> {
  while (!cond()) await nextImmediate();
}

interface Scene {
  stub: Stub;
  client: AttestedClient;
  slow: Promise<unknown>;
  queued: Promise<unknown>;
  release: () => void;
}

/** /hello attests and pools the one connection; /slow then holds it and POST /secret waits in the pool's queue. */
async function scene(): Promise<Scene> {
  let release!: () => void;
  const held = new Promise<void>((ok) => (release = ok));
  const stub = await startStub(async (req, res) => {
    if (req.url !== '/slow') return false;
    await held;
    res.writeHead(200, { 'content-length': 4 }).end('slow');
    return true;
  });
  // Dispatches into undici's pools, seen before the client exists (its pool binds dispatch when made).
  const dispatched: string[] = [];
  const dispatch = Agent.prototype.dispatch;
  vi.spyOn(Agent.prototype, 'dispatch').mockImplementation(function (this: Agent, opts: Dispatcher.DispatchOptions, handler: Dispatcher.DispatchHandler) {
    dispatched.push(opts.path);
    return dispatch.call(this, opts, handler);
  });
  const client = new AttestedClient(stub.url, { ...clientOptions(tdxPolicy(await mrTdOf(simulated))), connections: 1 });
  expect(await (await client.fetch('/hello')).text()).toBe('ok');
  const slow = client.fetch('/slow').then((r) => r.text()).then((t) => ({ status: 'answered', t }), (e: unknown) => e);
  await until(() => stub.seen.some((r) => r.url === '/slow'));
  const queued = client.fetch('/secret', { method: 'POST', body: 'PROMPT-SECRET' }).then((r) => ({ status: r.status }), (e: unknown) => e);
  await until(() => dispatched.includes('/secret'));
  return { stub, client, slow, queued, release };
}

it('a revocation: the request queued behind the busy connection is never sent, and both fail with a refusal naming the verdict', async () => {
  const s = await scene();
  try {
    const firstKey = s.stub.key;
    s.stub.provider = new SimulatedTeeProvider({ state: { ...simulated.exportState(), seed: 'another image' } });
    const verdict = await s.client.attest().catch((e: unknown) => e);
    expect(verdict).toBeInstanceOf(AttestationRefusedError);
    expect((verdict as AttestationRefusedError).code).toBe('ERR_ATTEST_POLICY');
    expect((verdict as AttestationRefusedError).details.checks).toEqual(['T36']);
    s.release();
    const queued = (await s.queued) as AttestationRefusedError;
    expect(queued).toBeInstanceOf(AttestationRefusedError);
    expect(queued.code).toBe('ERR_ATTEST_POLICY');
    expect(queued.details.checks).toEqual(['T36']);
    expect(queued.details.revokedKey).toBe(firstKey);
    expect(queued.details.cause).toBe(verdict);
    expect(queued.message).toMatch(/revoked/);
    // The request in flight on the revoked key's connection is cut off with the same refusal.
    const slow = (await s.slow) as AttestationRefusedError;
    expect(slow).toBeInstanceOf(AttestationRefusedError);
    expect(slow.details.revokedKey).toBe(firstKey);
    // Let the server finish whatever it still had, then look: no prompt byte arrived.
    await nextImmediate();
    expect(s.stub.seen.map((r) => r.url)).toEqual(['/hello', '/slow']);
    expect(s.stub.seen.some((r) => r.body.includes('PROMPT-SECRET'))).toBe(false);
  } finally {
    s.release();
    await s.client.close().catch(() => {});
    await s.stub.close();
  }
});

it('a key change: the request in flight finishes, the queued one is not sent on the replaced key and fails as retryable', async () => {
  const s = await scene();
  try {
    const firstKey = s.stub.key;
    await s.stub.rotateKey();
    const v = await s.client.attest(); // a new connection presents the new key, which verifies
    expect(v.spkiSha256).toBe(s.stub.key);
    expect(v.spkiSha256).not.toBe(firstKey);
    s.release();
    expect(await s.slow).toEqual({ status: 'answered', t: 'slow' });
    const queued = (await s.queued) as AttestationRefusedError;
    expect(queued).toBeInstanceOf(AttestationRefusedError);
    expect(queued.code).toBe('ERR_ATTEST_PINNING');
    expect(queued.details.transient).toBe('key-changed');
    expect(s.stub.seen.filter((r) => r.key === firstKey).map((r) => r.url)).toEqual(['/hello', '/slow']);
    expect(s.stub.seen.some((r) => r.url === '/secret')).toBe(false);
    // The caller's retry goes out on the new key's connection (the parked one attest() made).
    const again = await s.client.fetch('/secret', { method: 'POST', body: 'PROMPT-SECRET' });
    expect(await again.text()).toBe('ok');
    expect(s.stub.seen.filter((r) => r.url === '/secret').map((r) => r.key)).toEqual([s.stub.key]);
  } finally {
    s.release();
    await s.client.close().catch(() => {});
    await s.stub.close();
  }
});

it('an answer being streamed when a verdict revokes the key is cut off, and the chat reader reports the refusal (not "terminated")', async () => {
  let release!: () => void;
  const held = new Promise<void>((ok) => (release = ok));
  let started!: () => void;
  const streaming = new Promise<void>((ok) => (started = ok));
  const stub = await startStub(async (req, res) => {
    if (req.url !== '/api/chat') return false;
    res.writeHead(200, { 'content-type': 'application/x-ndjson' });
    res.write(`${JSON.stringify({ message: { content: 'half ' }, done: false })}\n`);
    started();
    await held;
    res.end(`${JSON.stringify({ message: { content: 'rest' }, done: true })}\n`);
    return true;
  });
  const client = new AttestedClient(stub.url, clientOptions(tdxPolicy(await mrTdOf(simulated))));
  try {
    const written: string[] = [];
    const answer = streamChat(client, { api: 'ollama', model: 'm', prompt: 'p', write: (t) => written.push(t) }).catch((e: unknown) => e);
    await streaming;
    await until(() => written.length > 0);
    stub.provider = new SimulatedTeeProvider({ state: { ...simulated.exportState(), seed: 'another image' } });
    expect(((await client.attest().catch((e: unknown) => e)) as AttestationRefusedError).code).toBe('ERR_ATTEST_POLICY');
    const e = (await answer) as AttestationRefusedError;
    expect(e).toBeInstanceOf(AttestationRefusedError);
    expect(e.details.revokedKey).toBe(stub.key);
    expect(written.join('')).toBe('half ');
  } finally {
    release();
    await client.close().catch(() => {});
    await stub.close();
  }
});
