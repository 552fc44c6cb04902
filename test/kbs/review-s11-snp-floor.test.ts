/**
 * Review s11 #3: the S17 rule of review s10 asked only that `tcbMinimums.<product>.reported` exist,
 * and the schema takes `{reported: {bootloader: 0}}`: a floor that floors nothing met it, without a
 * warning, and a genuine report below AMD-SB-3019 still got the key. Now each accepted product's
 * REPORTED_TCB minimum must raise `snp` and `microcode` (the components AMD's bulletins move) above
 * 0: 400 ERR_KBS_POLICY_UNPINNED (S17) at creation, 403 at transfer for a stored row;
 * `allowNoTcbMinimums: true` still relaxes it, with its warning. The policy `tee-model simulated-tee
 * --policy-out` writes is still accepted as it is.
 */
import { randomBytes, randomUUID } from 'node:crypto';
import { mkdtemp, readFile, rm } from 'node:fs/promises';
import { readFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';

import { afterAll, beforeAll, describe, expect, it } from 'vitest';

import { BundleSource, CollateralService, parseEvidence, type SnpReport } from '../../src/index.js';
import { integrityKeys, policyMac } from '../../src/kbs/crypto.js';
import { run as modelCli } from '../../src/model/cli.js';
import { SimulatedTeeProvider } from '../../src/tee/index.js';
import { newClient, sha512, startHarness, transferPath, unwrap, type Client, type Harness } from './helpers.js';

/** Each product's REPORTED_TCB minimum, as given. */
const each = (reported: Record<string, number>): Record<string, unknown> => ({ Milan: { reported }, Genoa: { reported }, Turin: { reported } });

describe('an SEV-SNP floor must raise snp and microcode (review s11 #3, S17)', () => {
  const guest = new SimulatedTeeProvider({ tee: 'snp', at: new Date() });
  let h: Harness;
  let client: Client;
  let measurement: string;
  let dir: string;
  const material = randomBytes(32);

  beforeAll(async () => {
    h = await startHarness({ plainHttp: true, collateral: new CollateralService({ amd: new BundleSource([...guest.collateral]), cache: null }), trustRoots: guest.trustRoots });
    client = newClient();
    measurement = Buffer.from((parseEvidence((await guest.getEvidence(new Uint8Array(64))).evidence) as SnpReport).measurement).toString('hex');
    dir = await mkdtemp(join(tmpdir(), 'kbs-s11-floor-'));
  }, 60_000);
  afterAll(async () => {
    await h?.close();
    if (dir) await rm(dir, { recursive: true, force: true });
  });

  const snpPolicy = (extra: Record<string, unknown>) => ({ tee: 'snp', measurement: [measurement], hostData: 'any', ...extra });
  const create = (body: unknown) => h.call('POST', '/kbs/v1/key-transfer-policies', { body });
  async function transferUnder(policyId: string) {
    const key = await h.call('POST', '/kbs/v1/keys', { body: { key_information: { algorithm: 'AES', key_length: 256, key_data: material.toString('base64') }, transfer_policy_id: policyId } });
    expect(key.status, key.text).toBe(201);
    const { evidence } = await guest.getEvidence(sha512(client.spkiDer));
    return h.call('POST', transferPath(key.json.id), { body: { quote: Buffer.from(evidence).toString('base64'), user_data: client.userData }, headers: { 'attestation-type': 'SEV-SNP' }, token: null });
  }

  it.each([
    ['{bootloader: 0} for each product (the reproducer)', each({ bootloader: 0 }), '/tcbMinimums/Milan/reported/snp', 'Milan, Genoa, Turin'],
    ['snp and microcode 0', each({ snp: 0, microcode: 0 }), '/tcbMinimums/Milan/reported/snp', 'Milan, Genoa, Turin'],
    ['snp set, microcode missing', each({ snp: 0x18 }), '/tcbMinimums/Milan/reported/microcode', 'Milan, Genoa, Turin'],
    ['microcode set, snp 0', each({ snp: 0, microcode: 0xdb }), '/tcbMinimums/Milan/reported/snp', 'Milan, Genoa, Turin'],
    ['Milan floored, Turin not', { Milan: { reported: { snp: 0x18, microcode: 0xdb } }, Genoa: { reported: { snp: 0x17, microcode: 0x54 } }, Turin: { reported: { bootloader: 1, tee: 1 } } }, '/tcbMinimums/Turin/reported/snp', 'Turin'],
  ])('%s: 400 ERR_KBS_POLICY_UNPINNED (S17)', async (_name, tcbMinimums, path, products) => {
    const r = await create(snpPolicy({ tcbMinimums }));
    expect({ status: r.status, code: r.json?.code }).toEqual({ status: 400, code: 'ERR_KBS_POLICY_UNPINNED' });
    expect(r.json.checks[0]).toMatchObject({ check: 'S17', path });
    expect(r.json.error).toContain(`sets none for ${products}:`);
  });

  it('with allowNoTcbMinimums: true a zero floor is stored with the S17 warning and its key is released', async () => {
    const r = await create(snpPolicy({ tcbMinimums: each({ bootloader: 0 }), allowNoTcbMinimums: true }));
    expect(r.status, r.text).toBe(201);
    expect(r.json.warnings).toEqual([expect.stringMatching(new RegExp(`^S17: policy ${r.json.id} sets no REPORTED_TCB minimum \\(snp and microcode above 0\\) for Milan, Genoa, Turin; allowNoTcbMinimums releases`))]);
    const t = await transferUnder(r.json.id);
    expect(t.status, t.text).toBe(200);
    expect(unwrap(client, t.json).equals(material)).toBe(true);
  });

  it('a stored zero floor without the opt-in (created before this rule): transfers are 403 ERR_KBS_POLICY_UNPINNED (S17)', async () => {
    const legacy = randomUUID();
    const document = JSON.stringify(snpPolicy({ tcbMinimums: each({ bootloader: 0 }), id: legacy }));
    const master = Buffer.from(readFileSync(`${h.db}.master-key`, 'utf8').trim(), 'base64');
    const s = await h.storage();
    await s.run('INSERT INTO policies (id, format, document, created_at, mac) VALUES (?, ?, ?, ?, ?)', [legacy, 'native', document, new Date().toISOString(), policyMac(integrityKeys(master), legacy, 'native', document)]);
    const t = await transferUnder(legacy);
    expect({ status: t.status, code: t.json?.code, check: t.json?.checks?.[0]?.check, path: t.json?.checks?.[0]?.path }).toEqual({ status: 403, code: 'ERR_KBS_POLICY_UNPINNED', check: 'S17', path: '/tcbMinimums/Milan/reported/snp' });
    expect(t.json).not.toHaveProperty('wrapped_key');
  });

  it('the policy `tee-model simulated-tee --simulated-tee snp --policy-out` writes is accepted without warnings and releases the key', async () => {
    const out = join(dir, 'policy.json');
    let err = '';
    const code = await modelCli(['simulated-tee', '--state', join(dir, 'state.json'), '--simulated-tee', 'snp', '--policy-out', out], { stdout: { write: () => true }, stderr: { write: (t: string) => (err += t) } });
    expect(code, err).toBe(0);
    const policy = JSON.parse(await readFile(out, 'utf8')) as { tcbMinimums: Record<string, { reported: { snp: number; microcode: number } }> };
    // Its platform is another simulated Milan (its own state), so only the acceptance is asked here.
    expect(Object.values(policy.tcbMinimums).every((m) => m.reported.snp > 0 && m.reported.microcode > 0)).toBe(true);
    const r = await create({ ...policy, measurement: [measurement] });
    expect(r.status, r.text).toBe(201);
    expect(r.json.warnings).toEqual([]);
    const t = await transferUnder(r.json.id);
    expect(t.status, t.text).toBe(200);
  });
});
