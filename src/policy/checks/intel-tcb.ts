/**
 * Intel TCB policy (checklist §2.7, T33, T46, T18, X13): the verifier returns
 * the converged status and advisories; the policy decides. Revoked is never
 * acceptable, whatever the policy lists.
 */
import type { VerificationResult } from '../../verify/types.js';
import type { IntelTcbPolicy } from '../types.js';
import type { Findings } from './findings.js';

export function checkIntelTcb(result: VerificationResult, tcb: IntelTcbPolicy, f: Findings): void {
  const status = result.tcbStatus;
  if (status === 'Revoked') {
    // T33: Revoked never acceptable (the verifier already throws REVOKED; judged again here, fail closed)
    f.fail('/tcb/acceptedStatuses', 'T33', 'REVOKED', 'not Revoked', status, 'the TCB level is Revoked');
  } else if (status === undefined || !(tcb.acceptedStatuses as readonly string[]).includes(status)) {
    // T33 / T46 / X13: a non-accepted status is a refusal, with the status reported
    f.fail('/tcb/acceptedStatuses', 'T33', 'TCB_STATUS', tcb.acceptedStatuses, status ?? null, `TCB status ${status ?? '(none)'} is not accepted by the policy`);
  } else if (status !== 'UpToDate') {
    f.warn('T33', `TCB status ${status} accepted by the policy${result.advisoryIds.length > 0 ? ` (advisories ${result.advisoryIds.join(', ')})` : ''}`);
  }
  // §2.7: SWHardeningNeeded / Configuration* only when every advisory is allowlisted
  if (tcb.acceptedAdvisoryIds !== undefined) {
    const unlisted = result.advisoryIds.filter((a) => !tcb.acceptedAdvisoryIds!.includes(a));
    if (unlisted.length > 0) f.fail('/tcb/acceptedAdvisoryIds', 'T33', 'TCB_STATUS', tcb.acceptedAdvisoryIds, unlisted, `advisories not accepted by the policy: ${unlisted.join(', ')}`);
  }
  // §2.7: advisories the policy rejects outright
  if (tcb.rejectedAdvisoryIds !== undefined) {
    const hit = result.advisoryIds.filter((a) => tcb.rejectedAdvisoryIds!.includes(a));
    if (hit.length > 0) f.fail('/tcb/rejectedAdvisoryIds', 'T33', 'TCB_STATUS', { none: tcb.rejectedAdvisoryIds }, hit, `rejected advisories present: ${hit.join(', ')}`);
  }
  if (tcb.minTcbEvaluationDataNumber !== undefined) checkEvaluationMinimum(result, tcb.minTcbEvaluationDataNumber, f);
}

/**
 * T18 / T21: minimum tcbEvaluationDataNumber (dates alone do not stop a
 * rollback to older collateral) for the TCB info and for the QE identity,
 * whose levels grade the QE. A QE identity that was used (its issue date is
 * stated) but whose number the result does not state fails closed: such a
 * result was produced before the verifier recorded the number, and only a new
 * verification can say it; the message says so. One skipped by the
 * verifier's skipQeIdentity relaxation (a warning there) has no number to judge.
 */
function checkEvaluationMinimum(result: VerificationResult, minimum: number, f: Findings): void {
  const c = result.collateral;
  const documents = [
    { check: 'T18', artifact: 'tcbInfo', what: 'TCB info', n: c.tcbEvaluationDataNumber, used: true },
    { check: 'T21', artifact: 'qeIdentity', what: 'QE identity', n: c.qeIdentityEvaluationDataNumber, used: c.qeIdentityIssueDate !== undefined || c.qeIdentityEvaluationDataNumber !== undefined },
  ];
  for (const { check, artifact, what, n, used } of documents) {
    if (!used || (n !== undefined && n >= minimum)) continue;
    const message =
      n === undefined
        ? `the result states no ${what} tcbEvaluationDataNumber (it was produced before results recorded it): verify the evidence again to apply the policy's minimum ${minimum}`
        : `${what} tcbEvaluationDataNumber ${n} is below the policy's minimum ${minimum}`;
    f.fail('/tcb/minTcbEvaluationDataNumber', check, 'COLLATERAL_MISMATCH', { minimum, artifact }, n ?? null, message);
  }
}
