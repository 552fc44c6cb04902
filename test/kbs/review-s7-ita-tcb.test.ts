/**
 * Review s7, finding 2: an ITA key-transfer policy without `enforce_tcb_upto_date` accepted every TCB
 * status but Revoked (Intel's semantics) and the broker dropped the translation's warning, so a TD
 * on an OutOfDate platform got keys silently. The broker now reads the absent field as true (strict
 * by default); the relaxation is the explicit `false`, shown as a T33 warning on creation and GET,
 * logged, and stored with every release it allows.
 */
import { randomBytes } from 'node:crypto';

import { afterAll, beforeAll, describe, expect, it } from 'vitest';

import { mrTdHex, newClient, quoteFor, sha512, startHarness, transferPath, unwrap, type Client, type Harness } from './helpers.js';

describe('ITA policies and the TCB status (review s7 #2, T33)', () => {
  let h: Harness;
  let client: Client;
  const lines: string[] = [];

  beforeAll(async () => {
    h = await startHarness({ log: (l) => lines.push(l) });
    client = newClient(2048);
  }, 60_000);
  afterAll(async () => h?.close());

  /** A quote of the platform with TEE_TCB_SVN lowered below the TCB info's UpToDate level (as r3-ita-tcb-silent.mjs). */
  const outOfDateQuote = (): Buffer => {
    const svn = Buffer.from((h.platform.quote.body as { teeTcbSvn: Uint8Array }).teeTcbSvn);
    const lower = Buffer.from(svn.map((b, i) => (i < 2 && b > 0 ? b - 1 : b)));
    expect(lower.equals(svn)).toBe(false);
    return quoteFor(h.platform, sha512(client.spkiDer), { teeTcbSvn: lower });
  };
  const register = async (attributes: Record<string, unknown>): Promise<{ policy: { status: number; json: any }; keyId: string; material: Buffer }> => {
    const policy = await h.call('POST', '/kbs/v1/key-transfer-policies', { body: { attestation_type: 'TDX', tdx: { attributes: { mrtd: [mrTdHex(h.platform)], ...attributes } } } });
    expect(policy.status, policy.text).toBe(201);
    const material = randomBytes(32);
    const key = await h.call('POST', '/kbs/v1/keys', { body: { key_information: { algorithm: 'AES', key_length: 256, key_data: material.toString('base64') }, transfer_policy_id: policy.json.id } });
    expect(key.status, key.text).toBe(201);
    return { policy, keyId: key.json.id as string, material };
  };
  const transfer = (keyId: string, quote: Buffer) => h.call('POST', transferPath(keyId), { body: { quote: quote.toString('base64'), user_data: client.userData }, headers: { 'attestation-type': 'TDX' }, token: null });

  it('without enforce_tcb_upto_date: the OutOfDate quote is refused (T33), an UpToDate one released; no warning', async () => {
    const { policy, keyId, material } = await register({});
    expect(policy.json.warnings).toEqual([]);
    const r = await transfer(keyId, outOfDateQuote());
    expect({ status: r.status, code: r.json?.code }).toEqual({ status: 401, code: 'ERR_KBS_POLICY' });
    expect(r.json.checks).toEqual([expect.objectContaining({ check: 'T33', message: expect.stringContaining('OutOfDate') })]);
    expect(r.json).not.toHaveProperty('wrapped_key');
    const ok = await transfer(keyId, quoteFor(h.platform, sha512(client.spkiDer)));
    expect(ok.status, ok.text).toBe(200);
    expect(unwrap(client, ok.json).equals(material)).toBe(true);
  });

  it('enforce_tcb_upto_date: true behaves the same', async () => {
    const { policy, keyId } = await register({ enforce_tcb_upto_date: true });
    expect(policy.json.warnings).toEqual([]);
    expect((await transfer(keyId, outOfDateQuote())).json?.code).toBe('ERR_KBS_POLICY');
  });

  it('enforce_tcb_upto_date: false (the explicit relaxation): warned on creation, GET and in the log; the release is logged with its warnings', async () => {
    const { policy, keyId, material } = await register({ enforce_tcb_upto_date: false });
    const t33 = expect.stringMatching(/^T33: policy .* enforce_tcb_upto_date: false/);
    expect(policy.json.warnings).toEqual([t33]);
    expect((await h.call('GET', `/kbs/v1/key-transfer-policies/${policy.json.id}`)).json.warnings).toEqual([t33]);
    expect(lines.some((l) => l.includes('WARNING') && l.includes('T33') && l.includes(policy.json.id))).toBe(true);
    const r = await transfer(keyId, outOfDateQuote());
    expect(r.status, r.text).toBe(200);
    expect(unwrap(client, r.json).equals(material)).toBe(true);
    const db = await h.storage();
    const row = await db.get<{ warnings: string | null; claims: string }>("SELECT warnings, claims FROM attestation_log WHERE key_id = ? AND decision = 'released' ORDER BY seq DESC LIMIT 1", [keyId]);
    const warnings = JSON.parse(row?.warnings ?? '[]') as string[];
    // The policy's relaxation and the appraisal's note that a non-UpToDate status was accepted.
    expect(warnings).toEqual(expect.arrayContaining([t33]));
    expect(warnings.some((w) => w !== warnings.find((x) => /^T33: policy /.test(x)) && w.includes('OutOfDate'))).toBe(true);
  });
});
