/**
 * Second review of s7, #5: stored ITA policies without enforce_tcb_upto_date became stricter with
 * review s7 (absent is read as true) without a word to the operator. Every start now logs one line
 * per such policy, saying what changed and how to keep the old behaviour; policies that state the
 * field, and native ones, get no such line.
 */
import { afterAll, beforeAll, describe, expect, it } from 'vitest';

import { startKeyBroker } from '../../src/kbs/index.js';
import { collateralOf, mrTdHex, startHarness, tdxPolicy, type Harness } from './helpers.js';

describe('ITA policies without enforce_tcb_upto_date are named at start (second review s7 #5)', () => {
  let h: Harness;
  beforeAll(async () => {
    h = await startHarness();
  }, 60_000);
  afterAll(async () => h?.close());

  it('a restart logs one T33 line per such policy, with how to keep the old behaviour; none for the others', async () => {
    const create = async (body: unknown): Promise<string> => {
      const r = await h.call('POST', '/kbs/v1/key-transfer-policies', { body });
      expect(r.status, r.text).toBe(201);
      return r.json.id as string;
    };
    const silent = await create({ attestation_type: 'TDX', tdx: { attributes: { mrtd: [mrTdHex(h.platform)] } } });
    const silentToo = await create({ attestation_type: 'TDX', tdx: { attributes: { mrtd: [mrTdHex(h.platform)] } } });
    const stated = await create({ attestation_type: 'TDX', tdx: { attributes: { mrtd: [mrTdHex(h.platform)], enforce_tcb_upto_date: true } } });
    const relaxed = await create({ attestation_type: 'TDX', tdx: { attributes: { mrtd: [mrTdHex(h.platform)], enforce_tcb_upto_date: false } } });
    const native = await create(tdxPolicy(h.platform));

    const lines: string[] = [];
    const again = await startKeyBroker({ db: h.db, port: 0, plainHttp: true, collateral: collateralOf(h.platform), trustRoots: h.platform.trustRoots, synchronous: 'NORMAL', log: (l) => lines.push(l) });
    await again.close();
    const notices = lines.filter((l) => l.includes('does not state enforce_tcb_upto_date'));
    expect(notices).toHaveLength(2);
    for (const id of [silent, silentToo]) {
      const line = notices.find((l) => l.includes(id));
      expect(line).toBeDefined();
      expect(line).toMatch(/^tee-kbs: WARNING: T33: ITA policy .* only to platforms whose TCB is UpToDate \(before: every status but Revoked\)\. To keep the old behaviour, create the policy again with "enforce_tcb_upto_date": false and move its keys/);
    }
    for (const id of [stated, relaxed, native]) expect(notices.some((l) => l.includes(id))).toBe(false);
  });
});
