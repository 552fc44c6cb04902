/**
 * Collateral for one piece of evidence and its verification. The normal path
 * is the library's: verifyEvidence with the CollateralService (cache, validity
 * at the instant; a passing verification raises the rollback floors). With
 * --skip-crl, collateral that cannot be obtained is gathered again by the same
 * service artifact by artifact, CRLs optional
 * (CollateralService.forEvidenceCrlsOptional), and verified with the skipCrl
 * relaxation (the verifier reports each skipped CRL as a warning). Relaxing
 * the CRLs relaxes nothing else: the TCB info, QE identity and VCEK pass the
 * service's cache, bundle precedence, rollback floors (X03) and fetch budget.
 */
// Module paths, not the package index: batch workers load this with the verifier alone (no HTTP stack).
import type { AmdCollateralCrlsOptional, CollateralService, EvidenceCollateral, IntelCollateralCrlsOptional, SkippedArtifact } from '../collateral/service.js';
import { TeeVerifyError } from '../errors.js';
import type { SnpCertificateEntry } from '../evidence/cert-table.js';
import type { Evidence } from '../evidence/types.js';
import { verifyEvidence, verifyIntelQuote, verifySnpReport, type AmdCollateralInput, type IntelCollateralInput, type TrustRoots, type VerificationResult } from '../verify/index.js';
import { lagging, qeIdentityLag } from '../verify/qe-identity-lag.js';
import { splitPemCertificates } from '../x509/index.js';

export interface VerifyInputs {
  evidence: Evidence;
  at: Date;
  trustRoots?: TrustRoots;
  skipCrl: boolean;
  /** The policy's collateral grace period (seconds), passed to the verifier as its relaxation. */
  collateralGraceSeconds?: number;
  /** SEV-SNP report versions to accept (with --product: 2-5). */
  snpReportVersions?: number[];
  certTable: SnpCertificateEntry[];
}

/** The collateral service of the run: the first try and --skip-crl's second gathering both go through it. */
export interface CollateralAccess {
  service: CollateralService;
}

const isUnavailable = (err: unknown): err is TeeVerifyError => err instanceof TeeVerifyError && err.errorClass === 'COLLATERAL_UNAVAILABLE';

/**
 * Refusals by the collateral service's own protections, which no second gathering asks again: a
 * rollback (X03), an unreadable floor file (the floor in force unknown, X03) and the fetch budget
 * (the service's guard against hostile evidence). The second gathering goes through the same service
 * and would meet the same refusal; it is not even tried.
 */
const GUARD_REASONS: ReadonlySet<unknown> = new Set(['rollback', 'floor-unreadable', 'fetch-budget']);

/**
 * Whether a verification under --skip-crl that failed with `err` on the collateral service gathers
 * again with the CRLs optional: collateral unavailable, but not refused by one of the service's
 * guards, and not the verifier's own "retry later" for a QE identity older than the TCB info (T21):
 * nothing was missing there, and the second gathering has no T21 recovery, so it would turn "retry
 * later" into a rejection (s12 change review crl2 #1). Used by verify, batch and serve alike.
 */
export function gathersAgainWithoutCrl(err: unknown): err is TeeVerifyError {
  return isUnavailable(err) && !GUARD_REASONS.has(err.details['reason']) && err.code !== 'ERR_QE_IDENTITY_LAGGING';
}

function baseOptions(v: VerifyInputs) {
  const relaxations = { ...(v.skipCrl ? { skipCrl: true } : {}), ...(v.collateralGraceSeconds === undefined ? {} : { collateralGraceSeconds: v.collateralGraceSeconds }) };
  return { at: v.at, ...(v.trustRoots ? { trustRoots: v.trustRoots } : {}), ...(Object.keys(relaxations).length > 0 ? { relaxations } : {}) };
}

const skippedNote = (s: SkippedArtifact): string => `--skip-crl: ${s.what} unavailable (${s.error.code}); verified without it`;

function partialIntel(c: IntelCollateralCrlsOptional, notes: string[]): IntelCollateralInput {
  for (const s of c.skipped) notes.push(skippedNote(s));
  return { tcbInfo: c.tcbInfo, qeIdentity: c.qeIdentity, ...(c.pckCrl ? { pckCrl: c.pckCrl } : {}), ...(c.rootCaCrl ? { rootCaCrl: c.rootCaCrl } : {}) };
}

function partialAmd(c: AmdCollateralCrlsOptional): AmdCollateralInput {
  // A chain the service could not obtain is done without silently (the verifier pins the anchors); a CRL is a note.
  const notes = c.skipped.filter((s) => s.what.endsWith('CRL')).map(skippedNote);
  return {
    signingCertificate: c.signingCertificate.body,
    ...(c.certChain ? { certChain: splitPemCertificates(c.certChain.body) } : {}),
    ...(c.crl ? { crl: c.crl.body } : {}),
    for: { product: c.product, signingKey: c.signingKey },
    warnings: [...c.warnings, ...notes],
  };
}

/** The full collateral of the evidence through the service (cache, validity at the instant). */
export function collateralFor(v: VerifyInputs, access: CollateralAccess): Promise<EvidenceCollateral> {
  return access.service.forEvidence(v.evidence, v.at, v.certTable);
}

/**
 * Collateral and verification; throws the library's typed errors. Under --skip-crl, an unavailable
 * answer that is not a refusal by one of the service's guards (gathersAgainWithoutCrl) is followed by
 * the service's gathering with the CRLs optional (CollateralService.forEvidenceCrlsOptional): the TCB
 * info, QE identity and VCEK come through the same cache, bundle, rollback floors (X03) and fetch
 * budget as the first try, never from a source past them (review s12 vTPM/batch change review #2),
 * and a verification that passes there raises the floors as the first try's does
 * (CollateralService.markVerified).
 */
export async function verifyWithCollateral(v: VerifyInputs, access: CollateralAccess): Promise<VerificationResult> {
  const options = baseOptions(v);
  const snp = v.snpReportVersions ? { snpReportVersions: v.snpReportVersions } : {};
  const certTable = v.certTable.length > 0 ? { certTable: v.certTable } : {};
  try {
    // The service itself, not collateral gathered from it: verifyEvidence then marks what a passing
    // verification used and raises the rollback floors (X03), discards a version the verifier
    // rejected, and recovers a lagging QE identity (T21), as for every library caller. Before, verify
    // got the collateral object and raised no floor (s12 change review, --skip-crl #3).
    return await verifyEvidence(v.evidence, { ...options, ...snp, ...certTable, collateral: access.service });
  } catch (err) {
    if (!v.skipCrl || !gathersAgainWithoutCrl(err)) throw err;
  }
  // --skip-crl: something could not be obtained; the service gathers again, CRLs optional.
  const e = v.evidence;
  const partial = await access.service.forEvidenceCrlsOptional(e, v.at, v.certTable);
  let result: VerificationResult;
  if (e.kind === 'snp') {
    if (partial.kind !== 'amd') throw new TypeError('forEvidenceCrlsOptional answered Intel collateral for a report');
    result = verifySnpReport(e, partialAmd(partial), { ...options, ...(v.snpReportVersions ? { allowedVersions: v.snpReportVersions } : {}) });
  } else {
    if (partial.kind !== 'intel') throw new TypeError('forEvidenceCrlsOptional answered AMD collateral for a quote');
    const notes: string[] = [];
    try {
      result = verifyIntelQuote(e, partialIntel(partial, notes), options);
    } catch (err) {
      // A QE identity older than the TCB info (T21) is "retry later" here too, as on the first try
      // (which asks for the matching one first; this pass has no such request to make without the
      // CRLs): never a rejection because a CRL was missing (s12 change review x509c #1).
      const lag = qeIdentityLag(err);
      if (lag) throw lagging(lag, 'the CRLs-optional gathering (--skip-crl) cannot ask for a matching one', err);
      throw err;
    }
    result.warnings.push(...partial.warnings, ...notes);
  }
  // As verifyEvidence does on success: the versions used are marked verified and the rollback floors
  // (X03) rise to them. Without this, a PCCS that never serves the CRLs sent every verification here,
  // no floor ever rose, and a later, older TCB info was accepted (s12 change review, --skip-crl #1).
  // With the verification's own roots, as verifyEvidence marks: a test-PKI verification must not mark
  // (or raise floors in) a service that trusts the pinned roots (s16 change review of env #2).
  access.service.markVerified(partial, { trustRoots: v.trustRoots });
  return result;
}
