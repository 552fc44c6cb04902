/**
 * verifyEvidence: the one call a key broker or a chat client makes. It takes
 * evidence (bytes or parsed), obtains its collateral (from a CollateralService
 * with its cache and sources, or from collateral given outright), and runs the
 * pure verifier for its TEE at a single instant. It resolves only with a
 * successful VerificationResult; every failure is a thrown typed error
 * (VerificationError, CollateralUnavailableError, EvidenceParseError, ...),
 * passed through untouched so its specific class survives (X12).
 */
import type { SnpCertificateEntry } from '../evidence/cert-table.js';
import { parseEvidence, type ParseOptions } from '../evidence/index.js';
import type { Evidence } from '../evidence/types.js';
import { InvalidArgumentError } from '../errors.js';
import type { CollateralService, EvidenceCollateral } from '../collateral/service.js';
import type { SignatureMemo } from '../crypto/memo.js';
import { verifyIntelQuote } from './intel/index.js';
import { amdCollateralFromCertTable, amdCollateralInput, verifySnpReport } from './snp/index.js';
import type { VerificationResult, VerifyOptions } from './types.js';

export interface VerifyEvidenceOptions extends VerifyOptions {
  /** Where collateral comes from: a service (cache + sources) or collateral fetched earlier. */
  collateral: CollateralService | EvidenceCollateral;
  /** Parsing options when `evidence` is bytes or text. */
  parse?: ParseOptions;
  /** SEV-SNP extended-report certificate table (configfs-tsm auxblob), used before fetching. */
  certTable?: SnpCertificateEntry[];
  /** SEV-SNP report versions to accept; default [3, 5] (checklist S03). */
  snpReportVersions?: number[];
  memo?: SignatureMemo;
}

function isService(c: VerifyEvidenceOptions['collateral']): c is CollateralService {
  return typeof (c as CollateralService).forEvidence === 'function';
}

/** Parses (if needed), fetches collateral (if needed) and verifies, all at one instant. */
export async function verifyEvidence(evidence: Evidence | Uint8Array | ArrayBuffer | string, options: VerifyEvidenceOptions): Promise<VerificationResult> {
  if (!options || !options.collateral) throw new InvalidArgumentError('ERR_INVALID_ARGUMENT', 'verifyEvidence needs a collateral service or collateral');
  // T01 / S01: the instant is read once and used for collateral selection and every check.
  const at = options.at ?? new Date();
  const parsed = typeof evidence === 'object' && evidence !== null && 'kind' in evidence ? evidence : parseEvidence(evidence, options.parse);
  const service = isService(options.collateral) ? options.collateral : undefined;
  // A warm cache answers synchronously: no promise per artifact, no extra tick.
  const collateral = service ? (service.cachedFor?.(parsed, at, options.certTable) ?? (await service.forEvidence(parsed, at, options.certTable))) : (options.collateral as EvidenceCollateral);
  const common = { ...options, at };
  let result: VerificationResult;
  if (parsed.kind === 'snp') {
    if (collateral.kind !== 'amd') throw new InvalidArgumentError('ERR_INVALID_ARGUMENT', 'SEV-SNP evidence needs AMD collateral');
    result = verifySnpReport(parsed, amdCollateralInput(collateral), {
      ...common,
      ...(options.snpReportVersions ? { allowedVersions: options.snpReportVersions } : {}),
    });
  } else {
    if (collateral.kind !== 'intel') throw new InvalidArgumentError('ERR_INVALID_ARGUMENT', 'Intel evidence needs Intel collateral');
    result = verifyIntelQuote(parsed, collateral, common);
  }
  if (parsed.kind !== 'snp' && collateral.warnings.length > 0) result.warnings.push(...collateral.warnings);
  return result;
}

export type { VerificationResult, VerifyOptions, Relaxations, TcbStatus, Claims, TdxClaims, SgxClaims, SnpClaims, CheckRecord, CollateralIdentity } from './types.js';
export { VerificationError, type VerificationErrorClass } from './errors.js';
export { PRODUCTION_TRUST_ROOTS, PRODUCTION_FINGERPRINTS, type TrustRoots, type AmdProductAnchors } from './roots/index.js';
export { verifyIntelQuote, verifySnpReport, amdCollateralInput, amdCollateralFromCertTable };
export type { IntelCollateralInput, IntelVerifyOptions } from './intel/index.js';
export type { AmdCollateralInput, SnpVerifyOptions, CollateralProvenance } from './snp/index.js';
