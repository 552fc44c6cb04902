/**
 * s15 red team, service finding 3 (medium): a body that is costly to parse (runtime_data.structured
 * holding 512 KiB of arrays nested 64 deep, or 60 000 object members, or 262 000 string escapes)
 * took 100–200 ms of the event loop in the strict parser and the RFC 8785 form before any limit
 * applied, about 30 times a junk body of the same size. Now a linear pre-scan bounds the body's
 * shape before the parser (nesting 400 ERR_AS_BAD_REQUEST; members, values, escapes 413
 * ERR_AS_TOO_LARGE), runtime_data.structured has at most 32 levels and 16 KiB in its canonical
 * form, and the parse runs inside the limiter, counted against the client's share.
 */
import { createHash } from 'node:crypto';

import { afterAll, beforeAll, describe, expect, it } from 'vitest';

import type { AttestationService } from '../../src/attestation-service/index.js';
import { canonicalJson } from '../../src/attestation-service/index.js';
import type { CollateralService } from '../../src/index.js';
import { openWebUiBody, post, simulatedCollateral, startService, tdxQuote } from './helpers.js';

const K = 512 * 1024;
let svc: AttestationService;
let quote: Buffer;
beforeAll(async () => {
  quote = await tdxQuote();
  svc = await startService();
});
afterAll(async () => svc?.close());

/** open-webui's body with runtime_data.structured set to the JSON text `structured`. */
const withStructured = (q: Buffer, structured: string): string => openWebUiBody(q).replace(/}$/, `,"runtime_data":{"structured":${structured}}}`);

/** Arrays nested `depth` deep around a 0, repeated side by side to about `bytes`. */
function deepAndWide(depth: number, bytes: number): string {
  const one = `${'['.repeat(depth)}0${']'.repeat(depth)}`;
  return `[${new Array(Math.floor(bytes / (one.length + 1))).fill(one).join(',')}]`;
}

describe('s15 service #3: the body shape is bounded before the parser', () => {
  it("the red team's deep-and-wide structured body (arrays 64 deep, ~512 KiB) is 400 ERR_AS_BAD_REQUEST for its nesting", async () => {
    const body = withStructured(quote, deepAndWide(64, K - 20_000));
    expect(body.length).toBeGreaterThan(480_000);
    const r = await post(svc.url, '/attestation', body);
    expect(r.status).toBe(400);
    expect(r.json.error.code).toBe('ERR_AS_BAD_REQUEST');
    expect(r.json.error.message).toMatch(/nested deeper than 40 levels/);
  });

  it('60 000 object members, or 200 000 string escapes, are 413 ERR_AS_TOO_LARGE naming the bound', async () => {
    const keys = `{${Array.from({ length: 60_000 }, (_, i) => `"${i.toString(36)}":0`).join(',')}}`;
    const many = await post(svc.url, '/attestation', withStructured(quote, keys));
    expect(many.status).toBe(413);
    expect(many.json.error).toMatchObject({ code: 'ERR_AS_TOO_LARGE' });
    expect(many.json.error.message).toMatch(/more than 2048 JSON object members/);
    const escapes = await post(svc.url, '/v1/verify', `{"evidence":"${'\\n'.repeat(200_000)}"}`);
    expect(escapes.status).toBe(413);
    expect(escapes.json.error.message).toMatch(/more than 8192 escapes/);
    const values = await post(svc.url, '/v1/verify', { evidence: quote.toString('base64'), policy: { tee: 'tdx', x: new Array(20_000).fill(0) } });
    expect(values.status).toBe(413);
    expect(values.json.error.message).toMatch(/more than 16384 JSON values/);
  });

  it('runtime_data.structured: at most 32 levels of its own (400) and 16 KiB in its RFC 8785 form (413)', async () => {
    const deep = await post(svc.url, '/attestation', withStructured(quote, `${'['.repeat(33)}${']'.repeat(33)}`));
    expect(deep.status).toBe(400);
    expect(deep.json.error.code).toBe('ERR_AS_BAD_REQUEST');
    expect(deep.json.error.message).toMatch(/nested deeper than 32 levels/);
    const big = await post(svc.url, '/attestation', withStructured(quote, JSON.stringify({ s: 'a'.repeat(17_000) })));
    expect(big.status).toBe(413);
    expect(big.json.error.code).toBe('ERR_AS_TOO_LARGE');
    expect(big.json.error.message).toMatch(/runtime_data\.structured" exceeds 16384 bytes/);
  });

  it("open-webui's body still gets its token, and a small structured binding (a TEE key and a nonce) still verifies", async () => {
    const plain = await post(svc.url, '/attestation', openWebUiBody(quote));
    expect(plain.status).toBe(200);
    expect(plain.headers['content-type']).toBe('application/jwt');
    const structured = { nonce: 'n'.repeat(44), 'tee-pubkey': { kty: 'EC', crv: 'P-256', alg: 'ECDH-ES+A256KW', x: 'x'.repeat(43), y: 'y'.repeat(43) } };
    const rd = Buffer.alloc(64);
    createHash('sha384').update(canonicalJson(structured)).digest().copy(rd);
    const bound = await post(svc.url, '/v1/verify', openWebUiBody(await tdxQuote(rd), { runtime_data: { structured } }));
    expect(bound.json).toMatchObject({ ok: true, binding: { source: 'runtime_data' } });
  });
});

/** Collateral whose lookups wait until released; `waiting(n)` resolves once n wait. */
function heldCollateral(): { collateral: CollateralService; waiting: (n: number) => Promise<void>; release: () => void } {
  const collateral = simulatedCollateral();
  const real = collateral.forEvidence.bind(collateral);
  const gates: (() => void)[] = [];
  const watchers: { n: number; resolve: () => void }[] = [];
  collateral.cachedFor = () => undefined;
  collateral.forEvidence = async (...args) => {
    const held = new Promise<void>((resolve) => gates.push(resolve));
    for (const w of watchers.filter((x) => gates.length >= x.n)) {
      watchers.splice(watchers.indexOf(w), 1);
      w.resolve();
    }
    await held;
    return real(...args);
  };
  return {
    collateral,
    waiting: (n) => new Promise<void>((resolve) => (gates.length >= n ? resolve() : watchers.push({ n, resolve }))),
    release: () => gates.splice(0).forEach((g) => g()),
  };
}

describe('s15 service #3: the parse counts against the client', () => {
  it('a client at its share gets 429 before its body is parsed (a body that is not JSON at all: 429, not 400)', async () => {
    const held = heldCollateral();
    const capped = await startService({ collateral: held.collateral, maxPerClient: 1 });
    try {
      const first = post(capped.url, '/v1/verify', { evidence: quote.toString('base64') });
      await held.waiting(1);
      const r = await post(capped.url, '/attestation', `{"tee":"tdx","evidence":${'['.repeat(30)}`);
      expect(r.status).toBe(429);
      expect(r.json.error.code).toBe('ERR_AS_RATE_LIMITED');
      held.release();
      expect((await first).status).toBe(200);
      // With its share free again, the same body is parsed, and refused as it always was.
      expect((await post(capped.url, '/attestation', `{"tee":"tdx","evidence":${'['.repeat(30)}`)).json.error.code).toBe('ERR_AS_BAD_REQUEST');
    } finally {
      held.release();
      await capped.close();
    }
  });
});
