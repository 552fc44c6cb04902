/**
 * defaultPolicy(tee): accepts the UpToDate TCB status only and forbids debug
 * (clarifications: "the default policy rejects it"); every measurement is
 * explicitly "any", so THE DEFAULT POLICY DOES NOT SAY WHICH CODE RUNS: a key
 * broker must pin measurements (MRTD / MRENCLAVE / MEASUREMENT, ...) and bind
 * REPORT_DATA itself. The remaining defaults are the checklist's
 * "rejected unless allowed" rules: TD MIGRATABLE (T34, §8), a TD without
 * SEPT_VE_DISABLE (T34, "required by default"), a bound service TD
 * (T40), an SNP migration agent (S22, S28), CXL_ALLOW (S22), VLEK-signed
 * reports (S32) and provisional SNP firmware (S15, S19).
 *
 * The same defaults fill every field a loaded document leaves out, so a
 * document that only names the required fields as "any" equals the default.
 */
import { InvalidArgumentError } from '../errors.js';
import { markLoaded } from './registry.js';
import type { IntelTcbPolicy, Policy, PolicyTee, SgxPolicy, SnpGuestPolicyRules, SnpPolicy, TdxPolicy, VtpmPolicy } from './types.js';
import { deepFreeze } from '../deep-freeze.js';

export const ZERO_48 = '0'.repeat(96);
export const ALL_ONES_U64 = '0xffffffffffffffff';

export function defaultIntelTcb(): IntelTcbPolicy {
  return { acceptedStatuses: ['UpToDate'] };
}

export function defaultGuestPolicyRules(): SnpGuestPolicyRules {
  return {
    allowSmt: true,
    allowCxl: false,
    requireSingleSocket: false,
    requireMemAes256Xts: false,
    requireRaplDis: false,
    requireCiphertextHiding: false,
    requirePageSwapDisable: false,
  };
}

function tdxDefault(): TdxPolicy {
  return {
    version: 1,
    tee: 'tdx',
    allowDebug: false,
    reportData: 'any',
    tcb: defaultIntelTcb(),
    collateral: {},
    mrTd: 'any',
    rtmr0: 'any',
    rtmr1: 'any',
    rtmr2: 'any',
    rtmr3: 'any',
    mrConfigId: 'any',
    mrOwner: 'any',
    mrOwnerConfig: 'any',
    mrSeam: 'any',
    mrSignerSeam: 'any',
    seamSvn: 'any',
    mrServiceTd: [ZERO_48],
    tdAttributes: 'any',
    allowMigratable: false,
    // T34: the checklist's "SEPT_VE_DISABLE (bit 28) required by default"; false is a relaxation (review s13 policy #3)
    requireSeptVeDisable: true,
    xfam: 'any',
  };
}

function sgxDefault(): SgxPolicy {
  return {
    version: 1,
    tee: 'sgx',
    allowDebug: false,
    reportData: 'any',
    tcb: defaultIntelTcb(),
    collateral: {},
    mrEnclave: 'any',
    mrSigner: 'any',
    isvProdId: 'any',
    isvSvn: 'any',
    attributes: 'any',
    miscSelect: 'any',
  };
}

function snpDefault(): SnpPolicy {
  return {
    version: 1,
    tee: 'snp',
    allowDebug: false,
    reportData: 'any',
    collateral: {},
    measurement: 'any',
    hostData: 'any',
    idKeyDigest: 'any',
    authorKeyDigest: 'any',
    familyId: 'any',
    imageId: 'any',
    // S24: a less privileged VMPL can request reports with any REPORT_DATA it likes (checklist).
    vmpl: [0],
    products: ['Milan', 'Genoa', 'Turin'],
    signingKeys: ['vcek'],
    cspIds: 'any',
    chipIds: {},
    allowMigrationAgent: false,
    allowProvisionalFirmware: false,
    guestPolicy: defaultGuestPolicyRules(),
    platformInfo: {},
    tcbMinimums: {},
    firmware: {},
    requiredMitigations: {},
  };
}

/** Defaults of a vtpm section that a document names (the section itself is optional). */
export function defaultVtpmPolicy(): VtpmPolicy {
  return { pcrs: {}, unknownImaEntries: 'violation', imaViolations: 'violation' };
}

/** A fresh, mutable default of each TEE (the loader fills documents from it). */
export function defaultsFor(tee: PolicyTee): Policy {
  return tee === 'tdx' ? tdxDefault() : tee === 'sgx' ? sgxDefault() : snpDefault();
}

export { deepFreeze };

/**
 * The default policy of a TEE, frozen: TCB status UpToDate only, debug
 * forbidden, measurements unconstrained ("any"). Not a key-release policy.
 */
export function defaultPolicy(tee: PolicyTee): Policy {
  if (tee !== 'tdx' && tee !== 'sgx' && tee !== 'snp') {
    throw new InvalidArgumentError('ERR_INVALID_ARGUMENT', `defaultPolicy: tee must be "tdx", "sgx" or "snp", not ${JSON.stringify(tee)}`, { check: 'X07' });
  }
  return markLoaded(deepFreeze(defaultsFor(tee)));
}
