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

import type { TLSSocket } from 'node:tls';

import { afterAll, beforeAll, describe, expect, it, vi } from 'vitest';

import { AttestedClient, AttestationRefusedError, startGateway, type Gateway } from '../../src/gateway/index.js';
import type { EvidenceProvider } from '../../src/tee/index.js';
import { clientOptions, mrTdOf, ollamaChat, simulated, tdxPolicy } from './helpers.js';
import { startChatUpstream, type ChatUpstream } from './upstream.js';

let dir: string;
beforeAll(() => {
  dir = mkdtempSync(join(tmpdir(), 'tee-gateway-pool-'));
});
afterAll(() => rmSync(dir, { recursive: true, force: true }));

/**
 * The client's TLS sockets, in the order they are made: tls.connect is wrapped so the test can
 * see a connection finish its handshake (the client's own 'secureConnect' listener runs after
 * ours). Only 'close' listeners are added: an 'error' listener would hide the crash under test.
 */
const tlsSockets = vi.hoisted(() => ({ watch: undefined as ((s: TLSSocket) => void) | undefined }));
vi.mock('node:tls', async (importOriginal) => {
  const actual = await importOriginal<typeof import('node:tls')>();
  const connect = (...args: Parameters<typeof actual.connect>): TLSSocket => {
    const socket = actual.connect(...args);
    tlsSockets.watch?.(socket);
    return socket;
  };
  return { ...actual, connect };
});

const nextImmediate = (): Promise<void> => new Promise((ok) => setImmediate(ok));

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
    // The second gateway's TEE answers only when the test says so: one connection's attestation
    // stays in progress while the other connection waits for its verdict.
    let release!: () => void;
    const gate = new Promise<void>((ok) => (release = ok));
    let evidenceAsked!: () => void;
    const asked = new Promise<void>((ok) => (evidenceAsked = ok));
    let evidenceRequests = 0;
    const slow: EvidenceProvider = {
      name: 'simulated',
      getEvidence: async (rd) => {
        evidenceRequests++;
        evidenceAsked();
        await gate;
        return simulated.getEvidence(rd);
      },
    };
    const a = await start('reset-a', upstream);
    const b = await start('reset-b', upstream, slow);
    // The relay's side of each connection to b, by the client's local port.
    const relayed = new Map<number, Socket>();
    const origin = await relay((c) => {
      if (origin.target === b) relayed.set(c.remotePort!, c);
    });
    origin.target = a;
    const client = new AttestedClient(origin.url, { ...clientOptions(tdxPolicy(await mrTdOf(simulated))), connections: 4 });
    const crashes: unknown[] = [];
    const onUncaught = (e: unknown): void => void crashes.push(e);
    process.on('uncaughtException', onUncaught);
    const toA: TLSSocket[] = [];
    const handshaken: TLSSocket[] = [];
    let secondHandshake!: () => void;
    const twoHandshakes = new Promise<void>((ok) => (secondHandshake = ok));
    try {
      tlsSockets.watch = (socket) => toA.push(socket);
      expect(await chat(client, 'first')).toBe(200);
      // A restart with a new key: the pooled connection to a is gone before the next requests.
      origin.target = b;
      tlsSockets.watch = (socket) =>
        socket.once('secureConnect', () => {
          if (handshaken.push(socket) === 2) secondHandshake();
        });
      await a.close();
      await Promise.all(toA.map((socket) => (socket.closed ? undefined : new Promise((ok) => socket.once('close', ok)))));

      const both = Promise.allSettled([chat(client, 'one'), chat(client, 'two')]);
      // The first connection to finish its handshake attests (b's TEE is now asked and held);
      // the second, handshaken after it, finds that attestation in progress and waits for it.
      await Promise.all([asked, twoHandshakes]);
      await nextImmediate(); // the client's own handshake continuation has run: it awaits the verdict
      const waiting = handshaken[1]!;
      const reset = relayed.get(waiting.localPort!);
      expect(reset, 'the relay carries the waiting connection').toBeDefined();
      const closed = new Promise<boolean>((ok) => waiting.once('close', ok));
      reset!.resetAndDestroy();
      // The client saw the reset as a socket error (hadError) while it waited: the case that crashed.
      expect(await closed).toBe(true);
      release();
      const settled = await both;

      expect(crashes).toEqual([]);
      // One request travels over the attested connection; the one on the reset connection fails, typed.
      const fulfilled = settled.filter((r): r is PromiseFulfilledResult<number> => r.status === 'fulfilled');
      const rejected = settled.filter((r): r is PromiseRejectedResult => r.status === 'rejected');
      expect(fulfilled.map((r) => r.value)).toEqual([200]);
      expect(rejected).toHaveLength(1);
      expect(rejected[0]!.reason).toBeInstanceOf(AttestationRefusedError);
      expect((rejected[0]!.reason as AttestationRefusedError).code).toBe('ERR_ATTEST_EXCHANGE');
      // The waiting connection asked the TEE nothing: one attestation for both.
      expect(evidenceRequests).toBe(1);
      expect(client.last!.spkiSha256).toBe(b.spkiSha256);
    } finally {
      tlsSockets.watch = undefined;
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
    // The relay's side of the connections to a that are still open.
    const openToA = new Set<Socket>();
    const origin = await relay((c) => {
      if (origin.target !== a) return;
      openToA.add(c);
      c.once('close', () => openToA.delete(c));
    });
    origin.target = a;
    const client = new AttestedClient(origin.url, { ...clientOptions(tdxPolicy(await mrTdOf(simulated))), maxAgeMs: 500 });
    try {
      // Two requests: the pool then holds an idle K1 connection that it reuses for the next request.
      expect(await chat(client, 'to A')).toBe(200);
      expect(await chat(client, 'to A again')).toBe(200);
      const k1 = client.last!.spkiSha256;
      expect(upA.received.length).toBe(2);
      expect(openToA.size, 'a pooled K1 connection is open').toBeGreaterThan(0);
      // K1's trust (maxAgeMs) has expired: the clock moves on instead of the test sleeping (the client reads Date.now()).
      const realNow = Date.now.bind(Date);
      vi.spyOn(Date, 'now').mockImplementation(() => realNow() + 1_000);
      origin.target = b; // new connections now reach a gateway with key K2
      expect(await chat(client, 'to B')).toBe(200);
      expect(client.last!.spkiSha256).toBe(b.spkiSha256);
      expect(client.last!.spkiSha256).not.toBe(k1);
      // the request went over a K2 connection, never over the pooled K1 one (without the expiry it would)
      expect(upA.received.length).toBe(2);
      expect(upB.received.length).toBe(1);
    } finally {
      vi.restoreAllMocks();
      await client.close();
      await origin.close();
      await a.close();
      await b.close();
      await upA.close();
      await upB.close();
    }
  });
});
