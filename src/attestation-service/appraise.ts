/**
 * One appraisal, at one instant `now` (read once per request by the server,
 * or injected by tests):
 *
 *   0. the policy is resolved first: an unknown name or an invalid inline
 *      document is refused before any collateral is fetched or signature checked;
 *   1. verifyEvidence with the service's CollateralService (its cache makes a
 *      warm request cost what the library costs) and trust roots; under the
 *      skipCrl relaxation, collateral the service could not obtain is
 *      gathered again by the service with the CRLs optional, as
 *      `verify --skip-crl` does (src/cli/gather.ts): each CRL done without is a
 *      warning (T13 / T14, S-checks), the rest stays required and passes the
 *      rollback floors (X03);
 *   2. a declared TEE (trustee bodies) must be the evidence's;
 *   3. a requested binding (nonce, reportData, runtime_data) must equal
 *      REPORTDATA over all 64 bytes (T41 / S29), else the request is refused:
 *      no token ever names a nonce the evidence does not bind;
 *   4. evaluatePolicy with the chosen policy (the same binding passed on, so
 *      the appraisal records it); a client's inline policy adds a warning naming
 *      it, so its EAR is at most "warning": a relying party that checks only
 *      ear.status cannot take it for the operator's judgement; so do the
 *      service's fixed instant (`serve --at`) and skipCrl (`serve --skip-crl`);
 *   5. the EAR (toEar) signed as a JWT, exp never after the earliest collateral expiry (none
 *      is signed when that expiry is not after iat: ERR_COLLATERAL_EXPIRED, X16); the open-webui claims (`tee`, `tcb-status`) on top only
 *      when the appraisal passed the service's default policy for the TEE or a policy the
 *      operator marked for open-webui (never an inline one, never another named one).
 *
 * `ok` is true only when verification passed and the policy has no violation.
 */
import { randomUUID } from 'node:crypto';

import { PRODUCTION_TRUST_ROOTS, parseEvidence, verifyEvidence, type CollateralService, type Relaxations, type TrustRoots, type VerificationResult } from '../index.js';
import { gathersAgainWithoutCrl, verifyWithCollateral } from '../cli/gather.js';
import { InvalidArgumentError } from '../errors.js';
import { sameBytes } from '../verify/roots/index.js';
import { EAR_SUBMOD, evaluatePolicy, openWebUiClaims, signEarJwt, toEar, type EarStatus, type Policy, type PolicyViolation } from '../policy/index.js';
import { AttestationServiceError } from './errors.js';
import type { PolicySet } from './policies.js';
import type { AppraisalRequest } from './requests.js';
import type { TokenSigner } from './signer.js';

export interface AppraiseContext {
  collateral: CollateralService;
  trustRoots?: TrustRoots;
  policies: PolicySet;
  signer: TokenSigner;
  /** Token lifetime, seconds; a token never outlives the collateral it was judged with. */
  tokenTtlSeconds: number;
  /** ear.verifier-id.build. */
  verifierBuild: string;
  /** The token's iss. */
  issuer: string;
  relaxations?: Relaxations;
  snpReportVersions?: number[];
  /** Every request is judged at one fixed instant (`fixedInstant`, `serve --at`): a relaxation, warned on every result. */
  fixedInstant?: boolean;
}

export interface Appraisal {
  ok: boolean;
  /** The EAR status: affirming, warning or contraindicated. */
  status: EarStatus;
  tee: VerificationResult['tee'];
  at: string;
  tcbStatus: string | null;
  advisoryIds: string[];
  policy: { id: string; ok: boolean; violations: PolicyViolation[]; warnings: string[] };
  binding: { source: string; reportData: string } | null;
  claims: VerificationResult['claims'];
  checks: VerificationResult['checks'];
  warnings: string[];
  collateral: { earliestExpiry: string; artifacts: VerificationResult['collateral']['artifacts'] };
  trustRoots: string;
  /** The signed EAR JWT. */
  token: string;
}

/** The request's policy, for the evidence's TEE once it is known; throws for an unknown name or a bad document. */
function resolvePolicy(ctx: AppraiseContext, req: AppraisalRequest): (tee: VerificationResult['tee']) => Policy {
  const p = req.policy;
  if (p.kind === 'default' || (p.kind === 'named' && p.name === 'default')) return (tee) => ctx.policies.defaultFor(tee);
  const policy = p.kind === 'named' ? ctx.policies.named(p.name, 'tdx') : ctx.policies.inline(p.document);
  return () => policy;
}

/**
 * The warning serve, the key broker and the gateway client put on a result judged under other roots
 * than the pinned production ones (one text: s13 parity #1; verify and batch word theirs after the
 * --trust-root option).
 */
export const replacedTrustRootsWarning = (label: string): string => `trust roots "${label}" replace the pinned Intel / AMD production roots`;

/**
 * Whether every anchor in `roots` is an embedded production anchor in the same place, by DER
 * (review s12 #3: the label decided before, so a caller's own anchors labelled "production" were
 * silent). A subset (Intel's root alone, as `--trust-root` loads it) trusts nothing more, so it counts.
 */
export function isPinnedProductionRoots(roots: TrustRoots | undefined): boolean {
  if (roots === undefined || roots === PRODUCTION_TRUST_ROOTS) return true;
  const pinned = PRODUCTION_TRUST_ROOTS;
  if (!roots.intelRootCas.every((der) => pinned.intelRootCas.some((p) => sameBytes(der, p)))) return false;
  return Object.entries(roots.amd).every(([product, mine]) => {
    const theirs = Object.hasOwn(pinned.amd, product) ? pinned.amd[product as keyof typeof pinned.amd] : undefined;
    if (mine === undefined) return true;
    return theirs !== undefined && sameBytes(mine.ark, theirs.ark) && sameBytes(mine.ask, theirs.ask) && sameBytes(mine.asvk, theirs.asvk);
  });
}

/** The label "production" names the embedded anchors only (results and the EAR's trust_roots show it). */
export function checkTrustRootsLabel(roots: TrustRoots | undefined): void {
  if (roots !== undefined && roots.label === PRODUCTION_TRUST_ROOTS.label && !isPinnedProductionRoots(roots)) {
    throw new InvalidArgumentError('ERR_INVALID_ARGUMENT', 'trustRoots: the label "production" is reserved for the pinned Intel / AMD production anchors, and these are other certificates: give them another label');
  }
}

/** The warning on every result judged at the service's fixed instant (review s10 A2: a relaxation never silent). */
export const fixedInstantWarning = (at: Date): string =>
  `judged at the fixed instant ${at.toISOString()} (--at / fixedInstant), not at the time of the request: collateral and certificates were checked as of then, and the token's iat / exp follow that instant`;

/** The warning on every result under the skipCrl relaxation (`serve --skip-crl`), whether or not a CRL was skipped: as verify's. */
export const SKIP_CRL_WARNING = '--skip-crl (relaxations.skipCrl): CRLs that cannot be obtained are skipped, so revocation may be unchecked';

/** The warning on every result judged under a client's own policy document. */
export const inlinePolicyWarning = (id: string): string =>
  `judged under a policy document the client sent (${id}), not one configured on this service: accept it only if you trust that policy`;

function checkBinding(req: AppraisalRequest, result: VerificationResult): string | undefined {
  if (!req.binding) return undefined;
  const expected = req.binding.reportData.toString('hex');
  if (result.claims.reportData !== expected) {
    const check = result.claims.kind === 'snp' ? 'S29' : 'T41';
    const what = req.binding.source === 'nonce' ? 'SHA-512 of the nonce' : req.binding.source === 'runtime_data' ? 'the digest of runtime_data' : 'reportData';
    throw new AttestationServiceError('ERR_AS_BINDING_MISMATCH', 422, `REPORTDATA is not ${what}: the evidence was not produced for this request`, { check });
  }
  return expected;
}

/**
 * Seconds from iat to exp: tokenTtlSeconds, never after the earliest collateral expiry (X16).
 * When that expiry is not after iat — collateral past its window, accepted under the
 * collateral-grace relaxation, or expiring within the second — no token is signed: a token
 * valid for one second past expired collateral contradicted "never after the earliest expiry"
 * (review s10 A4), and one expired at issue is no token. The request is refused instead.
 */
function tokenLifetime(ctx: AppraiseContext, result: VerificationResult, iat: number): number {
  const expiry = Date.parse(result.collateral.earliestExpiry);
  if (!Number.isFinite(expiry)) return ctx.tokenTtlSeconds;
  const collateralEnd = Math.floor(expiry / 1000);
  if (collateralEnd <= iat) {
    throw new AttestationServiceError(
      'ERR_COLLATERAL_EXPIRED',
      422,
      `the collateral this evidence was judged with expires at ${result.collateral.earliestExpiry}, not after the token's iat ${new Date(iat * 1000).toISOString()}: a token never outlives its collateral, so none is issued (a collateral grace period cannot extend a token)`,
      { check: 'X16' },
    );
  }
  return Math.min(ctx.tokenTtlSeconds, collateralEnd - iat);
}

/**
 * Step 1. Under skipCrl, an unavailable answer from the collateral service (not one of its guards:
 * rollback, unreadable floor, fetch budget) is followed by a second gathering through the same
 * service with the CRLs optional, its rollback floors applied (review s12 docs #3: every request stayed 503 ERR_COLLATERAL_MISSING). Its own
 * failure, such as a missing TCB info or VCEK, is the request's answer.
 */
async function verify(ctx: AppraiseContext, req: AppraisalRequest, now: Date): Promise<VerificationResult> {
  try {
    return await verifyEvidence(req.evidence, {
      collateral: ctx.collateral,
      at: now,
      ...(ctx.trustRoots ? { trustRoots: ctx.trustRoots } : {}),
      ...(req.certTable ? { certTable: req.certTable } : {}),
      ...(ctx.relaxations ? { relaxations: ctx.relaxations } : {}),
      ...(ctx.snpReportVersions ? { snpReportVersions: ctx.snpReportVersions } : {}),
    });
  } catch (err) {
    // With skipCrl, collateral the service could not obtain is gathered again by the same service with the
    // CRLs optional (CollateralService.forEvidenceCrlsOptional: bundle, cache and rollback floors apply, X03).
    if (!ctx.relaxations?.skipCrl || !gathersAgainWithoutCrl(err)) throw err;
    const grace = ctx.relaxations.collateralGraceSeconds;
    return verifyWithCollateral(
      {
        // Parsed again (the same bytes; the first attempt's T02-T12 passed before any fetch).
        evidence: parseEvidence(req.evidence),
        at: now,
        skipCrl: true,
        certTable: req.certTable ?? [],
        ...(ctx.trustRoots ? { trustRoots: ctx.trustRoots } : {}),
        ...(grace === undefined ? {} : { collateralGraceSeconds: grace }),
        ...(ctx.snpReportVersions ? { snpReportVersions: ctx.snpReportVersions } : {}),
      },
      { service: ctx.collateral },
    );
  }
}

export async function appraise(ctx: AppraiseContext, req: AppraisalRequest, now: Date): Promise<Appraisal> {
  checkTrustRootsLabel(ctx.trustRoots);
  const policyFor = resolvePolicy(ctx, req);
  const result = await verify(ctx, req, now);
  if (req.tee !== undefined && req.tee !== result.tee) {
    throw new AttestationServiceError('ERR_AS_TEE_MISMATCH', 422, `the request says tee "${req.tee}", the evidence is ${result.tee}`, { check: 'X07' });
  }
  const policy = policyFor(result.tee);
  const expected = checkBinding(req, result);
  result.warnings.push(...req.warnings);
  if (ctx.fixedInstant) result.warnings.push(fixedInstantWarning(now));
  if (ctx.relaxations?.skipCrl) result.warnings.push(SKIP_CRL_WARNING);
  if (req.policy.kind === 'inline') result.warnings.push(inlinePolicyWarning(policy.id ?? 'inline'));
  // Like verify's --trust-root: other anchors than the pinned ones are never silent; the certificates decide, not the label.
  if (!isPinnedProductionRoots(ctx.trustRoots)) result.warnings.push(replacedTrustRootsWarning(result.trustRoots));
  const judged = evaluatePolicy(result, policy, { now, ...(expected ? { reportData: expected } : {}) });
  const iat = Math.floor(now.getTime() / 1000);
  const ear = toEar(result, judged, { verifierId: ctx.verifierBuild, iat, ...(req.binding?.nonce ? { nonce: req.binding.nonce } : {}) });
  const token = signEarJwt(ear, ctx.signer.privateKey, {
    alg: ctx.signer.alg,
    kid: ctx.signer.kid,
    now: iat,
    expiresIn: tokenLifetime(ctx, result, iat),
    jti: randomUUID(),
    // open-webui reads only the signature and these top-level claims, never ear.status or the
    // policy id: they go only into tokens that pass the service's default policy or one the operator
    // marked (a failed appraisal, a client's inline policy or a client's pick of a laxer named
    // policy must not yield a token open-webui would take for the service's approval).
    extraClaims: { iss: ctx.issuer, ...(judged.ok && req.policy.kind !== 'inline' && ctx.policies.approvesForOpenWebUi(policy) ? openWebUiClaims(result) : {}) },
  });
  const submod = ear.submods[EAR_SUBMOD]!;
  return {
    ok: judged.ok,
    status: submod['ear.status'],
    tee: result.tee,
    at: result.at,
    tcbStatus: result.tcbStatus ?? null,
    advisoryIds: result.advisoryIds,
    policy: { id: submod['ear.appraisal-policy-id'], ok: judged.ok, violations: judged.violations, warnings: judged.warnings },
    binding: req.binding && expected ? { source: req.binding.source, reportData: expected } : null,
    claims: result.claims,
    checks: result.checks,
    warnings: result.warnings,
    collateral: { earliestExpiry: result.collateral.earliestExpiry, artifacts: result.collateral.artifacts },
    trustRoots: result.trustRoots,
    token,
  };
}
