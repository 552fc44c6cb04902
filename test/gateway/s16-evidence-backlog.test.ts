/**
 * s16 red team, providers finding 1 (medium, availability): the evidence routes limited how many
 * requests START per second, not how many WAIT. configfs-tsm makes one report at a time, so a burst of
 * requests whose clients had already gone still got a full report each, one after another, and an
 * honest client waited behind all of them. Now the gateway has an evidence queue (attestation.ts,
 * EvidenceQueue): `evidenceInFlight` requests at the provider, at most `evidenceQueue` waiting (one per
 * client), 503 with Retry-After beyond, and a waiting request whose client closed is dropped without a
 * report.
 *
 * The provider is a stub whose getEvidence is held until the test resolves it, in order, as the
 * kernel's lock would. No timing: the test waits for conditions (the provider's calls, the evidence
 * limiter's clock reads, the abort counter of GET /metrics), never for a duration. Clients are told
 * apart by X-Forwarded-For from a trusted 127.0.0.1.
 */
import { request as httpsRequest } from 'node:https';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';

import { afterEach, expect, it, vi } from 'vitest';

import { bindingReportData } from '../../src/gateway/binding.js';
import { startGateway, type Gateway, type GatewayOptions } from '../../src/gateway/server.js';
import type { EvidenceProvider, TeeEvidence } from '../../src/tee/index.js';

/** getEvidence calls held until `resolve(i)`; each answers evidence [i]. */
class HeldProvider implements EvidenceProvider {
  readonly name = 'held';
  readonly tee = 'tdx' as const;
  readonly calls: { reportData: Buffer; resolve: () => void; done: boolean }[] = [];
  getEvidence(reportData: Uint8Array): Promise<TeeEvidence> {
    return new Promise((resolve) => {
      const i = this.calls.length;
      const call = {
        reportData: Buffer.from(reportData),
        done: false,
        resolve: () => {
          call.done = true;
          resolve({ tee: 'tdx', provider: 'tdx_guest', evidence: Uint8Array.of(i), reportData: Uint8Array.from(reportData) });
        },
      };
      this.calls.push(call);
    });
  }
  resolveAll(): void {
    for (const c of this.calls) if (!c.done) c.resolve();
  }
}

interface Reply {
  status: number;
  headers: Record<string, string | string[] | undefined>;
  body: string;
}

interface Sent {
  reply: Promise<Reply>;
  abort(): void;
}

let cleanup: (() => Promise<void>)[] = [];
afterEach(async () => {
  for (const c of cleanup.reverse()) await c();
  cleanup = [];
});

const WAIT = { timeout: 20_000, interval: 20 };

async function start(o: Partial<GatewayOptions> = {}): Promise<{ gw: Gateway; held: HeldProvider; reads: () => number; send: (method: string, path: string, client: string, body?: string) => Sent; aborts: () => Promise<number> }> {
  const held = new HeldProvider();
  const dir = mkdtempSync(join(tmpdir(), 's16-evidence-backlog-'));
  let reads = 0;
  const gw = await startGateway({
    upstream: 'http://127.0.0.1:9',
    database: `sqlite:${join(dir, 'g.sqlite')}`,
    provider: held,
    port: 0,
    log: () => {},
    // The rate never refuses here: the queue is what is tested.
    attestationsPerSecond: 1000,
    attestationsPerClient: 1000,
    trustedProxies: ['127.0.0.1'],
    // Each evidence request reads this clock once, as it takes its slot of the rate, and joins the queue in the same turn.
    limiterClock: () => {
      reads += 1;
      return 0;
    },
    ...o,
  }).catch((e: unknown) => {
    rmSync(dir, { recursive: true, force: true });
    throw e;
  });
  const sockets: Sent[] = [];
  cleanup.push(async () => {
    held.resolveAll();
    for (const s of sockets) s.abort();
    await gw.close();
    rmSync(dir, { recursive: true, force: true });
  });
  const send = (method: string, path: string, client: string, body?: string): Sent => {
    const req = httpsRequest(`${gw.url}${path}`, {
      method,
      agent: false,
      rejectUnauthorized: false,
      headers: { 'x-forwarded-for': client, 'content-type': 'application/json', ...(body === undefined ? {} : { 'content-length': Buffer.byteLength(body) }) },
    });
    const reply = new Promise<Reply>((resolve, reject) => {
      req.on('response', (res) => {
        const chunks: Buffer[] = [];
        res.on('data', (c: Buffer) => chunks.push(c));
        res.on('end', () => resolve({ status: res.statusCode ?? 0, headers: res.headers, body: Buffer.concat(chunks).toString('utf8') }));
        res.on('error', reject);
      });
      req.on('error', reject);
    });
    reply.catch(() => {});
    req.end(body);
    const sent = { reply, abort: () => void req.destroy() };
    sockets.push(sent);
    return sent;
  };
  const aborts = async (): Promise<number> => {
    const r = send('GET', '/metrics', '10.200.0.1');
    const text = (await r.reply).body;
    return Number(/tee_gateway_client_aborts_total\{stage="request"\} (\d+)/.exec(text)?.[1] ?? NaN);
  };
  // The clock is read at start too; count from here.
  const base = reads;
  return { gw, held, reads: () => reads - base, send, aborts };
}

const attest = (nonceByte: number): string => JSON.stringify({ nonce: Buffer.alloc(32, nonceByte).toString('base64') });

it('a waiting request whose client closed gets no report: the next turn goes to a client still there', async () => {
  const { held, reads, send, aborts } = await start();
  const a = send('POST', '/v1/attestation', '10.0.0.1', attest(1));
  await vi.waitFor(() => expect(held.calls.length).toBe(1), WAIT);
  // Three more clients' requests arrive while A's report is being made...
  const waiting = ['10.0.0.2', '10.0.0.3', '10.0.0.4'].map((c, i) => send('POST', '/v1/attestation', c, attest(2 + i)));
  await vi.waitFor(() => expect(reads()).toBe(4), WAIT);
  // ...and wait for their turn instead of going to the provider (before: 4 reports under way).
  expect(held.calls.length).toBe(1);
  // Their clients give up.
  for (const w of waiting) w.abort();
  await vi.waitFor(async () => expect(await aborts()).toBe(3), WAIT);
  held.calls[0]?.resolve();
  expect((await a.reply).status).toBe(200);
  // An honest client now: its report is the second one made. None was made for the three abandoned requests.
  const e = send('POST', '/v1/attestation', '10.0.0.5', attest(9));
  await vi.waitFor(() => expect(held.calls.length).toBe(2), WAIT);
  held.calls[1]?.resolve();
  const reply = await e.reply;
  expect(reply.status).toBe(200);
  expect(Buffer.from((JSON.parse(reply.body) as { evidence: string }).evidence, 'base64')).toEqual(Buffer.of(1));
  expect(held.calls.length).toBe(2);
});

it('beyond the queue bound, or a second waiting request of one client (its /48 included), the answer is 503 with Retry-After, on every evidence route', async () => {
  const { held, reads, send } = await start({ evidenceQueue: 2, cubeAttestation: true });
  const a = send('POST', '/v1/attestation', '10.0.0.1', attest(1));
  await vi.waitFor(() => expect(held.calls.length).toBe(1), WAIT);
  const b = send('POST', '/v1/attestation', '2001:db8:1:1::1', attest(2));
  await vi.waitFor(() => expect(reads()).toBe(2), WAIT);
  // The same /48 already has a request waiting: one client.
  const third = send('POST', '/v1/attestation', '2001:db8:1:2::7', attest(3));
  await vi.waitFor(() => expect(reads()).toBe(3), WAIT);
  expect(held.calls.length).toBe(1); // before: each went to the provider at once
  const sameClient = await third.reply;
  expect(sameClient.status).toBe(503);
  expect(sameClient.headers['retry-after']).toBe('1');
  expect(JSON.parse(sameClient.body)).toEqual({ error: { code: 'ERR_GATEWAY_EVIDENCE_BUSY', message: expect.stringContaining('already has an evidence request waiting') } });
  const c = send('GET', '/api/v1/tee/quote', '10.0.0.3');
  await vi.waitFor(() => expect(reads()).toBe(4), WAIT);
  expect(held.calls.length).toBe(1);
  // The queue (2) is full: every further evidence request is refused at once, whoever sends it.
  for (const [method, path, body] of [['POST', '/v1/attestation', attest(4)], ['GET', '/api/v1/tee/quote', undefined], ['POST', '/attestation', JSON.stringify({ report_data: Buffer.alloc(64, 5).toString('base64') })]] as const) {
    const r = await send(method, path, '10.0.0.4', body).reply;
    expect(held.calls.length).toBe(1);
    expect(r.status, path).toBe(503);
    expect(r.headers['retry-after'], path).toBe('1');
    const doc = JSON.parse(r.body) as Record<string, unknown>;
    // Cube's route answers in Cube's error format.
    const code = path === '/attestation' ? doc['code'] : (doc['error'] as Record<string, unknown>)['code'];
    expect(code, path).toBe('ERR_GATEWAY_EVIDENCE_BUSY');
  }
  // The admitted ones are served in order, one report each.
  for (let i = 0; i < 3; i++) {
    await vi.waitFor(() => expect(held.calls.length).toBe(i + 1), WAIT);
    held.calls[i]?.resolve();
  }
  expect([(await a.reply).status, (await b.reply).status, (await c.reply).status]).toEqual([200, 200, 200]);
  expect(held.calls.length).toBe(3);
});

it('an honest client behind a burst is served after at most evidenceInFlight + evidenceQueue reports', async () => {
  const queue = 3;
  const { gw, held, reads, send } = await start({ evidenceQueue: queue });
  const burst = Array.from({ length: 12 }, (_, i) => send('POST', '/v1/attestation', '10.6.6.6', attest(100 + i)));
  await vi.waitFor(() => expect(reads()).toBe(12), WAIT);
  const honestNonce = Buffer.alloc(32, 0x42);
  const honest = send('POST', '/v1/attestation', '10.0.0.9', JSON.stringify({ nonce: honestNonce.toString('base64') }));
  await vi.waitFor(() => expect(reads()).toBe(13), WAIT);
  const mine = bindingReportData(honestNonce, Buffer.from(gw.spkiSha256, 'hex'));
  // Reports are made one after another, as the kernel makes them.
  let before = 0;
  for (;;) {
    await vi.waitFor(() => expect(held.calls.length).toBeGreaterThan(before), WAIT);
    const call = held.calls[before] as HeldProvider['calls'][number];
    if (call.reportData.equals(mine)) break;
    call.resolve();
    before += 1;
    // Before: the 12 requests of the burst were all ahead of it.
    expect(before).toBeLessThanOrEqual(1 + queue);
  }
  held.calls[before]?.resolve();
  expect((await honest.reply).status).toBe(200);
  // The burst's client had one request at the provider and one waiting; the rest were refused.
  const statuses = await Promise.all(burst.map(async (b) => (await b.reply).status));
  expect(statuses.filter((s) => s === 503)).toHaveLength(10);
  expect(before).toBe(2);
});

it('the bounds are checked at start', async () => {
  // Imported here so that the file's other tests run (and fail) on the code before, which has no EvidenceQueue.
  const { EvidenceQueue } = await import('../../src/gateway/attestation.js');
  expect(() => new EvidenceQueue(0, 1)).toThrow(RangeError);
  expect(() => new EvidenceQueue(1, -1)).toThrow(RangeError);
  expect(() => new EvidenceQueue(1.5, 1)).toThrow(RangeError);
  for (const bad of [{ evidenceInFlight: 0 }, { evidenceQueue: -1 }, { evidenceQueue: 2.5 }, { evidenceInFlight: '2' as unknown as number }]) {
    await expect(start(bad)).rejects.toMatchObject({ code: 'ERR_GATEWAY_CONFIG' });
  }
});
