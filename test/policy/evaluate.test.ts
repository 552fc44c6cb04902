/**
 * evaluatePolicy as a whole: every violation reported at once (never just the
 * first), a TEE mismatch as exactly one violation (X07), arguments checked,
 * results and policies left untouched.
 */
import { describe, expect, it } from 'vitest';

import { defaultPolicy, evaluatePolicy, loadPolicy, type Policy } from '../../src/policy/index.js';
import type { VerificationResult } from '../../src/verify/types.js';
import { catchError } from '../helpers/expect-error.js';
import { HAVE_VECTORS, SNP_MILAN, TDX_UPTODATE, expectOnly, hex, pairs, realIntelResult, realSnpResult, syntheticSgx, syntheticSnp, syntheticTdx, withTopLevelStatus } from './helpers.js';

describe('every violation at once', () => {
  it('SEV-SNP: a report failing a dozen rules yields all of them, in evaluation order', () => {
    const r = syntheticSnp({
      signingKey: 'vlek',
      report: {
        policy: 0x30000n | (1n << 19n) | (1n << 18n) | (1n << 21n), // DEBUG, MIGRATE_MA, CXL_ALLOW
        reportIdMa: new Uint8Array(32).fill(0x11),
        vmpl: 2,
        platformInfo: 0x01n,
        committedVersion: { major: 1, minor: 55, build: 20 },
      },
    });
    const policy = loadPolicy({
      tee: 'snp',
      measurement: [hex(0x01, 48)],
      hostData: [hex(0x02, 32)],
      familyId: [hex(0x03, 16)],
      vmpl: [0],
      products: ['Genoa'],
      platformInfo: { aliasCheckComplete: true },
      tcbMinimums: { Milan: { reported: { snp: 0xff } }, Genoa: { reported: { snp: 0 } } },
      reportData: hex(0x04, 64),
    });
    expect(pairs(evaluatePolicy(r, policy))).toEqual([
      ['S06', '/products'],
      ['S32', '/signingKeys'],
      ['S25', '/measurement'],
      ['S26', '/hostData'],
      ['S27', '/familyId'],
      ['S21', '/allowDebug'],
      ['S22', '/allowMigrationAgent'],
      ['S22', '/guestPolicy/allowCxl'],
      ['S23', '/platformInfo/aliasCheckComplete'],
      ['S24', '/vmpl'],
      ['S28', '/allowMigrationAgent'],
      ['S17', '/tcbMinimums/Milan/reported/snp'],
      ['S18', '/tcbMinimums/Milan/reported/snp (launch)'],
      ['S19', '/allowProvisionalFirmware'],
      ['S29', '/reportData'],
    ]);
  });

  it('TDX: attributes, measurements, status and binding together', () => {
    const r = syntheticTdx({ quote: { tdBody: { tdAttributes: 0x20000001n } }, tcbInfo: { mutate: (doc) => ((doc['tcbLevels'] as Record<string, unknown>[])[0]!['tcbStatus'] = 'OutOfDate') } });
    expect(r.tcbStatus).toBe('OutOfDate');
    const policy = loadPolicy({ tee: 'tdx', mrTd: [hex(1, 48)], rtmr3: [hex(2, 48)], mrConfigId: [hex(3, 48)], mrOwner: 'any', mrOwnerConfig: 'any', xfam: ['0x0000000000000003'] });
    const a = evaluatePolicy(r, policy, { reportData: new Uint8Array(64) });
    expect(a.ok).toBe(false);
    expect(pairs(a)).toEqual([
      ['T34', '/allowDebug'],
      ['T34', '/allowMigratable'],
      ['T34', '/requireSeptVeDisable'], // 0x20000001 lacks bit 28, required by default since review s13
      ['T35', '/xfam'],
      ['T36', '/mrTd'],
      ['T37', '/rtmr3'],
      ['T38', '/mrConfigId'],
      ['T33', '/tcb/acceptedStatuses'],
      ['T41', '/reportData'],
    ]);
    for (const v of a.violations) {
      expect(typeof v.message).toBe('string');
      expect(v).toHaveProperty('expected');
      expect(v).toHaveProperty('actual');
    }
  });
});

describe('X07: a policy for one TEE is never met by evidence of another', () => {
  const tdxPolicy = loadPolicy({ tee: 'tdx', mrTd: 'any', mrConfigId: 'any', mrOwner: 'any', mrOwnerConfig: 'any' });

  it('SNP evidence against a TDX policy: exactly one violation', () => {
    const v = expectOnly(evaluatePolicy(syntheticSnp(), tdxPolicy), 'X07', '/tee');
    expect({ expected: v.expected, actual: v.actual }).toEqual({ expected: 'tdx', actual: 'snp' });
  });

  it('SGX against TDX, TDX against SNP, TDX against SGX', () => {
    expectOnly(evaluatePolicy(syntheticSgx(), tdxPolicy), 'X07', '/tee');
    expectOnly(evaluatePolicy(syntheticTdx(), defaultPolicy('snp')), 'X07', '/tee');
    expectOnly(evaluatePolicy(syntheticTdx(), defaultPolicy('sgx')), 'X07', '/tee');
  });

  it.skipIf(!HAVE_VECTORS)('genuine evidence too', () => {
    expectOnly(evaluatePolicy(realSnpResult(SNP_MILAN), defaultPolicy('tdx')), 'X07', '/tee');
    expectOnly(evaluatePolicy(realIntelResult(TDX_UPTODATE), defaultPolicy('snp')), 'X07', '/tee');
  });
});

describe('evaluatePolicy contract', () => {
  it('the appraisal names the policy\'s TEE and id', () => {
    const a = evaluatePolicy(syntheticTdx(), loadPolicy({ tee: 'tdx', id: 'kbs/model-a', mrTd: 'any', mrConfigId: 'any', mrOwner: 'any', mrOwnerConfig: 'any' }));
    expect(a).toEqual({ ok: true, violations: [], warnings: [], tee: 'tdx', policyId: 'kbs/model-a' });
    expect(evaluatePolicy(syntheticTdx(), defaultPolicy('tdx'))).not.toHaveProperty('policyId');
  });

  it('does not change the result or the policy', () => {
    const r = withTopLevelStatus('OutOfDate', ['INTEL-SA-00837']);
    const before = JSON.stringify(r);
    const policy = defaultPolicy('tdx');
    evaluatePolicy(r, policy, { reportData: new Uint8Array(64) });
    expect(JSON.stringify(r)).toBe(before);
    expect(policy).toEqual(defaultPolicy('tdx'));
  });

  it('arguments that are not a successful result or a policy are argument errors', () => {
    const r = syntheticTdx();
    const bad: [unknown, unknown][] = [
      [undefined, defaultPolicy('tdx')],
      [{ ...r, ok: false }, defaultPolicy('tdx')],
      [r, undefined],
    ];
    for (const [result, policy] of bad) {
      const err = catchError(() => evaluatePolicy(result as VerificationResult, policy as Policy));
      expect({ code: err.code, errorClass: err.errorClass }).toEqual({ code: 'ERR_INVALID_ARGUMENT', errorClass: 'ARGUMENT' });
    }
  });

  it('a policy object not made by this module is validated first: a valid document works, a half-formed one is ERR_POLICY_INVALID', () => {
    const r = syntheticTdx();
    const doc = { tee: 'tdx', mrTd: [hex(1, 48)], mrConfigId: 'any', mrOwner: 'any', mrOwnerConfig: 'any' };
    expectOnly(evaluatePolicy(r, doc as unknown as Policy), 'T36', '/mrTd');
    for (const half of [{ tee: 'tdx' }, { tee: 'sev' }, { ...defaultPolicy('tdx'), tcb: undefined }]) {
      const err = catchError(() => evaluatePolicy(r, half as unknown as Policy));
      expect({ code: err.code, errorClass: err.errorClass }).toEqual({ code: 'ERR_POLICY_INVALID', errorClass: 'ARGUMENT' });
    }
  });

  it('X08: a result of the wrong shape fails closed with a typed error, never a crash', () => {
    const r = syntheticTdx();
    const broken = { ...r, claims: { kind: 'tdx' } } as unknown as VerificationResult;
    const err = catchError(() => evaluatePolicy(broken, defaultPolicy('tdx')));
    expect({ code: err.code, check: err.check }).toEqual({ code: 'ERR_INVALID_ARGUMENT', check: 'X08' });
  });

  it('the same inputs give the same appraisal (no clock, no state)', () => {
    const r = withTopLevelStatus('SWHardeningNeeded', ['INTEL-SA-00837']);
    expect(evaluatePolicy(r, defaultPolicy('tdx'))).toEqual(evaluatePolicy(r, defaultPolicy('tdx')));
  });
});
