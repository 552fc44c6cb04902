/**
 * Admin API (bearer tokens, ITA-shaped paths), nonce expiry with an injected
 * clock, rate limiting, plain HTTP only on loopback, and the attestation log
 * exported as batch records.
 */
import { randomBytes } from 'node:crypto';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';

import { afterAll, beforeAll, describe, expect, it } from 'vitest';

import { BACKENDS, warnIfPgSkipped } from '../helpers/postgres.js';

import { startKeyBroker } from '../../src/kbs/index.js';
import { collateralOf, makePlatform, newClient, registerKey, startHarness, tdxPolicy, transferBody, transferPath, unwrap, type Harness } from './helpers.js';

warnIfPgSkipped('test/kbs/admin.test.ts');

describe.each(BACKENDS)('key broker admin on $name', ({ name: backend, skip }) => {
  describe.skipIf(skip)('', () => {
    let h: Harness;
    let offsetMs = 0;

    beforeAll(async () => {
      h = await startHarness({ now: () => new Date(Date.now() + offsetMs), bootstrapSecret: 'correct horse battery staple', rateLimit: { burst: 1000, perSecond: 1000 } }, undefined, backend);
    }, 60_000);
    afterAll(async () => h?.close());

    describe('admin authentication', () => {
      it('missing admin token: 401, nothing created', async () => {
        const r = await h.call('POST', '/kbs/v1/key-transfer-policies', { body: tdxPolicy(h.platform), token: null });
        expect({ status: r.status, code: r.json.code }).toEqual({ status: 401, code: 'ERR_KBS_UNAUTHORIZED' });
        expect((await h.call('GET', '/kbs/v1/key-transfer-policies')).json).toEqual([]);
      });

      it('wrong admin token: 401', async () => {
        const r = await h.call('GET', '/kbs/v1/keys', { token: randomBytes(32).toString('base64url') });
        expect({ status: r.status, code: r.json.code }).toEqual({ status: 401, code: 'ERR_KBS_UNAUTHORIZED' });
      });

      it('POST /kbs/v1/token exchanges the bootstrap secret for a working token; a wrong secret is 401', async () => {
        const bad = await h.call('POST', '/kbs/v1/token', { body: { username: 'admin', password: 'nope' }, token: null });
        expect(bad.status).toBe(401);
        const ok = await h.call('POST', '/kbs/v1/token', { body: { username: 'admin', password: 'correct horse battery staple' }, token: null, headers: { accept: 'application/jwt' } });
        expect(ok.status).toBe(200);
        expect((await h.call('GET', '/kbs/v1/keys', { token: ok.text })).status).toBe(200);
      });
    });

    describe('policies and keys', () => {
      it('an invalid policy is 400 with the X07 problems', async () => {
        const r = await h.call('POST', '/kbs/v1/key-transfer-policies', { body: { tee: 'tdx', mrTd: 'any', mrtd2: 1 } });
        expect({ status: r.status, code: r.json.code }).toEqual({ status: 400, code: 'ERR_KBS_POLICY_INVALID' });
        expect(r.json.checks[0].check).toBe('X07');
      });

      it('keys are listed without material; generated keys work; rotation changes the released key; delete', async () => {
        const pol = await h.call('POST', '/kbs/v1/key-transfer-policies', { body: tdxPolicy(h.platform) });
        expect(pol.status).toBe(201);
        const created = await h.call('POST', '/kbs/v1/keys', { body: { transfer_policy_id: pol.json.id } });
        expect(created.status).toBe(201);
        expect(created.json).toMatchObject({ key_info: { algorithm: 'AES', key_length: 256, version: 1 }, transfer_policy_id: pol.json.id });
        expect(created.json.transfer_link).toBe(`${h.broker.url}/kbs/v1/keys/${created.json.id}/transfer`);
        const list = await h.call('GET', '/kbs/v1/keys');
        expect(list.text).not.toMatch(/key_data|ciphertext|material/);
        const client = newClient();
        const first = unwrap(client, (await h.call('POST', transferPath(created.json.id), { body: transferBody(h, client), headers: { 'attestation-type': 'TDX' }, token: null })).json);
        const fresh = randomBytes(32);
        const rotated = await h.call('PUT', `/kbs/v1/keys/${created.json.id}`, { body: { key_information: { algorithm: 'AES', key_length: 256, key_data: fresh.toString('base64') } } });
        expect(rotated.json.key_info.version).toBe(2);
        const second = unwrap(client, (await h.call('POST', transferPath(created.json.id), { body: transferBody(h, client), headers: { 'attestation-type': 'TDX' }, token: null })).json);
        expect(first.length).toBe(32);
        expect(second.equals(fresh)).toBe(true);
        expect((await h.call('DELETE', `/kbs/v1/key-transfer-policies/${pol.json.id}`)).status).toBe(409);
        expect((await h.call('DELETE', `/kbs/v1/keys/${created.json.id}`)).status).toBe(204);
        expect((await h.call('DELETE', `/kbs/v1/key-transfer-policies/${pol.json.id}`)).status).toBe(204);
      });
    });

    describe('nonce expiry (T42, X16)', () => {
      it('expired nonce: refused after its TTL, nothing released', async () => {
        const keyId = await registerKey(h, randomBytes(32));
        const client = newClient();
        const n = await h.call('POST', transferPath(keyId), { token: null });
        offsetMs = 301_000;
        try {
          const r = await h.call('POST', transferPath(keyId), { body: transferBody(h, client, { nonce: n.json }), headers: { 'attestation-type': 'TDX' }, token: null });
          expect({ status: r.status, code: r.json.code }).toEqual({ status: 401, code: 'ERR_KBS_NONCE' });
          expect(r.json).not.toHaveProperty('wrapped_key');
        } finally {
          offsetMs = 0;
        }
      });
    });

    describe('a nonce is required by default (T42)', () => {
      it('a transfer without a nonce is refused; with a fresh nonce it is released', async () => {
        const r = await startHarness({ allowNoNonce: false }, undefined, backend);
        try {
          const material = randomBytes(32);
          const keyId = await registerKey(r, material);
          const client = newClient(2048);
          const none = await r.call('POST', transferPath(keyId), { body: transferBody(r, client), headers: { 'attestation-type': 'TDX' }, token: null });
          expect({ status: none.status, code: none.json.code, check: none.json.checks[0].check }).toEqual({ status: 401, code: 'ERR_KBS_NONCE', check: 'T42' });
          const n = await r.call('POST', transferPath(keyId), { token: null });
          const ok = await r.call('POST', transferPath(keyId), { body: transferBody(r, client, { nonce: n.json }), headers: { 'attestation-type': 'TDX' }, token: null });
          expect(unwrap(client, ok.json).equals(material)).toBe(true);
        } finally {
          await r.close();
        }
      });
    });

    describe('attestation log', () => {
      it('exports JSONL batch records {id, evidence, collectedAt, reportData, policy}', async () => {
        const r = await h.call('GET', '/kbs/v1/attestation-log');
        expect(r.headers['content-type']).toBe('application/x-ndjson');
        const lines = r.text.trim().split('\n').map((l) => JSON.parse(l));
        expect(lines.length).toBeGreaterThan(0);
        for (const rec of lines) {
          expect(Object.keys(rec).sort()).toEqual(['collectedAt', 'evidence', 'id', 'policy', 'reportData']);
          expect(rec.reportData).toMatch(/^[0-9a-f]{128}$/);
          expect(rec.policy.tee).toBe('tdx');
        }
      });
    });

    describe('transport', () => {
      it('rate limit: beyond the burst a client gets 429 with Retry-After', async () => {
        const p = makePlatform();
        const r = await startHarness({ rateLimit: { burst: 2, perSecond: 0.01 } }, p, backend);
        try {
          const keyId = await registerKey(r, randomBytes(32));
          const codes = [];
          for (let i = 0; i < 3; i++) codes.push((await r.call('POST', transferPath(keyId), { token: null })).status);
          expect(codes).toEqual([200, 200, 429]);
          const last = await r.call('POST', transferPath(keyId), { token: null });
          expect(last.headers['retry-after']).toBeDefined();
        } finally {
          await r.close();
        }
      });

      it.skipIf(backend !== 'sqlite')('plain HTTP is refused on a non-loopback address unless forced; allowed on loopback (once, on SQLite files: the listener check does not depend on the database)', async () => {
        const dir = mkdtempSync(join(tmpdir(), 'tee-kbs-plain-'));
        const p = makePlatform();
        try {
          await expect(startKeyBroker({ db: join(dir, 'a.sqlite'), host: '0.0.0.0', port: 0, plainHttp: true, collateral: collateralOf(p), log: () => {} })).rejects.toMatchObject({ code: 'ERR_KBS_BAD_REQUEST' });
          const b = await startKeyBroker({ db: join(dir, 'b.sqlite'), port: 0, plainHttp: true, collateral: collateralOf(p), trustRoots: p.trustRoots, log: () => {} });
          expect(b.url).toMatch(/^http:\/\/127\.0\.0\.1:\d+$/);
          await b.close();
        } finally {
          rmSync(dir, { recursive: true, force: true });
        }
      });
    });
  });
});
