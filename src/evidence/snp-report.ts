/** AMD SEV-SNP attestation reports, versions 2 to 5 (checklist §4.1). */
import { ProductError } from '../errors.js';
import { native, isNativeFailure, type NativeSnpFrame } from '../native/index.js';
import { layout } from './fields.js';
import { errorFromNative } from './native-failure.js';
import { decodeTcb, productFromCpuid } from './snp-product.js';
import type { SnpPlatformInfo, SnpPolicy, SnpProduct, SnpReport, SnpSignerInfo } from './types.js';

const SIGNED_LENGTH = 0x2a0;

/** Every flag decoded below lies in the low 32 bits: one BigInt conversion, then number bit tests. */
const low32 = (raw: bigint): number => Number(BigInt.asUintN(32, raw));
const bit = (low: number, n: number): boolean => ((low >>> n) & 1) === 1;

export function decodePolicy(raw: bigint): SnpPolicy {
  const low = low32(raw);
  return {
    raw,
    abiMinor: low & 0xff,
    abiMajor: (low >>> 8) & 0xff,
    smt: bit(low, 16),
    migrateMa: bit(low, 18),
    debug: bit(low, 19),
    singleSocket: bit(low, 20),
    cxlAllow: bit(low, 21),
    memAes256Xts: bit(low, 22),
    raplDis: bit(low, 23),
    ciphertextHiding: bit(low, 24),
    pageSwapDisable: bit(low, 25),
  };
}

export function decodePlatformInfo(raw: bigint): SnpPlatformInfo {
  const low = low32(raw);
  return {
    raw,
    smtEnabled: bit(low, 0),
    tsmeEnabled: bit(low, 1),
    eccEnabled: bit(low, 2),
    raplDisabled: bit(low, 3),
    ciphertextHidingDramEnabled: bit(low, 4),
    aliasCheckComplete: bit(low, 5),
    bit6: bit(low, 6),
    tioEnabled: bit(low, 7),
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

const FIELD_NAMES = [
  'guestSvn', 'policy', 'familyId', 'imageId', 'vmpl', 'signatureAlgo', 'currentTcb', 'platformInfo', 'signerInfo',
  'reportData', 'measurement', 'hostData', 'idKeyDigest', 'authorKeyDigest', 'reportId', 'reportIdMa', 'reportedTcb',
  'cpuidFamId', 'cpuidModId', 'cpuidStep', 'chipId', 'committedTcb', 'currentBuild', 'currentMinor', 'currentMajor',
  'committedBuild', 'committedMinor', 'committedMajor', 'launchTcb', 'launchMitVector', 'currentMitVector', 'signatureR', 'signatureS',
] as const;
type FieldName = (typeof FIELD_NAMES)[number];
interface Position {
  offset: number;
  size: number;
  minVersion: number;
}
type Positions = Record<FieldName, Position>;
let positions: Positions | undefined;

/**
 * Where each field lies, from the native layout table (the one source of the
 * layout), resolved once per process. Reading every field at its offset,
 * rather than through a generic record of all fields, keeps this cheap while
 * the engine is still warming up: a verifier decodes each report twice
 * (parse, then again from the signed bytes).
 */
function fieldPositions(): Positions {
  if (!positions) {
    const byName = new Map(layout('snpReport').fields.map((f) => [f.name, f]));
    const entries = FIELD_NAMES.map((name) => {
      const f = byName.get(name);
      if (!f) throw new Error(`the native snpReport layout has no field ${name}`);
      return [name, { offset: f.offset, size: f.size, minVersion: f.minVersion }] as const;
    });
    positions = Object.fromEntries(entries) as Positions;
  }
  return positions;
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
  const p = fieldPositions();
  const { buffer, byteOffset } = bytes;
  // Byte fields are views of the evidence (T49); integers little-endian.
  const view = new DataView(buffer, byteOffset, bytes.byteLength);
  // Each call site names its field (p.familyId, ...): one shape of position, monomorphic loads.
  const u8 = (at: Position) => new Uint8Array(buffer, byteOffset + at.offset, at.size);
  const n = (at: Position) => (at.size === 1 ? view.getUint8(at.offset) : view.getUint32(at.offset, true));
  const u64 = (at: Position) => view.getBigUint64(at.offset, true);
  const cpuid = f.version >= 3 ? { family: n(p.cpuidFamId), model: n(p.cpuidModId), stepping: n(p.cpuidStep) } : undefined;
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
    guestSvn: n(p.guestSvn),
    policy: decodePolicy(u64(p.policy)),
    familyId: u8(p.familyId),
    imageId: u8(p.imageId),
    vmpl: n(p.vmpl),
    signatureAlgo: n(p.signatureAlgo),
    currentTcbBytes: u8(p.currentTcb),
    platformInfo: decodePlatformInfo(u64(p.platformInfo)),
    signerInfo: decodeSignerInfo(n(p.signerInfo)),
    reportData: u8(p.reportData),
    measurement: u8(p.measurement),
    hostData: u8(p.hostData),
    idKeyDigest: u8(p.idKeyDigest),
    authorKeyDigest: u8(p.authorKeyDigest),
    reportId: u8(p.reportId),
    reportIdMa: u8(p.reportIdMa),
    reportedTcbBytes: u8(p.reportedTcb),
    chipId: u8(p.chipId),
    committedTcbBytes: u8(p.committedTcb),
    currentVersion: { major: n(p.currentMajor), minor: n(p.currentMinor), build: n(p.currentBuild) },
    committedVersion: { major: n(p.committedMajor), minor: n(p.committedMinor), build: n(p.committedBuild) },
    launchTcbBytes: u8(p.launchTcb),
    signature: { r: u8(p.signatureR), s: u8(p.signatureS) },
    product,
    productSource,
    tcb: undefined,
    trailing: { length: f.trailingSize, allZero: f.trailingAllZero },
    warnings,
  };
  if (cpuid) report.cpuid = cpuid;
  // S43: fields a version does not have are never read from its reserved bytes.
  if (f.version >= p.launchMitVector.minVersion) report.launchMitVector = u64(p.launchMitVector);
  if (f.version >= p.currentMitVector.minVersion) report.currentMitVector = u64(p.currentMitVector);
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
