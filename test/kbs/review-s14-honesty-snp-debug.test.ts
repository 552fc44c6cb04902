/**
 * Test honesty review s14, finding 1 (checklist S21): the key broker refuses a debug SEV-SNP guest
 * (POLICY.DEBUG, bit 19) whatever the key's policy says, allowDebug: true included, with 401
 * ERR_KBS_DEBUG and check S21 (docs/kbs.md step 5, docs/error-codes.md), as it does a debug TD
 * (review-td-debug.test.ts) or enclave (sgx.test.ts). Before this file no broker test had an SNP
 * debug case: with the SNP branch of refuseUnconditionally (src/kbs/transfer.ts) made `false`,
 * every key-broker test stayed green and a key went to a debuggable guest under allowDebug: true.
 * Simulated Milan guest (src/tee/simulated.ts): the same signing key and seed, reports rebuilt with
 * the guest policy chosen here; a control with the same builder and no DEBUG bit releases.
 */
import { createPrivateKey, randomBytes } from 'node:crypto';

import { afterAll, beforeAll, describe, expect, it } from 'vitest';

import { BundleSource, CollateralService, parseEvidence, type SnpReport } from '../../src/index.js';
import { SimulatedTeeProvider } from '../../src/tee/index.js';
import { buildSnpReport } from '../../src/testing/index.js';
import { newClient, registerKey, sha512, startHarness, transferPath, unwrap, type Client, type Harness } from './helpers.js';

const GUEST_POLICY = 0x30000n; // the builder's default: SMT allowed, bit 17 (reserved, must be one)
const DEBUG = 1n << 19n; // POLICY.DEBUG

describe('key broker: a debug SEV-SNP guest gets no key, whatever the policy says (review s14 honesty #1, S21)', () => {
  const guest = new SimulatedTeeProvider({ tee: 'snp', at: new Date() });
  const state = guest.exportState();
  const signingKey = createPrivateKey(state.signingKeyPem);
  let h: Harness;
  let client: Client;
  let measurement: string;
  const material = randomBytes(32);

  beforeAll(async () => {
    const collateral = new CollateralService({ amd: new BundleSource([...guest.collateral]), cache: null });
    h = await startHarness({ collateral, trustRoots: guest.trustRoots });
    client = newClient();
    const report = parseEvidence((await guest.getEvidence(new Uint8Array(64))).evidence) as SnpReport;
    measurement = Buffer.from(report.measurement).toString('hex');
  }, 60_000);
  afterAll(async () => h?.close());

  const keyPolicy = (extra: Record<string, unknown> = {}) => ({
    tee: 'snp', measurement: [measurement], hostData: 'any', products: ['Milan'], tcbMinimums: { Milan: { reported: { snp: 0x18, microcode: 0xdb } } }, ...extra,
  });

  async function transfer(id: string, guestPolicy: bigint) {
    const { bytes } = buildSnpReport({ version: 3, product: 'Milan', signingKey: 'vcek', key: signingKey, seed: state.seed, reportData: sha512(client.spkiDer), policy: guestPolicy });
    expect((parseEvidence(bytes) as SnpReport).policy.debug).toBe((guestPolicy & DEBUG) !== 0n);
    return h.call('POST', transferPath(id), { body: { quote: Buffer.from(bytes).toString('base64'), user_data: client.userData }, headers: { 'attestation-type': 'SEV-SNP' }, token: null });
  }

  it('control: the same guest without POLICY.DEBUG, under allowDebug: true, is released', async () => {
    const id = await registerKey(h, material, keyPolicy({ allowDebug: true }));
    const r = await transfer(id, GUEST_POLICY);
    expect(r.status).toBe(200);
    expect(unwrap(client, r.json).equals(material)).toBe(true);
  });

  it.each([
    ['allowDebug: true', { allowDebug: true }],
    ['allowDebug: false', { allowDebug: false }],
    ['allowDebug absent (the default)', {}],
  ])('POLICY.DEBUG set, key policy %s: 401 ERR_KBS_DEBUG (S21), nothing released', async (_name, extra) => {
    const id = await registerKey(h, material, keyPolicy(extra));
    const r = await transfer(id, GUEST_POLICY | DEBUG);
    expect({ status: r.status, code: r.json?.code, check: r.json?.checks?.[0]?.check }).toEqual({ status: 401, code: 'ERR_KBS_DEBUG', check: 'S21' });
    expect(r.json).not.toHaveProperty('wrapped_key');
    expect(r.json).not.toHaveProperty('wrapped_swk');
    const db = await h.storage();
    const rows = await db.all<{ decision: string; error_code: string | null }>('SELECT decision, error_code FROM attestation_log WHERE key_id = ?', [id]);
    expect(rows).toEqual([{ decision: 'refused', error_code: 'ERR_KBS_DEBUG' }]);
  });
});
