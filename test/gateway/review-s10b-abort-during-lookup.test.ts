/**
 * Review s10 changes A, item 1 (reviewer's reproducer, adapted): a client that hangs up while its key is
 * looked up (a database round trip) reached proxyRequest with its response already closed. 'close' never
 * fired again, so the upstream request was never ended: upstream_timeouts_total counted a 504 no upstream
 * caused, client_aborts_total stayed 0 and proxied_in_flight stayed 1 for good. Same family: the admin
 * API reads its body after the admin-token lookup, and readBody on a request already gone never settled.
 * Every wait is for an event: the gateway's response 'close' (a spy on ServerResponse), then the metric.
 */
import { mkdtempSync, rmSync } from 'node:fs';
import { createServer, ServerResponse } from 'node:http';
import type { AddressInfo } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { connect } from 'node:tls';

import { afterAll, afterEach, describe, expect, it, vi } from 'vitest';

import { startGateway, type Gateway } from '../../src/gateway/index.js';
import { ApiKeyStore } from '../../src/gateway/store.js';
import { simulated } from './helpers.js';

const dirs: string[] = [];
afterAll(() => {
  for (const d of dirs) rmSync(d, { recursive: true, force: true });
});
afterEach(() => vi.restoreAllMocks());

function exchange(port: number, bytes: string): Promise<string> {
  return new Promise((resolve) => {
    const s = connect({ host: '127.0.0.1', port, rejectUnauthorized: false }, () => s.write(bytes));
    let out = '';
    s.setEncoding('latin1');
    s.on('data', (d: string) => (out += d));
    s.on('close', () => resolve(out));
    s.on('error', () => {});
  });
}

async function metric(gw: Gateway, series: string): Promise<number> {
  const text = await exchange(gw.port, 'GET /metrics HTTP/1.1\r\nHost: g\r\nConnection: close\r\n\r\n');
  return Number(text.split('\n').find((l) => l.startsWith(`${series} `))?.split(' ')[1]);
}

/** Polls the metrics until `done` holds; a gateway that never counts fails by the test timeout. */
async function until(gw: Gateway, done: () => Promise<boolean>): Promise<void> {
  while (!(await done())) await new Promise((r) => setTimeout(r, 20));
}

/**
 * Holds `method` of ApiKeyStore (the key or admin-token lookup) until the client has hung up and the
 * gateway's response has closed, then lets the lookup finish. Returns when the lookup has gone on.
 */
async function hangUpDuringLookup(gw: Gateway, method: 'authenticate' | 'authenticateAdmin', bytes: string): Promise<void> {
  let lookupStarted!: () => void;
  const started = new Promise<void>((r) => (lookupStarted = r));
  let release!: () => void;
  const released = new Promise<void>((r) => (release = r));
  const original = ApiKeyStore.prototype[method];
  vi.spyOn(ApiKeyStore.prototype, method).mockImplementation(async function (this: ApiKeyStore, t: string) {
    lookupStarted();
    await released;
    return original.call(this, t);
  });
  let responseClosed!: () => void;
  const closed = new Promise<void>((r) => (responseClosed = r));
  const emit = ServerResponse.prototype.emit;
  vi.spyOn(ServerResponse.prototype, 'emit').mockImplementation(function (this: ServerResponse, event: string | symbol, ...args: unknown[]) {
    if (event === 'close') responseClosed();
    return emit.call(this, event, ...args);
  });
  const client = connect({ host: '127.0.0.1', port: gw.port, rejectUnauthorized: false }, () => client.write(bytes));
  client.on('error', () => {});
  await started;
  client.destroy();
  await closed; // the gateway saw the hang-up while the lookup was still running
  vi.restoreAllMocks();
  release();
}

describe('a client gone during a lookup', () => {
  it('proxied GET: a client abort (waiting), not an upstream timeout; nothing upstream, nothing left in flight', async () => {
    let upstreamRequests = 0;
    const up = createServer((req, res) => {
      upstreamRequests += 1;
      req.resume();
      res.end('ok');
    });
    await new Promise<void>((r) => up.listen(0, '127.0.0.1', r));
    const dir = mkdtempSync(join(tmpdir(), 'tee-gateway-s10b-lookup-'));
    dirs.push(dir);
    const gw = await startGateway({ upstream: `http://127.0.0.1:${(up.address() as AddressInfo).port}`, db: join(dir, 'g.sqlite'), provider: simulated, port: 0, upstreamTimeoutMs: 300, log: () => {} });
    try {
      const { token } = await gw.keys.create('k');
      await hangUpDuringLookup(gw, 'authenticate', `GET /api/tags HTTP/1.1\r\nHost: g\r\nAuthorization: Bearer ${token}\r\n\r\n`);
      await until(gw, async () => (await metric(gw, 'tee_gateway_upstream_timeouts_total')) + (await metric(gw, 'tee_gateway_client_aborts_total{stage="waiting"}')) > 0);
      expect(upstreamRequests).toBe(0);
      expect(await metric(gw, 'tee_gateway_upstream_timeouts_total')).toBe(0);
      expect(await metric(gw, 'tee_gateway_client_aborts_total{stage="waiting"}')).toBe(1);
      expect(await metric(gw, 'tee_gateway_proxied_in_flight')).toBe(0);
      expect(await metric(gw, 'tee_gateway_upstream_errors_total')).toBe(0);
    } finally {
      await gw.close();
      up.close();
    }
  });

  it('proxied POST cut mid-body: a client abort (request), nothing sent upstream', async () => {
    let upstreamRequests = 0;
    const up = createServer((req, res) => {
      upstreamRequests += 1;
      req.resume();
      res.end('ok');
    });
    await new Promise<void>((r) => up.listen(0, '127.0.0.1', r));
    const dir = mkdtempSync(join(tmpdir(), 'tee-gateway-s10b-lookup-'));
    dirs.push(dir);
    const gw = await startGateway({ upstream: `http://127.0.0.1:${(up.address() as AddressInfo).port}`, db: join(dir, 'g.sqlite'), provider: simulated, port: 0, upstreamTimeoutMs: 300, log: () => {} });
    try {
      const { token } = await gw.keys.create('k');
      await hangUpDuringLookup(gw, 'authenticate', `POST /api/chat HTTP/1.1\r\nHost: g\r\nAuthorization: Bearer ${token}\r\nContent-Length: 100\r\n\r\n{"model":`);
      await until(gw, async () => (await metric(gw, 'tee_gateway_upstream_timeouts_total')) + (await metric(gw, 'tee_gateway_upstream_errors_total')) + (await metric(gw, 'tee_gateway_client_aborts_total{stage="request"}')) > 0);
      expect(upstreamRequests).toBe(0);
      expect(await metric(gw, 'tee_gateway_client_aborts_total{stage="request"}')).toBe(1);
      expect(await metric(gw, 'tee_gateway_upstream_timeouts_total')).toBe(0);
      expect(await metric(gw, 'tee_gateway_upstream_errors_total')).toBe(0);
      expect(await metric(gw, 'tee_gateway_proxied_in_flight')).toBe(0);
    } finally {
      await gw.close();
      up.close();
    }
  });

  it('admin POST whose body is read after the token lookup: the read fails at once as a client abort (was pending for good)', async () => {
    const dir = mkdtempSync(join(tmpdir(), 'tee-gateway-s10b-lookup-'));
    dirs.push(dir);
    const gw = await startGateway({ upstream: 'http://127.0.0.1:9', db: join(dir, 'g.sqlite'), provider: simulated, port: 0, log: () => {} });
    try {
      const { token } = await gw.keys.createAdminToken('admin');
      await hangUpDuringLookup(gw, 'authenticateAdmin', `POST /admin/v1/keys HTTP/1.1\r\nHost: g\r\nAuthorization: Bearer ${token}\r\nContent-Type: application/json\r\nContent-Length: 20\r\n\r\n{"name":`);
      await until(gw, async () => (await metric(gw, 'tee_gateway_client_aborts_total{stage="request"}')) > 0);
      expect(await metric(gw, 'tee_gateway_client_aborts_total{stage="request"}')).toBe(1);
      expect((await gw.keys.list()).length).toBe(0);
    } finally {
      await gw.close();
    }
  });
});
