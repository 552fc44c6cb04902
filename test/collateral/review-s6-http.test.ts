/**
 * Review session 6, transport: an overall deadline per attempt (a server
 * that drips bytes passes the idle timeouts forever), and what the errors
 * say in public (no `transient` in their details; TLS failures: see
 * tls.test.ts). Real servers on 127.0.0.1; a hang fails by the runner's timeout.
 */
import { createServer, type Server, type ServerResponse } from 'node:http';
import type { AddressInfo } from 'node:net';
import { afterEach, describe, expect, it } from 'vitest';

import { HttpClient } from '../../src/collateral/http.js';
import { CollateralServer } from '../helpers/collateral-server.js';

const open: { close(): Promise<void> }[] = [];
afterEach(async () => {
  while (open.length) await open.pop()!.close();
});

/** Sends headers at once, then one byte every 20 ms until the client goes away: never a complete body. */
async function drippingServer(): Promise<{ url: string; requests: () => number }> {
  let requests = 0;
  const responses = new Set<ServerResponse>();
  const server: Server = createServer((_req, res) => {
    requests++;
    responses.add(res);
    res.writeHead(200, { 'content-type': 'application/json' });
    const timer = setInterval(() => res.write('x'), 20);
    res.on('close', () => {
      clearInterval(timer);
      responses.delete(res);
    });
  });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  open.push({
    close: () =>
      new Promise<void>((resolve) => {
        for (const r of responses) r.destroy();
        server.close(() => resolve());
      }),
  });
  return { url: `http://127.0.0.1:${(server.address() as AddressInfo).port}/tcb`, requests: () => requests };
}

describe('per-attempt deadline (review s6 #2)', () => {
  it('a server dripping one byte at a time is cut off by the attempt deadline: ERR_COLLATERAL_UNAVAILABLE', async () => {
    const server = await drippingServer();
    // Idle timeouts far longer than the drip interval: only the overall deadline can end the attempt.
    const client = new HttpClient({ attemptTimeoutMs: 300, headersTimeoutMs: 60_000, bodyTimeoutMs: 60_000, retries: 0 });
    const err = await client.get(server.url).then(
      () => undefined,
      (e: unknown) => e,
    );
    await client.close();
    expect(err).toMatchObject({ code: 'ERR_COLLATERAL_UNAVAILABLE', errorClass: 'COLLATERAL_UNAVAILABLE', details: { attempts: 1 } });
    expect((err as Error).message).toContain('no complete answer within 300 ms');
  });

  it('the deadline is per attempt and retryable: each retry gets its own', async () => {
    const server = await drippingServer();
    const sleeps: number[] = [];
    const client = new HttpClient({ attemptTimeoutMs: 200, headersTimeoutMs: 60_000, bodyTimeoutMs: 60_000, retries: 2, sleep: async (ms) => void sleeps.push(ms), random: () => 0 });
    await expect(client.get(server.url)).rejects.toMatchObject({ code: 'ERR_COLLATERAL_UNAVAILABLE', details: { attempts: 3 } });
    await client.close();
    expect(server.requests()).toBe(3);
    expect(sleeps).toHaveLength(2);
  });

  it('rejects a negative deadline by name', () => {
    expect(() => new HttpClient({ attemptTimeoutMs: -1 })).toThrow(expect.objectContaining({ code: 'ERR_INVALID_ARGUMENT', message: expect.stringContaining('attemptTimeoutMs') }));
  });
});

describe('public error details (review s6 #7)', () => {
  it('no error carries the internal `transient` flag, in details or in JSON', async () => {
    const server = await CollateralServer.start([]);
    open.push(server);
    server.faults.set('/busy', { kind: 'status', status: 503 });
    const client = new HttpClient({ retries: 1, sleep: async () => {}, headersTimeoutMs: 2000, bodyTimeoutMs: 2000 });
    for (const path of ['/missing', '/busy']) {
      const err = (await client.get(`${server.url}${path}`).catch((e: unknown) => e)) as { code: string; details: Record<string, unknown>; toJSON(): unknown };
      expect(err.code).toMatch(/^ERR_COLLATERAL_/);
      expect(Object.keys(err.details).sort()).toEqual(['attempts', 'status', 'url']);
      expect(JSON.stringify(err.toJSON())).not.toContain('transient');
    }
    // 503 was still retried (once), 404 was not.
    expect(server.hits.get('/busy')).toBe(2);
    expect(server.hits.get('/missing')).toBe(1);
    await client.close();
  });
});
