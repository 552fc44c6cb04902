/**
 * verifyIntelQuote: the Intel DCAP verifier for TDX quotes v4 / v5 and SGX
 * quotes v3. Synchronous and pure: no I/O, and no clock but `options.at` (or
 * the wall clock read once at entry, T01). It runs the checklist's section
 * 2.5 in order; each step can only fail (V03: nothing returns success early)
 * and is recorded in `checks` when it passed:
 *
 *   A  T02–T07  quote structure: the bytes re-framed natively (T49, carrier.ts), re-asserted on the rebuilt quote
 *   B  T08–T15  PCK chain to a pinned root, dates, CRLs, SGX extension
 *   C  T16–T21  TCB info and QE identity: chain, signature, content (T47, T48)
 *   D  T22–T26  QE report signature, binding, identity (T43), QE level, quote signature
 *   (B–E but T26 are replayed from platform-memo.ts for a quote that differs from one verified
 *   before in REPORTDATA and its signature only, inside the window those checks shared)
 *   E  T27–T33  TDX module, platform / module levels, convergence, Revoked
 *   G  T45      every collateral artifact inside its window; T46 status returned; T51 claims
 *
 * Failures throw VerificationError (or EvidenceParseError / UnsupportedEvidenceError
 * for structure) with the checklist class and id.
 */
import type { CollateralArtifact } from '../../collateral/artifact.js';
import { InvalidArgumentError } from '../../errors.js';
import { checkVerifierOptionKeys } from '../../option-keys.js';
import type { SgxQuote, TdxQuote } from '../../evidence/types.js';
import type { CertificateInfo, CrlInfo, PckSgxExtension } from '../../x509/index.js';
import { fail } from '../errors.js';
import type { VerificationResult } from '../types.js';
import { sgxClaims, tdxClaims } from './claims.js';
import { quoteFromBytes, quoteFromOwnBytes } from './carrier.js';
import { checkArtifactWindows, collateralIdentity } from './collateral-window.js';
import { createContext, INTEL_VERIFY_OPTION_KEYS, passed, relaxed, type IntelVerifyOptions, type VerifyContext } from './context.js';
import { convergeSgx, convergeTdx, rejectRevoked, type TcbOutcome } from './convergence.js';
import { checkPckCrl, checkRootCaCrl } from './crl.js';
import type { QeIdentity, TcbInfo } from './model.js';
import { decodePckExtension, verifyPckChain, type PckChain } from './pck-chain.js';
import { matchSgxPlatformLevel, matchTdxPlatformLevel } from './platform-level.js';
import { platformMemoOf, type SharedRecords } from './platform-memo.js';
import { checkQeBinding, checkQeIdentity, checkQeNotDebug, checkQeReportSignature, checkQuoteSignature, matchQeLevel, type QeLevelMatch } from './qe.js';
import { readQeIdentity } from './qe-identity.js';
import { verifyQeIdentitySignature, verifyTcbInfoSignature } from './signed-collateral.js';
import { checkQuoteStructure } from './structure.js';
import { checkTcbInfoPlatform, readTcbInfo } from './tcb-info.js';
import { checkTdxModule, matchModuleLevel } from './tdx-module.js';

/** The Intel collateral of one quote, as plain artifacts with their exact bytes. */
export interface IntelCollateralInput {
  tcbInfo?: CollateralArtifact;
  qeIdentity?: CollateralArtifact;
  pckCrl?: CollateralArtifact;
  rootCaCrl?: CollateralArtifact;
}

interface PlatformIdentity {
  chain: PckChain;
  pck: PckSgxExtension;
  rootCrl: CrlInfo | undefined;
  pckCrl: CrlInfo | undefined;
}

/** Section B: T08–T15. */
function verifyPlatformIdentity(ctx: VerifyContext, quote: TdxQuote | SgxQuote, collateral: IntelCollateralInput): PlatformIdentity {
  const chain = verifyPckChain(ctx, quote); // T08–T12
  const rootCrl = checkRootCaCrl(ctx, collateral.rootCaCrl, chain); // T13
  const pckCrl = checkPckCrl(ctx, collateral.pckCrl, chain); // T14
  const pck = decodePckExtension(ctx, chain); // T15
  return { chain, pck, rootCrl, pckCrl };
}

/** Section C: T16–T21 with T47 / T48. */
function verifyCollateralDocuments(
  ctx: VerifyContext,
  quote: TdxQuote | SgxQuote,
  collateral: IntelCollateralInput,
  p: PlatformIdentity,
): { tcbInfo: TcbInfo; qeIdentity: QeIdentity | undefined; signers: CertificateInfo[] } {
  const tcbDoc = verifyTcbInfoSignature(ctx, collateral.tcbInfo, p.chain.root, p.rootCrl); // T16, T17
  const tcbInfo = readTcbInfo(ctx, tcbDoc.value, quote.kind); // T47, T48, T18
  checkTcbInfoPlatform(ctx, tcbInfo, p.pck); // T19
  if (collateral.qeIdentity === undefined) {
    if (ctx.relaxations.skipQeIdentity !== true) fail('COLLATERAL_UNAVAILABLE', 'T20', 'no QE identity was supplied');
    relaxed(ctx, 'T20', 'no QE identity (relaxation skipQeIdentity): QE identity chain and signature not checked');
    relaxed(ctx, 'T21', 'no QE identity (relaxation skipQeIdentity): QE identity content not checked');
    return { tcbInfo, qeIdentity: undefined, signers: [tcbDoc.signer] };
  }
  const qeDoc = verifyQeIdentitySignature(ctx, collateral.qeIdentity, p.chain.root, p.rootCrl); // T20
  return { tcbInfo, qeIdentity: readQeIdentity(ctx, qeDoc.value, quote.kind, tcbInfo), signers: [tcbDoc.signer, qeDoc.signer] }; // T47, T21
}

/** Section D up to the quote signature: T22–T25 with T43 (T26 follows in verifyRebuiltQuote). */
function verifyQeReport(ctx: VerifyContext, quote: TdxQuote | SgxQuote, p: PlatformIdentity, qeIdentity: QeIdentity | undefined): QeLevelMatch {
  checkQeReportSignature(ctx, quote, p.chain.leaf); // T22
  checkQeBinding(ctx, quote); // T23
  checkQeIdentity(ctx, quote, qeIdentity); // T24
  checkQeNotDebug(ctx, quote); // T43
  return matchQeLevel(ctx, quote, qeIdentity); // T25 (a Revoked level is rejected at T33, after T26)
}

/** Section E: T27–T33. */
function evaluateTcb(ctx: VerifyContext, quote: TdxQuote | SgxQuote, tcbInfo: TcbInfo, pck: PckSgxExtension, qe: QeLevelMatch): TcbOutcome {
  let outcome: TcbOutcome;
  if (quote.kind === 'tdx') {
    const module = checkTdxModule(ctx, quote, tcbInfo); // T27, T28, T29
    const platform = matchTdxPlatformLevel(ctx, quote, tcbInfo, pck.tcb); // T30
    const moduleLevel = matchModuleLevel(ctx, quote, module); // T31
    outcome = convergeTdx(ctx, quote, tcbInfo, platform, module.identity?.id, moduleLevel, qe); // T32
  } else {
    const platform = matchSgxPlatformLevel(ctx, tcbInfo, pck.tcb); // T30 (§3: no module, no relaunch)
    outcome = convergeSgx(ctx, platform, qe); // T32
  }
  rejectRevoked(ctx, outcome); // T33
  return outcome;
}

/** The artifacts given, in a fixed order (one array, no intermediate). */
function artifactsUsed(c: IntelCollateralInput): CollateralArtifact[] {
  const out: CollateralArtifact[] = [];
  if (c.tcbInfo !== undefined) out.push(c.tcbInfo);
  if (c.qeIdentity !== undefined) out.push(c.qeIdentity);
  if (c.pckCrl !== undefined) out.push(c.pckCrl);
  if (c.rootCaCrl !== undefined) out.push(c.rootCaCrl);
  return out;
}

function requireArguments(quote: unknown, collateral: unknown): void {
  const kind = (quote as { kind?: unknown } | null)?.kind;
  if (typeof quote !== 'object' || quote === null || (kind !== 'tdx' && kind !== 'sgx')) {
    throw new InvalidArgumentError('ERR_INVALID_ARGUMENT', 'verifyIntelQuote needs a parsed TDX or SGX quote');
  }
  if (typeof collateral !== 'object' || collateral === null) {
    throw new InvalidArgumentError('ERR_INVALID_ARGUMENT', 'verifyIntelQuote needs an IntelCollateralInput object');
  }
}

/** What the checks a quote shares with the other quotes of its TD establish (platform-memo.ts). */
interface SharedVerdict {
  platform: PlatformIdentity;
  tcbInfo: TcbInfo;
  qeIdentity: QeIdentity | undefined;
  signers: CertificateInfo[];
  outcome: TcbOutcome;
}

interface SharedRun {
  verdict: SharedVerdict;
  records: SharedRecords;
  /** No warning arose in the shared checks (only such runs are remembered). */
  clean: boolean;
}

/** T08–T33 in order: sections B, C, D (T26 is the quote's own) and E. */
function runSharedChecks(ctx: VerifyContext, quote: TdxQuote | SgxQuote, collateral: IntelCollateralInput): SharedRun {
  const first = ctx.checks.length;
  const warnings = ctx.warnings.length;
  const platform = verifyPlatformIdentity(ctx, quote, collateral); // T08–T15
  const { tcbInfo, qeIdentity, signers } = verifyCollateralDocuments(ctx, quote, collateral, platform); // T16–T21, T47, T48
  const qe = verifyQeReport(ctx, quote, platform, qeIdentity); // T22–T25, T43
  const beforeSignature = ctx.checks.length;
  checkQuoteSignature(ctx, quote); // T26
  const afterSignature = ctx.checks.length;
  const outcome = evaluateTcb(ctx, quote, tcbInfo, platform.pck, qe); // T27–T33
  return {
    verdict: { platform, tcbInfo, qeIdentity, signers, outcome },
    records: { beforeSignature: ctx.checks.slice(first, beforeSignature), afterSignature: ctx.checks.slice(afterSignature) },
    clean: ctx.warnings.length === warnings,
  };
}

/** The same checks remembered for this quote's TD, collateral and window: replayed around its own T26. */
function replaySharedChecks(ctx: VerifyContext, quote: TdxQuote | SgxQuote, records: SharedRecords): void {
  for (const r of records.beforeSignature) ctx.checks.push({ ...r }); // T08–T25, T43
  checkQuoteSignature(ctx, quote); // T26: the one signature over this quote's REPORTDATA
  for (const r of records.afterSignature) ctx.checks.push({ ...r }); // T27–T33
}

/**
 * The four artifacts, each read once from the caller's object: the checks and the platform memo see
 * the same ones whatever getters the container has (review s18, finding 1).
 */
function collateralOf(c: IntelCollateralInput): IntelCollateralInput {
  const { tcbInfo, qeIdentity, pckCrl, rootCaCrl } = c;
  const own: IntelCollateralInput = {};
  if (tcbInfo !== undefined) own.tcbInfo = tcbInfo;
  if (qeIdentity !== undefined) own.qeIdentity = qeIdentity;
  if (pckCrl !== undefined) own.pckCrl = pckCrl;
  if (rootCaCrl !== undefined) own.rootCaCrl = rootCaCrl;
  return own;
}

/** The collateral in the memo's fixed order. */
function collateralSlots(c: IntelCollateralInput) {
  return [c.tcbInfo, c.qeIdentity, c.pckCrl, c.rootCaCrl] as const;
}

/** T02–T51 on a quote built from its own bytes (never a caller's object as handed over). */
function verifyRebuiltQuote(ctx: VerifyContext, quote: TdxQuote | SgxQuote, given: IntelCollateralInput): VerificationResult {
  const collateral = collateralOf(given);
  passed(ctx, 'T01', `verification instant ${ctx.at.toISOString()}`);
  checkQuoteStructure(ctx, quote); // T02–T07
  const memo = platformMemoOf<SharedVerdict>(ctx);
  const known = memo?.find(ctx, quote, collateralSlots(collateral));
  let run: SharedRun | undefined;
  if (known) replaySharedChecks(ctx, quote, known.records);
  else run = runSharedChecks(ctx, quote, collateral); // T08–T33
  const { platform, tcbInfo, qeIdentity, signers, outcome } = known ? known.value : run!.verdict;
  const artifacts = artifactsUsed(collateral);
  checkArtifactWindows(ctx, artifacts); // T45
  passed(ctx, 'T46', `TCB status ${outcome.status} returned to the caller's policy, not judged here`); // T46
  const claims = quote.kind === 'tdx' ? tdxClaims(quote, platform.pck, outcome) : sgxClaims(quote, platform.pck, outcome);
  passed(ctx, 'T51', 'claims from signed report fields, the PCK certificate and matched TCB levels only'); // T51
  const { chain } = platform;
  const result: VerificationResult = {
    ok: true,
    tee: quote.kind,
    at: ctx.at.toISOString(),
    tcbStatus: outcome.status,
    advisoryIds: [...outcome.advisoryIds], // the caller's copy: the outcome may be remembered
    claims,
    collateral: collateralIdentity(artifacts, [chain.leaf, chain.intermediate, chain.root, ...signers], tcbInfo, qeIdentity, [platform.rootCrl, platform.pckCrl]),
    trustRoots: ctx.trustRoots.label,
    checks: ctx.checks,
    warnings: ctx.warnings,
  };
  // Last: only a verification that got this far is remembered (review s18, finding 3).
  if (run) memo?.remember(ctx, quote, collateralSlots(collateral), run.records, run.verdict, run.clean);
  return result;
}

/**
 * Verifies an Intel DCAP quote against its collateral at one instant. Returns
 * only on success; the TCB status is returned, not judged (T46): OutOfDate is
 * a successful verification with tcbStatus "OutOfDate". Missing collateral
 * fails closed (COLLATERAL_UNAVAILABLE) unless `relaxations.skipCrl` (both
 * CRLs) or `relaxations.skipQeIdentity` allows it; each use is a warning.
 *
 * The quote object is only a carrier (T49): its bytes are framed again and
 * every field is read from them; an object whose kind, version or body type
 * contradicts its bytes is PARSE (ERR_EVIDENCE_OBJECT_MISMATCH).
 *
 * Options are a closed set, as verifyEvidence's are: a key IntelVerifyOptions
 * (or Relaxations) does not name is ERR_INVALID_ARGUMENT naming it
 * (details.option), never ignored: a misspelt `minTcbEvaluationDataNumber`
 * dropped the T18 / T21 floor, a misspelt `at` verified at the wall clock
 * (review s13 intel #1). The internal entries below are given verifyEvidence's
 * larger, already checked, options object and do not check again.
 */
export function verifyIntelQuote(
  quote: TdxQuote | SgxQuote,
  collateral: IntelCollateralInput,
  options: IntelVerifyOptions = {},
): VerificationResult {
  const checked = checkVerifierOptionKeys(options, INTEL_VERIFY_OPTION_KEYS, 'verifyIntelQuote');
  const ctx = createContext(checked); // T01: the single instant
  requireArguments(quote, collateral);
  return verifyRebuiltQuote(ctx, quoteFromOwnBytes(quote), collateral); // T49
}

/**
 * Internal (verifyEvidence, before it asks a collateral service to fetch for
 * `quote`): T02–T12, the checks that need no collateral, so the FMSPC and CA
 * kind that choose what to fetch come from a PCK leaf chaining to a pinned
 * root. A made-up quote is refused here and never turns into a request to
 * the PCS or PCCS. They are the first checks of the verification proper,
 * which runs them again in order (the signatures are memoised), so this
 * throws exactly the error the verification would throw first. `quote` is a
 * snapshot with private bytes, as for verifyIntelQuoteCopied.
 */
export function precheckIntelQuoteBeforeFetch(quote: TdxQuote | SgxQuote, options: IntelVerifyOptions = {}): void {
  const ctx = createContext(options);
  requireArguments(quote, {});
  const rebuilt = quoteFromBytes(quote, quote.bytes); // T49
  checkQuoteStructure(ctx, rebuilt); // T02–T07
  verifyPckChain(ctx, rebuilt); // T08–T12
}

/**
 * Internal (verifyEvidence only, not exported from the package): `quote` is a
 * snapshot whose `bytes` are already a private copy no code outside the
 * library holds (verifyEvidence's snapshotOf), so it is framed again without a
 * second copy. Everything else is verifyIntelQuote.
 */
export function verifyIntelQuoteCopied(
  quote: TdxQuote | SgxQuote,
  collateral: IntelCollateralInput,
  options: IntelVerifyOptions = {},
): VerificationResult {
  const ctx = createContext(options); // T01: the single instant
  requireArguments(quote, collateral);
  return verifyRebuiltQuote(ctx, quoteFromBytes(quote, quote.bytes), collateral); // T49
}
