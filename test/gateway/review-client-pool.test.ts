/**
 * Review findings on the attested client's connection pool (session 3):
 *  - a connection waiting for another connection's attestation had no 'error'
 *    listener, so a TCP reset in that window crashed the client process;
 *  - after a key's trust expired, a re-attestation that met a NEW key left the
 *    pooled connections to the old key in service.
 * The origin is a TCP relay on 127.0.0.1 that the test points at one gateway
 * or another (a restart with a new key, or another instance behind one name).
 */
import { mkdtempSync, rmSync } from 'node:fs';
import { createServer, connect, type Server, type Socket } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';

import { afterAll, beforeAll, describe, expect, it } from 'vitest';

import { AttestedClient, startGateway, type Gateway } from '../../src/gateway/index.js';
import type { EvidenceProvider } from '../../src/tee/index.js';
import { clientOptions, mrTdOf, ollamaChat, simulated, tdxPolicy } from './helpers.js';
import { startChatUpstream, type ChatUpstream } from './upstream.js';

let dir: string;
beforeAll(() => {
  dir = mkdtempSync(join(tmpdir(), 'tee-gateway-pool-'));
});
afterAll(() => rmSync(dir, { recursive: true, force: true }));

const start = (name: string, upstream: ChatUpstream, provider: EvidenceProvider = simulated): Promise<Gateway> =>
  startGateway({ upstream: upstream.url, db: join(dir, `${name}.sqlite`), provider, port: 0, log: () => {}, requireApiKey: false });

/** A TCP relay whose target can change; `onConnection` sees each client-side socket with its ordinal. */
async function relay(onConnection: (client: Socket, n: number) => void = () => {}): Promise<{ url: string; target: Gateway | undefined; close(): Promise<void> }> {
  const state = { target: undefined as Gateway | undefined, n: 0 };
  const sockets = new Set<Socket>();
  const server: Server = createServer((c) => {
    const s = connect(state.target!.port, '127.0.0.1');
    sockets.add(c).add(s);
    c.pipe(s).pipe(c);
    c.on('error', () => s.destroy());
    s.on('error', () => c.destroy());
    onConnection(c, ++state.n);
  });
  await new Promise<void>((ok) => server.listen(0, '127.0.0.1', ok));
  const port = (server.address() as { port: number }).port;
  return {
    url: `https://127.0.0.1:${port}`,
    get target() {
      return state.target;
    },
    set target(g) {
      state.target = g;
      state.n = 0;
    },
    close: () => new Promise<void>((ok) => {
      for (const s of sockets) s.destroy();
      server.close(() => ok());
    }),
  };
}

const chat = async (client: AttestedClient, prompt: string): Promise<number> => {
  const r = await client.fetch('/api/chat', { method: 'POST', headers: { 'content-type': 'application/json' }, body: ollamaChat(prompt, false) });
  await r.text();
  return r.status;
};

describe('attested client pool (review)', () => {
  it('a reset of a connection that waits for another connection\'s attestation fails that request only; the process lives on', async () => {
    const upstream = await startChatUpstream();
    // The second gateway's TEE answers slowly, so a second connection waits for the first one's attestation.
    let release!: () => void;
    const gate = new Promise<void>((ok) => (release = ok));
    const slow: EvidenceProvider = { name: 'simulated', getEvidence: async (rd) => (await gate, simulated.getEvidence(rd)) };
    const a = await start('reset-a', upstream);
    const b = await start('reset-b', upstream, slow);
    let resetSecond!: () => void;
    const origin = await relay((c, n) => {
      if (origin.target === b && n === 2) resetSecond = () => c.resetAndDestroy();
    });
    origin.target = a;
    const client = new AttestedClient(origin.url, { ...clientOptions(tdxPolicy(await mrTdOf(simulated))), connections: 4 });
    const crashes: unknown[] = [];
    const onUncaught = (e: unknown): void => void crashes.push(e);
    process.on('uncaughtException', onUncaught);
    try {
      expect(await chat(client, 'first')).toBe(200);
      origin.target = b; // a restart with a new key
      await a.close();
      const both = Promise.allSettled([chat(client, 'one'), chat(client, 'two')]);
      // wait until the second connection exists (it is then waiting on the first one's attestation), reset it, then let the TEE answer
      for (let i = 0; i < 200 && resetSecond === undefined; i++) await new Promise((ok) => setTimeout(ok, 10));
      expect(resetSecond).toBeDefined();
      resetSecond();
      await new Promise((ok) => setTimeout(ok, 50));
      release();
      const settled = await both;
      expect(crashes).toEqual([]);
      expect(settled.filter((s) => s.status === 'fulfilled').length).toBeGreaterThanOrEqual(1);
      for (const s of settled) if (s.status === 'rejected') expect(String((s.reason as Error)?.message ?? s.reason)).not.toMatch(/ECONNRESET.*uncaught/);
    } finally {
      process.off('uncaughtException', onUncaught);
      release();
      await client.close();
      await origin.close();
      await b.close();
      await upstream.close();
    }
  });

  it('after the trust in key K1 expired and the origin now presents K2, no request travels on a pooled K1 connection', async () => {
    const upA = await startChatUpstream();
    const upB = await startChatUpstream();
    const a = await start('expiry-a', upA);
    const b = await start('expiry-b', upB);
    const origin = await relay();
    origin.target = a;
    const client = new AttestedClient(origin.url, { ...clientOptions(tdxPolicy(await mrTdOf(simulated))), maxAgeMs: 50 });
    try {
      expect(await chat(client, 'to A')).toBe(200);
      const k1 = client.last!.spkiSha256;
      expect(upA.received.length).toBe(1);
      await new Promise((ok) => setTimeout(ok, 120)); // K1's trust (maxAgeMs) has expired
      origin.target = b; // new connections now reach a gateway with key K2
      expect(await chat(client, 'to B')).toBe(200);
      expect(client.last!.spkiSha256).toBe(b.spkiSha256);
      expect(client.last!.spkiSha256).not.toBe(k1);
      // the second request went over a K2 connection, never over the pooled K1 one
      expect(upA.received.length).toBe(1);
      expect(upB.received.length).toBe(1);
    } finally {
      await client.close();
      await origin.close();
      await a.close();
      await b.close();
      await upA.close();
      await upB.close();
    }
  });
});
