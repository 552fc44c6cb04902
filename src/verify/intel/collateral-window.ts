/**
 * T45 and the collateral identity of the result. Expired collateral is a
 * failure, never "success with an expiration flag" as QvE reports it (V39):
 * every artifact used must be inside its own recorded window at `now` (the
 * window the collateral layer computed: the artifact's dates intersected with
 * its issuer chain's). The identity lists what was used and the earliest
 * expiry, after which the result must not be used (X16).
 */
import { isWithinWindow, type CollateralArtifact } from '../../collateral/artifact.js';
import type { CertificateInfo } from '../../x509/index.js';
import { fail } from '../errors.js';
import { graceWarning, withinGrace } from '../grace.js';
import type { CollateralIdentity } from '../types.js';
import { passed, type VerifyContext } from './context.js';
import type { QeIdentity, TcbInfo } from './model.js';

/** T45: every artifact used is inside its recorded validity window. */
export function checkArtifactWindows(ctx: VerifyContext, artifacts: readonly CollateralArtifact[]): void {
  for (const a of artifacts) {
    // T45: isWithinWindow is NaN-safe (X01)
    if (isWithinWindow(a.validity, ctx.at)) continue;
    // Only the caller's explicit grace widens the window after its end (the
    // certificates that may bound it are checked without grace elsewhere).
    const end = new Date(a.validity.notAfter);
    if (Date.parse(a.validity.notBefore) <= ctx.nowMs && withinGrace(ctx.nowMs, end, ctx.collateralGraceMs)) {
      ctx.warnings.push(graceWarning('T45', `${a.kind} ${a.key}`, end, ctx.collateralGraceMs));
      continue;
    }
    fail('EXPIRED', 'T45', `${a.kind} ${a.key} is outside its validity window [${a.validity.notBefore}, ${a.validity.notAfter}]`, {
      artifact: a.key,
      ...a.validity,
      at: ctx.at.toISOString(),
    });
  }
  passed(ctx, 'T45', `all ${artifacts.length} collateral artifacts are inside their validity windows${ctx.collateralGraceMs > 0 ? ' (or the named grace period)' : ''}`);
}

export function collateralIdentity(
  artifacts: readonly CollateralArtifact[],
  certificates: readonly CertificateInfo[],
  tcbInfo: TcbInfo,
  qeIdentity: QeIdentity | undefined,
): CollateralIdentity {
  const ends = [...artifacts.map((a) => Date.parse(a.validity.notAfter)), ...certificates.map((c) => c.notAfter.getTime()), tcbInfo.nextUpdate.getTime()];
  if (qeIdentity) ends.push(qeIdentity.nextUpdate.getTime());
  const identity: CollateralIdentity = {
    artifacts: artifacts.map((a) => ({
      key: a.key,
      kind: a.kind,
      origin: a.source.origin,
      notBefore: a.validity.notBefore,
      notAfter: a.validity.notAfter,
      ...(a.sequence === undefined ? {} : { sequence: a.sequence }),
    })),
    earliestExpiry: new Date(Math.min(...ends)).toISOString(),
    tcbInfoIssueDate: tcbInfo.issueDate.toISOString(),
    tcbEvaluationDataNumber: tcbInfo.tcbEvaluationDataNumber,
  };
  if (qeIdentity) identity.qeIdentityIssueDate = qeIdentity.issueDate.toISOString();
  return identity;
}
