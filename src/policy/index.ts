/**
 * The policy layer: strict reference-value policies (X07), their evaluation
 * against a VerificationResult (every violation, X13), Intel Trust Authority
 * key-transfer policies, and the appraisal as an EAR / signed EAR JWT.
 * docs/policy.md describes the format, defaults and mappings.
 */
export { loadPolicy, MAX_POLICY_BYTES } from './load.js';
export { defaultPolicy } from './defaults.js';
export { evaluatePolicy } from './evaluate.js';
export { translateItaPolicy, type TranslateItaOptions } from './ita.js';
export { toEar, openWebUiClaims, EAR_PROFILE, EAR_SUBMOD } from './ear.js';
export type { Ear, EarAppraisal, EarStatus, TrustworthinessVector, ToEarOptions, OpenWebUiClaims } from './ear.js';
export { signEarJwt, verifyEarJwt } from './jwt.js';
export type { EarJwtAlgorithm, SignEarJwtOptions, VerifyEarJwtOptions, VerifiedEarJwt } from './jwt.js';
export { annotatedEvidence, flattenClaims } from './annotated.js';
export { policySchema, type JsonSchema } from './schema.js';
export { PolicyError, EarTokenError, type PolicyProblem, type PolicyErrorCode, type EarTokenErrorCode } from './errors.js';
export type {
  Policy,
  PolicyTee,
  TdxPolicy,
  SgxPolicy,
  SnpPolicy,
  AllowList,
  AcceptableTcbStatus,
  MaskedValue,
  MaskedU32,
  IntelTcbPolicy,
  IntelCollateralPolicy,
  SnpCollateralPolicy,
  SnpProductName,
  SnpTcbComponents,
  SnpTcbMinimum,
  SnpGuestPolicyRules,
  SnpPlatformInfoRules,
  PolicyViolation,
  PolicyAppraisal,
  EvaluateOptions,
  VtpmPolicy,
  VtpmAppraisalInput,
} from './types.js';
