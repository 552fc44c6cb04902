/**
 * Simulated evidence for `dev quote`: a synthetic platform of the test PKI
 * (src/testing), its collateral as tee-verify bundle artifacts, and the test
 * trust roots. Never trusted in production: it verifies only with
 * `--trust-root` naming the test roots written next to it.
 */

import { parseEvidence, type CollateralArtifact, type SnpProduct, type SnpReport } from '../index.js';
import { artifactKey } from '../collateral/index.js';
import { vcekRequestOf } from '../collateral/keys.js';
import { validateArtifact } from '../collateral/validate.js';
import { buildSnpReport, createAmdTestPki, createSyntheticIntelPlatform } from '../testing/index.js';
import { buildEmptyAmdCrl } from '../testing/amd-crl.js';

const DAY = 86_400_000;

export interface DevEvidence {
  evidence: Uint8Array;
  artifacts: CollateralArtifact[];
  /** PEM of the test roots: Intel root, or ARK + ASK + ASVK. */
  trustRootPem: string;
  /** The collateral's validity window: verification works inside it. */
  window: { notBefore: Date; notAfter: Date };
  description: string;
}

export interface DevOptions {
  tee: 'tdx' | 'sgx' | 'snp';
  at: Date;
  seed: string;
  /** TDX quote version (4 or 5). */
  version?: 4 | 5;
  product?: SnpProduct;
}

function collateralWindow(at: Date): { notBefore: Date; notAfter: Date } {
  return { notBefore: new Date(at.getTime() - DAY), notAfter: new Date(at.getTime() + 29 * DAY) };
}

function intelEvidence(o: DevOptions & { tee: 'tdx' | 'sgx' }): DevEvidence {
  const platform = createSyntheticIntelPlatform({ tee: o.tee, at: o.at, seed: o.seed, ...(o.tee === 'tdx' ? { version: o.version ?? 4 } : {}) });
  const c = platform.collateral;
  const artifacts = [c.tcbInfo, c.qeIdentity, c.pckCrl, c.rootCaCrl].filter((a): a is CollateralArtifact => a !== undefined);
  const what = o.tee === 'tdx' ? `TDX quote v${o.version ?? 4}` : 'SGX quote v3';
  return { evidence: platform.quote.bytes, artifacts, trustRootPem: platform.pki.root.pem, window: collateralWindow(o.at), description: what };
}

function snpEvidence(o: DevOptions): DevEvidence {
  const product = o.product ?? 'Milan';
  const pki = createAmdTestPki({ seed: o.seed, product, validity: { notBefore: new Date(o.at.getTime() - 365 * DAY), notAfter: new Date(o.at.getTime() + 5 * 365 * DAY) } });
  const version = product === 'Turin' ? 5 : 3;
  const built = buildSnpReport({ version, product, signingKey: 'vcek', key: pki.vcek.key.privateKey, seed: o.seed });
  const report = parseEvidence(built.bytes) as SnpReport;
  const window = collateralWindow(o.at);
  const source = { origin: 'bundle' as const };
  const artifacts = [
    validateArtifact({ kind: 'amd-vcek', key: artifactKey.vcek(vcekRequestOf(report, report.product!)), body: pki.vcek.der, source }),
    validateArtifact({ kind: 'amd-cert-chain', key: artifactKey.certChain(product, 'vcek'), body: new Uint8Array(Buffer.from(pki.ask.pem + pki.ark.pem)), source }),
    validateArtifact({ kind: 'amd-crl', key: artifactKey.amdCrl(product, 'vcek'), body: buildEmptyAmdCrl(pki, window), source }),
  ];
  return { evidence: built.bytes, artifacts, trustRootPem: pki.ark.pem + pki.ask.pem + pki.asvk.pem, window, description: `SEV-SNP report v${version} (${product}, VCEK)` };
}

export function buildDevEvidence(o: DevOptions): DevEvidence {
  return o.tee === 'snp' ? snpEvidence(o) : intelEvidence({ ...o, tee: o.tee });
}
