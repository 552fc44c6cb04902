/**
 * Review finding 1 (X07): a key-transfer policy that pins no measurement
 * (TDX MRTD; SGX MRENCLAVE or MRSIGNER; SEV-SNP MEASUREMENT) would release
 * the key to any TD, enclave or guest. The broker refuses it at intake
 * (400 ERR_KBS_POLICY_UNPINNED) unless the document carries the operator's
 * explicit opt-in `allowUnpinnedMeasurement: true`, which is reported as a
 * warning. A stored row from before the fix is refused at transfer.
 */
import { randomBytes, randomUUID } from 'node:crypto';
import { readFileSync } from 'node:fs';

import { afterAll, beforeAll, describe, expect, it } from 'vitest';

import { translateItaPolicy } from '../../src/index.js';
import { integrityKeys, policyMac } from '../../src/kbs/crypto.js';
import { startKeyBroker } from '../../src/kbs/index.js';
import { collateralOf, mrTdHex, newClient, registerKey, startHarness, tdxPolicy, transferBody, transferPath, unwrap, type Client, type Harness } from './helpers.js';

const HEX48 = 'ab'.repeat(48);
const HEX32 = 'cd'.repeat(32);

/** A policy row as a broker of an earlier version stored it, with the MAC the integrity upgrade gives it (review s7). */
async function insertLegacyPolicy(h: Harness, id: string, format: 'native' | 'ita', document: string): Promise<void> {
  const master = Buffer.from(readFileSync(`${h.db}.master-key`, 'utf8').trim(), 'base64');
  const s = await h.storage();
  await s.run('INSERT INTO policies (id, format, document, created_at, mac) VALUES (?, ?, ?, ?, ?)', [id, format, document, new Date().toISOString(), policyMac(integrityKeys(master), id, format, document)]);
}

describe('key broker: key-transfer policies must pin a measurement (review finding 1, X07)', () => {
  let h: Harness;
  let client: Client;
  const logLines: string[] = [];
  const material = randomBytes(32);

  beforeAll(async () => {
    h = await startHarness({ log: (l) => logLines.push(l) });
    client = newClient();
  }, 60_000);
  afterAll(async () => h?.close());

  const create = (body: unknown) => h.call('POST', '/kbs/v1/key-transfer-policies', { body });
  const policyCount = async (): Promise<number> => (await h.call('GET', '/kbs/v1/key-transfer-policies')).json.length as number;

  function expectUnpinned(r: { status: number; json: any }, path: string): void {
    expect({ status: r.status, code: r.json?.code }).toEqual({ status: 400, code: 'ERR_KBS_POLICY_UNPINNED' });
    expect(r.json.checks[0]).toMatchObject({ check: 'X07', path });
    expect(r.json.error).toContain('allowUnpinnedMeasurement');
  }

  it.each([
    ['ITA, empty attributes', { attestation_type: 'TDX', tdx: { attributes: {} } }, '/tdx/attributes/mrtd'],
    ['ITA, mrtd []', { attestation_type: 'TDX', tdx: { attributes: { mrtd: [], enforce_tcb_upto_date: true } } }, '/tdx/attributes/mrtd'],
    ['ITA, RTMRs but no MRTD', { attestation_type: 'TDX', tdx: { attributes: { rtmr0: HEX48 } } }, '/tdx/attributes/mrtd'],
    ['ITA SGX, neither mrenclave nor mrsigner', { attestation_type: 'SGX', sgx: { attributes: { isvprodid: [1] } } }, '/sgx/attributes/mrenclave'],
    ['native TDX, mrTd "any"', { tee: 'tdx', mrTd: 'any', mrConfigId: 'any', mrOwner: 'any', mrOwnerConfig: 'any' }, '/mrTd'],
    ['native SGX, both "any"', { tee: 'sgx', mrEnclave: 'any', mrSigner: 'any' }, '/mrEnclave'],
    ['native SNP, measurement "any"', { tee: 'snp', measurement: 'any', hostData: 'any' }, '/measurement'],
  ])('%s: 400 ERR_KBS_POLICY_UNPINNED, nothing stored', async (_name, doc, path) => {
    const before = await policyCount();
    expectUnpinned(await create(doc), path);
    expect(await policyCount()).toBe(before);
  });

  it.each([
    ['ITA TDX with mrtd', { attestation_type: 'TDX', tdx: { attributes: { mrtd: [HEX48] } } }],
    ['ITA SGX with mrsigner only', { attestation_type: 'SGX', sgx: { attributes: { mrsigner: [HEX32] } } }],
    ['native SGX with mrEnclave only', { tee: 'sgx', mrEnclave: [HEX32], mrSigner: 'any' }],
    ['native SNP with measurement (and a REPORTED_TCB floor, S17 since review s10)', { tee: 'snp', measurement: [HEX48], hostData: 'any', products: ['Milan'], tcbMinimums: { Milan: { reported: { snp: 0x18, microcode: 0xdb } } } }],
  ])('%s: accepted without warnings', async (_name, doc) => {
    const r = await create(doc);
    expect(r.status).toBe(201);
    expect(r.json.warnings).toEqual([]);
  });

  it('the opt-in must be a boolean (400 ERR_KBS_POLICY_INVALID)', async () => {
    const r = await create({ attestation_type: 'TDX', tdx: { attributes: {} }, allowUnpinnedMeasurement: 'yes' });
    expect({ status: r.status, code: r.json.code }).toEqual({ status: 400, code: 'ERR_KBS_POLICY_INVALID' });
    const f = await create({ tee: 'tdx', mrTd: 'any', mrConfigId: 'any', mrOwner: 'any', mrOwnerConfig: 'any', allowUnpinnedMeasurement: false });
    expectUnpinned(f, '/mrTd');
  });

  it('with allowUnpinnedMeasurement: true it is stored with a warning (answer, GET, log) and then releases to any TD', async () => {
    logLines.length = 0;
    const r = await create({ attestation_type: 'TDX', tdx: { attributes: {} }, allowUnpinnedMeasurement: true });
    expect(r.status).toBe(201);
    expect(r.json.policy.allowUnpinnedMeasurement).toBe(true);
    expect(r.json.warnings).toHaveLength(1);
    expect(r.json.warnings[0]).toMatch(/^X07: .*allowUnpinnedMeasurement/);
    expect((await h.call('GET', `/kbs/v1/key-transfer-policies/${r.json.id}`)).json.warnings).toEqual(r.json.warnings);
    expect(logLines.some((l) => l.includes('WARNING') && l.includes(r.json.id))).toBe(true);
    const key = await h.call('POST', '/kbs/v1/keys', { body: { key_information: { algorithm: 'AES', key_length: 256, key_data: material.toString('base64') }, transfer_policy_id: r.json.id } });
    expect(key.status).toBe(201);
    const t = await h.call('POST', transferPath(key.json.id), { body: transferBody(h, client, { body: { mrTd: randomBytes(48) } }), headers: { 'attestation-type': 'TDX' }, token: null });
    expect(t.status).toBe(200);
    expect(unwrap(client, t.json).equals(material)).toBe(true);
  });

  it('a pinned native policy with the opt-in carries no warning (the opt-in does nothing there)', async () => {
    const r = await create({ ...tdxPolicy(h.platform), allowUnpinnedMeasurement: true });
    expect(r.status).toBe(201);
    expect(r.json.warnings).toEqual([]);
  });

  it('a stored unpinned policy without the opt-in (created before the fix) refuses nonces and transfers: 403, nothing released', async () => {
    const legacy = randomUUID();
    await insertLegacyPolicy(h, legacy, 'ita', JSON.stringify({ attestation_type: 'TDX', tdx: { attributes: {} }, id: legacy }));
    const view = await h.call('GET', `/kbs/v1/key-transfer-policies/${legacy}`);
    expect(view.status).toBe(200);
    expect(view.json.warnings[0]).toMatch(/^X07: .*refused/);
    const key = await h.call('POST', '/kbs/v1/keys', { body: { transfer_policy_id: legacy } });
    expect(key.status).toBe(201);
    const nonce = await h.call('POST', transferPath(key.json.id), { token: null });
    expect({ status: nonce.status, code: nonce.json?.code }).toEqual({ status: 403, code: 'ERR_KBS_POLICY_UNPINNED' });
    const t = await h.call('POST', transferPath(key.json.id), { body: transferBody(h, client), headers: { 'attestation-type': 'TDX' }, token: null });
    expect({ status: t.status, code: t.json?.code }).toEqual({ status: 403, code: 'ERR_KBS_POLICY_UNPINNED' });
    expect(t.json).not.toHaveProperty('wrapped_key');
    // Said at every start, so an upgraded broker names the rows it now refuses.
    const lines: string[] = [];
    const again = await startKeyBroker({ db: h.db, port: 0, plainHttp: true, collateral: collateralOf(h.platform), trustRoots: h.platform.trustRoots, synchronous: 'NORMAL', log: (l) => lines.push(l) });
    await again.close();
    expect(lines.some((l) => l.includes('WARNING') && l.includes(legacy) && l.includes('refused'))).toBe(true);
  });

  it('a stored policy that no longer loads (SEV-SNP minimums for Milan only, before session 6) says so when shown and at start; transfers fail closed', async () => {
    const legacy = randomUUID();
    const doc = { tee: 'snp', measurement: ['ef'.repeat(48)], hostData: 'any', tcbMinimums: { Milan: { reported: { snp: 0x18, microcode: 0xdb } } }, id: legacy };
    await insertLegacyPolicy(h, legacy, 'native', JSON.stringify(doc));
    const view = await h.call('GET', `/kbs/v1/key-transfer-policies/${legacy}`);
    expect(view.json.warnings).toEqual([expect.stringMatching(new RegExp(`^policy ${legacy} no longer loads \\(.*tcbMinimums.*\\): transfers of its keys fail`))]);
    const key = await h.call('POST', '/kbs/v1/keys', { body: { transfer_policy_id: legacy } });
    expect(key.status).toBe(201);
    const t = await h.call('POST', transferPath(key.json.id), { body: transferBody(h, client), headers: { 'attestation-type': 'TDX' }, token: null });
    expect({ status: t.status, code: t.json?.code }).toEqual({ status: 500, code: 'ERR_KBS_STORAGE' });
    expect(t.json).not.toHaveProperty('wrapped_key');
    const lines: string[] = [];
    const again = await startKeyBroker({ db: h.db, port: 0, plainHttp: true, collateral: collateralOf(h.platform), trustRoots: h.platform.trustRoots, synchronous: 'NORMAL', log: (l) => lines.push(l) });
    await again.close();
    expect(lines.some((l) => l.includes('WARNING') && l.includes(legacy) && l.includes('no longer loads'))).toBe(true);
  });

  it('keys under a pinned policy are unaffected', async () => {
    const id = await registerKey(h, material);
    const t = await h.call('POST', transferPath(id), { body: transferBody(h, client), headers: { 'attestation-type': 'TDX' }, token: null });
    expect(t.status).toBe(200);
    expect(mrTdHex(h.platform)).toHaveLength(96);
  });

  it('the library translation refuses it too (review s6); Intel semantics (unnamed measurements become "any") only on request', () => {
    expect(() => translateItaPolicy({ attestation_type: 'TDX', tdx: { attributes: {} } })).toThrow(expect.objectContaining({ code: 'ERR_POLICY_INVALID' }));
    expect(translateItaPolicy({ attestation_type: 'TDX', tdx: { attributes: {} } }, { allowUnpinnedMeasurement: true })).toMatchObject({ tee: 'tdx', mrTd: 'any' });
  });
});
