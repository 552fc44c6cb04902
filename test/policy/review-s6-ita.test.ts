/**
 * Review s6, finding 5: translateItaPolicy turned attributes that pin no code
 * (`"attributes": {}`, or empty mrtd / mrenclave / mrsigner lists) into a
 * policy that accepts any TD or enclave — what the "attributes is required"
 * refusal claims to prevent. Library callers now get ERR_POLICY_INVALID at
 * /tdx/attributes or /sgx/attributes unless they ask for Intel's semantics
 * (allowUnpinnedMeasurement, then a warning); an absent
 * enforce_tcb_upto_date is a warning.
 */
import { describe, expect, it } from 'vitest';

import { translateItaPolicy } from '../../src/policy/index.js';
import type { TdxPolicy } from '../../src/policy/types.js';

const HEX48 = 'ab'.repeat(48);
const HEX32 = 'cd'.repeat(32);

function refusal(doc: object): { code?: string; path?: string; keyword?: string } {
  try {
    translateItaPolicy(doc);
  } catch (e) {
    const err = e as { code?: string; details?: { path?: string; keyword?: string } };
    return { code: err.code, path: err.details?.path, keyword: err.details?.keyword };
  }
  return {};
}

describe('translateItaPolicy refuses attributes that pin no code (review s6)', () => {
  it.each([
    ['TDX, empty attributes', { attestation_type: 'TDX', tdx: { attributes: {} } }, '/tdx/attributes'],
    ['TDX, mrtd []', { attestation_type: 'TDX', tdx: { attributes: { mrtd: [], enforce_tcb_upto_date: false } } }, '/tdx/attributes'],
    ['TDX, RTMRs and the module but no MRTD', { attestation_type: 'TDX', tdx: { attributes: { rtmr0: HEX48, mrseam: [HEX48], enforce_tcb_upto_date: true } } }, '/tdx/attributes'],
    ['SGX, empty mrenclave and mrsigner', { attestation_type: 'sgx', sgx: { attributes: { mrenclave: [], mrsigner: [] } } }, '/sgx/attributes'],
    ['SGX, only isvprodid', { attestation_type: 'SGX', sgx: { attributes: { isvprodid: [1] } } }, '/sgx/attributes'],
  ])('%s: ERR_POLICY_INVALID', (_name, doc, path) => {
    expect(refusal(doc)).toEqual({ code: 'ERR_POLICY_INVALID', path, keyword: 'unpinned' });
  });

  it('with allowUnpinnedMeasurement: Intel semantics, and an X07 warning', () => {
    const warnings: string[] = [];
    const p = translateItaPolicy({ attestation_type: 'TDX', tdx: { attributes: { enforce_tcb_upto_date: true } } }, { allowUnpinnedMeasurement: true, onWarning: (w) => warnings.push(w) });
    expect(p).toMatchObject({ tee: 'tdx', mrTd: 'any' });
    expect(warnings).toHaveLength(1);
    expect(warnings[0]).toMatch(/^X07: .*any TD/);
  });

  it.each([
    ['TDX with mrtd', { attestation_type: 'TDX', tdx: { attributes: { mrtd: [HEX48], enforce_tcb_upto_date: true } } }],
    ['SGX with mrsigner only', { attestation_type: 'SGX', sgx: { attributes: { mrsigner: [HEX32], enforce_tcb_upto_date: false } } }],
    ['SGX with mrenclave only', { attestation_type: 'SGX', sgx: { attributes: { mrenclave: [HEX32], enforce_tcb_upto_date: true } } }],
  ])('%s: translated without warnings', (_name, doc) => {
    const warnings: string[] = [];
    translateItaPolicy(doc, { onWarning: (w) => warnings.push(w) });
    expect(warnings).toEqual([]);
  });

  it('an absent enforce_tcb_upto_date is a T33 warning (every status but Revoked is accepted)', () => {
    const warnings: string[] = [];
    const p = translateItaPolicy({ attestation_type: 'TDX', tdx: { attributes: { mrtd: [HEX48] } } }, { onWarning: (w) => warnings.push(w) }) as TdxPolicy;
    expect(p.tcb.acceptedStatuses).toContain('OutOfDate');
    expect(warnings).toHaveLength(1);
    expect(warnings[0]).toMatch(/^T33: enforce_tcb_upto_date is absent/);
  });
});
