/**
 * A simulated TEE on the synthetic test PKI (src/testing). It produces real,
 * verifiable evidence — a TDX quote v4 (default) or a SEV-SNP report v3 —
 * whose REPORTDATA is exactly the 64 bytes asked for, together with the
 * matching test trust roots and collateral. A key broker configured with
 * `trustRoots` (or `trustRootPem`) and `collateral` accepts its evidence;
 * the production trust roots never do. For development and tests only.
 *
 * The PKI is created once per provider: its certificate signatures vary from
 * run to run, and trust roots pin the exact DER.
 */
import { constants, sign } from 'node:crypto';
import { exportBundle, parseEvidence, type CollateralArtifact, type SnpReport, type TrustRoots } from '../index.js';
import { artifactKey } from '../collateral/index.js';
import { validateArtifact } from '../collateral/validate.js';
import {
  buildSnpCertTable,
  buildSnpReport,
  buildTdxQuote,
  createAmdTestPki,
  createSyntheticIntelPlatform,
  type AmdTestPki,
  type SyntheticIntelPlatform,
} from '../testing/index.js';
import * as der from '../testing/der.js';
import { authorityKeyIdentifier, encodeName, signatureAlgorithm } from '../testing/x509-builder.js';
import { EvidenceProviderError } from '../model/errors.js';
import { REPORT_DATA_SIZE, type EvidenceProvider, type TeeEvidence } from './types.js';

const DAY = 86_400_000;
export const SIMULATED_TEE_SEED = 'tee-model simulated TEE';

export interface SimulatedTeeOptions {
  /** Default "tdx". */
  tee?: 'tdx' | 'snp';
  /** Centre of the certificates' and collateral's validity (collateral: one day before to 29 days after). Default: now. */
  at?: Date;
  /** Seed of the deterministic PKI fields and measurements. */
  seed?: string;
}

interface Backend {
  trustRoots: TrustRoots;
  trustRootPem: string;
  artifacts: CollateralArtifact[];
  build(reportData: Uint8Array): { evidence: Uint8Array; auxblob?: Uint8Array };
}

function tdxBackend(at: Date, seed: string): Backend {
  const platform: SyntheticIntelPlatform = createSyntheticIntelPlatform({ tee: 'tdx', at, seed, version: 4 });
  const c = platform.collateral;
  const artifacts = [c.tcbInfo, c.qeIdentity, c.pckCrl, c.rootCaCrl].filter((a): a is CollateralArtifact => a !== undefined);
  const pki = platform.pki;
  return {
    trustRoots: platform.trustRoots,
    trustRootPem: pki.root.pem,
    artifacts,
    build: (reportData) => ({
      evidence: buildTdxQuote({ version: 4, seed, pckKey: pki.pck.key.privateKey, pckChainPem: pki.pckChainPem, body: { reportData } }).bytes,
    }),
  };
}

/** An ARK-signed, empty v2 CRL (RSASSA-PSS SHA-384) as KDS serves them. */
function amdCrl(pki: AmdTestPki, window: { notBefore: Date; notAfter: Date }): Uint8Array {
  const ext = (oid: string, value: Uint8Array) => der.sequence(der.objectIdentifier(oid), der.octetString(value));
  const aki = authorityKeyIdentifier(pki.ark.key.publicKey);
  const tbs = der.sequence(
    der.integer(1),
    signatureAlgorithm('rsa-pss-sha384'),
    encodeName(pki.ark.subject),
    der.time(window.notBefore),
    der.time(window.notAfter),
    der.explicit(0, der.sequence(ext(aki.oid, aki.value), ext('2.5.29.20', der.integer(1)))),
  );
  const signature = sign('sha384', tbs, { key: pki.ark.key.privateKey, padding: constants.RSA_PKCS1_PSS_PADDING, saltLength: 48 });
  return der.sequence(tbs, signatureAlgorithm('rsa-pss-sha384'), der.bitString(new Uint8Array(signature)));
}

function snpBackend(at: Date, seed: string): Backend {
  const product = 'Milan';
  const pki = createAmdTestPki({ seed, product, validity: { notBefore: new Date(at.getTime() - 365 * DAY), notAfter: new Date(at.getTime() + 5 * 365 * DAY) } });
  const build = (reportData: Uint8Array) => buildSnpReport({ version: 3, product, signingKey: 'vcek', key: pki.vcek.key.privateKey, seed, reportData }).bytes;
  const report = parseEvidence(build(new Uint8Array(REPORT_DATA_SIZE))) as SnpReport;
  const t = report.tcb!.reported;
  const vcekKey = artifactKey.vcek({ product, hwId: report.chipId.subarray(0, 64), bootloader: t.bootloader, tee: t.tee, snp: t.snp, microcode: t.microcode });
  const window = { notBefore: new Date(at.getTime() - DAY), notAfter: new Date(at.getTime() + 29 * DAY) };
  const source = { origin: 'bundle' as const };
  const artifacts = [
    validateArtifact({ kind: 'amd-vcek', key: vcekKey, body: pki.vcek.der, source }),
    validateArtifact({ kind: 'amd-cert-chain', key: artifactKey.certChain(product, 'vcek'), body: new Uint8Array(Buffer.from(pki.ask.pem + pki.ark.pem)), source }),
    validateArtifact({ kind: 'amd-crl', key: artifactKey.amdCrl(product, 'vcek'), body: amdCrl(pki, window), source }),
  ];
  const auxblob = buildSnpCertTable([
    { guid: 'vcek', der: pki.vcek.der },
    { guid: 'ask', der: pki.ask.der },
    { guid: 'ark', der: pki.ark.der },
  ]);
  return {
    trustRoots: { label: 'test-pki', intelRootCas: [], amd: { [product]: { ark: pki.ark.der, ask: pki.ask.der, asvk: pki.asvk.der } } },
    trustRootPem: pki.ark.pem + pki.ask.pem + pki.asvk.pem,
    artifacts,
    build: (reportData) => ({ evidence: build(reportData), auxblob }),
  };
}

export class SimulatedTeeProvider implements EvidenceProvider {
  readonly name = 'simulated';
  readonly tee: 'tdx' | 'snp';
  readonly at: Date;
  /** Trust roots pinning the simulated PKI (label "test-pki"). */
  readonly trustRoots: TrustRoots;
  /** The same roots as PEM (TDX: the Intel-shaped root; SNP: ARK, ASK, ASVK). */
  readonly trustRootPem: string;
  /** Collateral for this platform (bundle artifacts). */
  readonly collateral: readonly CollateralArtifact[];
  readonly #backend: Backend;

  constructor(options: SimulatedTeeOptions = {}) {
    this.tee = options.tee ?? 'tdx';
    if (this.tee !== 'tdx' && this.tee !== 'snp') throw new EvidenceProviderError('ERR_TSM_PROVIDER', `simulated TEE must be "tdx" or "snp"`);
    this.at = options.at ?? new Date();
    const seed = options.seed ?? SIMULATED_TEE_SEED;
    this.#backend = this.tee === 'tdx' ? tdxBackend(this.at, seed) : snpBackend(this.at, seed);
    this.trustRoots = this.#backend.trustRoots;
    this.trustRootPem = this.#backend.trustRootPem;
    this.collateral = Object.freeze([...this.#backend.artifacts]);
  }

  /** The collateral as a tee-verify bundle document (importBundle / BundleSource). */
  collateralBundle(): string {
    return exportBundle(this.collateral);
  }

  getEvidence(reportData: Uint8Array): Promise<TeeEvidence> {
    if (!(reportData instanceof Uint8Array) || reportData.length !== REPORT_DATA_SIZE) {
      return Promise.reject(new EvidenceProviderError('ERR_TEE_REPORT_DATA', `report data must be exactly ${REPORT_DATA_SIZE} bytes`, { details: { length: reportData?.length } }));
    }
    const { evidence, auxblob } = this.#backend.build(new Uint8Array(reportData));
    return Promise.resolve({
      tee: this.tee,
      provider: this.tee === 'tdx' ? 'tdx_guest' : 'sev_guest',
      evidence,
      ...(auxblob ? { auxblob } : {}),
      reportData: new Uint8Array(reportData),
    });
  }
}
