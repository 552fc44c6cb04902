/**
 * The native policy format, as loaded: a policy document with every default
 * made explicit, hex in lowercase, frozen. A loaded Policy is itself a valid
 * policy document (loadPolicy(policy) returns an equal policy), so it can be
 * printed, stored and reloaded. docs/policy.md describes every field with its
 * checklist id.
 */
import type { ErrorClass } from '../errors.js';
import type { TcbStatus } from '../verify/types.js';
import type { BootComponents } from '../vtpm/boot-components.js';
import type { PcrInput } from '../vtpm/pcrs.js';
import type { PcrExpectations, ReferenceList } from '../vtpm/reference.js';
import type { ImaEntry } from '../vtpm/types.js';

export type PolicyTee = 'tdx' | 'sgx' | 'snp';

/** Explicit "any" (X07), or a non-empty any-of list. */
export type AllowList<T> = 'any' | readonly T[];

/** Every Intel status but Revoked, which no policy can accept (T33). */
export type AcceptableTcbStatus = Exclude<TcbStatus, 'Revoked'>;

/** (actual & mask) == value. 64-bit values are "0x" + 16 hex digits; SGX ATTRIBUTES 32 hex digits (16 bytes). */
export interface MaskedValue {
  value: string;
  mask: string;
}

export interface MaskedU32 {
  value: number;
  mask: number;
}

interface PolicyCommon {
  /** Format version: 1. */
  version: 1;
  /** Optional policy identifier, reported as the EAR's ear.appraisal-policy-id. */
  id?: string;
  /** T34 / S21 / §3: a debug TD, guest or enclave is a violation unless true; when true, a warning. */
  allowDebug: boolean;
  /** T41 / S29: the exact 64 bytes of REPORT_DATA (128 hex digits), or "any" (then only evaluate's options bind it). */
  reportData: 'any' | string;
}

/** Intel TCB status policy (T33, T18, §2.7). */
export interface IntelTcbPolicy {
  /** Converged statuses accepted; default ["UpToDate"]. Revoked is never accepted. */
  acceptedStatuses: readonly AcceptableTcbStatus[];
  /** When present, every advisory ID of the result must be listed ("mitigated in our image", §2.7). */
  acceptedAdvisoryIds?: readonly string[];
  /** Any of these advisory IDs in the result is a violation. */
  rejectedAdvisoryIds?: readonly string[];
  /** Minimum tcbEvaluationDataNumber of the TCB info used (T18, rollback). */
  minTcbEvaluationDataNumber?: number;
}

export interface IntelCollateralPolicy {
  /** X02: TCB info, QE identity and PCK CRL must be at most this old (seconds since issue) at the verification instant. */
  maxAgeSeconds?: number;
  /** Clarifications: grace after an artifact's notAfter; off when absent; every use is a warning. */
  expiryGraceSeconds?: number;
}

export interface SnpCollateralPolicy {
  /** Clarifications: grace after an artifact's notAfter; off when absent; every use is a warning. */
  expiryGraceSeconds?: number;
}

/**
 * vTPM rules (issue 9, docs/vtpm-reference.md): optional in TDX and SNP
 * policies. Absent: vTPM claims are not judged. Present: vTPM evidence is
 * required and judged against these rules and the reference list.
 */
export interface VtpmPolicy {
  /** Expected quoted PCR values, any-of per PCR (hex, lowercase). Default {}. */
  pcrs: PcrExpectations;
  /** An IMA entry whose path the reference list does not name. Default "violation". */
  unknownImaEntries: 'violation' | 'allow';
  /** Paths that must appear in the IMA list. Default: none (absent). */
  requiredImaEntries?: readonly string[];
  /** IMA violation entries (file measured inconsistently: ToMToU, open writers). Default "violation". */
  imaViolations: 'violation' | 'allow';
}

export interface TdxPolicy extends PolicyCommon {
  tee: 'tdx';
  /** vTPM rules (Azure TDX CVMs and other vTPM guests); absent: not judged. */
  vtpm?: VtpmPolicy;
  tcb: IntelTcbPolicy;
  collateral: IntelCollateralPolicy;
  /** T36 (48-byte hex each). Required in a document. */
  mrTd: AllowList<string>;
  /** T37. Default "any". */
  rtmr0: AllowList<string>;
  rtmr1: AllowList<string>;
  rtmr2: AllowList<string>;
  rtmr3: AllowList<string>;
  /** T38. Required in a document. */
  mrConfigId: AllowList<string>;
  mrOwner: AllowList<string>;
  mrOwnerConfig: AllowList<string>;
  /** T39. Default "any". */
  mrSeam: AllowList<string>;
  mrSignerSeam: AllowList<string>;
  /** T39: TDX module SVN, major × 256 + minor (TEE_TCB_SVN[1], [0]); exact any-of. Default "any". */
  seamSvn: AllowList<number>;
  /** T39: minimum module SVN (major × 256 + minor). */
  minSeamSvn?: number;
  /** T40: MRSERVICETD of body type 3. Default: all zero (no service TD bound). */
  mrServiceTd: AllowList<string>;
  /** T34: TDATTRIBUTES pinned under a mask. Default "any". */
  tdAttributes: 'any' | MaskedValue;
  /** T34: MIGRATABLE (bit 29); default false (§8: denied by default). */
  allowMigratable: boolean;
  /** T34: SEPT_VE_DISABLE (bit 28) required; default true (false: accepted with a warning). */
  requireSeptVeDisable: boolean;
  /** T35: XFAM exact values ("0x" + 16 hex). Default "any". */
  xfam: AllowList<string>;
}

export interface SgxPolicy extends PolicyCommon {
  tee: 'sgx';
  tcb: IntelTcbPolicy;
  collateral: IntelCollateralPolicy;
  /** §3 (T36 analogue). Required in a document. */
  mrEnclave: AllowList<string>;
  mrSigner: AllowList<string>;
  isvProdId: AllowList<number>;
  /** Exact ISVSVN any-of (what ITA's isvsvn means). Default "any". */
  isvSvn: AllowList<number>;
  minIsvSvn?: number;
  /** §3 (T34 analogue): the 16 ATTRIBUTES bytes under a mask. Default "any". */
  attributes: 'any' | MaskedValue;
  miscSelect: 'any' | MaskedU32;
}

export type SnpProductName = 'Milan' | 'Genoa' | 'Turin';

export interface SnpTcbComponents {
  bootloader?: number;
  tee?: number;
  snp?: number;
  microcode?: number;
  /** Turin only. */
  fmc?: number;
}

export interface SnpTcbMinimum {
  /** S17: REPORTED_TCB minimum per component. */
  reported?: SnpTcbComponents;
  /** S18: LAUNCH_TCB minimum per component. */
  launch?: SnpTcbComponents;
}

export interface SnpGuestPolicyRules {
  /** S22: SMT allowed in the guest policy; default true. */
  allowSmt: boolean;
  /** S22: CXL_ALLOW; default false. */
  allowCxl: boolean;
  requireSingleSocket: boolean;
  requireMemAes256Xts: boolean;
  requireRaplDis: boolean;
  requireCiphertextHiding: boolean;
  requirePageSwapDisable: boolean;
  /** S22: the guest policy's ABI_MAJOR.ABI_MINOR at least this ("1.51"). */
  minAbi?: string;
}

export interface SnpPlatformInfoRules {
  smtEnabled?: boolean;
  tsmeEnabled?: boolean;
  eccEnabled?: boolean;
  raplDisabled?: boolean;
  ciphertextHidingDramEnabled?: boolean;
  aliasCheckComplete?: boolean;
  tioEnabled?: boolean;
}

export interface SnpPolicy extends PolicyCommon {
  tee: 'snp';
  /** vTPM rules (Azure SNP CVMs, SNP guests with a vTPM); absent: not judged. */
  vtpm?: VtpmPolicy;
  collateral: SnpCollateralPolicy;
  /** S25 (48-byte hex). Required in a document. */
  measurement: AllowList<string>;
  /** S26 (32-byte hex). Required in a document. */
  hostData: AllowList<string>;
  /** S27. Default "any". */
  idKeyDigest: AllowList<string>;
  authorKeyDigest: AllowList<string>;
  familyId: AllowList<string>;
  imageId: AllowList<string>;
  minGuestSvn?: number;
  /** S24. Default "any" (a key broker should require [0]). */
  vmpl: AllowList<number>;
  /** S06. Default all three. */
  products: readonly SnpProductName[];
  /** S03: raises the verifier's minimum report version. */
  minReportVersion?: number;
  /** S32. Default ["vcek"]. */
  signingKeys: readonly ('vcek' | 'vlek')[];
  /** S45: allowed CSP IDs of a VLEK. Default "any". */
  cspIds: AllowList<string>;
  /** S31: CHIP_ID allow / deny lists (64-byte hex). */
  chipIds: { allow?: readonly string[]; deny?: readonly string[] };
  /** S22 MIGRATE_MA and S28 REPORT_ID_MA; default false. */
  allowMigrationAgent: boolean;
  /** S15 / S19: committed TCB and version may differ from current; default false. */
  allowProvisionalFirmware: boolean;
  guestPolicy: SnpGuestPolicyRules;
  /** S23: each named PLATFORM_INFO bit must have this value. */
  platformInfo: SnpPlatformInfoRules;
  /** S17 / S18: per product. */
  tcbMinimums: Partial<Record<SnpProductName, SnpTcbMinimum>>;
  /** S19: current firmware ABI ("major.minor") and build minimums. */
  firmware: { minAbi?: string; minBuild?: number };
  /** S20 (v5): bits that must be set ("0x" + 16 hex). */
  requiredMitigations: { launch?: string; current?: string };
}

export type Policy = TdxPolicy | SgxPolicy | SnpPolicy;

/** One failed rule. `path` is the JSON pointer of the policy field that set it. */
export interface PolicyViolation {
  path: string;
  expected: unknown;
  actual: unknown;
  /** Checklist id of the rule, e.g. "T36", "S25", "T41". */
  check: string;
  /** Checklist error class (§1.3): POLICY, BINDING, TCB_STATUS, REVOKED, EXPIRED, PRODUCT, ... */
  errorClass: ErrorClass;
  message: string;
}

export interface PolicyAppraisal {
  /** True only when there is no violation. */
  ok: boolean;
  /** Every violation, in evaluation order; never just the first. */
  violations: PolicyViolation[];
  /** Policy-level warnings (debug allowed, grace period used, non-UpToDate status accepted). */
  warnings: string[];
  /** The policy's TEE and id, for reports and the EAR. */
  tee: PolicyTee;
  policyId?: string;
}

/** What the vTPM verification established, for the policy's vtpm section. */
export interface VtpmAppraisalInput {
  /** The PCR values the verified TPM quote covers. */
  pcrs: PcrInput;
  /** The IMA list whose replay reproduced the quoted PCR 10, with the replay's violation-entry indexes. */
  ima?: { entries: readonly ImaEntry[]; violations: readonly number[] };
  /** Boot components of the boot event log whose replay reproduced the quoted PCRs. */
  boot?: BootComponents;
  /** The reference list to judge against (loadReferenceList). */
  reference?: ReferenceList;
}

export interface EvaluateOptions {
  /** vTPM evidence to judge against the policy's vtpm section (docs/vtpm-reference.md). */
  vtpm?: VtpmAppraisalInput;
  /** T41 / S29: the expected REPORT_DATA of this request: 64 bytes, or 128 hex digits. */
  reportData?: Uint8Array | string;
  /**
   * The instant of the decision; default the result's `at`. Collateral age
   * (X02) is measured at it, and a result used after its earliest collateral
   * expiry is a violation (X16). Never earlier than the result's `at`.
   */
  now?: Date;
}
