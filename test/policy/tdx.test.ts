/**
 * TD policy T34–T41: each check with a positive and a negative. Genuine
 * shared TDX quotes (verified with their collateral at their instant) give
 * real measurements to pin; the synthetic Intel platform sets attribute bits
 * and v5 fields with valid signatures around them.
 */
import { describe, expect, it } from 'vitest';

import { defaultPolicy, evaluatePolicy, loadPolicy, type Policy } from '../../src/policy/index.js';
import type { TdxClaims, VerificationResult } from '../../src/verify/types.js';
import { catchError } from '../helpers/expect-error.js';
import { HAVE_VECTORS, TDX_UPTODATE, TDX_V5, expectOk, expectOnly, hex, realIntelResult, syntheticTdx, tdx } from './helpers.js';

const ANY_TDX = { tee: 'tdx', mrTd: 'any', mrConfigId: 'any', mrOwner: 'any', mrOwnerConfig: 'any' };

/** A policy pinning every measurement of `c` exactly. */
function pinned(c: TdxClaims, extra: Record<string, unknown> = {}): Policy {
  return loadPolicy({
    tee: 'tdx',
    mrTd: [c.mrTd],
    rtmr0: [c.rtmr0],
    rtmr1: [c.rtmr1],
    rtmr2: [c.rtmr2],
    rtmr3: [c.rtmr3],
    mrConfigId: [c.mrConfigId],
    mrOwner: [c.mrOwner],
    mrOwnerConfig: [c.mrOwnerConfig],
    mrSeam: [c.mrSeam],
    mrSignerSeam: [c.mrSignerSeam],
    tdAttributes: { value: c.tdAttributes },
    xfam: [c.xfam],
    reportData: c.reportData,
    ...extra,
  });
}

const other = (h: string) => `${h.slice(0, -2)}${h.endsWith('00') ? '01' : '00'}`;

describe.skipIf(!HAVE_VECTORS)('T35–T39, T41 on a genuine TDX quote (phala-dcap-qvl/tdx_quote, UpToDate)', () => {
  let result: VerificationResult;
  const r = () => (result ??= realIntelResult(TDX_UPTODATE));

  it('positive: a policy pinned to its real measurements, attributes, XFAM and REPORT_DATA', () => {
    expectOk(evaluatePolicy(r(), pinned(tdx(r()))));
    expectOk(evaluatePolicy(r(), defaultPolicy('tdx')));
  });

  const cases: [string, string, (c: TdxClaims) => Record<string, unknown>][] = [
    ['T36', '/mrTd', (c) => ({ mrTd: [other(c.mrTd)] })],
    ['T37', '/rtmr0', (c) => ({ rtmr0: [other(c.rtmr0)] })],
    ['T37', '/rtmr1', (c) => ({ rtmr1: [other(c.rtmr1)] })],
    ['T37', '/rtmr2', (c) => ({ rtmr2: [other(c.rtmr2)] })],
    ['T37', '/rtmr3', (c) => ({ rtmr3: [other(c.rtmr3)] })],
    ['T38', '/mrConfigId', (c) => ({ mrConfigId: [other(c.mrConfigId)] })],
    ['T38', '/mrOwner', (c) => ({ mrOwner: [other(c.mrOwner)] })],
    ['T38', '/mrOwnerConfig', (c) => ({ mrOwnerConfig: [other(c.mrOwnerConfig)] })],
    ['T39', '/mrSeam', (c) => ({ mrSeam: [other(c.mrSeam)] })],
    ['T39', '/mrSignerSeam', (c) => ({ mrSignerSeam: [other(c.mrSignerSeam)] })],
    ['T35', '/xfam', () => ({ xfam: ['0x0000000000000003'] })],
    ['T34', '/tdAttributes', () => ({ tdAttributes: { value: '0x0000000000000000', mask: '0x0000000010000000' } })],
  ];
  for (const [check, path, change] of cases) {
    it(`negative ${check}: ${path} not in the allowlist`, () => {
      const v = expectOnly(evaluatePolicy(r(), pinned(tdx(r()), change(tdx(r())))), check, path);
      expect(v.actual).toBeDefined();
    });
  }

  it('T36: any entry of an any-of list matches', () => {
    const c = tdx(r());
    expectOk(evaluatePolicy(r(), pinned(c, { mrTd: [other(c.mrTd), c.mrTd] })));
  });

  it('T39: module SVN (TEE_TCB_SVN[1] * 256 + [0]) exact and minimum', () => {
    const c = tdx(r());
    const svn = parseInt(c.teeTcbSvn.slice(2, 4), 16) * 256 + parseInt(c.teeTcbSvn.slice(0, 2), 16);
    expect(svn).toBe(0x0106);
    expectOk(evaluatePolicy(r(), pinned(c, { seamSvn: [svn], minSeamSvn: svn })));
    expect(expectOnly(evaluatePolicy(r(), pinned(c, { seamSvn: [svn - 1] })), 'T39', '/seamSvn').actual).toBe(svn);
    expectOnly(evaluatePolicy(r(), pinned(c, { minSeamSvn: svn + 1 })), 'T39', '/minSeamSvn');
  });

  it('T41: REPORT_DATA from the policy, all 64 bytes, class BINDING', () => {
    const c = tdx(r());
    const v = expectOnly(evaluatePolicy(r(), pinned(c, { reportData: other(c.reportData) })), 'T41', '/reportData', 'BINDING');
    expect(v.actual).toBe(c.reportData);
  });

  it('T41: REPORT_DATA from the request (bytes or hex); both sources are checked when both are given', () => {
    const c = tdx(r());
    const bytes = Uint8Array.from(Buffer.from(c.reportData, 'hex'));
    expectOk(evaluatePolicy(r(), defaultPolicy('tdx'), { reportData: bytes }));
    expectOk(evaluatePolicy(r(), defaultPolicy('tdx'), { reportData: c.reportData.toUpperCase() }));
    expectOnly(evaluatePolicy(r(), defaultPolicy('tdx'), { reportData: other(c.reportData) }), 'T41', '/reportData', 'BINDING');
    const both = evaluatePolicy(r(), pinned(c, { reportData: other(c.reportData) }), { reportData: other(other(c.reportData)) });
    expect(both.violations.map((v) => v.check)).toEqual(['T41', 'T41']);
  });

  it('T41: an expected REPORT_DATA that is not exactly 64 bytes is an argument error, never padded', () => {
    for (const bad of [new Uint8Array(32), new Uint8Array(65), 'ab'.repeat(32), 'zz'.repeat(64)]) {
      const err = catchError(() => evaluatePolicy(r(), defaultPolicy('tdx'), { reportData: bad }));
      expect({ code: err.code, errorClass: err.errorClass, check: err.check }).toEqual({ code: 'ERR_INVALID_ARGUMENT', errorClass: 'ARGUMENT', check: 'T41' });
    }
  });
});

describe.skipIf(!HAVE_VECTORS)('T40 on a genuine v5 quote (go-tdx-guest/quote_v5_sample)', () => {
  it('MRSERVICETD is zero: the default accepts it; a policy expecting a service TD rejects it', () => {
    const r = realIntelResult(TDX_V5);
    expect(tdx(r).mrServiceTd).toBe(hex(0, 48));
    expectOk(evaluatePolicy(r, defaultPolicy('tdx')));
    expectOnly(evaluatePolicy(r, loadPolicy({ ...ANY_TDX, mrServiceTd: [hex(0x5e, 48)] })), 'T40', '/mrServiceTd');
    expectOk(evaluatePolicy(r, loadPolicy({ ...ANY_TDX, mrServiceTd: 'any' })));
  });
});

describe('T34 and T40 on the synthetic platform', () => {
  it('T34 negative: DEBUG (bit 0) is a violation under the default policy', () => {
    const r = syntheticTdx({ quote: { tdBody: { tdAttributes: 0x10000001n } } });
    expect(tdx(r).debug).toBe(true);
    expectOnly(evaluatePolicy(r, defaultPolicy('tdx')), 'T34', '/allowDebug');
  });

  it('T34 positive: allowDebug accepts it, with a warning', () => {
    const r = syntheticTdx({ quote: { tdBody: { tdAttributes: 0x10000001n } } });
    const a = evaluatePolicy(r, loadPolicy({ ...ANY_TDX, allowDebug: true }));
    expectOk(a);
    expect(a.warnings.some((w) => w.startsWith('T34: debug TD accepted'))).toBe(true);
  });

  it('T34 negative: a TUD bit (7:1) counts as debug', () => {
    const r = syntheticTdx({ quote: { tdBody: { tdAttributes: 0x10000004n } } });
    expect(tdx(r).debug).toBe(false);
    expectOnly(evaluatePolicy(r, defaultPolicy('tdx')), 'T34', '/allowDebug');
  });

  it('T34: MIGRATABLE (bit 29) is rejected unless allowed', () => {
    const r = syntheticTdx({ quote: { tdBody: { tdAttributes: 0x30000000n } } });
    expectOnly(evaluatePolicy(r, defaultPolicy('tdx')), 'T34', '/allowMigratable');
    expectOk(evaluatePolicy(r, loadPolicy({ ...ANY_TDX, allowMigratable: true })));
  });

  it('T34: SEPT_VE_DISABLE (bit 28) when required', () => {
    const off = syntheticTdx({ quote: { tdBody: { tdAttributes: 0n } } });
    const on = syntheticTdx();
    const p = loadPolicy({ ...ANY_TDX, requireSeptVeDisable: true });
    expectOnly(evaluatePolicy(off, p), 'T34', '/requireSeptVeDisable');
    expectOk(evaluatePolicy(on, p));
    // required by default since review s13 (policy #3): checklist T34 "required by default"
    expectOnly(evaluatePolicy(off, defaultPolicy('tdx')), 'T34', '/requireSeptVeDisable');
    const relaxed = evaluatePolicy(off, loadPolicy({ ...ANY_TDX, requireSeptVeDisable: false }));
    expectOk(relaxed);
    expect(relaxed.warnings).toHaveLength(1);
    expect(relaxed.warnings[0]!.startsWith('T34: TD without SEPT_VE_DISABLE accepted by the policy')).toBe(true);
  });

  it('T34: the pinned TDATTRIBUTES value catches a bit a table would miss (PKS, bit 30)', () => {
    const r = syntheticTdx({ quote: { tdBody: { tdAttributes: 0x50000000n } } });
    expectOk(evaluatePolicy(r, defaultPolicy('tdx')));
    const v = expectOnly(evaluatePolicy(r, loadPolicy({ ...ANY_TDX, tdAttributes: { value: '0x0000000010000000' } })), 'T34', '/tdAttributes');
    expect(v.actual).toBe('0x0000000050000000');
    expectOk(evaluatePolicy(r, loadPolicy({ ...ANY_TDX, tdAttributes: { value: '0x0000000010000000', mask: '0xffffffffbfffffff' } })));
  });

  it('T35: XFAM allowlist', () => {
    const r = syntheticTdx();
    expectOk(evaluatePolicy(r, loadPolicy({ ...ANY_TDX, xfam: ['0x00000000000206e7'] })));
    expectOnly(evaluatePolicy(r, loadPolicy({ ...ANY_TDX, xfam: ['0x00000000000602e7'] })), 'T35', '/xfam');
  });

  it('T40: a v5 body type 3 quote binding a service TD is rejected by default, accepted when expected', () => {
    const service = new Uint8Array(48).fill(0x5e);
    const r = syntheticTdx({ version: 5, bodyType: 3, quote: { tdBody: { mrServiceTd: service } } });
    expect(tdx(r).mrServiceTd).toBe(hex(0x5e, 48));
    expectOnly(evaluatePolicy(r, defaultPolicy('tdx')), 'T40', '/mrServiceTd');
    expectOk(evaluatePolicy(r, loadPolicy({ ...ANY_TDX, mrServiceTd: [hex(0x5e, 48)] })));
  });

  it('T40: a v4 quote has no MRSERVICETD, i.e. binds no service TD: zero for the policy, never a skip', () => {
    const r = syntheticTdx();
    expect(tdx(r).mrServiceTd).toBeUndefined();
    expectOk(evaluatePolicy(r, defaultPolicy('tdx')));
    expect(expectOnly(evaluatePolicy(r, loadPolicy({ ...ANY_TDX, mrServiceTd: [hex(0x5e, 48)] })), 'T40', '/mrServiceTd').actual).toBe(hex(0, 48));
  });
});
