/**
 * Gateway server behaviour without the attested client: the binding bytes,
 * the attestation endpoint's checks and rate bound, API keys, size limits,
 * upstream failures (502 / 504, never a hang).
 */
import { X509Certificate, createHash, randomBytes } from 'node:crypto';
import { existsSync } from 'node:fs';
import { createServer } from 'node:net';
import { connect as tlsConnect } from 'node:tls';

import { afterAll, beforeAll, describe, expect, it } from 'vitest';

import { BINDING_LABEL, bindingReportData, spkiSha256, startGateway } from '../../src/gateway/index.js';
import { parseEvidence, type TdxQuote } from '../../src/index.js';
import { ollamaChat, simulated, startHarness, type Harness } from './helpers.js';

let h: Harness;
beforeAll(async () => {
  // The upstream deadlines stay at their defaults here: a 300 ms bound on every proxied request fails
  // ordinary answers on a loaded machine. The two tests of those deadlines start gateways of their own.
  h = await startHarness({ maxRequestBytes: 4096 });
});
afterAll(async () => h?.close());

describe('binding', () => {
  it('label is the 30 bytes "tee-verify gateway binding v1\\0"; report data = SHA-512(label ‖ nonce ‖ SHA-256(SPKI))', () => {
    expect(BINDING_LABEL.length).toBe(30);
    expect(BINDING_LABEL.at(-1)).toBe(0);
    const nonce = Buffer.alloc(16, 1);
    const spki = Buffer.alloc(32, 2);
    const expected = createHash('sha512').update(Buffer.concat([Buffer.from('tee-verify gateway binding v1\0'), nonce, spki])).digest();
    expect(bindingReportData(nonce, spki).equals(expected)).toBe(true);
    expect(() => bindingReportData(Buffer.alloc(15), spki)).toThrow(RangeError);
    expect(() => bindingReportData(Buffer.alloc(65), spki)).toThrow(RangeError);
  });

  it('the endpoint answers evidence whose REPORTDATA is that binding for the certificate its TLS socket presents', async () => {
    // What a client can check is the certificate on the wire, not what the gateway object says it uses.
    const presented = await new Promise<Buffer>((resolve, reject) => {
      const s = tlsConnect({ host: '127.0.0.1', port: h.gateway.port, rejectUnauthorized: false }, () => {
        resolve(s.getPeerCertificate().raw);
        s.end();
      });
      s.on('error', reject);
    });
    const presentedSpki = spkiSha256(presented);
    const nonce = randomBytes(24);
    const r = await h.call('POST', '/v1/attestation', { body: JSON.stringify({ nonce: nonce.toString('base64') }), token: null });
    expect(r.status).toBe(200);
    expect(r.json.tee).toBe('tdx');
    expect(new X509Certificate(r.json.certificate).raw.equals(presented)).toBe(true);
    expect(r.json.reportDataPreimage).toEqual({ label: BINDING_LABEL.toString('base64'), nonce: nonce.toString('base64'), spkiSha256: presentedSpki.toString('hex') });
    const quote = parseEvidence(Buffer.from(r.json.evidence, 'base64')) as TdxQuote;
    expect(Buffer.from(quote.body.reportData).equals(bindingReportData(nonce, presentedSpki))).toBe(true);
  });

  it.each([['short', randomBytes(15).toString('base64')], ['long', randomBytes(65).toString('base64')], ['not base64', '!!!!'], ['absent', undefined]])('nonce %s: 400', async (_n, nonce) => {
    const r = await h.call('POST', '/v1/attestation', { body: JSON.stringify({ nonce }), token: null });
    expect(r.status).toBe(400);
    expect(r.json.error.code).toBe('ERR_GATEWAY_BAD_REQUEST');
  });
});

describe('attestation rate', () => {
  it('beyond the bound: 429 with Retry-After', async () => {
    const g = await startHarness({ attestationsPerSecond: 2 });
    try {
      const body = () => JSON.stringify({ nonce: randomBytes(32).toString('base64') });
      const rs = await Promise.all(Array.from({ length: 8 }, () => g.call('POST', '/v1/attestation', { body: body(), token: null })));
      const limited = rs.filter((r) => r.status === 429);
      expect(limited.length).toBeGreaterThan(0);
      expect(rs.filter((r) => r.status === 200).length).toBeGreaterThan(0);
      expect(Number(limited[0]!.headers['retry-after'])).toBeGreaterThanOrEqual(1);
      expect(limited[0]!.json.error.code).toBe('ERR_GATEWAY_RATE_LIMITED');
    } finally {
      await g.close();
    }
  });
});

describe('API keys', () => {
  it('no token, an unknown token, a revoked token: 401; the upstream sees nothing', async () => {
    const before = h.upstream.received.length;
    expect((await h.call('POST', '/api/chat', { body: ollamaChat('x'), token: null })).status).toBe(401);
    const bad = await h.call('POST', '/api/chat', { body: ollamaChat('x'), token: 'tgw_not-a-key' });
    expect(bad.status).toBe(401);
    expect(bad.json.error.code).toBe('ERR_GATEWAY_UNAUTHORIZED');
    const k = await h.gateway.keys.create('to revoke');
    expect((await h.call('POST', '/api/chat', { body: ollamaChat('x', false), token: k.token })).status).toBe(200);
    expect(await h.gateway.keys.revoke(k.id)).toBe(true);
    expect((await h.call('POST', '/api/chat', { body: ollamaChat('x', false), token: k.token })).status).toBe(401);
    expect(h.upstream.received.length - before).toBe(1);
  });

  it('tokens are stored hashed; list shows no token', async () => {
    const list = await h.gateway.keys.list();
    expect(list.length).toBeGreaterThan(0);
    expect(JSON.stringify(list)).not.toContain('tgw_');
  });
});

describe('limits and upstream failures', () => {
  it('an oversized body is 413 with a clear error', async () => {
    const r = await h.call('POST', '/api/chat', { body: ollamaChat('x'.repeat(10_000)) });
    expect(r.status).toBe(413);
    expect(r.json.error.code).toBe('ERR_GATEWAY_TOO_LARGE');
  });

  it('a request target like //other.host/x stays on the upstream (no open proxy)', async () => {
    const before = h.upstream.received.length;
    const r = await h.call('POST', '//example.invalid/api/chat?x=1', { body: ollamaChat('x', false) });
    expect(r.status).toBe(404); // the upstream's own 404 for the path "//example.invalid/api/chat"
    expect(h.upstream.received.slice(before).map((x) => x.path)).toEqual(['//example.invalid/api/chat']);
  });

  it('a response beyond maxResponseBytes is cut, not delivered whole', async () => {
    const g = await startHarness({ maxResponseBytes: 300 });
    try {
      const r = await g.call('POST', '/api/chat', { body: ollamaChat('many words '.repeat(50)) }).then(
        (x) => x.text.length,
        (e: Error) => e,
      );
      if (typeof r === 'number') expect(r).toBeLessThanOrEqual(300);
      else expect(r).toBeInstanceOf(Error);
    } finally {
      await g.close();
    }
  });

  it('/health', async () => {
    const r = await h.call('GET', '/health', { token: null });
    expect(r.json).toEqual({ status: 'ok', tee: 'simulated', database: 'sqlite' });
  });

  it('an upstream that does not answer: 504', async () => {
    const g = await startHarness({ upstreamTimeoutMs: 300 });
    try {
      const r = await g.call('POST', '/slow', { body: '{}' });
      expect(r.status).toBe(504);
      expect(r.json.error.code).toBe('ERR_GATEWAY_UPSTREAM_TIMEOUT');
    } finally {
      await g.close();
    }
  });

  it('an upstream that stalls mid-stream: the stream is cut (a socket error, never a clean end), not hung', async () => {
    // The headers (200) and the first line went out before the stall: what remains to tell the client
    // is that the answer is incomplete, so the connection is reset rather than the chunked body ended.
    // Only the idle deadline is short: the first byte has the default 30 s however slow the machine.
    const g = await startHarness({ upstreamIdleTimeoutMs: 300 });
    try {
      const { request } = await import('undici');
      const res = await request(`${g.gateway.url}/stall`, { method: 'POST', dispatcher: g.insecure, headers: { authorization: `Bearer ${g.token}` }, body: '{}' });
      expect(res.statusCode).toBe(200);
      let received = '';
      const outcome = await (async () => {
        for await (const chunk of res.body) received += String(chunk);
        return 'clean end';
      })().catch((e: { code?: string }) => e.code ?? 'error');
      expect(outcome).toBe('UND_ERR_SOCKET');
      expect(received).toBe('{"partial":true}\n');
      expect(received).not.toContain('"done":true');
    } finally {
      await g.close();
    }
  });

  it('a dead upstream: 502', async () => {
    // An upstream that drops every connection. It keeps its port until the end: a port closed again at
    // once could be taken by a server of another test file running in parallel, which would answer.
    const dead = createServer((socket) => socket.destroy());
    await new Promise<void>((resolve) => dead.listen(0, '127.0.0.1', resolve));
    const g = await startHarness({ upstream: `http://127.0.0.1:${(dead.address() as { port: number }).port}` });
    try {
      const r = await g.call('POST', '/api/chat', { body: ollamaChat('x') });
      expect(r.status).toBe(502);
      expect(r.json.error.code).toBe('ERR_GATEWAY_UPSTREAM');
    } finally {
      await g.close();
      await new Promise<void>((resolve) => dead.close(() => resolve()));
    }
  });

  it('a restart on the same database keeps the API keys, not the TLS key (fresh in memory, nothing written; review s6)', async () => {
    const again = await startGateway({ upstream: h.upstream.url, db: h.db, provider: simulated, port: 0, log: () => {} });
    try {
      expect(again.spkiSha256).not.toBe(h.gateway.spkiSha256);
      expect(existsSync(`${h.db}.tls-key.pem`)).toBe(false);
      expect((await again.keys.list()).length).toBe((await h.gateway.keys.list()).length);
    } finally {
      await again.close();
    }
  });
});

describe('EvidenceRateLimiter', () => {
  it('at most N grants in any 1000 ms window, Retry-After until the oldest leaves', async () => {
    const { EvidenceRateLimiter } = await import('../../src/gateway/index.js');
    const l = new EvidenceRateLimiter(10);
    for (let i = 0; i < 10; i++) expect(l.take(1000 + i * 50)).toBe(0);
    expect(l.take(1500)).toBe(1);
    expect(l.take(1999)).toBe(1);
    expect(l.take(2000)).toBe(0); // the grant at 1000 left the window
    expect(l.take(2001)).toBe(1);
    expect(() => new EvidenceRateLimiter(0)).toThrow(RangeError);
  });
});
