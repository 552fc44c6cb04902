/**
 * Collateral freshness as policy (X02, X16, clarifications "Expired
 * collateral"): a maximum age of the documents Intel re-issues (TCB info, QE
 * identity, PCK CRL), an explicit grace period after notAfter (off by
 * default; each use a warning), and no use of a result after its earliest
 * collateral expiry. Grace applies to re-issued collateral (TCB info, QE
 * identity, CRLs), never to certificates: not to the SEV-SNP artifacts that are
 * certificates (VCEK / VLEK, the ASK / ARK chain), nor to the Intel certificates
 * the result rests on (PCK chain, TCB Signing), whose earliest end the result
 * carries as collateral.certificateExpiry (review s13 policy #4).
 */
import type { VerificationResult } from '../../verify/types.js';
import type { Findings } from './findings.js';

/** Re-issued about daily (X02); the Intel Root CA CRL (yearly) and certificates are not judged by age. */
const AGED_KINDS = new Set(['intel-tcb-info', 'intel-qe-identity', 'intel-pck-crl']);
/** Documents their issuers re-issue (X02): the only collateral a policy grace covers. Everything else is a certificate. */
const REISSUED_KINDS = new Set(['intel-tcb-info', 'intel-qe-identity', 'intel-pck-crl', 'intel-root-ca-crl', 'amd-crl']);
const GRACE_WARNING = /^grace period used: /;

export function checkCollateralAge(result: VerificationResult, maxAgeSeconds: number | undefined, now: Date, f: Findings): void {
  if (maxAgeSeconds === undefined) return;
  for (const a of result.collateral.artifacts) {
    if (!AGED_KINDS.has(a.kind)) continue;
    const age = (now.getTime() - Date.parse(a.notBefore)) / 1000;
    // X02 (X01: an unparsable date is never fresh)
    if (!(age <= maxAgeSeconds)) {
      f.fail('/collateral/maxAgeSeconds', 'X02', 'EXPIRED', { maximumSeconds: maxAgeSeconds }, { artifact: a.key, issued: a.notBefore, ageSeconds: Number.isNaN(age) ? null : Math.floor(age) }, `${a.kind} ${a.key} is older than the policy allows`);
    }
  }
}

export function checkCollateralExpiry(result: VerificationResult, graceSeconds: number | undefined, now: Date, f: Findings): void {
  const graceMs = (graceSeconds ?? 0) * 1000;
  for (const a of result.collateral.artifacts) {
    const over = now.getTime() - Date.parse(a.notAfter);
    if (!(over > 0) && !Number.isNaN(over)) continue;
    const reissued = REISSUED_KINDS.has(a.kind);
    if (reissued && graceSeconds !== undefined && over <= graceMs) {
      f.warn('X02', `grace period used: ${a.kind} ${a.key} expired at ${a.notAfter} (policy grace ${graceSeconds} s)`);
    } else {
      // X16 / T45: a result is usable only until its earliest collateral expiry; a certificate (VCEK / VLEK, ASK / ARK) never has grace
      f.fail('/collateral/expiryGraceSeconds', 'X16', 'EXPIRED', { notAfter: a.notAfter, graceSeconds: reissued ? (graceSeconds ?? 0) : 0 }, now.toISOString(), `${a.kind} ${a.key} expired at ${a.notAfter}${reissued ? '' : ': a certificate, no grace extends it'}`);
    }
  }
  // X16: the certificates an Intel result rests on (PCK chain, TCB Signing); their end can lie
  // inside a document's grace, or be what cut a document's window short: no grace extends them
  const certificates = result.collateral.certificateExpiry;
  const certificateExpired = certificates !== undefined && !(now.getTime() <= Date.parse(certificates));
  if (certificateExpired) {
    f.fail('/collateral/expiryGraceSeconds', 'X16', 'EXPIRED', { notAfter: certificates, graceSeconds: 0 }, now.toISOString(), `a certificate the result rests on expired at ${certificates}: no grace extends it`);
  }
  // X16: a certificate (PCK chain, VCEK) can be what expires first; no grace ever extends a certificate
  // (results without certificateExpiry: hand-built, or made before session 13)
  const earliest = result.collateral.earliestExpiry;
  const byArtifact = result.collateral.artifacts.some((a) => a.notAfter === earliest);
  if (!certificateExpired && !byArtifact && !(now.getTime() <= Date.parse(earliest))) {
    f.fail('/collateral/expiryGraceSeconds', 'X16', 'EXPIRED', { notAfter: earliest }, now.toISOString(), `the result is past its earliest expiry ${earliest} (a certificate)`);
  }
  // Grace the collateral layer applied (its warnings travel in the result): allowed only by the policy.
  for (const w of result.warnings.filter((x) => GRACE_WARNING.test(x))) {
    if (graceSeconds === undefined) f.fail('/collateral/expiryGraceSeconds', 'X02', 'EXPIRED', 'no grace period', w, 'expired collateral was used, and the policy allows no grace period');
    else f.warn('X02', `${w} (allowed by the policy's grace of ${graceSeconds} s)`);
  }
}
