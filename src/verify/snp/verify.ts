/**
 * verifySnpReport: a pure, synchronous function of (report, collateral,
 * trust roots, instant). No I/O; the clock is read at most once (S01).
 *
 *   1. S01        one instant, options resolved
 *   2. S02–S06    structure re-read from the bytes, version, product (S33, S43)
 *   3. S07, S08   pinned ARK and the intermediate SIGNING_KEY selects (S37, S38)
 *   4. S09        ARK-signed CRL: signature, window, serials (fail closed)
 *   5. S10        VCEK / VLEK: kind, issuer, PSS signature, P-384, validity
 *   6. S11        KDS extensions: exact set for the product
 *   7. S12        report signature over [0, 0x2A0)
 *   8. S13        certificate TCB == REPORTED_TCB (S46)
 *   9. S14        hwID == CHIP_ID for a VCEK (S44 for every Turin report)
 *  10. S15, S16   COMMITTED <= CURRENT, REPORTED <= CURRENT
 *  11. S39        claims for the policy layer (S17–S32 are judged there)
 *
 * Any failure throws a VerificationError (or a PARSE / UNSUPPORTED /
 * PRODUCT error of the evidence layer) carrying the checklist id; a failure of
 * a certificate or CRL check also names the item it judged and that item's
 * origin (attribution.ts: details.collateralItem, details.collateralOrigin).
 */
import { artifactKey } from '../../collateral/keys.js';
import type { SnpProduct, SnpReport } from '../../evidence/types.js';
import { TeeVerifyError } from '../../errors.js';
import { fail } from '../errors.js';
import type { VerificationResult } from '../types.js';
import { checkPinnedChain, type PinnedChain } from './chain.js';
import { attributed, type JudgedItem } from './attribution.js';
import { checkChipId, checkChipIdShape } from './chip.js';
import { buildClaims } from './claims.js';
import { createContext, SNP_VERIFY_OPTION_KEYS } from './context.js';
import { checkVerifierOptionKeys } from '../../option-keys.js';
import { checkCrl } from './crl.js';
import { checkKdsExtensions } from './extensions.js';
import { collateralIdentity } from './identity.js';
import { checkLeaf } from './leaf.js';
import { checkReportSignature } from './signature.js';
import { checkStructure } from './structure.js';
import { compareVcekTcb, sameVcekHwId } from './vcek-match.js';
import { isAllZero } from '../../evidence/bytes.js';
import { checkCertificateTcb, checkTcbRelations } from './tcb.js';
import type { AmdCollateralInput, SnpVerifyOptions } from './types.js';
import { parseCertificateFor } from './x509-checks.js';
import type { AmdKdsExtension, CertificateInfo, CrlInfo } from '../../x509/index.js';

/**
 * S09: the VCEK-path and VLEK-path CRLs are both ARK-signed and carry no
 * issuing distribution point, so their content cannot tell them apart. When
 * the CRL names the artifact key it was fetched under, that key must be this
 * product's and key kind's: a VCEK-path CRL handed in for a VLEK report (or
 * the reverse) never lists the certificates it would need to.
 */
function checkCrlFetchedFor(collateral: AmdCollateralInput, product: SnpProduct, kind: 'vcek' | 'vlek'): void {
  const key = collateral.provenance?.crl?.key;
  if (collateral.crl === undefined || key === undefined) return;
  const expected = artifactKey.amdCrl(product, kind);
  if (key !== expected) fail('COLLATERAL_MISMATCH', 'S09', `the CRL was fetched as ${key}, this report needs ${expected}`, { key, expected, artifact: 'crl' });
}

/** The collateral must be for this report's product and key kind, when it says what it is for. */
function checkCollateralTarget(collateral: AmdCollateralInput, product: SnpProduct, kind: 'vcek' | 'vlek'): void {
  if (typeof collateral !== 'object' || collateral === null || collateral.signingCertificate === undefined) {
    fail('COLLATERAL_UNAVAILABLE', 'S10', `no ${kind.toUpperCase()} certificate was supplied`);
  }
  checkCrlFetchedFor(collateral, product, kind);
  const target = collateral.for;
  if (target === undefined) return;
  if (target.product !== product) fail('COLLATERAL_MISMATCH', 'S07', `the collateral is for ${target.product}, the report is ${product}`, { collateral: target.product, report: product });
  // S38: collateral for a VLEK where the report is VCEK-signed, or the reverse
  if (target.signingKey !== kind) fail('SNP_SIGNER', 'S38', `the collateral is for a ${target.signingKey.toUpperCase()}, the report is signed by the ${kind.toUpperCase()}`);
}

/**
 * The leaf's SPLs (S13) or hwID (S14) differ from what the report states. Run only to attribute an
 * S12 failure (review s11 changes-b #1): a source that skips the key binding (collateral/binding.ts)
 * can hand over a genuine VCEK of another chip or TCB, and the report's signature then fails under it.
 */
function notTheReportsLeaf(report: SnpReport, ext: AmdKdsExtension): boolean {
  if (compareVcekTcb(report, ext).mismatches.some((m) => !m.field.startsWith('reportedTcb['))) return true;
  const masked = report.signerInfo.maskChipKey || isAllZero(report.chipId);
  // Only the hwID bytes the VCEK is fetched by (review s11 changes-c #1): Turin's CHIP_ID[8:64] is
  // the report's own shape (S44), and flagging it let a forged Turin report escape its S12 verdict.
  return report.signerInfo.signingKey === 'vcek' && !masked && !sameVcekHwId(report, ext);
}

/** An S13 failure on the report's reserved REPORTED_TCB bytes alone judges the report, not the certificate. */
function onlyReportBytes(err: unknown): boolean {
  const mismatches = err instanceof TeeVerifyError && err.check === 'S13' ? err.details['mismatches'] : undefined;
  return Array.isArray(mismatches) && mismatches.length > 0 && mismatches.every((m: { field?: unknown }) => typeof m.field === 'string' && m.field.startsWith('reportedTcb['));
}

/**
 * Verifies a SEV-SNP report against its collateral at one instant (exported).
 * Options are a closed set, as verifyEvidence's are: a key SnpVerifyOptions
 * (or Relaxations) does not name is ERR_INVALID_ARGUMENT naming it
 * (details.option), never ignored: a misspelt `at` verified at the wall
 * clock, a misspelt `allowedVersions` accepted every default version (review
 * s13 intel #1).
 */
export function verifySnpReport(report: SnpReport, collateral: AmdCollateralInput, options: SnpVerifyOptions = {}): VerificationResult {
  return verifySnpReportInternal(report, collateral, checkVerifierOptionKeys(options, SNP_VERIFY_OPTION_KEYS, 'verifySnpReport'));
}

/**
 * Internal (verifyEvidence only, not exported from the package): its options
 * object is larger (collateral, parse, certTable...) and was checked by name
 * as VerifyEvidenceOptions. Everything else is verifySnpReport.
 */
export function verifySnpReportInternal(report: SnpReport, collateral: AmdCollateralInput, options: SnpVerifyOptions = {}): VerificationResult {
  const ctx = createContext(options ?? {}); // Step 1 (S01)
  const checked = checkStructure(report, ctx); // Step 2 (S02–S06)
  const { product } = checked;
  const kind = checked.report.signerInfo.signingKey;
  checkCollateralTarget(collateral, product, kind);
  // The collateral item each step judges, for the error's attribution (attribution.ts).
  let judged: JudgedItem | undefined = 'certChain';
  let chain: PinnedChain, leaf: CertificateInfo, crl: CrlInfo | undefined, ext: AmdKdsExtension;
  try {
    chain = checkPinnedChain(product, kind, collateral.certChain, ctx); // Step 3 (S07, S08)
    // S36: the VCEK / VLEK is re-validated against the pinned chain on every use, whether it
    // came from KDS, a cache, a bundle or the evidence; only signature outcomes are memoised.
    judged = 'signingCertificate';
    leaf = parseCertificateFor(collateral.signingCertificate, 'S10', kind.toUpperCase());
    judged = 'crl';
    crl = checkCrl(collateral.crl, chain, kind, kind === 'vlek' ? leaf.serialNumber : undefined, ctx); // Step 4 (S09)
    judged = 'signingCertificate';
    const leafKey = checkLeaf(leaf, chain, kind, ctx); // Step 5 (S10)
    ext = checkKdsExtensions(leaf, kind, product, ctx); // Step 6 (S11)
    // S12 judges the report, unless the leaf is not the certificate of the chip and TCB the
    // report states: then it judges the leaf (a fetched VCEK of another chip or TCB).
    judged = undefined;
    try {
      checkReportSignature(checked.report, leafKey, ctx); // Step 7 (S12)
    } catch (err) {
      if (notTheReportsLeaf(checked.report, ext)) judged = 'signingCertificate';
      throw err;
    }
    judged = 'signingCertificate';
    checkCertificateTcb(checked.report, ext, ctx); // Step 8 (S13)
    judged = undefined; // the report's own CHIP_ID: S44, a masked CHIP_ID (S14)
    const bound = checkChipIdShape(checked.report, ctx);
    judged = 'signingCertificate';
    if (bound) checkChipId(checked.report, ext, ctx); // Step 9 (S14)
  } catch (err) {
    throw attributed(err, judged === 'signingCertificate' && onlyReportBytes(err) ? undefined : judged, collateral);
  }
  checkTcbRelations(checked, ctx); // Step 10 (S15, S16)
  // Step 11 (S39, S42): claims only now, after every check passed
  const reportWarnings = checked.report.warnings;
  const collateralWarnings = collateral.warnings ?? [];
  // Most results carry no warning: skip building a set of nothing.
  const warnings = reportWarnings.length + collateralWarnings.length + ctx.warnings.length === 0 ? [] : [...new Set([...reportWarnings, ...collateralWarnings, ...ctx.warnings])];
  return {
    ok: true,
    tee: 'snp',
    at: ctx.at.toISOString(),
    tcbStatus: undefined,
    advisoryIds: [],
    claims: buildClaims(checked, ext),
    collateral: collateralIdentity(collateral, { product, kind, chain, leaf, ext, crl }),
    trustRoots: ctx.trustRoots.label,
    checks: ctx.checks,
    warnings,
  };
}
