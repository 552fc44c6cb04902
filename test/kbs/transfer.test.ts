/**
 * The key broker end to end over HTTPS on 127.0.0.1: register a key and a
 * policy, attest with the simulated TDX platform, unwrap. Every refusal is a
 * named test asserting the code and that nothing was released.
 */
import { randomBytes } from 'node:crypto';

import { afterAll, beforeAll, describe, expect, it } from 'vitest';

import { BACKENDS, warnIfPgSkipped } from '../helpers/postgres.js';

import { newClient, quoteFor, registerKey, sha512, startHarness, tdxPolicy, transferBody, transferPath, unwrap, type Client, type Harness } from './helpers.js';

warnIfPgSkipped('test/kbs/transfer.test.ts');

describe.each(BACKENDS)('key broker transfer on $name', ({ name: backend, skip }) => {
  describe.skipIf(skip)('', () => {
    let h: Harness;
    let keyId: string;
    const material = randomBytes(32);
    let client: Client;

    beforeAll(async () => {
      h = await startHarness({}, undefined, backend);
      keyId = await registerKey(h, material);
      client = newClient();
    }, 60_000);
    afterAll(async () => h?.close());

    const post = (body: unknown, headers: Record<string, string> = { 'attestation-type': 'TDX' }, id = keyId) => h.call('POST', transferPath(id), { body, headers, token: null });

    function expectRefused(r: { status: number; json: any; text: string }, status: number, code: string): void {
      expect({ status: r.status, code: r.json?.code }).toEqual({ status, code });
      expect(r.json).not.toHaveProperty('wrapped_key');
      expect(r.json).not.toHaveProperty('wrapped_swk');
      expect(r.text).not.toContain(material.toString('base64'));
      expect(typeof r.json.error).toBe('string');
    }

    describe('transfer (T41, X11)', () => {
      it('releases the key wrapped to the client key bound in REPORTDATA; unwrapping gives the key', async () => {
        const r = await post(transferBody(h, client));
        expect(r.status).toBe(200);
        expect(Object.keys(r.json).sort()).toEqual(['wrapped_key', 'wrapped_swk']);
        expect(r.headers['attestation-type']).toBe('TDX');
        expect(unwrap(client, r.json).equals(material)).toBe(true);
      });

      it('accepts Intel raw user_data (u32 LE exponent ‖ big-endian modulus)', async () => {
        const jwk = client.privateKey.export({ format: 'jwk' });
        const e = Buffer.alloc(4);
        e.writeUInt32LE(Buffer.from(jwk.e as string, 'base64url').readUIntBE(0, 3), 0);
        const raw = Buffer.concat([e, Buffer.from(jwk.n as string, 'base64url')]);
        const r = await post({ quote: quoteFor(h.platform, sha512(raw)).toString('base64'), user_data: raw.toString('base64') });
        expect(r.status).toBe(200);
        expect(unwrap(client, r.json).equals(material)).toBe(true);
      });

      it('an ITA key-transfer policy (translated) releases the key too', async () => {
        const id = await registerKey(h, material, { attestation_type: 'TDX', tdx: { attributes: { mrtd: [tdxPolicy(h.platform)['mrTd'] as string[]][0], enforce_tcb_upto_date: true } } });
        const r = await post(transferBody(h, client), undefined, id);
        expect(r.status).toBe(200);
        expect(unwrap(client, r.json).equals(material)).toBe(true);
      });

      it('nonce mode: empty body gives {val, iat, signature}; REPORTDATA = SHA-512(val ‖ iat ‖ user_data) releases once', async () => {
        const n = await h.call('POST', transferPath(keyId), { token: null });
        expect(n.status).toBe(200);
        expect(Object.keys(n.json).sort()).toEqual(['iat', 'signature', 'val']);
        expect(n.headers['attestation-type']).toBe('TDX');
        const r = await post(transferBody(h, client, { nonce: n.json }));
        expect(r.status).toBe(200);
        expect(unwrap(client, r.json).equals(material)).toBe(true);
      });
    });

    describe('refusals: nothing released', () => {
      it('wrong measurement (T36): policy violation', async () => {
        const r = await post(transferBody(h, client, { body: { mrTd: new Uint8Array(48).fill(7) } }));
        expectRefused(r, 401, 'ERR_KBS_POLICY');
        expect(r.json.checks.map((c: { check: string }) => c.check)).toContain('T36');
      });

      it('debug TD (T34): refused even by a policy that allows debug', async () => {
        const id = await registerKey(h, material, tdxPolicy(h.platform, { allowDebug: true }));
        const r = await post(transferBody(h, client, { body: { tdAttributes: 0x0000000010000001n } }), undefined, id);
        expectRefused(r, 401, 'ERR_KBS_DEBUG');
        expect(r.json.checks[0].check).toBe('T34');
      });

      it('replayed nonce (T42): the second use is refused', async () => {
        const n = await h.call('POST', transferPath(keyId), { token: null });
        const body = transferBody(h, client, { nonce: n.json });
        expect((await post(body)).status).toBe(200);
        expectRefused(await post(body), 401, 'ERR_KBS_NONCE');
      });

      it('nonce consumed only once under concurrency (T42, X16)', async () => {
        const n = await h.call('POST', transferPath(keyId), { token: null });
        const body = transferBody(h, client, { nonce: n.json });
        const rs = await Promise.all(Array.from({ length: 8 }, () => post(body)));
        expect(rs.filter((r) => r.status === 200)).toHaveLength(1);
        rs.filter((r) => r.status !== 200).forEach((r) => expectRefused(r, 401, 'ERR_KBS_NONCE'));
      });

      it('forged nonce (T42): not issued by this broker', async () => {
        const forged = { val: randomBytes(32).toString('base64'), iat: Buffer.from(new Date().toISOString()).toString('base64'), signature: randomBytes(32).toString('base64') };
        expectRefused(await post(transferBody(h, client, { nonce: forged })), 401, 'ERR_KBS_NONCE');
      });

      it('report_data not bound to the key (T41, X11): another key in user_data', async () => {
        const other = newClient(2048);
        const body = { ...transferBody(h, client), user_data: other.userData };
        const r = await post(body);
        expectRefused(r, 401, 'ERR_KBS_BINDING');
        expect(r.json.checks.map((c: { check: string }) => c.check)).toContain('T41');
      });

      it('tampered quote: one flipped body byte breaks the quote signature', async () => {
        const q = quoteFor(h.platform, sha512(client.spkiDer));
        q[48 + 0x88] = (q[48 + 0x88] ?? 0) ^ 1;
        const r = await post({ quote: q.toString('base64'), user_data: client.userData });
        expectRefused(r, 401, 'ERR_KBS_EVIDENCE');
        expect(r.json.checks[0].class).toBe('SIG_QUOTE');
      });

      it('truncated quote: a parse error', async () => {
        const q = quoteFor(h.platform, sha512(client.spkiDer)).subarray(0, 700);
        const r = await post({ quote: q.toString('base64'), user_data: client.userData });
        expectRefused(r, 401, 'ERR_KBS_EVIDENCE');
        expect(r.json.checks[0].class).toBe('PARSE');
      });

      it('unknown key id: 404', async () => {
        expectRefused(await post(transferBody(h, client), undefined, '8f1c1e4a-1b2c-4d3e-8f00-0123456789ab'), 404, 'ERR_KBS_NOT_FOUND');
      });

      it('malformed body: not JSON, unknown fields, bad base64', async () => {
        expectRefused(await h.call('POST', transferPath(keyId), { raw: '{"quote":', headers: { 'attestation-type': 'TDX' }, token: null }), 400, 'ERR_KBS_BAD_REQUEST');
        expectRefused(await post({ ...transferBody(h, client), extra: 1 }), 400, 'ERR_KBS_BAD_REQUEST');
        expectRefused(await post({ quote: '***', user_data: client.userData }), 400, 'ERR_KBS_BAD_REQUEST');
      });

      it('oversized body: 413', async () => {
        const r = await h.call('POST', transferPath(keyId), { raw: `{"quote":"${'A'.repeat(1024 * 1024 + 16)}"}`, headers: { 'attestation-type': 'TDX' }, token: null });
        expectRefused(r, 413, 'ERR_KBS_BODY_TOO_LARGE');
      });

      it('RSA key under 2048 bits: refused', async () => {
        const small = newClient(1024);
        expectRefused(await post(transferBody(h, small)), 400, 'ERR_KBS_USER_DATA');
      });

      it('Attestation-Type that does not match the policy: refused', async () => {
        expectRefused(await post(transferBody(h, client), { 'attestation-type': 'SGX' }), 401, 'ERR_KBS_ATTESTATION_TYPE');
      });

      it('every refusal and release is in the append-only attestation log (UPDATE and DELETE refused by the database)', async () => {
        const db = await h.storage();
        const rows = await db.all<{ decision: string; error_code: string | null }>('SELECT decision, error_code FROM attestation_log');
        expect(rows.some((r) => r.decision === 'released')).toBe(true);
        expect(rows.filter((r) => r.decision === 'refused').map((r) => r.error_code)).toEqual(expect.arrayContaining(['ERR_KBS_DEBUG', 'ERR_KBS_NONCE', 'ERR_KBS_BINDING', 'ERR_KBS_EVIDENCE', 'ERR_KBS_POLICY']));
        await expect(db.run('DELETE FROM attestation_log')).rejects.toThrow(/append-only/);
        await expect(db.run("UPDATE attestation_log SET decision = 'released'")).rejects.toThrow(/append-only/);
        expect((await db.all('SELECT seq FROM attestation_log')).length).toBe(rows.length);
      });
    });
  });
});
