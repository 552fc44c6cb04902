/**
 * Review finding 3 (checklist S24): software at a less privileged VMPL can
 * have the PSP sign a report with any REPORT_DATA, so the broker refuses a
 * SEV-SNP report whose VMPL is not 0 (401 ERR_KBS_VMPL, before the policy,
 * like debug) unless the policy lists that VMPL explicitly (`vmpl: [0, 1]`).
 * Simulated SEV-SNP guests (src/tee/simulated.ts) at VMPL 0 and 1, end to end.
 */
import { randomBytes } from 'node:crypto';

import { afterAll, beforeAll, describe, expect, it } from 'vitest';

import { BundleSource, CollateralService, parseEvidence, type SnpReport } from '../../src/index.js';
import { SimulatedTeeProvider } from '../../src/tee/index.js';
import { newClient, registerKey, sha512, startHarness, transferPath, unwrap, type Client, type Harness } from './helpers.js';

describe('key broker: SEV-SNP guests below VMPL 0 get no key (review finding 3, S24)', () => {
  const at = new Date();
  const vmpl0 = new SimulatedTeeProvider({ tee: 'snp', at });
  // Same platform (PKI, collateral), reports claiming VMPL 1.
  const vmpl1 = SimulatedTeeProvider.fromState({ ...vmpl0.exportState(), vmpl: 1 });
  let h: Harness;
  let client: Client;
  let guestMeasurement: string;
  const material = randomBytes(32);

  beforeAll(async () => {
    const collateral = new CollateralService({ amd: new BundleSource([...vmpl0.collateral]), cache: null });
    h = await startHarness({ collateral, trustRoots: vmpl0.trustRoots });
    client = newClient();
    const report = parseEvidence((await vmpl0.getEvidence(new Uint8Array(64))).evidence) as SnpReport;
    guestMeasurement = Buffer.from(report.measurement).toString('hex');
  }, 60_000);
  afterAll(async () => h?.close());

  const policy = (extra: Record<string, unknown> = {}) => ({ tee: 'snp', measurement: [guestMeasurement], hostData: 'any', products: ['Milan'], tcbMinimums: { Milan: { reported: { snp: 0x18, microcode: 0xdb } } }, ...extra });
  async function transfer(id: string, provider: SimulatedTeeProvider) {
    const { evidence } = await provider.getEvidence(sha512(client.spkiDer));
    return h.call('POST', transferPath(id), { body: { quote: Buffer.from(evidence).toString('base64'), user_data: client.userData }, headers: { 'attestation-type': 'SEV-SNP' }, token: null });
  }

  it('the simulated guests claim VMPL 0 and 1', async () => {
    expect((parseEvidence((await vmpl1.getEvidence(new Uint8Array(64))).evidence) as SnpReport).vmpl).toBe(1);
    expect((parseEvidence((await vmpl0.getEvidence(new Uint8Array(64))).evidence) as SnpReport).vmpl).toBe(0);
  });

  it('VMPL 0: released end to end (SEV-SNP)', async () => {
    const id = await registerKey(h, material, policy());
    const r = await transfer(id, vmpl0);
    expect(r.status).toBe(200);
    expect(r.headers['attestation-type']).toBe('SEV-SNP');
    expect(unwrap(client, r.json).equals(material)).toBe(true);
  });

  it.each([
    ['vmpl absent', {}],
    ['vmpl "any"', { vmpl: 'any' }],
    ['vmpl [0]', { vmpl: [0] }],
    ['vmpl [0, 2]', { vmpl: [0, 2] }],
  ])('VMPL 1 with %s: 401 ERR_KBS_VMPL (S24), nothing released', async (_name, extra) => {
    const id = await registerKey(h, material, policy(extra));
    const r = await transfer(id, vmpl1);
    expect({ status: r.status, code: r.json?.code, check: r.json?.checks?.[0]?.check }).toEqual({ status: 401, code: 'ERR_KBS_VMPL', check: 'S24' });
    expect(r.json).not.toHaveProperty('wrapped_key');
  });

  it('VMPL 1 with a policy listing it (vmpl [0, 1]): released', async () => {
    const id = await registerKey(h, material, policy({ vmpl: [0, 1] }));
    const r = await transfer(id, vmpl1);
    expect(r.status).toBe(200);
    expect(unwrap(client, r.json).equals(material)).toBe(true);
  });
});
