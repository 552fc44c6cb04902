/**
 * Intel TCB status policy (T33, T46, X13, §2.7), evaluation data number (T18)
 * and collateral freshness (X02, X16, the clarifications' grace period), on
 * the shared vectors' real statuses and collateral windows and on synthetic
 * TCB levels.
 */
import { describe, expect, it } from 'vitest';

import { defaultPolicy, evaluatePolicy, loadPolicy } from '../../src/policy/index.js';
import type { VerificationResult } from '../../src/verify/types.js';
import { catchError } from '../helpers/expect-error.js';
import { HAVE_VECTORS, SGX_CONFIG_SW, TDX_OUTOFDATE, TDX_UPTODATE, expectOk, expectOnly, pairs, realIntelResult, withTopLevelStatus } from './helpers.js';

const ANY_TDX = { tee: 'tdx', mrTd: 'any', mrConfigId: 'any', mrOwner: 'any', mrOwnerConfig: 'any' };
const ANY_SGX = { tee: 'sgx', mrEnclave: 'any', mrSigner: 'any' };
const DAY = 24 * 3600;

describe.skipIf(!HAVE_VECTORS)('manifest outcome: the OutOfDate shared vector (trustee/tdx_quote_6)', () => {
  it('verifies with status OutOfDate, and the default policy gives ok: false with one T33 TCB_STATUS violation', () => {
    const r = realIntelResult(TDX_OUTOFDATE);
    expect(r.tcbStatus).toBe('OutOfDate');
    expect(r.advisoryIds).toEqual([]);
    const a = evaluatePolicy(r, defaultPolicy('tdx'));
    const v = expectOnly(a, 'T33', '/tcb/acceptedStatuses', 'TCB_STATUS');
    expect(v.expected).toEqual(['UpToDate']);
    expect(v.actual).toBe('OutOfDate');
  });

  it('a policy that accepts OutOfDate passes it, with a warning (the status is never silently accepted)', () => {
    const a = evaluatePolicy(realIntelResult(TDX_OUTOFDATE), loadPolicy({ ...ANY_TDX, tcb: { acceptedStatuses: ['UpToDate', 'OutOfDate'] } }));
    expectOk(a);
    expect(a.warnings).toEqual(['T33: TCB status OutOfDate accepted by the policy']);
  });
});

describe.skipIf(!HAVE_VECTORS)('statuses and advisories on the genuine SGX quote (ConfigurationAndSWHardeningNeeded, INTEL-SA-00289, -00615)', () => {
  let result: VerificationResult;
  const r = () => (result ??= realIntelResult(SGX_CONFIG_SW));
  const accepting = { acceptedStatuses: ['ConfigurationAndSWHardeningNeeded'] };

  it('the default policy refuses the status (T33)', () => {
    expect(r().advisoryIds).toEqual(['INTEL-SA-00289', 'INTEL-SA-00615']);
    expectOnly(evaluatePolicy(r(), defaultPolicy('sgx')), 'T33', '/tcb/acceptedStatuses', 'TCB_STATUS');
  });

  it('§2.7: accepted only when every advisory is on the accepted list', () => {
    const v = expectOnly(evaluatePolicy(r(), loadPolicy({ ...ANY_SGX, tcb: { ...accepting, acceptedAdvisoryIds: ['INTEL-SA-00289'] } })), 'T33', '/tcb/acceptedAdvisoryIds', 'TCB_STATUS');
    expect(v.actual).toEqual(['INTEL-SA-00615']);
    const a = evaluatePolicy(r(), loadPolicy({ ...ANY_SGX, tcb: { ...accepting, acceptedAdvisoryIds: ['INTEL-SA-00289', 'INTEL-SA-00615'] } }));
    expectOk(a);
    expect(a.warnings[0]).toBe('T33: TCB status ConfigurationAndSWHardeningNeeded accepted by the policy (advisories INTEL-SA-00289, INTEL-SA-00615)');
  });

  it('§2.7: a rejected advisory is a violation even when the status is accepted', () => {
    const v = expectOnly(evaluatePolicy(r(), loadPolicy({ ...ANY_SGX, tcb: { ...accepting, rejectedAdvisoryIds: ['INTEL-SA-00615', 'INTEL-SA-00837'] } })), 'T33', '/tcb/rejectedAdvisoryIds', 'TCB_STATUS');
    expect(v.actual).toEqual(['INTEL-SA-00615']);
  });
});

describe('statuses on the synthetic platform', () => {
  it('SWHardeningNeeded with an allowlisted advisory: accepted when the policy lists both', () => {
    const r = withTopLevelStatus('SWHardeningNeeded', ['INTEL-SA-00837']);
    expect(r.tcbStatus).toBe('SWHardeningNeeded');
    expectOnly(evaluatePolicy(r, defaultPolicy('tdx')), 'T33', '/tcb/acceptedStatuses', 'TCB_STATUS');
    expectOk(evaluatePolicy(r, loadPolicy({ ...ANY_TDX, tcb: { acceptedStatuses: ['UpToDate', 'SWHardeningNeeded'], acceptedAdvisoryIds: ['INTEL-SA-00837'] } })));
  });

  it('T33: Revoked is never acceptable, whatever the policy accepts (class REVOKED)', () => {
    // The verifier throws REVOKED itself; no builder yields a Revoked result, so the status is set on a verified one.
    const r: VerificationResult = { ...withTopLevelStatus('UpToDate', []), tcbStatus: 'Revoked' };
    const everything = ['UpToDate', 'SWHardeningNeeded', 'ConfigurationNeeded', 'ConfigurationAndSWHardeningNeeded', 'OutOfDate', 'OutOfDateConfigurationNeeded', 'TD_RELAUNCH_ADVISED', 'TD_RELAUNCH_ADVISED_CONFIGURATION_NEEDED'];
    expectOnly(evaluatePolicy(r, loadPolicy({ ...ANY_TDX, tcb: { acceptedStatuses: everything } })), 'T33', '/tcb/acceptedStatuses', 'REVOKED');
  });
});

describe.skipIf(!HAVE_VECTORS)('T18 and collateral freshness on genuine collateral (phala-dcap-qvl/tdx_quote at 2025-07-19T10:00:34Z)', () => {
  let result: VerificationResult;
  const r = () => (result ??= realIntelResult(TDX_UPTODATE));

  it('T18 / T21: minimum tcbEvaluationDataNumber of the TCB info and of the QE identity (the vector\'s are both 17)', () => {
    expect(r().collateral).toMatchObject({ tcbEvaluationDataNumber: 17, qeIdentityEvaluationDataNumber: 17 });
    expectOk(evaluatePolicy(r(), loadPolicy({ ...ANY_TDX, tcb: { minTcbEvaluationDataNumber: 17 } })));
    const a = evaluatePolicy(r(), loadPolicy({ ...ANY_TDX, tcb: { minTcbEvaluationDataNumber: 18 } }));
    expect(pairs(a)).toEqual([['T18', '/tcb/minTcbEvaluationDataNumber'], ['T21', '/tcb/minTcbEvaluationDataNumber']]);
    expect(a.violations.map((v) => [v.errorClass, v.expected, v.actual])).toEqual([
      ['COLLATERAL_MISMATCH', { minimum: 18, artifact: 'tcbInfo' }, 17],
      ['COLLATERAL_MISMATCH', { minimum: 18, artifact: 'qeIdentity' }, 17],
    ]);
  });

  it('T21: a QE identity below the minimum fails on its own, named as the QE identity', () => {
    const policy = loadPolicy({ ...ANY_TDX, tcb: { minTcbEvaluationDataNumber: 17 } });
    const olderQe: VerificationResult = { ...r(), collateral: { ...r().collateral, qeIdentityEvaluationDataNumber: 16 } };
    const v = expectOnly(evaluatePolicy(olderQe, policy), 'T21', '/tcb/minTcbEvaluationDataNumber', 'COLLATERAL_MISMATCH');
    expect([v.expected, v.actual]).toEqual([{ minimum: 17, artifact: 'qeIdentity' }, 16]);
    expect(v.message).toContain('QE identity');
    // A QE identity was used but its number is not stated: fail closed.
    const { qeIdentityEvaluationDataNumber: _unstated, ...withoutNumber } = r().collateral;
    expect(expectOnly(evaluatePolicy({ ...r(), collateral: withoutNumber }, policy), 'T21', '/tcb/minTcbEvaluationDataNumber', 'COLLATERAL_MISMATCH').actual).toBeNull();
    // No QE identity used at all (the verifier's skipQeIdentity relaxation, a warning there): nothing to judge.
    const { qeIdentityIssueDate: _date, ...noQe } = withoutNumber;
    expectOk(evaluatePolicy({ ...r(), collateral: noQe }, policy));
  });

  it('X02: maximum collateral age judges TCB info, QE identity and PCK CRL (not the yearly Root CA CRL)', () => {
    // Issued 2025-06-19 (about 30 days before the instant); the Root CA CRL on 2025-03-20.
    expectOk(evaluatePolicy(r(), loadPolicy({ ...ANY_TDX, collateral: { maxAgeSeconds: 31 * DAY } })));
    const a = evaluatePolicy(r(), loadPolicy({ ...ANY_TDX, collateral: { maxAgeSeconds: 7 * DAY } }));
    expect(pairs(a)).toEqual(Array(3).fill(['X02', '/collateral/maxAgeSeconds']));
    expect(a.violations.map((v) => (v.actual as { artifact: string }).artifact)).toEqual(['intel/tcb-info/tdx/b0c06f000000/update=standard', 'intel/qe-identity/tdx/update=standard', 'intel/pck-crl/platform']);
    expect(a.violations.every((v) => v.errorClass === 'EXPIRED')).toBe(true);
  });

  it('X02: age is measured at options.now, when the decision comes later than the verification', () => {
    // The PCK CRL was issued 2025-06-19T10:00:35Z: 2591999 s before the instant.
    const p = loadPolicy({ ...ANY_TDX, collateral: { maxAgeSeconds: 2591999 } });
    expectOk(evaluatePolicy(r(), p));
    const v = expectOnly(evaluatePolicy(r(), p, { now: new Date(Date.parse(r().at) + 1000) }), 'X02', '/collateral/maxAgeSeconds', 'EXPIRED');
    expect(v.actual).toEqual({ artifact: 'intel/pck-crl/platform', issued: '2025-06-19T10:00:35.000Z', ageSeconds: 2592000 });
  });

  it('X16: a result used after its earliest collateral expiry is a violation; an explicit grace turns it into warnings', () => {
    const after = new Date(Date.parse(r().collateral.earliestExpiry) + 3600 * 1000);
    const a = evaluatePolicy(r(), defaultPolicy('tdx'), { now: after });
    expect(a.ok).toBe(false);
    expect(a.violations.every((v) => v.check === 'X16' && v.errorClass === 'EXPIRED' && v.path === '/collateral/expiryGraceSeconds')).toBe(true);
    expect(a.violations.length).toBe(3); // PCK CRL, TCB info and QE identity all expire on 2025-07-19
    const g = evaluatePolicy(r(), loadPolicy({ ...ANY_TDX, collateral: { expiryGraceSeconds: 2 * 3600 } }), { now: after });
    expectOk(g);
    expect(g.warnings.length).toBe(3);
    expect(g.warnings.every((w) => w.startsWith('X02: grace period used: '))).toBe(true);
    // 30 minutes of grace: the QE identity (expired 28 min before) is within it, PCK CRL and TCB info are not.
    const short = evaluatePolicy(r(), loadPolicy({ ...ANY_TDX, collateral: { expiryGraceSeconds: 1800 } }), { now: after });
    expect(short.violations.map((v) => v.check)).toEqual(['X16', 'X16']);
    expect(short.warnings).toHaveLength(1);
  });

  it('grace the collateral layer applied counts only when the policy names a grace period', () => {
    const withGrace: VerificationResult = { ...r(), warnings: [...r().warnings, 'grace period used: intel/pck-crl/platform expired at 2025-07-19T10:00:35.000Z'] };
    expectOnly(evaluatePolicy(withGrace, defaultPolicy('tdx')), 'X02', '/collateral/expiryGraceSeconds', 'EXPIRED');
    const a = evaluatePolicy(withGrace, loadPolicy({ ...ANY_TDX, collateral: { expiryGraceSeconds: 3600 } }));
    expectOk(a);
    expect(a.warnings[0]?.startsWith('X02: grace period used: intel/pck-crl/platform')).toBe(true);
  });

  it('options.now before the verification instant, or not a date, is an argument error', () => {
    for (const now of [new Date(Date.parse(r().at) - 1000), new Date(Number.NaN)]) {
      const err = catchError(() => evaluatePolicy(r(), defaultPolicy('tdx'), { now }));
      expect(err.code).toBe('ERR_INVALID_ARGUMENT');
    }
  });
});

describe('X16 on a certificate', () => {
  it('a result whose earliest expiry is a certificate is unusable after it, whatever the grace', () => {
    const r = withTopLevelStatus('UpToDate', []);
    // The synthetic PCK chain outlives the collateral; move the earliest expiry onto a certificate instant.
    const cert: VerificationResult = { ...r, collateral: { ...r.collateral, earliestExpiry: new Date(Date.parse(r.at) + 1000).toISOString() } };
    const later = new Date(Date.parse(r.at) + 2000);
    expectOnly(evaluatePolicy(cert, loadPolicy({ ...ANY_TDX, collateral: { expiryGraceSeconds: 3600 } }), { now: later }), 'X16', '/collateral/expiryGraceSeconds', 'EXPIRED');
    expectOk(evaluatePolicy(cert, defaultPolicy('tdx')));
  });
});
