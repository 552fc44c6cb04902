/**
 * Enclave policy (checklist §3: the SGX form of T34–T41) on genuine SGX v3
 * quotes and on the synthetic platform.
 */
import { describe, expect, it } from 'vitest';

import { defaultPolicy, evaluatePolicy, loadPolicy, type Policy } from '../../src/policy/index.js';
import type { SgxClaims, VerificationResult } from '../../src/verify/types.js';
import { HAVE_VECTORS, SGX_SW_HARDENING, expectOk, expectOnly, realIntelResult, sgx, syntheticSgx } from './helpers.js';

const ANY_SGX = { tee: 'sgx', mrEnclave: 'any', mrSigner: 'any' };

function pinned(c: SgxClaims, extra: Record<string, unknown> = {}): Policy {
  return loadPolicy({
    tee: 'sgx',
    mrEnclave: [c.mrEnclave],
    mrSigner: [c.mrSigner],
    isvProdId: [c.isvProdId],
    isvSvn: [c.isvSvn],
    minIsvSvn: c.isvSvn,
    attributes: { value: c.attributes },
    miscSelect: { value: c.miscSelect },
    reportData: c.reportData,
    tcb: { acceptedStatuses: ['UpToDate', 'SWHardeningNeeded'] },
    ...extra,
  });
}

const other = (h: string) => `${h.slice(0, -2)}${h.endsWith('00') ? '01' : '00'}`;

describe.skipIf(!HAVE_VECTORS)('§3 on a genuine SGX quote (oasis-core, SWHardeningNeeded)', () => {
  let result: VerificationResult;
  const r = () => (result ??= realIntelResult(SGX_SW_HARDENING));

  it('its identity is the one oasis-core asserts', () => {
    expect(sgx(r()).mrEnclave.startsWith('68823bc6')).toBe(true);
    expect(sgx(r()).mrSigner.startsWith('9affcfae')).toBe(true);
  });

  it('positive: pinned to its identity, accepting SWHardeningNeeded (with a warning)', () => {
    const a = evaluatePolicy(r(), pinned(sgx(r())));
    expectOk(a);
    expect(a.warnings.some((w) => w.startsWith('T33: TCB status SWHardeningNeeded accepted'))).toBe(true);
  });

  const cases: [string, string, (c: SgxClaims) => Record<string, unknown>][] = [
    ['T36', '/mrEnclave', (c) => ({ mrEnclave: [other(c.mrEnclave)] })],
    ['T36', '/mrSigner', (c) => ({ mrSigner: [other(c.mrSigner)] })],
    ['T36', '/isvProdId', (c) => ({ isvProdId: [c.isvProdId + 1] })],
    ['T36', '/isvSvn', (c) => ({ isvSvn: [c.isvSvn + 1] })],
    ['T36', '/minIsvSvn', (c) => ({ minIsvSvn: c.isvSvn + 1 })],
    ['T34', '/attributes', () => ({ attributes: { value: '07' + '00'.repeat(15), mask: 'ff' + '00'.repeat(15) } })],
    ['T34', '/miscSelect', (c) => ({ miscSelect: { value: (c.miscSelect ^ 1) >>> 0 } })],
    ['T41', '/reportData', (c) => ({ reportData: other(c.reportData) })],
  ];
  for (const [check, path, change] of cases) {
    it(`negative ${check}: ${path}`, () => {
      expectOnly(evaluatePolicy(r(), pinned(sgx(r()), change(sgx(r())))), check, path, check === 'T41' ? 'BINDING' : 'POLICY');
    });
  }

  it('T34: ATTRIBUTES compared bytewise under the mask (XFRM ignored when masked off)', () => {
    const c = sgx(r());
    const flagsOnly = 'ff'.repeat(8) + '00'.repeat(8);
    const value = c.attributes.slice(0, 16) + '00'.repeat(8);
    expectOk(evaluatePolicy(r(), pinned(c, { attributes: { value, mask: flagsOnly } })));
  });

  it('the default policy rejects its SWHardeningNeeded status (T33), nothing else', () => {
    expectOnly(evaluatePolicy(r(), defaultPolicy('sgx')), 'T33', '/tcb/acceptedStatuses', 'TCB_STATUS');
  });
});

describe('§3 debug enclave on the synthetic platform', () => {
  const debugAttributes = Uint8Array.from(Buffer.from('0700000000000000e700000000000000', 'hex'));

  it('negative: ATTRIBUTES.DEBUG is a violation under the default policy (T34)', () => {
    const r = syntheticSgx({ quote: { enclaveBody: { attributes: debugAttributes } } });
    expect(sgx(r).debug).toBe(true);
    expectOnly(evaluatePolicy(r, defaultPolicy('sgx')), 'T34', '/allowDebug');
  });

  it('positive: allowDebug accepts it with a warning; a production enclave passes the default', () => {
    const r = syntheticSgx({ quote: { enclaveBody: { attributes: debugAttributes } } });
    const a = evaluatePolicy(r, loadPolicy({ ...ANY_SGX, allowDebug: true }));
    expectOk(a);
    expect(a.warnings.some((w) => w.startsWith('T34: debug enclave accepted'))).toBe(true);
    expectOk(evaluatePolicy(syntheticSgx(), defaultPolicy('sgx')));
  });
});
