/** The undici transport against a real local server: retries, timeouts, caps, typed errors. */
import { afterEach, beforeEach, describe, expect, it } from 'vitest';

import { HttpClient, parseRetryAfter } from '../../src/collateral/http.js';
import { CollateralServer } from '../helpers/collateral-server.js';

const body = new Uint8Array(Buffer.from('hello collateral'));
let server: CollateralServer;
let sleeps: number[];

function client(extra: ConstructorParameters<typeof HttpClient>[0] = {}): HttpClient {
  sleeps = [];
  return new HttpClient({
    sleep: async (ms) => {
      sleeps.push(ms);
    },
    random: () => 0.5,
    headersTimeoutMs: 300,
    bodyTimeoutMs: 300,
    ...extra,
  });
}

async function failure(p: Promise<unknown>): Promise<Record<string, unknown>> {
  try {
    await p;
  } catch (err) {
    const e = err as { code: string; errorClass: string; details: Record<string, unknown> };
    return { code: e.code, errorClass: e.errorClass, status: e.details['status'], attempts: e.details['attempts'], url: e.details['url'] };
  }
  throw new Error('expected a failure');
}

beforeEach(async () => {
  server = await CollateralServer.start([{ path: '/ok', body, headers: { 'x-test': 'yes' } }]);
});
afterEach(async () => {
  await server.close();
});

describe('HttpClient', () => {
  it('returns the body and lower-cased headers of a 2xx response', async () => {
    const res = await client().get(`${server.url}/ok`);
    expect(Buffer.from(res.body).toString()).toBe('hello collateral');
    expect(res.headers['x-test']).toBe('yes');
    expect(res.attempts).toBe(1);
  });

  it('404 fails at once with ERR_COLLATERAL_NOT_FOUND, url and status', async () => {
    const f = await failure(client().get(`${server.url}/missing`));
    expect(f).toEqual({ code: 'ERR_COLLATERAL_NOT_FOUND', errorClass: 'COLLATERAL_UNAVAILABLE', status: 404, attempts: 1, url: `${server.url}/missing` });
    expect(server.hits.get('/missing')).toBe(1);
  });

  it('429 with Retry-After waits the given time, then succeeds', async () => {
    server.faults.set('/ok', { kind: 'status', status: 429, retryAfter: '2', times: 2 });
    const res = await client().get(`${server.url}/ok`);
    expect(res.attempts).toBe(3);
    expect(sleeps).toEqual([2000, 2000]);
  });

  it('503 with an HTTP-date Retry-After is honoured against the wall clock', async () => {
    server.faults.set('/ok', { kind: 'status', status: 503, retryAfter: 'Wed, 21 Oct 2026 07:28:05 GMT', times: 1 });
    const wall = Date.parse('Wed, 21 Oct 2026 07:28:00 GMT');
    await client({ wallClock: () => wall }).get(`${server.url}/ok`);
    expect(sleeps).toEqual([5000]);
  });

  it('a Retry-After beyond the allowed wait fails at once instead of blocking (KDS asks for minutes)', async () => {
    server.faults.set('/ok', { kind: 'status', status: 429, retryAfter: '600' });
    const f = await failure(client({ maxRetryAfterMs: 60_000 }).get(`${server.url}/ok`));
    expect(f).toMatchObject({ code: 'ERR_COLLATERAL_UNAVAILABLE', status: 429, attempts: 1 });
    expect(sleeps).toEqual([]);
  });

  it('500 retries with exponential backoff and full jitter, then fails', async () => {
    server.faults.set('/ok', { kind: 'status', status: 500 });
    const f = await failure(client({ retries: 3, baseDelayMs: 100 }).get(`${server.url}/ok`));
    expect(f).toMatchObject({ code: 'ERR_COLLATERAL_UNAVAILABLE', status: 500, attempts: 4 });
    expect(sleeps).toEqual([50, 100, 200]); // random() = 0.5 of 100, 200, 400
    expect(server.hits.get('/ok')).toBe(4);
  });

  it('other 4xx fail at once with ERR_COLLATERAL_HTTP_STATUS', async () => {
    server.faults.set('/ok', { kind: 'status', status: 401 });
    expect(await failure(client().get(`${server.url}/ok`))).toMatchObject({ code: 'ERR_COLLATERAL_HTTP_STATUS', status: 401, attempts: 1 });
  });

  it('a hung connection times out, is retried, and fails typed', async () => {
    server.faults.set('/ok', { kind: 'hang' });
    const f = await failure(client({ retries: 1 }).get(`${server.url}/ok`));
    expect(f).toMatchObject({ code: 'ERR_COLLATERAL_UNAVAILABLE', attempts: 2 });
    expect(server.hits.get('/ok')).toBe(2);
  });

  it('a truncated body (connection closed before Content-Length) fails typed', async () => {
    server.faults.set('/ok', { kind: 'truncate' });
    expect(await failure(client({ retries: 0 }).get(`${server.url}/ok`))).toMatchObject({ code: 'ERR_COLLATERAL_UNAVAILABLE', attempts: 1 });
  });

  it('bodies above the cap are refused without retry', async () => {
    expect(await failure(client({ maxBodyBytes: 4 }).get(`${server.url}/ok`))).toMatchObject({ code: 'ERR_COLLATERAL_TOO_LARGE', attempts: 1 });
  });

  it('a refused connection fails typed', async () => {
    const url = `${server.url}/ok`;
    await server.close();
    expect(await failure(client({ retries: 1 }).get(url))).toMatchObject({ code: 'ERR_COLLATERAL_UNAVAILABLE', attempts: 2 });
    server = await CollateralServer.start();
  });

  it('bounds concurrent requests per host, as the server sees them', async () => {
    server.faults.set('/ok', { kind: 'delay', ms: 40 });
    const c = client({ maxConcurrentPerHost: 2 });
    await Promise.all(Array.from({ length: 8 }, () => c.get(`${server.url}/ok`)));
    expect(server.hits.get('/ok')).toBe(8);
    expect(server.peakActive).toBe(2);
  });

  it('rejects invalid options by name', () => {
    expect(() => new HttpClient({ retries: -1 })).toThrow(expect.objectContaining({ code: 'ERR_INVALID_ARGUMENT' }));
  });
});

describe('parseRetryAfter', () => {
  it('reads seconds and HTTP dates, ignores garbage', () => {
    expect(parseRetryAfter('30', 0)).toBe(30_000);
    expect(parseRetryAfter('Thu, 01 Jan 1970 00:00:10 GMT', 0)).toBe(10_000);
    expect(parseRetryAfter('soon', 0)).toBeUndefined();
    expect(parseRetryAfter(undefined, 0)).toBeUndefined();
  });
});

describe('per-host limit (review, session 3)', () => {
  it('a release hands its slot to the waiter: a caller arriving meanwhile never makes it limit + 1', async () => {
    const { Semaphore } = await import('../../src/collateral/http.js');
    const sem = new Semaphore(1);
    const release1 = await sem.acquire();
    const waiter = sem.acquire(); // queued
    release1(); // the slot passes to the waiter, the count stays at 1
    let late = false;
    const lateAcquire = sem.acquire().then((r) => {
      late = true;
      return r;
    });
    const release2 = await waiter;
    await Promise.resolve();
    expect(sem.holders).toBe(1);
    expect(late).toBe(false); // still waiting: only one holder at a time
    release2();
    const release3 = await lateAcquire;
    expect(late).toBe(true);
    expect(sem.holders).toBe(1);
    release3();
    release3(); // a double release is ignored
    expect(sem.holders).toBe(0);
  });
});
