/**
 * `batch --skip-crl` (review s12 #2): when the collateral service finds part
 * of a record's collateral unavailable, the record is verified as `verify
 * --skip-crl` verifies it (src/cli/gather.ts, shared): the collateral is
 * gathered again artifact by artifact with the CRLs optional, and the
 * verifier reports each CRL it did without (T13 / T14, S-checks for AMD) as a
 * warning on the result. Everything else (TCB info, QE identity, VCEK, chain)
 * is still required: its absence stays the record's unavailable error.
 *
 * The second gathering asks, per artifact, the run's in-memory bundle cache
 * for the version valid at the record's instant (what the service would have
 * chosen), then the service's own sources. It never reads the disk cache
 * directly; a rollback refusal (X03) is not retried here.
 */
import type { CollateralArtifact } from '../collateral/artifact.js';
import type { CollateralCache } from '../collateral/cache.js';
import { artifactKey } from '../collateral/keys.js';
import type { AmdCollateralSource, IntelCollateralSource } from '../collateral/source.js';
import { TeeVerifyError } from '../errors.js';
import type { Evidence } from '../evidence/types.js';
import type { VerificationResult } from '../verify/types.js';
import type { VerifyContext } from './context.js';

type Source = IntelCollateralSource & AmdCollateralSource;

/** A source answering each request with the cache's version valid at `at`, else the given source's answer. */
export function instantSource(at: Date, cache: CollateralCache | undefined, intel: IntelCollateralSource, amd: AmdCollateralSource): Source {
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

/** Whether --skip-crl gathers again after `err`: collateral unavailable, but not a rollback refusal. */
export function retriesWithoutCrl(ctx: VerifyContext, err: unknown): boolean {
  return ctx.skipCrlSource !== undefined && err instanceof TeeVerifyError && err.errorClass === 'COLLATERAL_UNAVAILABLE' && err.details['reason'] !== 'rollback';
}

/** The record verified with the CRLs optional; throws the library's typed errors (a missing TCB info stays unavailable). */
export async function verifyWithoutCrl(ctx: VerifyContext, evidence: Evidence, at: Date): Promise<VerificationResult> {
  // Loaded on first use: it imports the package index (and the HTTP stack with it).
  const { verifyWithCollateral } = await import('../cli/gather.js');
  return verifyWithCollateral({ evidence, at, trustRoots: ctx.trustRoots, skipCrl: true, certTable: [] }, { service: ctx.service, source: ctx.skipCrlSource!(at) });
}
