/**
 * The same broker for an SGX enclave (Attestation-Type: SGX): release to a
 * DER SPKI key and to Intel's raw form with a little-endian modulus (SGX),
 * and refusal of a debug enclave (T34 / §3) even when the policy allows debug.
 */
import { randomBytes } from 'node:crypto';

import { afterAll, beforeAll, describe, expect, it } from 'vitest';

import { BACKENDS, warnIfPgSkipped } from '../helpers/postgres.js';

import { buildSgxQuote, createSyntheticIntelPlatform, type SgxReportBodyFields } from '../../src/testing/index.js';
import { newClient, registerKey, sha512, startHarness, transferPath, unwrap, type Client, type Harness } from './helpers.js';

warnIfPgSkipped('test/kbs/sgx.test.ts');

describe.each(BACKENDS)('SGX transfer on $name', ({ name: backend, skip }) => {
  describe.skipIf(skip)('', () => {
    let h: Harness;
    let client: Client;
    const material = randomBytes(32);
    const platform = createSyntheticIntelPlatform({ tee: 'sgx', at: new Date() });
    const enclave = platform.quote.body as SgxReportBodyFields;
    const policy = (extra: Record<string, unknown> = {}) => ({ tee: 'sgx', mrEnclave: [Buffer.from(enclave.mrEnclave).toString('hex')], mrSigner: [Buffer.from(enclave.mrSigner).toString('hex')], ...extra });
    const quote = (reportData: Buffer, body: Partial<SgxReportBodyFields> = {}): string =>
      Buffer.from(buildSgxQuote({ seed: platform.seed, pckKey: platform.pki.pck.key.privateKey, pckChainPem: platform.pki.pckChainPem, body: { reportData, ...body } }).bytes).toString('base64');

    beforeAll(async () => {
      h = await startHarness({}, platform, backend);
      client = newClient(2048);
    }, 60_000);
    afterAll(async () => h?.close());

    const post = (id: string, body: unknown) => h.call('POST', transferPath(id), { body, headers: { 'attestation-type': 'SGX' }, token: null });

    describe('SGX transfer', () => {
      it('DER SPKI user_data: released and unwrapped', async () => {
        const id = await registerKey(h, material, policy());
        const r = await post(id, { quote: quote(sha512(client.spkiDer)), user_data: client.userData });
        expect(r.status).toBe(200);
        expect(unwrap(client, r.json).equals(material)).toBe(true);
      });

      it('raw user_data with a little-endian modulus (ITA SGX form): released', async () => {
        const id = await registerKey(h, material, policy());
        const jwk = client.privateKey.export({ format: 'jwk' });
        const raw = Buffer.concat([Buffer.from([1, 0, 1, 0]), Buffer.from(jwk.n as string, 'base64url').reverse()]);
        const r = await post(id, { quote: quote(sha512(raw)), user_data: raw.toString('base64') });
        expect(r.status).toBe(200);
        expect(unwrap(client, r.json).equals(material)).toBe(true);
      });

      it('debug enclave: refused even by a policy that allows debug', async () => {
        const id = await registerKey(h, material, policy({ allowDebug: true }));
        const attributes = Uint8Array.from(enclave.attributes);
        attributes[0] = (attributes[0] ?? 0) | 0x02;
        const r = await post(id, { quote: quote(sha512(client.spkiDer), { attributes }), user_data: client.userData });
        expect({ status: r.status, code: r.json.code, check: r.json.checks[0].check }).toEqual({ status: 401, code: 'ERR_KBS_DEBUG', check: 'T34' });
        expect(r.json).not.toHaveProperty('wrapped_key');
      });
    });
  });
});
