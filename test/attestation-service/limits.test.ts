/**
 * The service's edges: CORS (listed origins only, preflight), body size
 * (413 with and without Content-Length), bounded concurrency (503 instead of
 * an unbounded queue), one clock reading per request, HTTPS, missing
 * collateral as a retryable 503.
 */
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { Readable } from 'node:stream';

import { Agent, request } from 'undici';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';

import type { AttestationService } from '../../src/attestation-service/index.js';
import { loadOrCreateTls } from '../../src/gateway/tls.js';
import { BundleSource, CollateralService, type IntelCollateralSource } from '../../src/index.js';
import { NOW, call, post, startService, tdx, tdxQuote } from './helpers.js';

let quote: Buffer;
beforeAll(async () => {
  quote = await tdxQuote();
});

describe('CORS', () => {
  let svc: AttestationService;
  beforeAll(async () => {
    svc = await startService({ corsOrigins: ['https://chat.example', 'http://127.0.0.1:3000'] });
  });
  afterAll(async () => svc?.close());

  it('a listed origin is echoed on answers and errors; an unlisted one gets no CORS header', async () => {
    const ok = await post(svc.url, '/attestation', { bad: 1 }, { origin: 'https://chat.example' });
    expect(ok.status).toBe(400);
    expect(ok.headers['access-control-allow-origin']).toBe('https://chat.example');
    expect(ok.headers['vary']).toBe('Origin');
    const jwks = await call(svc.url, 'GET', '/jwks.json', undefined, { origin: 'http://127.0.0.1:3000' });
    expect(jwks.headers['access-control-allow-origin']).toBe('http://127.0.0.1:3000');
    const denied = await post(svc.url, '/v1/verify', { evidence: quote.toString('base64') }, { origin: 'https://evil.example' });
    expect(denied.status).toBe(200);
    expect(denied.headers['access-control-allow-origin']).toBeUndefined();
  });

  it('preflight: 204 with methods and headers for a listed origin, 403 without CORS headers otherwise', async () => {
    const pre = { 'access-control-request-method': 'POST', 'access-control-request-headers': 'content-type' };
    const ok = await call(svc.url, 'OPTIONS', '/attestation', undefined, { origin: 'https://chat.example', ...pre });
    expect(ok.status).toBe(204);
    expect(ok.headers['access-control-allow-origin']).toBe('https://chat.example');
    expect(String(ok.headers['access-control-allow-methods'])).toContain('POST');
    expect(String(ok.headers['access-control-allow-headers'])).toContain('content-type');
    const denied = await call(svc.url, 'OPTIONS', '/attestation', undefined, { origin: 'https://evil.example', ...pre });
    expect(denied.status).toBe(403);
    expect(denied.json.error.code).toBe('ERR_AS_ORIGIN_NOT_ALLOWED');
    expect(denied.headers['access-control-allow-origin']).toBeUndefined();
  });

  it('by default no origin is allowed', async () => {
    const plain = await startService();
    try {
      const r = await call(plain.url, 'OPTIONS', '/v1/verify', undefined, { origin: 'https://chat.example', 'access-control-request-method': 'POST' });
      expect(r.status).toBe(403);
    } finally {
      await plain.close();
    }
  });
});

describe('body size, concurrency, clock', () => {
  it('a body above maxBodyBytes is 413 ERR_AS_TOO_LARGE, declared or chunked', async () => {
    const svc = await startService({ maxBodyBytes: 8192 });
    try {
      const big = JSON.stringify({ evidence: 'A'.repeat(20_000) });
      const declared = await post(svc.url, '/v1/verify', big);
      expect(declared.status).toBe(413);
      expect(declared.json.error.code).toBe('ERR_AS_TOO_LARGE');
      const res = await request(`${svc.url}/v1/verify`, { method: 'POST', headers: { 'content-type': 'application/json' }, body: Readable.from([Buffer.from(big.slice(0, 6000)), Buffer.from(big.slice(6000))]) });
      expect(res.statusCode).toBe(413);
      expect(((await res.body.json()) as { error: { code: string } }).error.code).toBe('ERR_AS_TOO_LARGE');
      // Within the bound the same service answers normally.
      expect((await post(svc.url, '/v1/verify', { evidence: quote.toString('base64') })).status).toBe(200);
    } finally {
      await svc.close();
    }
  });

  it('beyond maxConcurrent + maxQueued a request is 503 ERR_AS_BUSY with Retry-After, and the running one completes', async () => {
    // Collateral that waits for a gate, so the first appraisal is provably in flight.
    const bundle = new BundleSource([...tdx.collateral]);
    let open!: () => void;
    const gate = new Promise<void>((r) => (open = r));
    let entered!: () => void;
    const inFlight = new Promise<void>((r) => (entered = r));
    const gated: IntelCollateralSource = {
      tcbInfo: async (r) => (entered(), await gate, bundle.tcbInfo(r)),
      qeIdentity: (r) => bundle.qeIdentity(r),
      pckCrl: (ca) => bundle.pckCrl(ca),
      rootCaCrl: () => bundle.rootCaCrl(),
    };
    const svc = await startService({ collateral: new CollateralService({ intel: gated, cache: null }), maxConcurrent: 1, maxQueued: 0, maxPerClient: 2 }); // both requests come from 127.0.0.1: the instance bound, not the client's share, refuses
    try {
      const first = post(svc.url, '/v1/verify', { evidence: quote.toString('base64') });
      await inFlight;
      const second = await post(svc.url, '/v1/verify', { evidence: quote.toString('base64') });
      expect(second.status).toBe(503);
      expect(second.json.error.code).toBe('ERR_AS_BUSY');
      expect(second.headers['retry-after']).toBe('1');
      open();
      expect((await first).json.ok).toBe(true);
    } finally {
      open();
      await svc.close();
    }
  });

  it('the clock is read once per request and is the instant of the result and the token', async () => {
    let reads = 0;
    const svc = await startService({ now: () => (reads++, NOW) });
    try {
      const r = await post(svc.url, '/v1/verify', { evidence: quote.toString('base64') });
      expect(reads).toBe(1);
      expect(r.json.at).toBe(NOW.toISOString());
    } finally {
      await svc.close();
    }
  });

  it('missing collateral is 503 with its retryable code and Retry-After, never a verdict', async () => {
    const svc = await startService({ collateral: new CollateralService({ intel: new BundleSource([]), cache: null }) });
    try {
      const r = await post(svc.url, '/v1/verify', { evidence: quote.toString('base64') });
      expect(r.status).toBe(503);
      expect(r.json.error.code).toBe('ERR_COLLATERAL_MISSING');
      expect(r.headers['retry-after']).toBe('30');
    } finally {
      await svc.close();
    }
  });

  it('a clock outside the collateral window is an EXPIRED rejection (the injected clock is the one used)', async () => {
    const svc = await startService({ now: () => new Date('2027-01-01T00:00:00Z') });
    try {
      const r = await post(svc.url, '/v1/verify', { evidence: quote.toString('base64') });
      expect(r.status).toBe(422);
      expect(r.json.error.code).toMatch(/EXPIRED/);
    } finally {
      await svc.close();
    }
  });
});

describe('HTTPS', () => {
  it('with tls the service speaks HTTPS and signs with a given P-384 key as ES384', async () => {
    const dir = mkdtempSync(join(tmpdir(), 'tee-as-tls-'));
    const { generateKeyPairSync } = await import('node:crypto');
    const signingKey = generateKeyPairSync('ec', { namedCurve: 'secp384r1' }).privateKey.export({ type: 'pkcs8', format: 'pem' }).toString();
    const tls = await loadOrCreateTls(join(dir, 'cert.pem'), join(dir, 'key.pem'), ['127.0.0.1']);
    const svc = await startService({ tls: { cert: tls.cert, key: tls.key }, signingKey });
    const agent = new Agent({ connect: { ca: tls.cert } });
    try {
      expect(svc.url).toMatch(/^https:\/\/127\.0\.0\.1:\d+$/);
      expect(svc.alg).toBe('ES384');
      const res = await request(`${svc.url}/v1/verify`, { method: 'POST', dispatcher: agent, headers: { 'content-type': 'application/json' }, body: JSON.stringify({ evidence: quote.toString('base64') }) });
      const body = (await res.body.json()) as { ok: boolean; token: string };
      expect(body.ok).toBe(true);
      expect(JSON.parse(Buffer.from(body.token.split('.')[0]!, 'base64url').toString())).toMatchObject({ alg: 'ES384' });
      expect(svc.jwks.keys[0]).toMatchObject({ kty: 'EC', crv: 'P-384', alg: 'ES384', use: 'sig' });
    } finally {
      await agent.close();
      await svc.close();
      rmSync(dir, { recursive: true, force: true });
    }
  });
});

describe('connection cap (review, session 3)', () => {
  it('beyond maxConnections a new connection is closed at once, while the open ones are still served', async () => {
    const { connect } = await import('node:net');
    const capped = await startService({ maxConnections: 2 });
    const { port } = new URL(capped.url);
    const open = () => new Promise<import('node:net').Socket>((ok, fail) => {
      const s = connect(Number(port), '127.0.0.1', () => ok(s));
      s.on('error', fail);
    });
    /** One GET /health on `s`, resolved with the whole answer (head and Content-Length body). */
    const health = (s: import('node:net').Socket) => new Promise<string>((ok, fail) => {
      let buf = Buffer.alloc(0);
      const onData = (c: Buffer): void => {
        buf = Buffer.concat([buf, c]);
        const end = buf.indexOf('\r\n\r\n');
        if (end < 0) return;
        const head = buf.subarray(0, end).toString('latin1');
        const length = /\r\ncontent-length: *(\d+)/i.exec(head);
        if (!length) return fail(new Error(`no Content-Length in ${head}`));
        if (buf.length < end + 4 + Number(length[1])) return;
        s.off('data', onData).off('error', fail);
        ok(buf.subarray(0, end + 4 + Number(length[1])).toString('latin1'));
      };
      s.on('data', onData).once('error', fail);
      s.write('GET /health HTTP/1.1\r\nHost: x\r\n\r\n');
    });
    const held = [await open(), await open()];
    try {
      // Each held connection has had an answer: the server accepted both and counts them.
      for (const s of held) expect((await health(s)).startsWith('HTTP/1.1 200')).toBe(true);
      const third = await open();
      const closed = await new Promise<boolean>((ok) => {
        third.on('close', () => ok(true));
        third.on('error', () => ok(true));
        third.write('GET /health HTTP/1.1\r\nHost: x\r\n\r\n');
        third.on('data', () => ok(false));
      });
      expect(closed).toBe(true);
      // the held connections still get their answers
      for (const s of held) expect((await health(s)).startsWith('HTTP/1.1 200')).toBe(true);
    } finally {
      for (const s of held) s.destroy();
      await capped.close();
    }
  });
});
