/**
 * `batch --skip-crl` (review s12 #2): when the collateral service finds part
 * of a record's collateral unavailable, the record is verified as `verify
 * --skip-crl` verifies it (src/cli/gather.ts, shared with verify and serve):
 * the collateral is gathered again artifact by artifact with the CRLs
 * optional, and the verifier reports each CRL it did without (T13 / T14,
 * S-checks for AMD) as a warning on the result. Everything else (TCB info, QE
 * identity, VCEK, chain) is still required: its absence stays the record's
 * unavailable error.
 *
 * The second gathering goes through the run's collateral service again
 * (CollateralService.forEvidenceCrlsOptional): the bundles' version valid at
 * the record's instant, the cache, the rollback floors (X03) all apply as on
 * the first try, so a source that fails a CRL and answers an older TCB info
 * than the floor is refused, not verified against it. A refusal by the
 * service's guards (rollback or an unreadable floor file, X03) is not
 * gathered again at all (gathersAgainWithoutCrl).
 */
import type { SnpCertificateEntry } from '../evidence/cert-table.js';
import type { Evidence } from '../evidence/types.js';
import type { VerificationResult } from '../verify/types.js';
import { gathersAgainWithoutCrl, verifyWithCollateral } from '../cli/gather.js';
import type { RecordCollateral, VerifyContext } from './context.js';

/** Whether --skip-crl gathers again after `err`: collateral unavailable, but not refused by the service's guards. */
export function retriesWithoutCrl(ctx: VerifyContext, err: unknown): boolean {
  return ctx.relaxations.skipCrl === true && gathersAgainWithoutCrl(err);
}

/**
 * The record verified with the CRLs optional; throws the library's typed errors (a missing TCB info stays unavailable).
 * `certTable` is the record's SEV-SNP certificate table (its `auxblob`): the VLEK, or a masked chip's VCEK, is taken from it on this pass too.
 * `collateral` is the record's service and relaxations (its policy's collateral grace; default the run's).
 */
export function verifyWithoutCrl(ctx: VerifyContext, evidence: Evidence, at: Date, certTable: SnpCertificateEntry[] = [], collateral: RecordCollateral = ctx): Promise<VerificationResult> {
  // The record's policy's grace on this pass too, as verify --skip-crl passes it (review s13 CLI #2).
  const grace = collateral.relaxations.collateralGraceSeconds;
  return verifyWithCollateral(
    { evidence, at, trustRoots: ctx.trustRoots, skipCrl: true, certTable, ...(grace === undefined ? {} : { collateralGraceSeconds: grace }) },
    { service: collateral.service },
  );
}
