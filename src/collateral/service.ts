/**
 * Collateral for a piece of evidence: works out what the evidence names
 * (FMSPC and PCK CA from the quote's PCK certificate; product, chip ID and
 * reported TCB from an SNP report), uses certificates that travel with the
 * evidence first, and resolves the rest through the cache and the sources.
 */
import { createHash } from 'node:crypto';

import { ProductError } from '../errors.js';
import type { SnpCertificateEntry } from '../evidence/cert-table.js';
import type { SgxQuote, SnpReport, TdxQuote } from '../evidence/types.js';
import { pckChainCertificates } from '../evidence/pck-chain.js';
import { parseCertificate, parseIntelSgxExtension, pckCaKind } from '../x509/index.js';
import type { CollateralArtifact } from './artifact.js';
import { CollateralCache } from './cache.js';
import { artifactKey, type AmdKeyKind, type AmdProduct, type IntelTee, type PckCa, type UpdateChannel, type VcekRequest } from './keys.js';
import { ArtifactResolver, missingSource, type Resolved } from './provider.js';
import type { AmdCollateralSource, IntelCollateralSource } from './source.js';
import { validateArtifact } from './validate.js';

export interface CollateralServiceOptions {
  intel?: IntelCollateralSource;
  amd?: AmdCollateralSource;
  /** Default: a disk cache under the XDG cache directory; `null` for no cache at all. */
  cache?: CollateralCache | null;
  /** Grace after notAfter; off by default; reported as a warning on every use. */
  graceMs?: number;
  refreshIntervalMs?: number;
  /** Intel TCB info / QE identity channel; default "standard". Key release should prefer "early". */
  update?: UpdateChannel;
  /** Ask Intel for a specific TCB evaluation data number instead of the channel's latest. */
  tcbEvaluationDataNumber?: number;
}

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

export function collateralArtifacts(c: EvidenceCollateral): CollateralArtifact[] {
  return c.kind === 'intel' ? [c.tcbInfo, c.qeIdentity, c.pckCrl, c.rootCaCrl] : [c.signingCertificate, c.certChain, c.crl];
}

function derToPem(der: Uint8Array): string {
  const b64 = Buffer.from(der).toString('base64').replace(/.{64}/g, '$&\n').replace(/\n$/, '');
  return `-----BEGIN CERTIFICATE-----\n${b64}\n-----END CERTIFICATE-----\n`;
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

export class CollateralService {
  readonly #intel: IntelCollateralSource | undefined;
  readonly #amd: AmdCollateralSource | undefined;
  readonly #resolver: ArtifactResolver;
  readonly #update: UpdateChannel;
  readonly #evalNumber: number | undefined;
  /** Lookup plans by parsed (content-cached) PCK leaf, then TEE. */
  readonly #plans = new WeakMap<object, Partial<Record<IntelTee, LookupPlan>>>();

  constructor(options: CollateralServiceOptions = {}) {
    this.#intel = options.intel;
    this.#amd = options.amd;
    this.#resolver = new ArtifactResolver({
      cache: options.cache === undefined ? new CollateralCache() : options.cache,
      ...(options.graceMs === undefined ? {} : { graceMs: options.graceMs }),
      ...(options.refreshIntervalMs === undefined ? {} : { refreshIntervalMs: options.refreshIntervalMs }),
    });
    this.#update = options.update ?? 'standard';
    this.#evalNumber = options.tcbEvaluationDataNumber;
  }

  /** Not itself async: both branches return their promise, so no extra promise and tick per call. */
  forEvidence(evidence: TdxQuote | SgxQuote | SnpReport, now: Date, certTable?: SnpCertificateEntry[]): Promise<EvidenceCollateral> {
    return evidence.kind === 'snp' ? this.forSnpReport(evidence, now, certTable) : this.forQuote(evidence, now);
  }

  /**
   * The collateral of Intel evidence when all four artifacts are cached and
   * no refresh is due: the answer forQuote would give, without a promise or a
   * fetch. Undefined otherwise (SEV-SNP included); then call forEvidence.
   */
  cachedFor(evidence: TdxQuote | SgxQuote | SnpReport, now: Date): EvidenceCollateral | undefined {
    const source = this.#intel;
    if (evidence.kind === 'snp' || !source) return undefined;
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
    // The four lookups run side by side (each may be a network fetch).
    const [tcbInfo, qeIdentity, pckCrl, rootCaCrl] = await Promise.all([
      r.resolve(plan.keys[0], plan.fetch[0], now),
      r.resolve(plan.keys[1], plan.fetch[1], now),
      r.resolve(plan.keys[2], plan.fetch[2], now),
      r.resolve(plan.keys[3], plan.fetch[3], now),
    ]);
    return intelCollateral(plan, tcbInfo, qeIdentity, pckCrl, rootCaCrl);
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

  async forSnpReport(report: SnpReport, now: Date, certTable: SnpCertificateEntry[] = []): Promise<AmdCollateral> {
    const product = report.product;
    if (!product || !report.tcb) {
      throw new ProductError('ERR_PRODUCT_MISMATCH', 'the SEV-SNP product is unknown: name it for v2 reports', { check: 'S06' });
    }
    const signingKey = report.signerInfo.signingKey;
    const fromTable = (kind: string) => certTable.find((e) => e.kind === kind);
    const results: Resolved[] = [];
    const signingCertificate = await this.#signingCertificate(report, product, signingKey, fromTable(signingKey), now, results);
    const ask = fromTable('ask');
    const ark = fromTable('ark');
    const amd = this.#amd;
    let certChain: CollateralArtifact;
    if (ask && ark) {
      // Certificates in the evidence come first; the verifier pins them (S37).
      certChain = validateArtifact({
        kind: 'amd-cert-chain',
        key: `${artifactKey.certChain(product, signingKey)}/evidence`,
        body: new Uint8Array(Buffer.from(derToPem(ask.der) + derToPem(ark.der))),
        source: { origin: 'evidence' },
      });
    } else {
      if (!amd) throw missingSource('AMD certificate chain');
      const r = await this.#resolver.resolve(artifactKey.certChain(product, signingKey), () => amd.certChain(product, signingKey), now);
      results.push(r);
      certChain = r.artifact;
    }
    if (!amd) throw missingSource('AMD CRL');
    const crl = await this.#resolver.resolve(artifactKey.amdCrl(product, signingKey), () => amd.crl(product, signingKey), now);
    results.push(crl);
    return { kind: 'amd', product, signingKey, signingCertificate, certChain, crl: crl.artifact, warnings: results.flatMap((r) => r.warnings) };
  }

  async #signingCertificate(
    report: SnpReport,
    product: AmdProduct,
    signingKey: AmdKeyKind,
    entry: SnpCertificateEntry | undefined,
    now: Date,
    results: Resolved[],
  ): Promise<CollateralArtifact> {
    if (entry) {
      const digest = createHash('sha256').update(entry.der).digest('hex');
      return validateArtifact({ kind: signingKey === 'vlek' ? 'amd-vlek' : 'amd-vcek', key: `amd/${signingKey}/${product}/evidence/${digest}`, body: entry.der, source: { origin: 'evidence' } });
    }
    // KDS serves VCEKs only; a VLEK must come with the evidence.
    const amd = this.#amd;
    if (signingKey === 'vlek' || !amd) throw missingSource(signingKey === 'vlek' ? 'the VLEK (it must come with the evidence)' : 'AMD VCEK');
    const t = report.tcb!.reported;
    const request: VcekRequest = {
      product,
      hwId: report.chipId.subarray(0, product === 'Turin' ? 8 : 64),
      bootloader: t.bootloader,
      tee: t.tee,
      snp: t.snp,
      microcode: t.microcode,
      ...(t.fmc === undefined ? {} : { fmc: t.fmc }),
    };
    const r = await this.#resolver.resolve(artifactKey.vcek(request), () => amd.vcek(request), now);
    results.push(r);
    return r.artifact;
  }
}
