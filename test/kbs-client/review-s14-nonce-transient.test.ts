/**
 * Review s14 #1: with nonce 'auto' (tee-model load's default), a transient answer to the nonce request
 * (429 / 502 / 503 / 504) was read as "this broker offers no nonce": the client made evidence for a
 * nonce-less REPORTDATA and sent it, and a broker that requires nonces (ours, by default) refused that
 * for good (401 ERR_KBS_NONCE, T42; tee-model exit 1). Now a transient answer is ERR_KBS_HTTP in every
 * nonce mode: retried like the transfer's transient failures, and in the end reported as unavailable
 * (exit 3), never a nonce-less transfer. A definite "no nonce here" (404, 405) still means no nonce.
 *
 * Second round (s14 change review #1): only 429 / 502 / 503 / 504 were thrown, so a 500 (our broker's
 * ERR_KBS_STORAGE / ERR_KBS_INTERNAL, a proxy's 500) or another 5xx still read as "no nonce" and ended
 * as a refusal (exit 1). Now 429 and every 5xx on the nonce request are retried and end as unavailable
 * (exit 3); only 400 / 404 / 405 (or a 200 without the nonce's fields) mean "no nonce" under 'auto';
 * any other answer (401, 403, 409, a 3xx, ...) is final, with no evidence made. 415 / 422 (a nonce-less broker
 * on Flask / FastAPI) and 501 (not implemented) mean "no nonce" (third round).
 */
import { createPublicKey, randomBytes } from 'node:crypto';
import { createServer, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';

import { afterAll, beforeAll, describe, expect, it } from 'vitest';

import { requestKey } from '../../src/kbs-client/index.js';
import { wrapForRequester } from '../../src/kbs/crypto.js';
import { exitCodeOf } from '../../src/model/cli.js';
import type { EvidenceProvider } from '../../src/tee/types.js';

const KEY = randomBytes(32);

describe("nonce 'auto': a transient answer to the nonce request is retried, never a nonce-less transfer (review s14 #1)", () => {
  let server: Server;
  let url = '';
  /** The statuses the nonce requests get, in order (200: a nonce); the last one repeats. */
  let nonceAnswers: number[] = [];
  let nonceRequests = 0;
  let transfers: { nonce: boolean }[] = [];

  beforeAll(async () => {
    server = createServer((req, res) => {
      const chunks: Buffer[] = [];
      req.on('data', (c: Buffer) => chunks.push(c));
      req.on('end', () => {
        const body = Buffer.concat(chunks);
        if (body.length === 0) {
          const status = nonceAnswers[Math.min(nonceRequests, nonceAnswers.length - 1)]!;
          nonceRequests++;
          if (status !== 200) return void res.writeHead(status, { 'content-type': 'application/json' }).end(JSON.stringify({ error: `stand-in answers ${status}` }));
          const n = { val: randomBytes(32).toString('base64'), iat: Buffer.from(new Date().toISOString()).toString('base64'), signature: randomBytes(32).toString('base64') };
          return void res.writeHead(200, { 'content-type': 'application/json', 'attestation-type': 'TDX' }).end(JSON.stringify(n));
        }
        const doc = JSON.parse(body.toString('utf8')) as { nonce?: unknown; user_data: string };
        transfers.push({ nonce: doc.nonce !== undefined });
        if (!doc.nonce) {
          return void res.writeHead(401, { 'content-type': 'application/json' }).end(JSON.stringify({ error: 'this broker requires a nonce', code: 'ERR_KBS_NONCE', checks: [{ check: 'T42' }] }));
        }
        const w = wrapForRequester(KEY, createPublicKey({ key: Buffer.from(doc.user_data, 'base64'), format: 'der', type: 'spki' }));
        res.writeHead(200, { 'content-type': 'application/json', 'attestation-type': 'TDX' }).end(JSON.stringify({ wrapped_key: w.wrappedKey, wrapped_swk: w.wrappedSwk }));
      });
    });
    await new Promise<void>((r) => server.listen(0, '127.0.0.1', r));
    url = `http://127.0.0.1:${(server.address() as AddressInfo).port}`;
  });
  afterAll(() => new Promise<void>((r) => server.close(() => r())));

  async function run(answers: number[], attempts = 3) {
    nonceAnswers = answers;
    nonceRequests = 0;
    transfers = [];
    let evidenceMade = 0;
    const provider: EvidenceProvider = { name: 'stub', getEvidence: async (rd) => (evidenceMade++, { tee: 'tdx', provider: 'stub', evidence: new Uint8Array(64), reportData: rd }) };
    const out = await requestKey({ url, keyId: '11111111-1111-4111-8111-111111111111', provider, allowInsecureHttp: true, rsaBits: 2048, attempts }).then(
      (r) => ({ ok: true as const, key: r.key, nonceUsed: r.nonceUsed }),
      (e: unknown) => ({ ok: false as const, e }),
    );
    return { out, evidenceMade, nonceRequests, transfers };
  }

  for (const status of [429, 500, 502, 503, 504, 507, 599]) {
    it(`a ${status} on the first nonce request is retried and the key is released with a nonce`, async () => {
      const r = await run([status, 200]);
      expect(r.out.ok).toBe(true);
      if (!r.out.ok) return;
      expect(r.out.nonceUsed).toBe(true);
      expect(Buffer.compare(r.out.key, KEY)).toBe(0);
      expect(r.nonceRequests).toBe(2);
      expect(r.transfers).toEqual([{ nonce: true }]); // no nonce-less transfer was sent
      expect(r.evidenceMade).toBe(1); // no evidence for the answer that was transient
    });
  }

  it('a nonce request that stays 503 ends as ERR_KBS_HTTP status 503, exit 3 (unavailable), with no evidence and no transfer', async () => {
    const r = await run([503], 3);
    expect(r.out.ok).toBe(false);
    if (r.out.ok) return;
    const e = r.out.e as { code?: string; details?: Record<string, unknown> };
    expect(e.code).toBe('ERR_KBS_HTTP');
    expect(e.details?.['status']).toBe(503);
    expect(exitCodeOf(r.out.e)).toBe(3);
    expect(r.nonceRequests).toBe(3);
    expect(r.transfers).toEqual([]);
    expect(r.evidenceMade).toBe(0);
  });

  it('a nonce request that stays 500 ends as ERR_KBS_HTTP status 500, exit 3 (unavailable), after every attempt, with no evidence and no transfer', async () => {
    const r = await run([500], 3);
    expect(r.out.ok).toBe(false);
    if (r.out.ok) return;
    const e = r.out.e as { code?: string; details?: Record<string, unknown> };
    expect(e.code).toBe('ERR_KBS_HTTP');
    expect(e.details?.['status']).toBe(500);
    expect(exitCodeOf(r.out.e)).toBe(3);
    expect(r.nonceRequests).toBe(3);
    expect(r.transfers).toEqual([]);
    expect(r.evidenceMade).toBe(0);
  });

  for (const status of [401, 403, 409, 301]) {
    it(`a ${status} on the nonce request is final under 'auto' (not "no nonce"): ERR_KBS_HTTP ${status}, no evidence, no transfer, no second request`, async () => {
      const r = await run([status, 200], 3);
      expect(r.out.ok).toBe(false);
      if (r.out.ok) return;
      const e = r.out.e as { code?: string; details?: Record<string, unknown> };
      expect(e.code).toBe('ERR_KBS_HTTP');
      expect(e.details?.['status']).toBe(status);
      expect(r.nonceRequests).toBe(1);
      expect(r.transfers).toEqual([]);
      expect(r.evidenceMade).toBe(0);
    });
  }

  for (const status of [400, 404, 405, 415, 422, 501]) {
    it(`control: a ${status} still means "no nonce" under 'auto' (a nonce-less transfer)`, async () => {
      const r = await run([status], 1);
      expect(r.transfers).toEqual([{ nonce: false }]);
      expect(r.evidenceMade).toBe(1);
      expect(r.out.ok).toBe(false);
      if (r.out.ok) return;
      expect((r.out.e as { details?: Record<string, unknown> }).details?.['status']).toBe(401);
      expect(exitCodeOf(r.out.e)).toBe(1);
    });
  }
});
