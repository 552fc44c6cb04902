/** The s16 round-2 evidence queue tests' gateway: a client per X-Forwarded-For, the rate limiter's clock reads counted, the log kept. */
import { request as httpsRequest } from 'node:https';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';

import { startGateway, type Gateway, type GatewayOptions } from '../../src/gateway/server.js';

export interface Reply {
  status: number;
  headers: Record<string, string | string[] | undefined>;
  body: string;
}

/** What the test's afterEach undoes (runCleanup), last first. */
export const cleanup: (() => Promise<void>)[] = [];
export async function runCleanup(): Promise<void> {
  for (const c of cleanup.splice(0).reverse()) await c();
}

export async function start(o: Partial<GatewayOptions> & Pick<GatewayOptions, 'provider'>): Promise<{ gw: Gateway; reads: () => number; logs: string[]; send: (method: string, path: string, client: string, body?: string) => Promise<Reply> }> {
  const dir = mkdtempSync(join(tmpdir(), 's16-r2-queue-'));
  let reads = 0;
  const logs: string[] = [];
  const gw = await startGateway({
    upstream: 'http://127.0.0.1:9',
    database: `sqlite:${join(dir, 'g.sqlite')}`,
    port: 0,
    log: (l) => void logs.push(l),
    attestationsPerSecond: 1000,
    attestationsPerClient: 1000,
    trustedProxies: ['127.0.0.1'],
    // Read once per evidence request, as it takes its slot of the rate (before the queue).
    limiterClock: () => {
      reads += 1;
      return 0;
    },
    ...o,
  }).catch((e: unknown) => {
    rmSync(dir, { recursive: true, force: true });
    throw e;
  });
  const requests: { destroy: () => void }[] = [];
  cleanup.push(async () => {
    for (const r of requests) r.destroy();
    await gw.close();
    rmSync(dir, { recursive: true, force: true });
  });
  const send = (method: string, path: string, client: string, body?: string): Promise<Reply> => {
    const req = httpsRequest(`${gw.url}${path}`, {
      method,
      agent: false,
      rejectUnauthorized: false,
      headers: { 'x-forwarded-for': client, 'content-type': 'application/json', ...(body === undefined ? {} : { 'content-length': Buffer.byteLength(body) }) },
    });
    requests.push(req);
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
    return reply;
  };
  return { gw, reads: () => reads, logs, send };
}

export const attest = (b: number, format?: string): string => JSON.stringify({ nonce: Buffer.alloc(32, b).toString('base64'), ...(format ? { format } : {}) });
export const atls = (b: number): string => JSON.stringify({ nonce: Buffer.alloc(32, b).toString('base64') });
export const codeOf = (r: Reply): string | undefined => (JSON.parse(r.body) as { error?: { code?: string } }).error?.code;

