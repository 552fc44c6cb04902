/**
 * Review s10 V35 / V44 (checklist S17): AMD does not revoke the VCEKs of old SEV-SNP firmware, so a
 * key-transfer policy's REPORTED_TCB minimums are the only floor. The broker used to take an SNP
 * policy that pinned MEASUREMENT and set no `tcbMinimums`, and released keys to a genuine report of
 * EntrySign-vulnerable firmware (virtee-sev/report_milan, SNP SPL 8 < AMD-SB-3019's 0x18). Now such
 * a policy is refused at creation (400 ERR_KBS_POLICY_UNPINNED, check S17) unless it says
 * `allowNoTcbMinimums: true` (then a warning), and a stored one from before refuses transfers (403).
 */
import { randomBytes, randomUUID } from 'node:crypto';
import { readFileSync } from 'node:fs';

import { afterAll, beforeAll, describe, expect, it } from 'vitest';

import { BundleSource, CollateralService, evaluatePolicy, parseEvidence, type SnpReport, type VerificationResult } from '../../src/index.js';
import { integrityKeys, policyMac } from '../../src/kbs/crypto.js';
import { parsePolicyDocument, startKeyBroker } from '../../src/kbs/index.js';
import { SimulatedTeeProvider } from '../../src/tee/index.js';
import { HAVE_VECTORS, realSnpResult } from '../policy/helpers.js';
import { newClient, sha512, startHarness, transferPath, unwrap, type Client, type Harness } from './helpers.js';

/** REPORTED_TCB minimums for all three products; Milan's SNP SPL as given (AMD-SB-3019: 0x18); microcode too since review s11. */
const floors = (milanSnp = 0x18): Record<string, unknown> => ({
  Milan: { reported: { snp: milanSnp, microcode: 0xdb } },
  Genoa: { reported: { snp: 0x17, microcode: 0x54 } },
  Turin: { reported: { snp: 0x1, microcode: 0x4f } },
});

describe('key broker: an SEV-SNP key-transfer policy must set a REPORTED_TCB floor (review s10 V35 / V44, S17)', () => {
  const at = new Date();
  // A simulated Milan guest: REPORTED_TCB SNP SPL 0x18 (src/testing/snp-tcb.ts).
  const guest = new SimulatedTeeProvider({ tee: 'snp', at });
  let h: Harness;
  let client: Client;
  let measurement: string;
  const logLines: string[] = [];
  const material = randomBytes(32);

  beforeAll(async () => {
    const collateral = new CollateralService({ amd: new BundleSource([...guest.collateral]), cache: null });
    h = await startHarness({ collateral, trustRoots: guest.trustRoots, log: (l) => logLines.push(l) });
    client = newClient();
    const report = parseEvidence((await guest.getEvidence(new Uint8Array(64))).evidence) as SnpReport;
    measurement = Buffer.from(report.measurement).toString('hex');
  }, 60_000);
  afterAll(async () => h?.close());

  const snpPolicy = (extra: Record<string, unknown> = {}) => ({ tee: 'snp', measurement: [measurement], hostData: 'any', ...extra });
  const create = (body: unknown) => h.call('POST', '/kbs/v1/key-transfer-policies', { body });
  const policyCount = async (): Promise<number> => (await h.call('GET', '/kbs/v1/key-transfer-policies')).json.length as number;
  async function keyUnder(policyId: string): Promise<string> {
    const key = await h.call('POST', '/kbs/v1/keys', { body: { key_information: { algorithm: 'AES', key_length: 256, key_data: material.toString('base64') }, transfer_policy_id: policyId } });
    expect(key.status, key.text).toBe(201);
    return key.json.id as string;
  }
  async function transfer(keyId: string) {
    const { evidence } = await guest.getEvidence(sha512(client.spkiDer));
    return h.call('POST', transferPath(keyId), { body: { quote: Buffer.from(evidence).toString('base64'), user_data: client.userData }, headers: { 'attestation-type': 'SEV-SNP' }, token: null });
  }

  it.each([
    ['no tcbMinimums', {}, '/tcbMinimums/Milan/reported', 'Milan, Genoa, Turin'],
    ['launch (S18) minimums only', { tcbMinimums: { Milan: { launch: { snp: 0x18 } }, Genoa: { launch: { snp: 0x17 } }, Turin: { launch: { snp: 1 } } } }, '/tcbMinimums/Milan/reported', 'Milan, Genoa, Turin'],
    ['a reported minimum for Milan, launch only for Genoa and Turin', { tcbMinimums: { Milan: { reported: { snp: 0x18, microcode: 0xdb } }, Genoa: { launch: { snp: 0x17 } }, Turin: { launch: { snp: 1 } } } }, '/tcbMinimums/Genoa/reported', 'Genoa, Turin'],
    ['products narrowed to Milan, no minimums', { products: ['Milan'] }, '/tcbMinimums/Milan/reported', 'Milan'],
    ['measurement opted out, still no floor', { measurement: 'any', allowUnpinnedMeasurement: true }, '/tcbMinimums/Milan/reported', 'Milan, Genoa, Turin'],
  ])('%s: 400 ERR_KBS_POLICY_UNPINNED (S17), nothing stored', async (_name, extra, path, products) => {
    const before = await policyCount();
    const r = await create(snpPolicy(extra));
    expect({ status: r.status, code: r.json?.code }).toEqual({ status: 400, code: 'ERR_KBS_POLICY_UNPINNED' });
    expect(r.json.checks[0]).toMatchObject({ check: 'S17', path });
    expect(r.json.error).toContain(`sets none for ${products}:`);
    expect(r.json.error).toContain('allowNoTcbMinimums');
    expect(await policyCount()).toBe(before);
  });

  it('an unpinned measurement is still named first (X07), floor or not', async () => {
    const r = await create(snpPolicy({ measurement: 'any' }));
    expect({ status: r.status, code: r.json?.code, check: r.json?.checks?.[0]?.check }).toEqual({ status: 400, code: 'ERR_KBS_POLICY_UNPINNED', check: 'X07' });
  });

  it.each([
    ['minimums for all three products', { tcbMinimums: floors() }],
    ['products narrowed to Milan, its minimum set', { products: ['Milan'], tcbMinimums: { Milan: { reported: { snp: 0x18, microcode: 0xdb } } } }],
    ['the opt-in given, but minimums set anyway (it does nothing)', { tcbMinimums: floors(), allowNoTcbMinimums: true }],
  ])('%s: accepted without warnings', async (_name, extra) => {
    const r = await create(snpPolicy(extra));
    expect(r.status, r.text).toBe(201);
    expect(r.json.warnings).toEqual([]);
  });

  it('the opt-in must be a boolean (400 ERR_KBS_POLICY_INVALID); false is no opt-in', async () => {
    const r = await create(snpPolicy({ allowNoTcbMinimums: 'yes' }));
    expect({ status: r.status, code: r.json?.code, check: r.json?.checks?.[0]?.check }).toEqual({ status: 400, code: 'ERR_KBS_POLICY_INVALID', check: 'S17' });
    const f = await create(snpPolicy({ allowNoTcbMinimums: false }));
    expect({ status: f.status, code: f.json?.code, check: f.json?.checks?.[0]?.check }).toEqual({ status: 400, code: 'ERR_KBS_POLICY_UNPINNED', check: 'S17' });
  });

  it('with allowNoTcbMinimums: true it is stored with an S17 warning (answer, GET, log) and its releases carry it', async () => {
    logLines.length = 0;
    const r = await create(snpPolicy({ allowNoTcbMinimums: true }));
    expect(r.status, r.text).toBe(201);
    expect(r.json.policy.allowNoTcbMinimums).toBe(true);
    expect(r.json.warnings).toEqual([expect.stringMatching(new RegExp(`^S17: policy ${r.json.id} sets no REPORTED_TCB minimum \\(snp and microcode above 0\\) for Milan, Genoa, Turin; allowNoTcbMinimums releases`))]);
    expect((await h.call('GET', `/kbs/v1/key-transfer-policies/${r.json.id}`)).json.warnings).toEqual(r.json.warnings);
    expect(logLines.some((l) => l.includes('WARNING') && l.includes('S17') && l.includes(r.json.id))).toBe(true);
    const keyId = await keyUnder(r.json.id);
    const t = await transfer(keyId);
    expect(t.status, t.text).toBe(200);
    expect(unwrap(client, t.json).equals(material)).toBe(true);
    const db = await h.storage();
    const row = await db.get<{ warnings: string | null }>("SELECT warnings FROM attestation_log WHERE key_id = ? AND decision = 'released' ORDER BY seq DESC LIMIT 1", [keyId]);
    expect(JSON.parse(row?.warnings ?? '[]')).toEqual(expect.arrayContaining(r.json.warnings));
  });

  it('a launch minimum below the reported floor is an S18 relaxation, warned at creation (s16 change review r2a #3)', async () => {
    const relaxed = await create(snpPolicy({ tcbMinimums: { ...floors(), Milan: { reported: { snp: 0x18, microcode: 0xdb }, launch: { snp: 0x08 } } } }));
    expect(relaxed.status, relaxed.text).toBe(201);
    expect(relaxed.json.warnings).toEqual([expect.stringMatching(new RegExp(`^S18: policy ${relaxed.json.id} sets LAUNCH_TCB minimums below its REPORTED_TCB floor \\(Milan\\.snp 8 < 24\\)`))]);
    // a launch minimum at or above the floor is no relaxation
    const strict = await create(snpPolicy({ tcbMinimums: { ...floors(), Milan: { reported: { snp: 0x18, microcode: 0xdb }, launch: { snp: 0x18, microcode: 0xdb } } } }));
    expect(strict.status, strict.text).toBe(201);
    expect(strict.json.warnings).toEqual([]);
  });

  it('a floor the guest meets (Milan SNP >= 0x18, the guest reports 0x18): released', async () => {
    const r = await create(snpPolicy({ tcbMinimums: floors(0x18) }));
    expect(r.status, r.text).toBe(201);
    const t = await transfer(await keyUnder(r.json.id));
    expect(t.status, t.text).toBe(200);
    expect(unwrap(client, t.json).equals(material)).toBe(true);
  });

  it('a floor above the guest\'s REPORTED_TCB (Milan SNP >= 0x19): 401 ERR_KBS_POLICY with S17, nothing released', async () => {
    const r = await create(snpPolicy({ tcbMinimums: floors(0x19) }));
    expect(r.status, r.text).toBe(201);
    const t = await transfer(await keyUnder(r.json.id));
    expect({ status: t.status, code: t.json?.code }).toEqual({ status: 401, code: 'ERR_KBS_POLICY' });
    // the same floor applies to LAUNCH_TCB when the policy has no launch block (S18, s16 red team tcb #1)
    expect(t.json.checks).toEqual([
      expect.objectContaining({ check: 'S17', class: 'TCB_STATUS', path: '/tcbMinimums/Milan/reported/snp' }),
      expect.objectContaining({ check: 'S18', class: 'TCB_STATUS', path: '/tcbMinimums/Milan/reported/snp (launch)' }),
    ]);
    expect(t.json).not.toHaveProperty('wrapped_key');
  });

  it('a stored SNP policy without minimums and without the opt-in (created before the rule) refuses nonces and transfers: 403, warned when shown and at start', async () => {
    const legacy = randomUUID();
    const document = JSON.stringify({ ...snpPolicy(), id: legacy });
    const master = Buffer.from(readFileSync(`${h.db}.master-key`, 'utf8').trim(), 'base64');
    const s = await h.storage();
    await s.run('INSERT INTO policies (id, format, document, created_at, mac) VALUES (?, ?, ?, ?, ?)', [legacy, 'native', document, new Date().toISOString(), policyMac(integrityKeys(master), legacy, 'native', document)]);
    const view = await h.call('GET', `/kbs/v1/key-transfer-policies/${legacy}`);
    expect(view.status).toBe(200);
    expect(view.json.warnings).toEqual([`S17: policy ${legacy} sets no REPORTED_TCB minimum (snp and microcode above 0) for Milan, Genoa, Turin and has no allowNoTcbMinimums: transfers of its keys are refused`]);
    const keyId = await keyUnder(legacy);
    const nonce = await h.call('POST', transferPath(keyId), { token: null });
    expect({ status: nonce.status, code: nonce.json?.code, check: nonce.json?.checks?.[0]?.check }).toEqual({ status: 403, code: 'ERR_KBS_POLICY_UNPINNED', check: 'S17' });
    const t = await transfer(keyId);
    expect({ status: t.status, code: t.json?.code, check: t.json?.checks?.[0]?.check }).toEqual({ status: 403, code: 'ERR_KBS_POLICY_UNPINNED', check: 'S17' });
    expect(t.json).not.toHaveProperty('wrapped_key');
    const lines: string[] = [];
    const again = await startKeyBroker({ db: h.db, port: 0, plainHttp: true, collateral: new CollateralService({ amd: new BundleSource([...guest.collateral]), cache: null }), trustRoots: guest.trustRoots, synchronous: 'NORMAL', log: (l) => lines.push(l) });
    await again.close();
    expect(lines.some((l) => l.includes('WARNING') && l.includes(legacy) && l.includes('S17') && l.includes('refused'))).toBe(true);
  });
});

describe.skipIf(!HAVE_VECTORS)('the genuine virtee-sev/report_milan (SNP SPL 8, below AMD-SB-3019) and the broker (V35)', () => {
  let result: VerificationResult;
  let claims: { product: string; measurement: string; tcb: { reported: { snp: number } } };
  let pinned: Record<string, unknown>;
  beforeAll(() => {
    result = realSnpResult('virtee-sev/report_milan');
    claims = result.claims as typeof claims;
    pinned = { tee: 'snp', measurement: [claims.measurement], hostData: 'any' };
  });

  it('is a genuine Milan report whose REPORTED_TCB SNP SPL is below 0x18', () => {
    expect(result.ok).toBe(true);
    expect(claims.product).toBe('Milan');
    expect(claims.tcb.reported.snp).toBeLessThan(0x18);
  });

  it('a broker policy that pins only its MEASUREMENT is refused (S17): it would have released to it', () => {
    expect(() => parsePolicyDocument(pinned, 'p-no-floor')).toThrow(expect.objectContaining({ code: 'ERR_KBS_POLICY_UNPINNED', status: 400, check: 'S17' }));
  });

  it('under the broker policy with Milan SNP >= 0x18 it fails S17 (TCB_STATUS); with the opt-in it passes, warned', () => {
    const floor = parsePolicyDocument({ ...pinned, tcbMinimums: floors(0x18) }, 'p-floor');
    expect(floor.warnings).toEqual([]);
    const d = evaluatePolicy(result, floor.policy);
    expect(d.ok).toBe(false);
    // Its microcode SPL is also below the Milan floor (0xdb) the broker now requires with it (review s11).
    expect(d.violations).toEqual([
      expect.objectContaining({ check: 'S17', errorClass: 'TCB_STATUS', path: '/tcbMinimums/Milan/reported/snp' }),
      expect.objectContaining({ check: 'S17', errorClass: 'TCB_STATUS', path: '/tcbMinimums/Milan/reported/microcode' }),
      // and it was launched there too: the floor applies to LAUNCH_TCB without a launch block (S18)
      expect.objectContaining({ check: 'S18', errorClass: 'TCB_STATUS', path: '/tcbMinimums/Milan/reported/snp (launch)' }),
      expect.objectContaining({ check: 'S18', errorClass: 'TCB_STATUS', path: '/tcbMinimums/Milan/reported/microcode (launch)' }),
    ]);
    const optedIn = parsePolicyDocument({ ...pinned, allowNoTcbMinimums: true }, 'p-opt-in');
    expect(optedIn.warnings).toEqual([expect.stringMatching(/^S17: policy p-opt-in sets no REPORTED_TCB minimum/)]);
    expect(evaluatePolicy(result, optedIn.policy).ok).toBe(true);
  });
});
