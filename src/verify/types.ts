/** Results of a successful verification. Failures throw VerificationError. */
import type { CollateralArtifact } from '../collateral/artifact.js';
import type { SnpPlatformInfo, SnpPolicy, SnpProduct, SnpTcb } from '../evidence/types.js';
import type { TrustRoots } from './roots/index.js';

/** Intel TCB statuses (verifier-checklist §2.4, §2.6, §2.7). */
export type TcbStatus =
  | 'UpToDate'
  | 'SWHardeningNeeded'
  | 'ConfigurationNeeded'
  | 'ConfigurationAndSWHardeningNeeded'
  | 'OutOfDate'
  | 'OutOfDateConfigurationNeeded'
  | 'TD_RELAUNCH_ADVISED'
  | 'TD_RELAUNCH_ADVISED_CONFIGURATION_NEEDED'
  | 'Revoked';

/**
 * Explicit, named relaxations. Every relaxation that applies shows up as a
 * warning in the result; none is on by default.
 */
export interface Relaxations {
  /** Skip CRL checks when no CRL is available (T13, T14, S09). */
  skipCrl?: boolean;
  /** Skip the QE identity checks when no QE identity is available (T20, T21, T24, T25). */
  skipQeIdentity?: boolean;
  /**
   * Accept re-issued collateral (Intel TCB info, QE identity, CRLs; AMD CRLs)
   * up to this many seconds after its nextUpdate (clarifications "Expired
   * collateral"). Off by default; every use is a warning that starts with
   * "grace period used: ". Certificates are never extended.
   */
  collateralGraceSeconds?: number;
}

export interface VerifyOptions {
  /** The verification instant (T01, S01, X01). Default: the wall clock, read once. */
  at?: Date;
  /** Default PRODUCTION_TRUST_ROOTS. */
  trustRoots?: TrustRoots;
  /** Minimum Intel tcbEvaluationDataNumber accepted for TCB info and QE identity (T18, T21). */
  minTcbEvaluationDataNumber?: number;
  relaxations?: Relaxations;
}

/** One executed check, in execution order. */
export interface CheckRecord {
  /** Checklist id, e.g. "T22". */
  id: string;
  /** What it established, e.g. "QE report signed by the PCK leaf key". */
  description: string;
  /**
   * Set when the check ran without establishing its property; absent for a check that passed. A
   * failed check is an error, never a record. Two kinds (docs/cli.md, `checks`): not established,
   * the property is relied on and stays open, and a warning says so (VT05 without a pinned AK Name,
   * VT16 when boot_aggregate's PCRs are not quoted); not applicable, the check has nothing to
   * compare with and leaves nothing the verification relies on open, so no warning, and the
   * description reads "not applicable: …" (after a per-quote "quote N: " label: VT09 when the AK
   * comes without its TPMT_PUBLIC and no expected Qualified Name is given).
   */
  status?: 'not-checked';
}

export interface CollateralIdentity {
  /** Artifact key, kind, origin and window of each artifact used. */
  artifacts: { key: string; kind: CollateralArtifact['kind']; origin: string; notBefore: string; notAfter: string; sequence?: string }[];
  /** The earliest notAfter among everything used: the result is usable until then (X16). */
  earliestExpiry: string;
  /**
   * Intel: the earliest notAfter among the certificates the result rests on (PCK leaf, PCK CA,
   * root, the TCB Signing certificates of the TCB info and QE identity). No grace extends a
   * certificate (X16), while a document's grace can run past its own nextUpdate; the artifacts'
   * windows alone cannot tell the two apart (a document's window is cut short by its signer's).
   * Absent in SEV-SNP results (the VCEK / VLEK and ASK / ARK are artifacts of their own kinds) and
   * in results made before session 13.
   */
  certificateExpiry?: string;
  /** Intel: TCB info / QE identity issue dates and evaluation data numbers (the QE identity's is never below the TCB info's, T21). */
  tcbInfoIssueDate?: string;
  qeIdentityIssueDate?: string;
  /** The TCB info's evaluation data number. */
  tcbEvaluationDataNumber?: number;
  /** The QE identity's; absent when none was used (relaxation skipQeIdentity). */
  qeIdentityEvaluationDataNumber?: number;
}

export interface IntelTcbLevelClaim {
  status: TcbStatus;
  tcbDate: string;
  advisoryIds: string[];
}

export interface TdxClaims {
  kind: 'tdx';
  quoteVersion: 4 | 5;
  bodyType: 2 | 3;
  /** Lowercase hex of each measurement field of the TD report. */
  mrTd: string;
  rtmr0: string;
  rtmr1: string;
  rtmr2: string;
  rtmr3: string;
  mrSeam: string;
  mrSignerSeam: string;
  mrConfigId: string;
  mrOwner: string;
  mrOwnerConfig: string;
  mrServiceTd?: string;
  reportData: string;
  teeTcbSvn: string;
  teeTcbSvn2?: string;
  /** 64-bit values as 0x-prefixed hex of the numeric value. */
  tdAttributes: string;
  seamAttributes: string;
  xfam: string;
  /** Decoded TD attribute bits (T34). */
  debug: boolean;
  septVeDisable: boolean;
  migratable: boolean;
  fmspc: string;
  pceId: string;
  platform: IntelTcbLevelClaim;
  module?: IntelTcbLevelClaim & { id: string };
  qe: IntelTcbLevelClaim;
}

export interface SgxClaims {
  kind: 'sgx';
  quoteVersion: 3;
  mrEnclave: string;
  mrSigner: string;
  isvProdId: number;
  isvSvn: number;
  attributes: string;
  miscSelect: number;
  reportData: string;
  debug: boolean;
  fmspc: string;
  pceId: string;
  platform: IntelTcbLevelClaim;
  qe: IntelTcbLevelClaim;
}

export interface SnpClaims {
  kind: 'snp';
  reportVersion: number;
  product: SnpProduct;
  productSource: 'cpuid' | 'caller';
  signingKey: 'vcek' | 'vlek';
  /** VLEK only (S45). */
  cspId?: string;
  measurement: string;
  hostData: string;
  reportData: string;
  idKeyDigest: string;
  authorKeyDigest: string;
  familyId: string;
  imageId: string;
  reportIdMa: string;
  chipId: string;
  guestSvn: number;
  vmpl: number;
  policy: Omit<SnpPolicy, 'raw'> & { raw: string };
  platformInfo: Omit<SnpPlatformInfo, 'raw'> & { raw: string };
  authorKeyEnabled: boolean;
  maskChipKey: boolean;
  tcb: { current: SnpTcbClaim; reported: SnpTcbClaim; committed: SnpTcbClaim; launch: SnpTcbClaim };
  /** S15 / S16 relations, for the policy layer. */
  tcbRelations: { committedEqualsCurrent: boolean; reportedAtMostCurrent: boolean; committedAtMostCurrent: boolean };
  currentVersion: string;
  committedVersion: string;
  launchMitVector?: string;
  currentMitVector?: string;
}

export type SnpTcbClaim = Omit<SnpTcb, 'raw'> & { raw: string };

export type Claims = TdxClaims | SgxClaims | SnpClaims;

export interface VerificationResult {
  /** Always true: a failed verification throws instead of returning. */
  ok: true;
  tee: 'tdx' | 'sgx' | 'snp';
  /** The single instant every validity check used (ISO-8601). */
  at: string;
  /** Intel: the converged TCB status. SNP: undefined (AMD publishes no status; policies set minimum TCBs). */
  tcbStatus: TcbStatus | undefined;
  advisoryIds: string[];
  claims: Claims;
  collateral: CollateralIdentity;
  trustRoots: string;
  checks: CheckRecord[];
  warnings: string[];
}
