/**
 * T21 / T18 policy minimum on a result that does not state an evaluation data
 * number (review 2, session 5): a result produced before
 * qeIdentityEvaluationDataNumber existed names a QE identity (its issue date)
 * but not its number. It fails closed, and the message says why and what to do
 * (verify again), instead of "(unknown) is below the minimum".
 */
import { describe, expect, it } from 'vitest';

import { evaluatePolicy, loadPolicy } from '../../src/policy/index.js';
import type { VerificationResult } from '../../src/verify/types.js';
import { expectOk, expectOnly, syntheticTdx } from './helpers.js';

const ANY_TDX = { tee: 'tdx', mrTd: 'any', mrConfigId: 'any', mrOwner: 'any', mrOwnerConfig: 'any' };
const policy = loadPolicy({ ...ANY_TDX, tcb: { minTcbEvaluationDataNumber: 17 } });

describe('minTcbEvaluationDataNumber on a result that predates the QE identity number', () => {
  const r = syntheticTdx();

  it('control: the synthetic result states both numbers (17) and meets the minimum', () => {
    expect(r.collateral).toMatchObject({ tcbEvaluationDataNumber: 17, qeIdentityEvaluationDataNumber: 17 });
    expect(r.collateral.qeIdentityIssueDate).toBeDefined();
    expectOk(evaluatePolicy(r, policy));
  });

  it('QE identity used (issue date stated), number absent: T21 fails, saying the result lacks it and must be re-verified', () => {
    const { qeIdentityEvaluationDataNumber: _absent, ...older } = r.collateral;
    const old: VerificationResult = { ...r, collateral: older };
    const v = expectOnly(evaluatePolicy(old, policy), 'T21', '/tcb/minTcbEvaluationDataNumber', 'COLLATERAL_MISMATCH');
    expect([v.expected, v.actual]).toEqual([{ minimum: 17, artifact: 'qeIdentity' }, null]);
    expect(v.message).toContain('states no QE identity tcbEvaluationDataNumber');
    expect(v.message).toContain('verify the evidence again');
    expect(v.message).not.toContain('(unknown)');
  });

  it('a stated number below the minimum keeps its own message', () => {
    const low: VerificationResult = { ...r, collateral: { ...r.collateral, qeIdentityEvaluationDataNumber: 16 } };
    const v = expectOnly(evaluatePolicy(low, policy), 'T21', '/tcb/minTcbEvaluationDataNumber', 'COLLATERAL_MISMATCH');
    expect(v.message).toBe("T21: QE identity tcbEvaluationDataNumber 16 is below the policy's minimum 17");
  });
});
