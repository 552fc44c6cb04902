/**
 * Collateral for a piece of evidence: works out what the evidence names
 * (FMSPC and PCK CA from the quote's PCK certificate; product, chip ID and
 * reported TCB from an SNP report), uses certificates that travel with the
 * evidence first, and resolves the rest through the cache and the sources.
 */
import { ProductError, TeeVerifyError } from '../errors.js';
import { PRODUCTION_TRUST_ROOTS, type TrustRoots } from '../verify/roots/index.js';
import { checkLeafObtainable } from '../verify/snp/leaf-source.js';
import type { SnpCertificateEntry } from '../evidence/cert-table.js';
import type { SgxQuote, SnpReport, TdxQuote } from '../evidence/types.js';
import { pckChainCertificates } from '../evidence/pck-chain.js';
import { parseCertificate, parseIntelSgxExtension, pckCaKind } from '../x509/index.js';
import type { CollateralArtifact } from './artifact.js';
import { CollateralCache } from './cache.js';
import { tableChainArtifact, tableLeafArtifact } from './cert-table-artifacts.js';
import { artifactKey, vcekRequestOf, type AmdKeyKind, type AmdProduct, type IntelTee, type PckCa, type UpdateChannel, type VcekRequest } from './keys.js';
import { CollateralUnavailableError, PLATFORM_NOT_SERVED, UnknownPlatformError } from './errors.js';
import { SourceLiveness } from './liveness.js';
import { chainsToRoots } from './anchored.js';
import { ArtifactResolver, missingSource, type ExplicitCollateral, type FetchBudget, type Resolved } from './provider.js';
import type { AmdCollateralSource, IntelCollateralSource } from './source.js';

export interface CollateralServiceOptions {
  intel?: IntelCollateralSource;
  amd?: AmdCollateralSource;
  /** Default: a disk cache under the XDG cache directory; `null` for no cache at all. */
  cache?: CollateralCache | null;
  /**
   * Artifacts the caller named explicitly (a BundleSource): for the keys it
   * holds they come before the cache while valid at the verification instant,
   * and are never written to the cache. A cached version overrules one only
   * when newer (isOlder: sequence, then issue date, then start of validity) and chaining to
   * `trustRoots` (X03), with a warning.
   * A BundleSource passed as `intel` / `amd` instead is a source behind the
   * cache like the network.
   */
  bundle?: ExplicitCollateral;
  /**
   * The roots the verifications will use (pass the same as to verifyEvidence):
   * the X03 ranking against `bundle`, and the rollback floors: only under the
   * pinned production roots (the default) does a verification read and raise
   * the cache's floors and set its verified marks; under any other roots (a
   * test PKI) the floors are the service's own, in memory (review s9
   * changes-c #5). Default: the production roots.
   */
  trustRoots?: TrustRoots;
  /** Grace after notAfter; off by default; reported as a warning on every use. */
  graceMs?: number;
  refreshIntervalMs?: number;
  /** Intel TCB info / QE identity channel; default "standard". Key release should prefer "early". */
  update?: UpdateChannel;
  /** Ask Intel for a specific TCB evaluation data number instead of the channel's latest. */
  tcbEvaluationDataNumber?: number;
  /** How long a 404 for a key is answered from memory; default 5 min (ProviderOptions.notFoundTtlMs). */
  notFoundTtlMs?: number;
  /** Distinct new keys fetched per window; default 256 per minute, null: no cap (ProviderOptions.fetchBudget). */
  fetchBudget?: FetchBudget | null;
  /**
   * How long a 2xx answer for a fixed document of AMD's KDS (chain, CRL)
   * proves that it serves, so that a 404 for the report's VCEK is a verdict
   * (ERR_COLLATERAL_UNKNOWN_PLATFORM); also how long a failed probe is
   * remembered. Default 60 s, provider clock. (Intel gives no such verdict.)
   */
  sourceLivenessMs?: number;
  /** The provider's clock for the three above, never for validity; default Date.now. */
  clock?: () => number;
  /** The sources fetch nothing (--offline): cached copies are served without refresh attempts (ProviderOptions.offline). */
  offline?: boolean;
}

export const DEFAULT_SOURCE_LIVENESS_MS = 60_000;

export interface IntelCollateral {
  kind: 'intel';
  tee: IntelTee;
  fmspc: string;
  pckCa: PckCa;
  tcbInfo: CollateralArtifact;
  qeIdentity: CollateralArtifact;
  pckCrl: CollateralArtifact;
  rootCaCrl: CollateralArtifact;
  warnings: string[];
}

export interface AmdCollateral {
  kind: 'amd';
  product: AmdProduct;
  signingKey: AmdKeyKind;
  /** VCEK or VLEK DER. */
  signingCertificate: CollateralArtifact;
  /** PEM: ASK (or ASVK) then ARK. */
  certChain: CollateralArtifact;
  crl: CollateralArtifact;
  warnings: string[];
}

export type EvidenceCollateral = IntelCollateral | AmdCollateral;

/** An artifact --skip-crl's gathering did without: what it is, and why it could not be obtained. */
export interface SkippedArtifact {
  what: string;
  error: CollateralUnavailableError | TeeVerifyError;
}

/**
 * The collateral of a quote with the CRLs optional (forEvidenceCrlsOptional): TCB info and QE
 * identity resolved as forQuote resolves them (explicit bundle, cache, rollback floors X03, fetch
 * budget); a CRL the service could not obtain is absent and listed in `skipped`.
 */
export interface IntelCollateralCrlsOptional extends Omit<IntelCollateral, 'pckCrl' | 'rootCaCrl'> {
  pckCrl?: CollateralArtifact;
  rootCaCrl?: CollateralArtifact;
  skipped: SkippedArtifact[];
}

/** As IntelCollateralCrlsOptional for a report: the VCEK / VLEK required; the chain (the verifier pins the anchors) and the CRL optional. */
export interface AmdCollateralCrlsOptional extends Omit<AmdCollateral, 'certChain' | 'crl'> {
  certChain?: CollateralArtifact;
  crl?: CollateralArtifact;
  skipped: SkippedArtifact[];
}

export type EvidenceCollateralCrlsOptional = IntelCollateralCrlsOptional | AmdCollateralCrlsOptional;

/** Collateral that could not be obtained (class COLLATERAL_UNAVAILABLE): what --skip-crl may do without when it is a CRL. */
const isUnavailable = (err: unknown): err is TeeVerifyError => err instanceof TeeVerifyError && err.errorClass === 'COLLATERAL_UNAVAILABLE';


export function collateralArtifacts(c: EvidenceCollateral): CollateralArtifact[] {
  return c.kind === 'intel' ? [c.tcbInfo, c.qeIdentity, c.pckCrl, c.rootCaCrl] : [c.signingCertificate, c.certChain, c.crl];
}

/** Product and key kind of a report; S06 when the product is unknown (a v2 report nobody named). */
function snpTarget(report: SnpReport): { product: AmdProduct; signingKey: AmdKeyKind } {
  const product = report.product;
  if (!product || !report.tcb) {
    throw new ProductError('ERR_PRODUCT_MISMATCH', 'the SEV-SNP product is unknown: name it for v2 reports', { check: 'S06' });
  }
  return { product, signingKey: report.signerInfo.signingKey };
}

function tableEntry(certTable: readonly SnpCertificateEntry[], kind: string): SnpCertificateEntry | undefined {
  for (const e of certTable) if (e.kind === kind) return e;
  return undefined;
}

/** The Intel lookups of one platform and TEE (see CollateralService.#planOf). */
interface LookupPlan {
  tee: IntelTee;
  fmspc: string;
  pckCa: PckCa;
  keys: readonly [string, string, string, string];
  fetch: readonly [() => Promise<CollateralArtifact>, () => Promise<CollateralArtifact>, () => Promise<CollateralArtifact>, () => Promise<CollateralArtifact>];
}

function intelCollateral(plan: LookupPlan, tcbInfo: Resolved, qeIdentity: Resolved, pckCrl: Resolved, rootCaCrl: Resolved): IntelCollateral {
  const warnings = tcbInfo.warnings.length + qeIdentity.warnings.length + pckCrl.warnings.length + rootCaCrl.warnings.length === 0
    ? []
    : [...tcbInfo.warnings, ...qeIdentity.warnings, ...pckCrl.warnings, ...rootCaCrl.warnings];
  return {
    kind: 'intel',
    tee: plan.tee,
    fmspc: plan.fmspc,
    pckCa: plan.pckCa,
    tcbInfo: tcbInfo.artifact,
    qeIdentity: qeIdentity.artifact,
    pckCrl: pckCrl.artifact,
    rootCaCrl: rootCaCrl.artifact,
    warnings,
  };
}

/**
 * Chain and CRL keys per product and key kind, built once: the same string
 * objects on every lookup keep their hash (a new template string is hashed
 * again by each Map it meets).
 */
const AMD_KEYS = new Map<AmdProduct, Partial<Record<AmdKeyKind, { certChain: string; crl: string }>>>();

function amdKeys(product: AmdProduct, signingKey: AmdKeyKind): { certChain: string; crl: string } {
  let byKind = AMD_KEYS.get(product);
  if (!byKind) {
    byKind = {};
    // Three products exist; anything else is looked up without being remembered.
    if (AMD_KEYS.size < 8) AMD_KEYS.set(product, byKind);
  }
  return (byKind[signingKey] ??= { certChain: artifactKey.certChain(product, signingKey), crl: artifactKey.amdCrl(product, signingKey) });
}

type Four<T> = [T, T, T, T];

/**
 * The values of lookups that all succeeded, else the first failure. An
 * UnknownPlatformError from a custom Intel source becomes the retryable
 * ERR_COLLATERAL_NOT_FOUND: the quote's FMSPC comes from a PCK chain that
 * verified to a pinned root, so a missing TCB info is the source's gap, not a
 * verdict on the quote (review s8 #1).
 */
function settledOrThrow(settled: Four<PromiseSettledResult<Resolved>>): Four<Resolved> {
  return settled.map(valueOrThrow) as Four<Resolved>;
}

/** One lookup's value, else its failure as settledOrThrow throws it. */
function valueOrThrow(s: PromiseSettledResult<Resolved>): Resolved {
  if (s.status === 'fulfilled') return s.value;
  if (s.reason instanceof UnknownPlatformError) {
    throw new CollateralUnavailableError('ERR_COLLATERAL_NOT_FOUND', `${s.reason.message}; not a verdict on an Intel quote`, { ...s.reason.details, reason: PLATFORM_NOT_SERVED }, s.reason);
  }
  throw s.reason;
}

/** A 404 for the evidence's platform from a source not shown to serve: the retryable ERR_COLLATERAL_NOT_FOUND. */
function notAVerdict(err: UnknownPlatformError, windowMs: number): CollateralUnavailableError {
  return new CollateralUnavailableError(
    'ERR_COLLATERAL_NOT_FOUND',
    `${err.message}; not a verdict on the evidence: the source served no fixed document of this product from the network in the last ${windowMs} ms and a fresh request for one failed (or was answered by a bundle)`,
    { ...err.details, reason: 'source-not-serving' },
    err,
  );
}

function isInMemory(source: object | undefined): boolean {
  return source !== undefined && typeof (source as { stored?: unknown }).stored === 'function';
}

/** chainsToRoots for `roots`, remembered per artifact: the same cached version is ranked again on every verification. */
function anchoredIn(roots: TrustRoots): (artifact: CollateralArtifact) => boolean {
  const known = new WeakMap<CollateralArtifact, boolean>();
  return (artifact) => {
    let ok = known.get(artifact);
    if (ok === undefined) known.set(artifact, (ok = chainsToRoots(artifact, roots)));
    return ok;
  };
}

/** A verifier serves a few platforms; a miss only builds the key. */
const RECENT_VCEK_KEYS = 4;

/**
 * Rollback floors concern Intel documents only, so "the pinned roots" means: exactly Intel's
 * production root CA set, byte for byte, whatever object carries it (review s9 changes-d #2: a
 * structurally equal copy, or `--trust-root` with Intel's real root PEM, was treated as a test PKI
 * and the disk cache's floors were neither read nor raised). A set that adds any other root is not.
 */
function hasProductionIntelRoots(roots: TrustRoots | undefined): boolean {
  if (roots === undefined || roots === PRODUCTION_TRUST_ROOTS) return true;
  const mine = roots.intelRootCas;
  const pinned = PRODUCTION_TRUST_ROOTS.intelRootCas;
  return mine.length === pinned.length && mine.every((der) => pinned.some((p) => Buffer.compare(Buffer.from(der.buffer, der.byteOffset, der.byteLength), Buffer.from(p.buffer, p.byteOffset, p.byteLength)) === 0));
}

export class CollateralService {
  readonly #intel: IntelCollateralSource | undefined;
  readonly #amd: AmdCollateralSource | undefined;
  readonly #resolver: ArtifactResolver;
  readonly #intelMetered: boolean;
  readonly #amdMetered: boolean;
  readonly #update: UpdateChannel;
  readonly #evalNumber: number | undefined;
  /** See #vcekKey: the request's fields, its hwId as a private copy, the key. */
  readonly #recentVcekKeys: { request: VcekRequest; hwId: Buffer; key: string }[] = [];
  /**
   * Whether the KDS serves now, per signing key kind and product (the KDS
   * path prefix `/<vcek|vlek>/v1/<product>/`): a 404 for the report's VCEK is
   * a verdict only from a KDS that recently served a fixed document under the
   * same prefix from the network (see liveness.ts; review s6b #2, s13 #1,
   * s13 CR #1: VLEK answers say nothing about /vcek/). Intel gives no verdict
   * on a 404 (review s8 #1). At most one per key kind and AmdProduct.
   */
  readonly #amdLive = new Map<`${AmdKeyKind}/${AmdProduct}`, SourceLiveness>();
  readonly #livenessMs: number;
  readonly #providerClock: () => number;
  /** Lookup plans by parsed (content-cached) PCK leaf, then TEE. */
  readonly #plans = new WeakMap<object, Partial<Record<IntelTee, LookupPlan>>>();

  constructor(options: CollateralServiceOptions = {}) {
    this.#intel = options.intel;
    this.#amd = options.amd;
    this.#resolver = new ArtifactResolver({
      cache: options.cache === undefined ? new CollateralCache() : options.cache,
      // anchored: ranks a cached version against the bundle's (X03), and orders eviction (cache.ts, s15)
      anchored: anchoredIn(options.trustRoots ?? PRODUCTION_TRUST_ROOTS),
      ...(options.bundle === undefined ? {} : { bundle: options.bundle }),
      ...(options.graceMs === undefined ? {} : { graceMs: options.graceMs }),
      ...(options.refreshIntervalMs === undefined ? {} : { refreshIntervalMs: options.refreshIntervalMs }),
      ...(options.notFoundTtlMs === undefined ? {} : { notFoundTtlMs: options.notFoundTtlMs }),
      ...(options.fetchBudget === undefined ? {} : { fetchBudget: options.fetchBudget }),
      ...(options.clock === undefined ? {} : { clock: options.clock }),
      ...(options.offline === undefined ? {} : { offline: options.offline }),
      pinnedRoots: hasProductionIntelRoots(options.trustRoots),
    });
    // Sources holding their artifacts in memory (bundles) cost nothing to ask: outside the fetch budget.
    this.#intelMetered = !isInMemory(options.intel);
    this.#amdMetered = !isInMemory(options.amd);
    this.#update = options.update ?? 'standard';
    this.#evalNumber = options.tcbEvaluationDataNumber;
    const livenessMs = options.sourceLivenessMs ?? DEFAULT_SOURCE_LIVENESS_MS;
    if (!Number.isFinite(livenessMs) || livenessMs < 0) throw new TypeError('sourceLivenessMs must be a non-negative number');
    this.#livenessMs = livenessMs;
    this.#providerClock = options.clock ?? Date.now;
  }

  /** The KDS liveness of the documents under /<signingKey>/v1/<product>/. */
  #amdLiveOf(product: AmdProduct, signingKey: AmdKeyKind): SourceLiveness {
    const prefix = `${signingKey}/${product}` as const;
    let live = this.#amdLive.get(prefix);
    if (!live) this.#amdLive.set(prefix, (live = new SourceLiveness(this.#livenessMs, this.#providerClock)));
    return live;
  }

  /**
   * ERR_COLLATERAL_UNKNOWN_PLATFORM when the KDS serves its fixed documents
   * now (answered one within the liveness window, or answers the probe
   * `fixedDocument`), else the retryable ERR_COLLATERAL_NOT_FOUND: an emptied
   * mirror or a wrong URL behind a warm cache is an outage, not a verdict on
   * the evidence.
   */
  async #verdict(err: UnknownPlatformError, live: SourceLiveness, fixedDocument: () => Promise<CollateralArtifact>): Promise<never> {
    if (await live.serves(fixedDocument)) throw err;
    throw notAVerdict(err, live.windowMs);
  }

  /**
   * Forgets the cached version of `artifact` (same key, same bytes) in memory
   * and on disk: a verification rejected it on authenticity or chain. The
   * next lookup selects the next version or fetches again. Discarding a
   * genuine version is harmless (it is fetched again). Artifacts taken from
   * the evidence are never cached; for them this does nothing.
   */
  discard(artifact: CollateralArtifact): boolean {
    return artifact.source.origin !== 'evidence' && this.#resolver.discard(artifact);
  }

  /**
   * Marks the cached versions of `collateral` as used by a verification that
   * passed: eviction keeps the newest marked version of each, and the rollback
   * floors (X03) of the TCB info and QE identity rise to them. verifyEvidence
   * calls this on success, and so does --skip-crl's second gathering
   * (src/cli/gather.ts) with the CRLs-optional shape of forEvidenceCrlsOptional,
   * whose absent CRLs (and SEV-SNP chain) mark nothing. A repeated mark costs
   * one WeakSet lookup per artifact.
   *
   * `verification` names the roots the verification that passed ran under
   * (its `trustRoots`; undefined there means the pinned production roots, as
   * for the verifier). verifyEvidence always passes it. A service with a
   * cache, built with Intel's pinned roots, marks an Intel verification's
   * collateral there (and raises the TCB info's and QE identity's rollback
   * floors, X03) only when that verification ran under the pinned roots too;
   * under other roots (a test PKI) it marks nothing (s16 env #2: a test PKI's
   * TCB info for a real FMSPC key raised that key's floor in the shared
   * default cache, and genuine collateral was refused from then on). A
   * service built with other roots, or without a cache, marks as before
   * (CRLs in the cache; floors in its own memory). Without `verification` the
   * service's own roots are assumed (callers that verify with the same roots
   * as the service, as the CLI does).
   */
  markVerified(collateral: EvidenceCollateral | EvidenceCollateralCrlsOptional, verification?: { trustRoots?: TrustRoots | undefined }): void {
    const r = this.#resolver;
    if (collateral.kind === 'intel') {
      const pinned = verification === undefined || hasProductionIntelRoots(verification.trustRoots);
      r.markVerified(collateral.tcbInfo, pinned);
      r.markVerified(collateral.qeIdentity, pinned);
      if (collateral.pckCrl) r.markVerified(collateral.pckCrl, pinned);
      if (collateral.rootCaCrl) r.markVerified(collateral.rootCaCrl, pinned);
    } else {
      if (collateral.signingCertificate.source.origin !== 'evidence') r.markVerified(collateral.signingCertificate);
      if (collateral.certChain && collateral.certChain.source.origin !== 'evidence') r.markVerified(collateral.certChain);
      if (collateral.crl) r.markVerified(collateral.crl);
    }
  }

  /** Not itself async: both branches return their promise, so no extra promise and tick per call. */
  forEvidence(evidence: TdxQuote | SgxQuote | SnpReport, now: Date, certTable?: readonly SnpCertificateEntry[]): Promise<EvidenceCollateral> {
    return evidence.kind === 'snp' ? this.forSnpReport(evidence, now, certTable) : this.forQuote(evidence, now);
  }

  /**
   * The collateral of the evidence when every artifact is at hand: cached
   * with no refresh due, or (SEV-SNP) in the evidence's certificate table.
   * The answer forEvidence would give, without a promise or a fetch;
   * undefined otherwise, then call forEvidence.
   */
  cachedFor(evidence: TdxQuote | SgxQuote | SnpReport, now: Date, certTable: readonly SnpCertificateEntry[] = []): EvidenceCollateral | undefined {
    if (evidence.kind === 'snp') return this.#cachedForSnp(evidence, now, certTable);
    const source = this.#intel;
    if (!source) return undefined;
    const plan = this.#planOf(evidence, source);
    const r = this.#resolver;
    const tcbInfo = r.cached(plan.keys[0], now);
    const qeIdentity = tcbInfo && r.cached(plan.keys[1], now);
    const pckCrl = qeIdentity && r.cached(plan.keys[2], now);
    const rootCaCrl = pckCrl && r.cached(plan.keys[3], now);
    return rootCaCrl ? intelCollateral(plan, tcbInfo!, qeIdentity!, pckCrl!, rootCaCrl) : undefined;
  }

  async forQuote(quote: TdxQuote | SgxQuote, now: Date): Promise<IntelCollateral> {
    const source = this.#intel;
    if (!source) throw missingSource('Intel collateral');
    const plan = this.#planOf(quote, source);
    const r = this.#resolver;
    const m = this.#intelMetered;
    // The four lookups run side by side (each may be a network fetch).
    const [tcbInfo, qeIdentity, pckCrl, rootCaCrl] = settledOrThrow(
      await Promise.allSettled([
        r.resolve(plan.keys[0], plan.fetch[0], now, m),
        r.resolve(plan.keys[1], plan.fetch[1], now, m),
        r.resolve(plan.keys[2], plan.fetch[2], now, m),
        r.resolve(plan.keys[3], plan.fetch[3], now, m),
      ]),
    );
    return intelCollateral(plan, tcbInfo, qeIdentity, pckCrl, rootCaCrl);
  }

  /**
   * T21 recovery (verifyEvidence): the quote's collateral with the QE identity
   * asked for at `tcbEvaluationDataNumber`, the TCB info's, instead of the
   * channel's latest. A PCCS that lags (it refreshes the two documents
   * separately) can keep serving a QE identity older than its TCB info, which
   * the verifier refuses; PCS v4 serves `qe/identity?tcbEvaluationDataNumber=N`
   * as it does for `tcb`. The other three artifacts are the ones forQuote
   * resolves (from the cache when it has them).
   */
  async forQuoteWithQeIdentityAt(quote: TdxQuote | SgxQuote, now: Date, tcbEvaluationDataNumber: number): Promise<IntelCollateral> {
    const source = this.#intel;
    if (!source) throw missingSource('Intel collateral');
    const plan = this.#planOf(quote, source);
    const qeReq = { tee: plan.tee, tcbEvaluationDataNumber };
    const r = this.#resolver;
    const m = this.#intelMetered;
    const [tcbInfo, qeIdentity, pckCrl, rootCaCrl] = settledOrThrow(
      await Promise.allSettled([
        r.resolve(plan.keys[0], plan.fetch[0], now, m),
        r.resolve(artifactKey.qeIdentity(qeReq), () => source.qeIdentity(qeReq), now, m),
        r.resolve(plan.keys[2], plan.fetch[2], now, m),
        r.resolve(plan.keys[3], plan.fetch[3], now, m),
      ]),
    );
    return intelCollateral(plan, tcbInfo, qeIdentity, pckCrl, rootCaCrl);
  }

  /**
   * --skip-crl's gathering (src/cli/gather.ts; verify, batch and serve), after forEvidence found
   * some collateral unavailable: every artifact through the same resolver as forEvidence (explicit
   * bundle, cache, validity at `now`, rollback floors X03, fetch budget), but a CRL (and for
   * SEV-SNP the chain, whose anchors the verifier pins) that cannot be obtained (class
   * COLLATERAL_UNAVAILABLE) is left out and listed in `skipped`. The TCB info, QE identity and
   * VCEK / VLEK stay required: their errors, a rollback refusal included, are thrown. Relaxing
   * the CRLs never relaxes X03: nothing here comes from a source past the floors.
   */
  forEvidenceCrlsOptional(evidence: TdxQuote | SgxQuote | SnpReport, now: Date, certTable: readonly SnpCertificateEntry[] = []): Promise<EvidenceCollateralCrlsOptional> {
    return evidence.kind === 'snp' ? this.#snpCrlsOptional(evidence, now, certTable) : this.#quoteCrlsOptional(evidence, now);
  }

  async #quoteCrlsOptional(quote: TdxQuote | SgxQuote, now: Date): Promise<IntelCollateralCrlsOptional> {
    const source = this.#intel;
    if (!source) throw missingSource('Intel collateral');
    const plan = this.#planOf(quote, source);
    const r = this.#resolver;
    const m = this.#intelMetered;
    const settled = await Promise.allSettled([
      r.resolve(plan.keys[0], plan.fetch[0], now, m),
      r.resolve(plan.keys[1], plan.fetch[1], now, m),
      r.resolve(plan.keys[2], plan.fetch[2], now, m),
      r.resolve(plan.keys[3], plan.fetch[3], now, m),
    ]);
    const tcbInfo = valueOrThrow(settled[0]);
    const qeIdentity = valueOrThrow(settled[1]);
    const skipped: SkippedArtifact[] = [];
    const optional = (s: PromiseSettledResult<Resolved>, what: string): Resolved | undefined => {
      if (s.status === 'fulfilled') return s.value;
      if (!isUnavailable(s.reason)) throw s.reason;
      skipped.push({ what, error: s.reason });
      return undefined;
    };
    const pckCrl = optional(settled[2], 'the PCK CRL');
    const rootCaCrl = optional(settled[3], 'the Root CA CRL');
    const warnings = [tcbInfo, qeIdentity, pckCrl, rootCaCrl].flatMap((x) => x?.warnings ?? []);
    return {
      kind: 'intel',
      tee: plan.tee,
      fmspc: plan.fmspc,
      pckCa: plan.pckCa,
      tcbInfo: tcbInfo.artifact,
      qeIdentity: qeIdentity.artifact,
      ...(pckCrl ? { pckCrl: pckCrl.artifact } : {}),
      ...(rootCaCrl ? { rootCaCrl: rootCaCrl.artifact } : {}),
      warnings,
      skipped,
    };
  }

  async #snpCrlsOptional(report: SnpReport, now: Date, certTable: readonly SnpCertificateEntry[]): Promise<AmdCollateralCrlsOptional> {
    const { product, signingKey } = snpTarget(report);
    const results: Resolved[] = [];
    const skipped: SkippedArtifact[] = [];
    let signingCertificate: CollateralArtifact | undefined;
    let unknownPlatform: UnknownPlatformError | undefined;
    try {
      signingCertificate = await this.#signingCertificate(report, product, signingKey, tableEntry(certTable, signingKey), now, results);
    } catch (err) {
      if (!(err instanceof UnknownPlatformError)) throw err;
      unknownPlatform = err;
    }
    const amd = this.#amd;
    const optional = async (what: string, resolve: () => Promise<Resolved>): Promise<CollateralArtifact | undefined> => {
      try {
        const r = await resolve();
        results.push(r);
        return r.artifact;
      } catch (err) {
        if (!isUnavailable(err)) throw err;
        skipped.push({ what, error: err });
        return undefined;
      }
    };
    let certChain = this.#tableChain(product, signingKey, certTable);
    if (!certChain && amd) {
      certChain = await optional(`the ${product} cert_chain`, () => this.#resolver.resolve(artifactKey.certChain(product, signingKey), this.#amdLiveOf(product, signingKey).track(() => amd.certChain(product, signingKey)), now, this.#amdMetered));
    }
    const crl = amd
      ? await optional(`the ${product} ${signingKey.toUpperCase()} CRL`, () => this.#resolver.resolve(artifactKey.amdCrl(product, signingKey), this.#amdLiveOf(product, signingKey).track(() => amd.crl(product, signingKey)), now, this.#amdMetered))
      : undefined;
    if (unknownPlatform) {
      if (!amd) throw unknownPlatform;
      return this.#verdict(unknownPlatform, this.#amdLiveOf(product, signingKey), () => amd.crl(product, signingKey));
    }
    return {
      kind: 'amd',
      product,
      signingKey,
      signingCertificate: signingCertificate!,
      ...(certChain ? { certChain } : {}),
      ...(crl ? { crl } : {}),
      warnings: results.flatMap((r) => r.warnings),
      skipped,
    };
  }

  /**
   * What to look up for a quote: FMSPC and PCK CA from its PCK leaf, the
   * artifact keys and the fetch calls. All of it is a pure function of the
   * leaf (content-cached: the same chain bytes give the same parsed leaf), the
   * TEE and this service's fixed options, so it is built once per leaf and
   * TEE; only the lookups themselves run per call.
   */
  #planOf(quote: TdxQuote | SgxQuote, source: IntelCollateralSource): LookupPlan {
    const [leafDer] = pckChainCertificates(quote.signatureData.pckCertChainPem);
    const leaf = parseCertificate(leafDer!);
    let byTee = this.#plans.get(leaf);
    if (!byTee) {
      byTee = {};
      this.#plans.set(leaf, byTee);
    }
    const tee: IntelTee = quote.kind;
    let plan = byTee[tee];
    if (!plan) {
      const fmspc = parseIntelSgxExtension(leaf).fmspc.toLowerCase();
      const pckCa = pckCaKind(leaf);
      const select = this.#evalNumber === undefined ? { update: this.#update } : { tcbEvaluationDataNumber: this.#evalNumber };
      const tcbReq = { tee, fmspc, ...select };
      const qeReq = { tee, ...select };
      plan = {
        tee,
        fmspc,
        pckCa,
        keys: [artifactKey.tcbInfo(tcbReq), artifactKey.qeIdentity(qeReq), artifactKey.pckCrl(pckCa), artifactKey.rootCaCrl()],
        fetch: [() => source.tcbInfo(tcbReq), () => source.qeIdentity(qeReq), () => source.pckCrl(pckCa), () => source.rootCaCrl()],
      };
      byTee[tee] = plan;
    }
    return plan;
  }

  async forSnpReport(report: SnpReport, now: Date, certTable: readonly SnpCertificateEntry[] = []): Promise<AmdCollateral> {
    const { product, signingKey } = snpTarget(report);
    const results: Resolved[] = [];
    // A KDS that knows no such chip is a verdict only once the chain and CRL resolved and the KDS serves now (#verdict).
    let signingCertificate: CollateralArtifact | undefined;
    let unknownPlatform: UnknownPlatformError | undefined;
    try {
      signingCertificate = await this.#signingCertificate(report, product, signingKey, tableEntry(certTable, signingKey), now, results);
    } catch (err) {
      if (!(err instanceof UnknownPlatformError)) throw err;
      unknownPlatform = err;
    }
    const amd = this.#amd;
    let certChain = this.#tableChain(product, signingKey, certTable);
    if (!certChain) {
      if (!amd) throw missingSource('AMD certificate chain');
      const r = await this.#resolver.resolve(artifactKey.certChain(product, signingKey), this.#amdLiveOf(product, signingKey).track(() => amd.certChain(product, signingKey)), now, this.#amdMetered);
      results.push(r);
      certChain = r.artifact;
    }
    if (!amd) throw missingSource('AMD CRL');
    const crl = await this.#resolver.resolve(artifactKey.amdCrl(product, signingKey), this.#amdLiveOf(product, signingKey).track(() => amd.crl(product, signingKey)), now, this.#amdMetered);
    results.push(crl);
    if (unknownPlatform) return this.#verdict(unknownPlatform, this.#amdLiveOf(product, signingKey), () => amd.crl(product, signingKey));
    return { kind: 'amd', product, signingKey, signingCertificate: signingCertificate!, certChain, crl: crl.artifact, warnings: results.flatMap((r) => r.warnings) };
  }

  /**
   * cachedFor for a report: the VCEK / VLEK from the certificate table or the
   * cache, the chain from the table or the cache, the CRL from the cache (or,
   * with no cache, from a source that holds them in memory). Undefined
   * wherever forSnpReport would fetch, refresh, warn or throw.
   */
  #cachedForSnp(report: SnpReport, now: Date, certTable: readonly SnpCertificateEntry[]): AmdCollateral | undefined {
    const product = report.product;
    const amd = this.#amd;
    if (!product || !report.tcb || !amd) return undefined;
    const signingKey = report.signerInfo.signingKey;
    const r = this.#resolver;
    const entry = tableEntry(certTable, signingKey);
    let signingCertificate: CollateralArtifact | undefined;
    if (entry) signingCertificate = tableLeafArtifact(product, signingKey, entry.der);
    else if (signingKey === 'vcek') signingCertificate = r.cached(this.#vcekKey(report, product), now, amd)?.artifact;
    if (!signingCertificate) return undefined;
    const keys = amdKeys(product, signingKey);
    const certChain = this.#tableChain(product, signingKey, certTable) ?? r.cached(keys.certChain, now, amd)?.artifact;
    const crl = certChain && r.cached(keys.crl, now, amd)?.artifact;
    // Cache hits carry no warnings (see ArtifactResolver.cached).
    return crl ? { kind: 'amd', product, signingKey, signingCertificate, certChain: certChain!, crl, warnings: [] } : undefined;
  }

  /**
   * The VCEK's artifact key, remembered for the last few platforms: every
   * report of a platform names the same VCEK, and building the key (hex of
   * the hwID) and hashing the new string for the lookup cost more than
   * comparing the request's fields and hwID bytes with a remembered one.
   */
  #vcekKey(report: SnpReport, product: AmdProduct): string {
    const t = report.tcb!.reported;
    const hwId = report.chipId.subarray(0, product === 'Turin' ? 8 : 64);
    for (const k of this.#recentVcekKeys) {
      const r = k.request;
      if (r.product === product && r.bootloader === t.bootloader && r.tee === t.tee && r.snp === t.snp && r.microcode === t.microcode && r.fmc === t.fmc && k.hwId.equals(hwId)) {
        return k.key;
      }
    }
    const request = vcekRequestOf(report, product);
    const key = artifactKey.vcek(request);
    if (this.#recentVcekKeys.length >= RECENT_VCEK_KEYS) this.#recentVcekKeys.pop();
    // The hwId is a view of a report: keep a copy, never the caller's buffer.
    this.#recentVcekKeys.unshift({ request: { ...request, hwId: new Uint8Array(0) }, hwId: Buffer.from(request.hwId), key });
    return key;
  }

  /** Certificates in the evidence come first; the verifier pins them (S37). */
  #tableChain(product: AmdProduct, signingKey: AmdKeyKind, certTable: readonly SnpCertificateEntry[]): CollateralArtifact | undefined {
    const ask = tableEntry(certTable, 'ask');
    const ark = tableEntry(certTable, 'ark');
    return ask && ark ? tableChainArtifact(product, signingKey, ask.der, ark.der) : undefined;
  }

  async #signingCertificate(
    report: SnpReport,
    product: AmdProduct,
    signingKey: AmdKeyKind,
    entry: SnpCertificateEntry | undefined,
    now: Date,
    results: Resolved[],
  ): Promise<CollateralArtifact> {
    if (entry) return tableLeafArtifact(product, signingKey, entry.der);
    // A leaf no source serves (a VLEK; a VCEK of a masked or all-zero chip id) is the evidence's
    // defect, S05, for callers of forEvidence too (tee-verify fetch / export): never a retryable
    // "no source", and never a KDS request for chip 00…00 (review s13 SNP #2).
    checkLeafObtainable(report, undefined);
    const amd = this.#amd;
    if (!amd) throw missingSource('AMD VCEK');
    const request = vcekRequestOf(report, product);
    const r = await this.#resolver.resolve(artifactKey.vcek(request), () => amd.vcek(request), now, this.#amdMetered);
    results.push(r);
    return r.artifact;
  }
}
