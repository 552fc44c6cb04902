/**
 * Collateral for one piece of evidence and its verification. The normal path
 * is the library's: CollateralService (cache, validity at the instant) then
 * verifyEvidence. With --skip-crl, collateral that cannot be obtained is
 * gathered again artifact by artifact, CRLs optional, and verified with the
 * skipCrl relaxation (the verifier reports each skipped CRL as a warning).
 */
// Module paths, not the package index: batch workers load this with the verifier alone (no HTTP stack).
import type { CollateralArtifact } from '../collateral/artifact.js';
import type { CollateralCache } from '../collateral/cache.js';
import { artifactKey, vcekRequestOf } from '../collateral/keys.js';
import type { CollateralService, EvidenceCollateral } from '../collateral/service.js';
import type { AmdCollateralSource, IntelCollateralSource } from '../collateral/source.js';
import { TeeVerifyError } from '../errors.js';
import type { SnpCertificateEntry } from '../evidence/cert-table.js';
import type { Evidence, SgxQuote, SnpReport, TdxQuote } from '../evidence/types.js';
import { verifyEvidence, verifyIntelQuote, verifySnpReport, type AmdCollateralInput, type IntelCollateralInput, type TrustRoots, type VerificationResult } from '../verify/index.js';
import { parseCertificate, parseIntelSgxExtension, splitPemCertificates } from '../x509/index.js';

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

export interface CollateralAccess {
  service: CollateralService;
  source: IntelCollateralSource & AmdCollateralSource;
}

const isUnavailable = (err: unknown): err is TeeVerifyError => err instanceof TeeVerifyError && err.errorClass === 'COLLATERAL_UNAVAILABLE';

/**
 * Refusals by the collateral service's own protections: gathering again from the sources, past the
 * service, would bypass them. A rollback (X03) and an unreadable floor file would be served from a
 * source the floor does not judge; the fetch budget (a service's guard against hostile evidence)
 * would not meter the second gathering.
 */
const GUARD_REASONS: ReadonlySet<unknown> = new Set(['rollback', 'floor-unreadable', 'fetch-budget']);

/**
 * Whether a verification under --skip-crl that failed with `err` on the collateral service gathers
 * again with the CRLs optional (verifyWithCollateral with the sources): collateral unavailable, but
 * not refused by one of the service's guards. Used by verify, batch and serve alike.
 */
export function gathersAgainWithoutCrl(err: unknown): err is TeeVerifyError {
  return isUnavailable(err) && !GUARD_REASONS.has(err.details['reason']);
}

/**
 * A source for the second gathering: each artifact from `cache` (an in-memory cache of explicit
 * bundles, never the disk cache: its rollback floors judge what it serves) in its version valid at
 * `at` (the one the service would have chosen), else the given source's answer.
 */
export function instantSource(at: Date, cache: CollateralCache | undefined, intel: IntelCollateralSource, amd: AmdCollateralSource): IntelCollateralSource & AmdCollateralSource {
  const pick = (key: string, fetch: () => Promise<CollateralArtifact>): Promise<CollateralArtifact> => {
    const held = cache?.select(key, at);
    return held ? Promise.resolve(held) : fetch();
  };
  return {
    tcbInfo: (r) => pick(artifactKey.tcbInfo(r), () => intel.tcbInfo(r)),
    qeIdentity: (r) => pick(artifactKey.qeIdentity(r), () => intel.qeIdentity(r)),
    pckCrl: (ca) => pick(artifactKey.pckCrl(ca), () => intel.pckCrl(ca)),
    rootCaCrl: () => pick(artifactKey.rootCaCrl(), () => intel.rootCaCrl()),
    vcek: (r) => pick(artifactKey.vcek(r), () => amd.vcek(r)),
    certChain: (p, k) => pick(artifactKey.certChain(p, k), () => amd.certChain(p, k)),
    crl: (p, k) => pick(artifactKey.amdCrl(p, k), () => amd.crl(p, k)),
  };
}

function baseOptions(v: VerifyInputs) {
  const relaxations = { ...(v.skipCrl ? { skipCrl: true } : {}), ...(v.collateralGraceSeconds === undefined ? {} : { collateralGraceSeconds: v.collateralGraceSeconds }) };
  return { at: v.at, ...(v.trustRoots ? { trustRoots: v.trustRoots } : {}), ...(Object.keys(relaxations).length > 0 ? { relaxations } : {}) };
}

/** Resolves an optional artifact; unavailable is undefined plus a note. */
async function optional(what: string, fetch: () => Promise<CollateralArtifact>, notes: string[]): Promise<CollateralArtifact | undefined> {
  try {
    return await fetch();
  } catch (err) {
    if (!isUnavailable(err)) throw err;
    notes.push(`--skip-crl: ${what} unavailable (${err.code}); verified without it`);
    return undefined;
  }
}

async function partialIntel(quote: TdxQuote | SgxQuote, source: IntelCollateralSource, notes: string[]): Promise<IntelCollateralInput> {
  const [leafDer] = splitPemCertificates(quote.signatureData.pckCertChainPem);
  const leaf = parseCertificate(leafDer as Uint8Array);
  const fmspc = parseIntelSgxExtension(leaf).fmspc.toLowerCase();
  const pckCa = leaf.issuerAttributes.CN === 'Intel SGX PCK Processor CA' ? 'processor' : 'platform';
  const tee = quote.kind;
  const [tcbInfo, qeIdentity, pckCrl, rootCaCrl] = await Promise.all([
    source.tcbInfo({ tee, fmspc, update: 'standard' }),
    source.qeIdentity({ tee, update: 'standard' }),
    optional('the PCK CRL', () => source.pckCrl(pckCa), notes),
    optional('the Root CA CRL', () => source.rootCaCrl(), notes),
  ]);
  return { tcbInfo, qeIdentity, ...(pckCrl ? { pckCrl } : {}), ...(rootCaCrl ? { rootCaCrl } : {}) };
}

async function signingCertificate(report: SnpReport, source: AmdCollateralSource, table: SnpCertificateEntry[]): Promise<Uint8Array> {
  const fromTable = table.find((e) => e.kind === report.signerInfo.signingKey);
  if (fromTable) return fromTable.der;
  return (await source.vcek(vcekRequestOf(report, report.product!))).body;
}

async function partialAmd(report: SnpReport, source: AmdCollateralSource, table: SnpCertificateEntry[], notes: string[]): Promise<AmdCollateralInput> {
  const product = report.product!;
  const kind = report.signerInfo.signingKey;
  const leaf = await signingCertificate(report, source, table);
  const ask = table.find((e) => e.kind === 'ask');
  const ark = table.find((e) => e.kind === 'ark');
  let certChain: Uint8Array[] | undefined = ask && ark ? [ask.der, ark.der] : undefined;
  if (!certChain) {
    const chain = await optional(`the ${product} cert_chain`, () => source.certChain(product, kind), []);
    if (chain) certChain = splitPemCertificates(chain.body);
  }
  const crl = await optional(`the ${product} ${kind.toUpperCase()} CRL`, () => source.crl(product, kind), notes);
  return { signingCertificate: leaf, ...(certChain ? { certChain } : {}), ...(crl ? { crl: crl.body } : {}), for: { product, signingKey: kind }, warnings: [...notes] };
}

/** The full collateral of the evidence through the service (cache, validity at the instant). */
export function collateralFor(v: VerifyInputs, access: CollateralAccess): Promise<EvidenceCollateral> {
  return access.service.forEvidence(v.evidence, v.at, v.certTable);
}

/** Collateral and verification; throws the library's typed errors. */
export async function verifyWithCollateral(v: VerifyInputs, access: CollateralAccess): Promise<VerificationResult> {
  const options = baseOptions(v);
  const snp = v.snpReportVersions ? { snpReportVersions: v.snpReportVersions } : {};
  let collateral: EvidenceCollateral | undefined;
  try {
    collateral = await collateralFor(v, access);
  } catch (err) {
    // Not after a refusal by the service's guards (rollback X03, unreadable floor, fetch budget), as batch and serve.
    if (!v.skipCrl || !gathersAgainWithoutCrl(err)) throw err;
  }
  if (collateral) return verifyEvidence(v.evidence, { ...options, ...snp, collateral });
  // --skip-crl: something could not be obtained; gather what exists, CRLs optional.
  const notes: string[] = [];
  const e = v.evidence;
  if (e.kind === 'snp') {
    const input = await partialAmd(e, access.source, v.certTable, notes);
    return verifySnpReport(e, input, { ...options, ...(v.snpReportVersions ? { allowedVersions: v.snpReportVersions } : {}) });
  }
  const result = verifyIntelQuote(e, await partialIntel(e, access.source, notes), options);
  result.warnings.push(...notes);
  return result;
}
