/**
 * T45 and the collateral identity of the result. Expired collateral is a
 * failure, never "success with an expiration flag" as QvE reports it (V39):
 * every artifact used must be inside its own recorded window at `now` (the
 * window the collateral layer computed: the artifact's dates intersected with
 * its issuer chain's). The identity lists what was used and the earliest
 * expiry, after which the result must not be used (X16), and the earliest
 * certificate expiry (PCK chain and TCB Signing certificates), which no
 * policy grace extends.
 */
import { isWithinWindow, type CollateralArtifact } from '../../collateral/artifact.js';
import type { CertificateInfo, CrlInfo } from '../../x509/index.js';
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

/** Epoch ms of a window's ISO text, read once per distinct string (strings are immutable). */
const instants = new Map<string, number>();

function instantMs(iso: string): number {
  let ms = instants.get(iso);
  if (ms === undefined) {
    ms = Date.parse(iso);
    if (instants.size >= 1024) instants.clear();
    instants.set(iso, ms);
  }
  return ms;
}

function earliestEnd(
  artifacts: readonly CollateralArtifact[],
  certificates: readonly CertificateInfo[],
  documents: readonly (TcbInfo | QeIdentity | undefined)[],
  crls: readonly (CrlInfo | undefined)[] = [],
): number {
  let min = Number.POSITIVE_INFINITY;
  for (const a of artifacts) min = Math.min(min, instantMs(a.validity.notAfter));
  for (const c of certificates) min = Math.min(min, c.notAfter.getTime());
  for (const d of documents) if (d) min = Math.min(min, d.nextUpdate.getTime());
  // The CRLs' own nextUpdate, not only the window the caller declared for their artifacts (review s14
  // verifiers #1: a hand-built window let X16 accept a result after its PCK CRL expired).
  for (const c of crls) if (c?.nextUpdate) min = Math.min(min, c.nextUpdate.getTime());
  return min;
}

export function collateralIdentity(
  artifacts: readonly CollateralArtifact[],
  certificates: readonly CertificateInfo[],
  tcbInfo: TcbInfo,
  qeIdentity: QeIdentity | undefined,
  crls: readonly (CrlInfo | undefined)[] = [],
): CollateralIdentity {
  const identity: CollateralIdentity = {
    artifacts: artifacts.map((a) => {
      const used: CollateralIdentity['artifacts'][number] = { key: a.key, kind: a.kind, origin: a.source.origin, notBefore: a.validity.notBefore, notAfter: a.validity.notAfter };
      if (a.sequence !== undefined) used.sequence = a.sequence;
      return used;
    }),
    earliestExpiry: new Date(earliestEnd(artifacts, certificates, [tcbInfo, qeIdentity], crls)).toISOString(),
    // X16: what no grace extends (review s13 policy #4)
    certificateExpiry: new Date(earliestEnd([], certificates, [])).toISOString(),
    tcbInfoIssueDate: tcbInfo.issueDate.toISOString(),
    tcbEvaluationDataNumber: tcbInfo.tcbEvaluationDataNumber,
  };
  if (qeIdentity) {
    identity.qeIdentityIssueDate = qeIdentity.issueDate.toISOString();
    identity.qeIdentityEvaluationDataNumber = qeIdentity.tcbEvaluationDataNumber;
  }
  return identity;
}
