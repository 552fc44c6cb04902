/** AMD SEV-SNP attestation reports, versions 2 to 5 (checklist §4.1). */
import { ProductError } from '../errors.js';
import { native, isNativeFailure, type NativeSnpFrame } from '../native/index.js';
import { readStructure } from './fields.js';
import { errorFromNative } from './native-failure.js';
import { decodeTcb, productFromCpuid } from './snp-product.js';
import type { SnpPlatformInfo, SnpPolicy, SnpProduct, SnpReport, SnpSignerInfo } from './types.js';

const SIGNED_LENGTH = 0x2a0;

const bit = (value: bigint, n: number): boolean => ((value >> BigInt(n)) & 1n) === 1n;

export function decodePolicy(raw: bigint): SnpPolicy {
  return {
    raw,
    abiMinor: Number(raw & 0xffn),
    abiMajor: Number((raw >> 8n) & 0xffn),
    smt: bit(raw, 16),
    migrateMa: bit(raw, 18),
    debug: bit(raw, 19),
    singleSocket: bit(raw, 20),
    cxlAllow: bit(raw, 21),
    memAes256Xts: bit(raw, 22),
    raplDis: bit(raw, 23),
    ciphertextHiding: bit(raw, 24),
    pageSwapDisable: bit(raw, 25),
  };
}

export function decodePlatformInfo(raw: bigint): SnpPlatformInfo {
  return {
    raw,
    smtEnabled: bit(raw, 0),
    tsmeEnabled: bit(raw, 1),
    eccEnabled: bit(raw, 2),
    raplDisabled: bit(raw, 3),
    ciphertextHidingDramEnabled: bit(raw, 4),
    aliasCheckComplete: bit(raw, 5),
    bit6: bit(raw, 6),
    tioEnabled: bit(raw, 7),
  };
}

export function decodeSignerInfo(raw: number): SnpSignerInfo {
  return {
    raw,
    authorKeyEnabled: (raw & 1) === 1,
    maskChipKey: (raw & 2) === 2,
    signingKey: ((raw >>> 2) & 7) === 1 ? 'vlek' : 'vcek',
  };
}

export function frameSnpReport(bytes: Uint8Array, mode: number): NativeSnpFrame {
  const result = native().parseSnpReport(bytes, mode);
  if (isNativeFailure(result)) throw errorFromNative(result, 'SEV-SNP report');
  return result;
}

function resolveProduct(
  cpuidProduct: SnpProduct | undefined,
  version: number,
  requested: SnpProduct | undefined,
): Pick<SnpReport, 'product' | 'productSource'> {
  if (version < 3) {
    return requested ? { product: requested, productSource: 'caller' } : { product: undefined, productSource: 'unknown' };
  }
  if (requested && cpuidProduct !== requested) {
    throw new ProductError(
      'ERR_PRODUCT_MISMATCH',
      `the report's signed CPUID names ${cpuidProduct ?? 'an unknown product'}, not ${requested}`,
      { check: 'S06', details: { cpuid: cpuidProduct ?? null, requested } },
    );
  }
  return cpuidProduct ? { product: cpuidProduct, productSource: 'cpuid' } : { product: undefined, productSource: 'unknown' };
}

export function buildSnpReport(
  bytes: Uint8Array,
  f: NativeSnpFrame,
  requestedProduct: SnpProduct | undefined,
  warnings: string[],
): SnpReport {
  const r = readStructure(bytes, 0, 'snpReport', f.version);
  const u8 = (k: string) => r[k] as Uint8Array;
  const n = (k: string) => r[k] as number;
  const cpuid = f.version >= 3 ? { family: n('cpuidFamId'), model: n('cpuidModId'), stepping: n('cpuidStep') } : undefined;
  const { product, productSource } = resolveProduct(
    cpuid ? productFromCpuid(cpuid.family, cpuid.model) : undefined,
    f.version,
    requestedProduct,
  );
  const report: SnpReport = {
    kind: 'snp',
    version: f.version as SnpReport['version'],
    bytes,
    signedRange: { offset: 0, length: SIGNED_LENGTH },
    guestSvn: n('guestSvn'),
    policy: decodePolicy(r['policy'] as bigint),
    familyId: u8('familyId'),
    imageId: u8('imageId'),
    vmpl: n('vmpl'),
    signatureAlgo: n('signatureAlgo'),
    currentTcbBytes: u8('currentTcb'),
    platformInfo: decodePlatformInfo(r['platformInfo'] as bigint),
    signerInfo: decodeSignerInfo(n('signerInfo')),
    reportData: u8('reportData'),
    measurement: u8('measurement'),
    hostData: u8('hostData'),
    idKeyDigest: u8('idKeyDigest'),
    authorKeyDigest: u8('authorKeyDigest'),
    reportId: u8('reportId'),
    reportIdMa: u8('reportIdMa'),
    reportedTcbBytes: u8('reportedTcb'),
    chipId: u8('chipId'),
    committedTcbBytes: u8('committedTcb'),
    currentVersion: { major: n('currentMajor'), minor: n('currentMinor'), build: n('currentBuild') },
    committedVersion: { major: n('committedMajor'), minor: n('committedMinor'), build: n('committedBuild') },
    launchTcbBytes: u8('launchTcb'),
    signature: { r: u8('signatureR'), s: u8('signatureS') },
    product,
    productSource,
    tcb: undefined,
    trailing: { length: f.trailingSize, allZero: f.trailingAllZero },
    warnings,
  };
  if (cpuid) report.cpuid = cpuid;
  if (f.version >= 5) {
    report.launchMitVector = r['launchMitVector'] as bigint;
    report.currentMitVector = r['currentMitVector'] as bigint;
  }
  if (product) {
    report.tcb = {
      current: decodeTcb(report.currentTcbBytes, product),
      reported: decodeTcb(report.reportedTcbBytes, product),
      committed: decodeTcb(report.committedTcbBytes, product),
      launch: decodeTcb(report.launchTcbBytes, product),
    };
  }
  return report;
}
