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
import type { Evidence, SgxQuote, TdxQuote } from '../evidence/types.js';
import { InvalidArgumentError, TeeVerifyError, type ErrorClass } from '../errors.js';
import { checkOptionKeys, type OptionKeys } from '../option-keys.js';
import type { CollateralArtifact } from '../collateral/artifact.js';
import type { CollateralService, EvidenceCollateral } from '../collateral/service.js';
import type { SignatureMemo } from '../crypto/memo.js';
import { verifyIntelQuote } from './intel/index.js';
import { precheckIntelQuoteBeforeFetch, verifyIntelQuoteCopied } from './intel/verify.js';
import { privateCopyOfInstant } from './instant.js';
import { privateCopy } from './private-bytes.js';
import { qeIdentityLag, recoverQeIdentity } from './qe-identity-lag.js';
import { amdCollateralFromCertTable, amdCollateralInput, verifySnpReport } from './snp/index.js';
import { verifySnpReportInternal } from './snp/verify.js';
import { checkLeafObtainable } from './snp/leaf-source.js';
import type { Relaxations, VerificationResult, VerifyOptions } from './types.js';

export interface VerifyEvidenceOptions extends VerifyOptions {
  /** Where collateral comes from: a service (cache + sources) or collateral fetched earlier. */
  collateral: CollateralService | EvidenceCollateral;
  /** Parsing options when `evidence` is bytes or text. */
  parse?: ParseOptions;
  /** SEV-SNP extended-report certificate table (configfs-tsm auxblob), used before fetching. */
  certTable?: SnpCertificateEntry[];
  /** SEV-SNP report versions to accept; default 3, 4, 5, and 2 when the product is named (clarifications.md, S03). */
  snpReportVersions?: number[];
  memo?: SignatureMemo;
}

/** The keys VerifyEvidenceOptions accepts (the compiler keeps this list equal to the type's keys). */
const VERIFY_EVIDENCE_OPTION_KEYS: OptionKeys<VerifyEvidenceOptions> = {
  at: true,
  trustRoots: true,
  minTcbEvaluationDataNumber: true,
  relaxations: true,
  collateral: true,
  parse: true,
  certTable: true,
  snpReportVersions: true,
  memo: true,
};
/** The keys of options.relaxations. */
const RELAXATION_KEYS: OptionKeys<Relaxations> = { skipCrl: true, skipQeIdentity: true, collateralGraceSeconds: true };

/** Unknown keys (`skipCRL`, `reportData`) are ERR_INVALID_ARGUMENT, never ignored (review s12 docs #1). */
function checkVerifyOptions(options: VerifyEvidenceOptions): void {
  checkOptionKeys(options, VERIFY_EVIDENCE_OPTION_KEYS, 'verifyEvidence');
  if (options.relaxations !== undefined) checkOptionKeys(options.relaxations, RELAXATION_KEYS, 'verifyEvidence relaxations');
}

function isService(c: VerifyEvidenceOptions['collateral']): c is CollateralService {
  return typeof (c as CollateralService).forEvidence === 'function';
}

/** Failure classes that judge a collateral document's authenticity or chain (not its window, not the platform). */
const DISCARDING_CLASSES: ReadonlySet<ErrorClass> = new Set<ErrorClass>(['COLLATERAL_SIG', 'CHAIN', 'COLLATERAL_FORMAT', 'COLLATERAL_MISMATCH']);

/**
 * Which collateral documents each check reads (checklist ids): Intel T13 Root
 * CA CRL, T14 PCK CRL, T16–T19 and T48 TCB info, T20 / T21 QE identity, T47
 * either; SEV-SNP S09 CRL, S10 the VCEK / VLEK, S07 / S08 / S37 the chain. The
 * PCK chain (T08–T12) travels in the quote: never cached.
 *
 * S10 judges the leaf alone (review s13 SNP #1): it mapped to the chain too,
 * so a certificate-table "VCEK" that fails S10 (any certificate, from any
 * unauthenticated client) deleted the cached, verified KDS cert_chain, and
 * every such request cost one KDS fetch. The one S10 failure about the chain
 * (its length, chain.ts) is attributed to the chain by the verifier
 * (details.collateralItem), which artifactsRejectedBy reads first.
 */
const ARTIFACTS_OF_CHECK: Readonly<Record<string, readonly ('tcbInfo' | 'qeIdentity' | 'pckCrl' | 'rootCaCrl' | 'signingCertificate' | 'certChain' | 'crl')[]>> = {
  T13: ['rootCaCrl'],
  T14: ['pckCrl'],
  T16: ['tcbInfo'],
  T17: ['tcbInfo'],
  T18: ['tcbInfo'],
  T19: ['tcbInfo'],
  T48: ['tcbInfo'],
  T20: ['qeIdentity'],
  T21: ['qeIdentity'],
  T47: ['tcbInfo', 'qeIdentity'],
  S07: ['certChain'],
  S08: ['certChain'],
  S37: ['certChain'],
  S09: ['crl'],
  S10: ['signingCertificate'],
};

/** The SEV-SNP items the verifier attributes a failure to (snp/attribution.ts: details.collateralItem). */
const AMD_ITEMS: ReadonlySet<string> = new Set(['signingCertificate', 'certChain', 'crl', 'trustRoots']);

/**
 * The artifacts a failed verification rejected: the one its error names
 * (details.artifact) when it is part of this collateral, else those the
 * failing check reads. Empty for failures that do not judge collateral.
 * A SEV-SNP failure the verifier attributed to the item it judged
 * (details.collateralItem, snp/attribution.ts) rejects that item only: a leaf
 * failure never the chain, the chain's never the leaf, and a failure of the
 * verifier's own pins ('trustRoots', S07 / S08) nothing cached (review s13
 * SNP #1). The check's list is the fallback for unattributed failures.
 */
function artifactsRejectedBy(err: unknown, collateral: EvidenceCollateral): CollateralArtifact[] {
  if (!(err instanceof TeeVerifyError) || !DISCARDING_CLASSES.has(err.errorClass)) return [];
  const all: Record<string, CollateralArtifact> =
    collateral.kind === 'intel'
      ? { tcbInfo: collateral.tcbInfo, qeIdentity: collateral.qeIdentity, pckCrl: collateral.pckCrl, rootCaCrl: collateral.rootCaCrl }
      : { signingCertificate: collateral.signingCertificate, certChain: collateral.certChain, crl: collateral.crl };
  const named = err.details['artifact'];
  if (typeof named === 'string') {
    const match = Object.values(all).filter((a) => a.key === named);
    if (match.length > 0) return match;
  }
  const judged = collateral.kind === 'amd' ? err.details['collateralItem'] : undefined;
  // 'trustRoots' names no item of the collateral (all[judged] is undefined): it rejects nothing.
  const fields = typeof judged === 'string' && AMD_ITEMS.has(judged) ? [judged] : err.check === undefined ? undefined : ARTIFACTS_OF_CHECK[err.check];
  return fields === undefined ? [] : fields.flatMap((f) => (all[f] === undefined ? [] : [all[f]!]));
}

/** Discards what a failed verification rejected, so the next one selects another version or fetches (never masks `err`). */
function discardRejected(service: CollateralService, collateral: EvidenceCollateral, err: unknown): void {
  for (const a of artifactsRejectedBy(err, collateral)) {
    try {
      service.discard?.(a);
    } catch {
      // A cache that cannot delete must not replace the verification's own error.
    }
  }
}

/**
 * T49: the evidence verified is a snapshot taken before any code outside the
 * library sees the parsed object. The collateral service, a caller's object
 * (an own forEvidence / cachedFor, a Proxy, a subclass), gets `parsed`, which
 * it may edit or refill with another genuine quote; the verifier gets this
 * copy: the fields that select the layout and the trailing mode, and a private
 * copy of the bytes that it frames again (verifyIntelQuote / verifySnpReport).
 */
function snapshotOf(parsed: Evidence): Evidence {
  const warnings = Array.isArray(parsed.warnings) ? [...(parsed.warnings as string[])] : [];
  const trailing = parsed.trailing === undefined ? undefined : { ...parsed.trailing };
  return { ...parsed, bytes: privateCopy(parsed.bytes, 'the evidence bytes'), warnings, ...(trailing === undefined ? {} : { trailing }) } as Evidence;
}

/**
 * The service's synchronous cache answer, or undefined. A lookup that throws
 * (it reads the unverified PCK leaf to plan the keys) counts as nothing
 * cached: the fetch path then runs the checks that come first (T02–T12)
 * before anything else judges the leaf, and forEvidence repeats the error.
 */
function cachedOrNothing(service: CollateralService, parsed: Evidence, at: Date, certTable: VerifyEvidenceOptions['certTable']): EvidenceCollateral | undefined {
  try {
    return service.cachedFor?.(parsed, at, certTable);
  } catch {
    return undefined;
  }
}

/** Parses (if needed), fetches collateral (if needed) and verifies, all at one instant. */
export async function verifyEvidence(evidence: Evidence | Uint8Array | ArrayBuffer | string, options: VerifyEvidenceOptions): Promise<VerificationResult> {
  if (!options || !options.collateral) throw new InvalidArgumentError('ERR_INVALID_ARGUMENT', 'verifyEvidence needs a collateral service or collateral');
  checkVerifyOptions(options);
  // T01 / S01: the instant is read once and used for collateral selection and every check.
  // One private copy, read from the Date's own time value: the collateral service and the verifier
  // see the same instant whatever the caller's object does later (an invalid one is left for the
  // verifier's T01 / S01 to refuse).
  const at = options.at === undefined ? new Date() : privateCopyOfInstant(options.at);
  const fromBytes = !(typeof evidence === 'object' && evidence !== null && 'kind' in evidence);
  const parsed = fromBytes ? parseEvidence(evidence as Uint8Array | ArrayBuffer | string, options.parse) : (evidence as Evidence);
  const verified = snapshotOf(parsed); // before the service sees `parsed`
  const service = isService(options.collateral) ? options.collateral : undefined;
  // S05: a report whose leaf no source can serve (VLEK-signed; a masked or all-zero CHIP_ID) must
  // carry it in its certificate table. Refused here, before the cache or any source is asked, as the
  // gateway client does (review s11 changes-c #2), so every caller gets the verdict ERR_SNP_SIGNER,
  // not a retryable "collateral unavailable", and no KDS request names hwID 00..00 (review s13 SNP #2).
  // Collateral given outright carries its own leaf: the verifier judges it.
  if (service && verified.kind === 'snp') checkLeafObtainable(verified, options.certTable);
  const common = { ...options, at };
  // A warm cache answers synchronously: no promise per artifact, no extra tick.
  let collateral = service ? cachedOrNothing(service, parsed, at, options.certTable) : (options.collateral as EvidenceCollateral);
  if (collateral === undefined) {
    // Nothing cached: a fetch may follow. Intel quotes pass T02–T12 first, so only a PCK
    // chain to a pinned root chooses what is fetched (SEV-SNP: the VCEK is the signing key,
    // nothing can be checked before it; the collateral service bounds those fetches).
    if (verified.kind !== 'snp') precheckIntelQuoteBeforeFetch(verified, common);
    collateral = await service!.forEvidence(parsed, at, options.certTable);
  }
  const verifyWith = (c: EvidenceCollateral): VerificationResult => {
    if (verified.kind === 'snp') {
      if (c.kind !== 'amd') throw new InvalidArgumentError('ERR_INVALID_ARGUMENT', 'SEV-SNP evidence needs AMD collateral');
      return verifySnpReportInternal(verified, amdCollateralInput(c), {
        ...common,
        ...(options.snpReportVersions ? { allowedVersions: options.snpReportVersions } : {}),
      });
    }
    if (c.kind !== 'intel') throw new InvalidArgumentError('ERR_INVALID_ARGUMENT', 'Intel evidence needs Intel collateral');
    return verifyIntelQuoteCopied(verified, c, common); // frames the snapshot's private bytes again
  };
  let result: VerificationResult;
  try {
    result = verifyWith(collateral);
  } catch (err) {
    const lag = service && parsed.kind !== 'snp' && verified.kind !== 'snp' ? qeIdentityLag(err) : undefined;
    // The verifier is the only judge of authenticity: a cached version it rejected is not served again.
    // A QE identity refused only for being older than the TCB info (T21) is genuine: kept, so a lagging
    // source is not asked again on every verification; the recovery below asks for the right number.
    if (service && lag === undefined) discardRejected(service, collateral, err);
    if (lag === undefined) throw err;
    const discard = (c: EvidenceCollateral, e: unknown) => discardRejected(service!, c, e);
    ({ result, collateral } = await recoverQeIdentity(service!, parsed as TdxQuote | SgxQuote, at, lag, verifyWith, discard));
  }
  // Versions that verified are evicted last (a forged newcomer cannot push them out). The roots this
  // verification ran under go along: only the pinned ones raise the cache's rollback floors (s16 env #2).
  service?.markVerified?.(collateral, { trustRoots: options.trustRoots });
  if (verified.kind !== 'snp' && collateral.warnings.length > 0) result.warnings.push(...collateral.warnings);
  return result;
}

export type { VerificationResult, VerifyOptions, Relaxations, TcbStatus, Claims, TdxClaims, SgxClaims, SnpClaims, CheckRecord, CollateralIdentity } from './types.js';
export { VerificationError, type VerificationErrorClass } from './errors.js';
export { PRODUCTION_TRUST_ROOTS, PRODUCTION_FINGERPRINTS, type TrustRoots, type AmdProductAnchors } from './roots/index.js';
export { verifyIntelQuote, verifySnpReport, amdCollateralInput, amdCollateralFromCertTable };
export type { IntelCollateralInput, IntelVerifyOptions } from './intel/index.js';
export type { AmdCollateralInput, SnpVerifyOptions, CollateralProvenance } from './snp/index.js';
