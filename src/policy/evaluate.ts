/**
 * evaluatePolicy: judges a successful VerificationResult against a Policy and
 * returns every violation (never just the first) and the policy's warnings.
 * It never sees raw bytes, never reads a clock (the instant is the result's
 * `at`, or options.now) and never throws for a failed rule (X08: a rule that
 * cannot be judged is a violation, not a skip).
 *
 * Order: X07 TEE match (a mismatch is the one violation: claims of another TEE
 * mean nothing to this policy), then the TEE's checks, then the TCB status,
 * collateral freshness, the vTPM section (TDX and SNP policies) and
 * REPORT_DATA binding.
 */
import { InvalidArgumentError, TeeVerifyError } from '../errors.js';
import { checkOptionKeys, type OptionKeys } from '../option-keys.js';
import type { VerificationResult } from '../verify/types.js';
import { checkReportData, expectedReportData } from './checks/binding.js';
import { checkCollateralAge, checkCollateralExpiry } from './checks/collateral.js';
import { Findings } from './checks/findings.js';
import { checkIntelTcb } from './checks/intel-tcb.js';
import { checkSgx } from './checks/sgx.js';
import { checkSnpGuest } from './checks/snp-guest.js';
import { checkSnpIdentity } from './checks/snp-identity.js';
import { checkSnpTcb } from './checks/snp-tcb.js';
import { checkTdx } from './checks/tdx.js';
import { checkVtpm } from './checks/vtpm.js';
import { loadPolicy } from './load.js';
import { recordJudgingPolicy } from './policy-id.js';
import { isLoaded } from './registry.js';
import type { EvaluateOptions, Policy, PolicyAppraisal } from './types.js';

function decisionInstant(result: VerificationResult, now: Date | undefined): Date {
  const at = new Date(result.at);
  if (now === undefined) return at;
  if (!(now instanceof Date) || Number.isNaN(now.getTime())) throw new InvalidArgumentError('ERR_INVALID_ARGUMENT', 'options.now must be a valid Date');
  if (now.getTime() < at.getTime()) throw new InvalidArgumentError('ERR_INVALID_ARGUMENT', `options.now (${now.toISOString()}) is before the verification instant ${result.at}`);
  return now;
}

/** The policy to apply: ours as is; any other object only after loadPolicy validated it (PolicyError otherwise). */
function checkArguments(result: VerificationResult, policy: Policy): Policy {
  if (typeof result !== 'object' || result === null || result.ok !== true || typeof result.claims !== 'object' || result.claims === null) {
    throw new InvalidArgumentError('ERR_INVALID_ARGUMENT', 'evaluatePolicy needs a successful VerificationResult');
  }
  if (typeof policy !== 'object' || policy === null) {
    throw new InvalidArgumentError('ERR_INVALID_ARGUMENT', 'evaluatePolicy needs a Policy from loadPolicy, defaultPolicy or translateItaPolicy');
  }
  return isLoaded(policy) ? policy : loadPolicy(policy);
}

/** X08: a result that is not this package's shape fails closed with a typed error, never a crash. */
function judge(result: VerificationResult, policy: Policy, options: EvaluateOptions): PolicyAppraisal {
  try {
    return runChecks(result, policy, options);
  } catch (err) {
    if (err instanceof TeeVerifyError) throw err;
    throw new InvalidArgumentError('ERR_INVALID_ARGUMENT', 'evaluatePolicy: the result is not a VerificationResult of this package', { check: 'X08', cause: err });
  }
}

function appraisal(policy: Policy, f: Findings): PolicyAppraisal {
  // toEar names an id-less policy from the policy itself (policy-id.ts, review s13 policy #6)
  return recordJudgingPolicy({
    ok: f.violations.length === 0,
    violations: f.violations,
    warnings: f.warnings,
    tee: policy.tee,
    ...(policy.id === undefined ? {} : { policyId: policy.id }),
  }, policy);
}

/** The keys EvaluateOptions accepts (the compiler keeps this list equal to the type's keys). */
const EVALUATE_OPTION_KEYS: OptionKeys<EvaluateOptions> = { vtpm: true, reportData: true, now: true };

/**
 * Unknown keys are ERR_INVALID_ARGUMENT (review s12 docs #1): `{ reportdata: x }` must not
 * silently leave T41 / S29 unchecked. For the same reason an own `reportData` whose value is
 * undefined (an expected value lost to a bug) is an error, not "no binding asked for".
 */
function checkOptions(options: EvaluateOptions | undefined): EvaluateOptions {
  const o = checkOptionKeys(options, EVALUATE_OPTION_KEYS, 'evaluatePolicy') ?? {};
  if (Object.hasOwn(o, 'reportData') && o.reportData === undefined) {
    throw new InvalidArgumentError('ERR_INVALID_ARGUMENT', 'evaluatePolicy: options.reportData is undefined (omit the key to bind nothing)', { details: { option: 'reportData' } });
  }
  return o;
}

/** Every violation of `policy` by `result`; ok only when there is none. */
export function evaluatePolicy(result: VerificationResult, policy: Policy, options: EvaluateOptions = {}): PolicyAppraisal {
  const o = checkOptions(options);
  return judge(result, checkArguments(result, policy), o);
}

function runChecks(result: VerificationResult, policy: Policy, options: EvaluateOptions): PolicyAppraisal {
  const f = new Findings();
  const claims = result.claims;
  // X07: platform-specific policies: a TDX policy is never met by SNP (or SGX) evidence
  if (result.tee !== policy.tee || claims.kind !== policy.tee) {
    f.fail('/tee', 'X07', 'POLICY', policy.tee, result.tee, `the policy is for ${policy.tee}, the evidence is ${result.tee}`);
    return appraisal(policy, f);
  }
  const now = decisionInstant(result, options.now);
  const bindingCheck = claims.kind === 'snp' ? 'S29' : 'T41';
  const fromOptions = options.reportData === undefined ? undefined : expectedReportData(options.reportData, bindingCheck);
  if (claims.kind === 'tdx' && policy.tee === 'tdx') checkTdx(claims, policy, f);
  if (claims.kind === 'sgx' && policy.tee === 'sgx') checkSgx(claims, policy, f);
  if (claims.kind === 'snp' && policy.tee === 'snp') {
    checkSnpIdentity(claims, policy, f);
    checkSnpGuest(claims, policy, f);
    checkSnpTcb(claims, policy, f);
  }
  if (policy.tee !== 'snp') {
    checkIntelTcb(result, policy.tcb, f);
    checkCollateralAge(result, policy.collateral.maxAgeSeconds, now, f);
  }
  checkCollateralExpiry(result, policy.collateral.expiryGraceSeconds, now, f);
  if (policy.tee !== 'sgx') checkVtpm(policy.vtpm, options.vtpm, f);
  checkReportData(claims.reportData, policy.reportData, fromOptions, bindingCheck, f);
  return appraisal(policy, f);
}
