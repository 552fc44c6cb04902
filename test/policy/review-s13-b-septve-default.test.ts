/**
 * Review s13 (policy), finding 3: verifier-checklist.md T34 says SEPT_VE_DISABLE (bit 28) is
 * "required by default (... so a policy value, not hard-coded)". The default policy did not
 * require it: a TD whose EPT violations the host can turn into #VE passed as `affirming`, with
 * no violation and no warning, under defaultPolicy('tdx') and under every loaded document that
 * does not name requireSeptVeDisable (a key broker policy pinning mrTd, for example).
 * Now the default requires it; `requireSeptVeDisable: false` is the relaxation, and a TD it lets
 * through is a T34 warning (EAR `warning`), as for allowMigratable.
 */
import { describe, expect, it } from 'vitest';

import { parseEvidence } from '../../src/evidence/index.js';
import { defaultPolicy, evaluatePolicy, loadPolicy, toEar } from '../../src/policy/index.js';
import type { VerificationResult } from '../../src/verify/types.js';
import { loadManifest, readEvidenceBytes } from '../helpers/vectors.js';
import { HAVE_VECTORS, expectOk, expectOnly, realIntelResult, syntheticTdx, tdx } from './helpers.js';

const ANY_TDX = { tee: 'tdx', mrTd: 'any', mrConfigId: 'any', mrOwner: 'any', mrOwnerConfig: 'any' };
const earStatus = (r: VerificationResult, policy: ReturnType<typeof loadPolicy>) =>
  toEar(r, evaluatePolicy(r, policy), { verifierId: 'test', iat: 1 }).submods['cpu0']!['ear.status'];

/** A verified synthetic TD without SEPT_VE_DISABLE (the builder's default sets bit 28). */
const noSeptVe = (attrs = 0n) => syntheticTdx({ quote: { tdBody: { tdAttributes: attrs } } });

describe('T34: SEPT_VE_DISABLE is required by default (review s13 policy #3)', () => {
  it('the default policy requires it, and so does a loaded document that does not name it', () => {
    expect(defaultPolicy('tdx')).toMatchObject({ requireSeptVeDisable: true });
    expect(loadPolicy(ANY_TDX)).toMatchObject({ requireSeptVeDisable: true });
  });

  it('a TD without bit 28 fails defaultPolicy(tdx) with exactly one T34 violation; the EAR is contraindicated', () => {
    const r = noSeptVe();
    expect(tdx(r).septVeDisable).toBe(false);
    const v = expectOnly(evaluatePolicy(r, defaultPolicy('tdx')), 'T34', '/requireSeptVeDisable');
    expect([v.expected, v.actual]).toEqual([true, false]);
    expect(earStatus(r, defaultPolicy('tdx'))).toBe('contraindicated');
  });

  it('a key-release document pinning mrTd, silent on requireSeptVeDisable, refuses it too', () => {
    const r = noSeptVe();
    const p = loadPolicy({ ...ANY_TDX, mrTd: [tdx(r).mrTd] });
    expectOnly(evaluatePolicy(r, p), 'T34', '/requireSeptVeDisable');
  });

  it('requireSeptVeDisable false is the relaxation: the TD passes with one T34 warning, EAR warning', () => {
    const r = noSeptVe(0x40000000n); // PKS only, as go-tdx-guest's v4 sample quote
    const relaxed = loadPolicy({ ...ANY_TDX, requireSeptVeDisable: false });
    const a = evaluatePolicy(r, relaxed);
    expectOk(a);
    expect(a.warnings).toHaveLength(1);
    expect(a.warnings[0]).toMatch(/^T34: TD without SEPT_VE_DISABLE accepted by the policy \(requireSeptVeDisable false; TDATTRIBUTES 0x0000000040000000\)/);
    expect(earStatus(r, relaxed)).toBe('warning');
  });

  it('a TD with bit 28 passes the default and gives no warning under the relaxed policy (the relaxation was not used)', () => {
    const r = syntheticTdx();
    expect(tdx(r).septVeDisable).toBe(true);
    expectOk(evaluatePolicy(r, defaultPolicy('tdx')));
    const a = evaluatePolicy(r, loadPolicy({ ...ANY_TDX, requireSeptVeDisable: false }));
    expectOk(a);
    expect(a.warnings).toEqual([]);
  });

  it('a TD without bit 28 whose value a policy pins exactly still needs the explicit relaxation', () => {
    const r = noSeptVe(0x40000000n);
    const pinned = { ...ANY_TDX, tdAttributes: { value: '0x0000000040000000' } };
    expectOnly(evaluatePolicy(r, loadPolicy(pinned)), 'T34', '/requireSeptVeDisable');
    expectOk(evaluatePolicy(r, loadPolicy({ ...pinned, requireSeptVeDisable: false })));
  });
});

describe.skipIf(!HAVE_VECTORS)('T34 default on the shared TDX vectors', () => {
  const tdxEntries = () => loadManifest().filter((e) => e.kind === 'tdx-quote-v4' || e.kind === 'tdx-quote-v5');

  it('every TDX vector the manifest calls valid with collateral has SEPT_VE_DISABLE: no T34 violation under the default', () => {
    const valid = tdxEntries().filter((e) => e.expected.outcome.startsWith('valid'));
    expect(valid.map((e) => e.id).sort()).toEqual([
      'go-tdx-guest/quote_v5_sample',
      'oasis-core/quote_v4_tdx_ecdsa_p256',
      'phala-dcap-qvl/near_gas_test_quote',
      'phala-dcap-qvl/tdx_quote',
      'trustee/tdx_quote_6',
    ]);
    for (const e of valid) {
      const r = realIntelResult(e.id);
      expect(tdx(r).septVeDisable, e.id).toBe(true);
      expect(evaluatePolicy(r, defaultPolicy('tdx')).violations.filter((v) => v.check === 'T34'), e.id).toEqual([]);
    }
  });

  it('the TDX vectors without bit 28 are the ones that never reach a policy (invalid, or no collateral)', () => {
    const without: [string, string, string][] = [];
    for (const e of tdxEntries()) {
      const lenient = e.id === 'go-tdx-guest/tdx_prod_quote_SPR_E4';
      const q = parseEvidence(readEvidenceBytes(e), lenient ? { trailing: 'dangerouslyLenient' } : {});
      if (q.kind !== 'tdx') throw new Error(`${e.id} is not a TD quote`);
      if ((q.body.tdAttributes & (1n << 28n)) === 0n) without.push([e.id, `0x${q.body.tdAttributes.toString(16)}`, e.expected.outcome]);
    }
    expect(without).toEqual([
      ['oasis-core/quote_v4_tdx_ecdsa_p256_out_of_date', '0x40000000', 'invalid'],
      ['go-tdx-guest/tdx_prod_quote_SPR_E4', '0x40000000', 'invalid'],
      ['trustee/az_tdx_vtpm_td_quote', '0x0', 'signatures-valid (no collateral in source)'],
    ]);
  });
});
