/**
 * The attested client's connection handling: one TLS connection carries the
 * in-band attestation and then the requests; concurrent first requests share
 * one attestation; a server that closes after the answer is reached on a new
 * connection only if it presents the verified key (ERR_ATTEST_PINNING
 * otherwise); a key past maxAgeMs is attested again before the next request.
 */
import { request as httpsRequest, createServer as createHttpsServer } from 'node:https';
import { mkdtempSync, rmSync } from 'node:fs';
import { connect as netConnect, createServer as createNetServer, type AddressInfo, type Socket } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';

import { afterAll, beforeAll, describe, expect, it } from 'vitest';

import { AttestedClient, AttestationRefusedError, type AttestedClientOptions } from '../../src/gateway/index.js';
import { generateTls, loadOrCreateTls } from '../../src/gateway/tls.js';
import type { EvidenceProvider } from '../../src/tee/index.js';
import { SECRET, clientOptions, mrTdOf, ollamaChat, simulated, startHarness, tdxPolicy, type Harness } from './helpers.js';
import { replyWords } from './upstream.js';

let h: Harness;
let calls = 0;
let good: () => AttestedClientOptions;
const tmp: string[] = [];
beforeAll(async () => {
  const counting: EvidenceProvider = { name: 'simulated', getEvidence: (rd) => ((calls += 1), simulated.getEvidence(rd)) };
  // The test's servers present the gateway's key: it is given, since a gateway keeps its own in memory only.
  h = await startHarness({ provider: counting, requireApiKey: false, tls: await generateTls(['127.0.0.1']) });
  const policy = tdxPolicy(await mrTdOf(simulated));
  good = () => clientOptions(policy);
});
afterAll(async () => {
  await h?.close();
  for (const d of tmp) rmSync(d, { recursive: true, force: true });
});

/** A TCP relay that sends its n-th connection to `target(n)` (a port) and counts connections. */
async function relay(target: (n: number) => number): Promise<{ url: string; connections: () => number; dropAll(): void; close(): Promise<void> }> {
  let n = 0;
  const open = new Set<Socket>();
  const server = createNetServer((c) => {
    const t = netConnect(target(n++), '127.0.0.1');
    for (const s of [c, t]) {
      open.add(s);
      s.on('error', () => {});
      s.on('close', () => (c.destroy(), t.destroy()));
    }
    c.pipe(t).pipe(c);
  });
  await new Promise<void>((r) => server.listen(0, '127.0.0.1', () => r()));
  return {
    url: `https://127.0.0.1:${(server.address() as AddressInfo).port}`,
    connections: () => n,
    dropAll: () => {
      for (const s of open) s.destroy();
    },
    close: () => new Promise<void>((r) => {
      for (const s of open) s.destroy();
      server.close(() => r());
    }),
  };
}

/** An HTTPS server with `tls` that answers /v1/attestation from the real gateway with `Connection: close`; records other bodies. */
async function closingServer(tls: { cert: string; key: string }, gatewayUrl = h.gateway.url): Promise<{ port: number; received: string[]; close(): Promise<void> }> {
  const received: string[] = [];
  const server = createHttpsServer({ cert: tls.cert, key: tls.key }, (req, res) => {
    const chunks: Buffer[] = [];
    req.on('data', (c: Buffer) => chunks.push(c));
    req.on('end', () => {
      const body = Buffer.concat(chunks).toString('utf8');
      if (req.url !== '/v1/attestation') {
        received.push(body);
        return void res.writeHead(200, { 'content-type': 'application/json' }).end('{"ok":true}');
      }
      const fwd = httpsRequest(`${gatewayUrl}/v1/attestation`, { method: 'POST', rejectUnauthorized: false, headers: { 'content-type': 'application/json' } }, (up) => {
        const parts: Buffer[] = [];
        up.on('data', (c: Buffer) => parts.push(c));
        up.on('end', () => {
          const answer = Buffer.concat(parts);
          res.writeHead(200, { 'content-type': 'application/json', 'content-length': answer.length, connection: 'close' }).end(answer);
        });
      });
      fwd.end(body);
    });
  });
  await new Promise<void>((r) => server.listen(0, '127.0.0.1', () => r()));
  return { port: (server.address() as AddressInfo).port, received, close: () => new Promise<void>((r) => (server.close(() => r()), server.closeAllConnections())) };
}

const gatewayTls = () => h.tls!;

describe('attested connections', () => {
  it('one TLS connection carries the attestation and then the chat (no second handshake)', async () => {
    const r = await relay(() => h.gateway.port);
    const client = new AttestedClient(r.url, good());
    const before = calls;
    try {
      const res = await client.fetch('/api/chat', { method: 'POST', body: ollamaChat('in band', false) });
      expect(((await res.json()) as { message: { content: string } }).message.content).toBe(replyWords('in band').join(''));
      expect(r.connections()).toBe(1);
      const again = await client.fetch('/api/chat', { method: 'POST', body: ollamaChat('again', false) });
      await again.text();
      expect(calls - before).toBe(1);
      expect(client.last!.spkiSha256).toBe(h.gateway.spkiSha256);
    } finally {
      await client.close();
      await r.close();
    }
  });

  it('concurrent first requests share one attestation; the other connections are pinned to its key', async () => {
    const r = await relay(() => h.gateway.port);
    const client = new AttestedClient(r.url, good());
    const before = calls;
    try {
      const answers = await Promise.all(Array.from({ length: 6 }, (_, i) => client.fetch('/api/chat', { method: 'POST', body: ollamaChat(`c${i}`, false) }).then((x) => x.json())));
      expect(answers.map((a) => (a as { message: { content: string } }).message.content)).toEqual(Array.from({ length: 6 }, (_, i) => replyWords(`c${i}`).join('')));
      expect(calls - before).toBe(1);
      expect(r.connections()).toBeGreaterThan(1);
    } finally {
      await client.close();
      await r.close();
    }
  });

  it('every attestation sends its own nonce, across the client\'s batches of CSPRNG bytes', async () => {
    // Nonces are drawn from the CSPRNG 64 at a time; 150 attestations cross two batch boundaries.
    const reportData: string[] = [];
    const recording: EvidenceProvider = { name: 'simulated', getEvidence: (rd) => (reportData.push(Buffer.from(rd).toString('hex')), simulated.getEvidence(rd)) };
    const own = await startHarness({ provider: recording, requireApiKey: false, attestationsPerSecond: 1_000_000 });
    const client = new AttestedClient(own.gateway.url, good());
    try {
      for (let i = 0; i < 150; i++) await client.attest();
      // REPORTDATA = SHA-512(label ‖ nonce ‖ SPKI hash) with one SPKI: distinct REPORTDATA means distinct nonces.
      expect(reportData).toHaveLength(150);
      expect(new Set(reportData).size).toBe(150);
      expect(client.last!.spkiSha256).toBe(own.gateway.spkiSha256);
    } finally {
      await client.close();
      await own.close();
    }
  });

  it('a verified key past maxAgeMs is attested again before the next request', async () => {
    const client = new AttestedClient(h.gateway.url, { ...good(), maxAgeMs: 1 });
    const before = calls;
    try {
      await (await client.fetch('/api/chat', { method: 'POST', body: ollamaChat('one', false) })).text();
      const first = calls - before;
      expect(first).toBeGreaterThanOrEqual(1);
      await new Promise((r) => setTimeout(r, 20));
      await (await client.fetch('/api/chat', { method: 'POST', body: ollamaChat('two', false) })).text();
      expect(calls - before).toBeGreaterThan(first);
    } finally {
      await client.close();
    }
  });
});

describe('a server that closes the connection after the attestation answer', () => {
  it('the verified key is used on a new connection that presents it', async () => {
    const s = await closingServer(gatewayTls());
    const r = await relay(() => s.port);
    const client = new AttestedClient(r.url, good());
    try {
      const res = await client.fetch('/api/chat', { method: 'POST', body: ollamaChat('after close', false) });
      expect(await res.json()).toEqual({ ok: true });
      expect(client.last!.spkiSha256).toBe(h.gateway.spkiSha256);
      expect(r.connections()).toBe(2);
      expect(s.received.some((b) => b.includes('after close'))).toBe(true);
    } finally {
      await client.close();
      await r.close();
      await s.close();
    }
  });

  it('ERR_ATTEST_PINNING when the new connection presents another key; no prompt byte reaches it', async () => {
    // conn 0: the gateway (attested, used); conn 1: a second genuine gateway's key, attested in-band, then closed;
    // conn 2: a third key, which no attestation covers.
    const h2 = await startHarness({ requireApiKey: false, tls: await generateTls(['127.0.0.1']) });
    const s2 = await closingServer(h2.tls!, h2.gateway.url);
    const d = mkdtempSync(join(tmpdir(), 'tee-gateway-client-'));
    tmp.push(d);
    const other = await closingServer(await loadOrCreateTls(join(d, 'c.pem'), join(d, 'k.pem'), ['127.0.0.1']));
    const r = await relay((n) => [h.gateway.port, s2.port][n] ?? other.port);
    const client = new AttestedClient(r.url, good());
    try {
      await (await client.fetch('/api/chat', { method: 'POST', body: ollamaChat('first', false) })).text();
      r.dropAll();
      const err = await client.fetch('/api/chat', { method: 'POST', body: ollamaChat(SECRET, false) }).then(() => undefined, (e: unknown) => e);
      expect(err).toBeInstanceOf(AttestationRefusedError);
      expect((err as AttestationRefusedError).code).toBe('ERR_ATTEST_PINNING');
      expect(client.last!.spkiSha256).toBe(h2.gateway.spkiSha256);
      expect([...s2.received, ...other.received].some((b) => b.includes(SECRET))).toBe(false);
      expect(h.upstream.received.some((b) => b.body.includes(SECRET))).toBe(false);
      expect(r.connections()).toBe(3);
    } finally {
      await client.close();
      await r.close();
      await s2.close();
      await other.close();
      await h2.close();
    }
  });
});
