/**
 * Builder of AMD SEV-SNP attestation reports (checklist §4.1): 1184 bytes,
 * signed with ECDSA P-384 / SHA-384 over [0, 0x2A0), R and S stored as
 * 72-byte little-endian values (§4.2). Offsets are this module's own.
 */
import { sign, type KeyObject } from 'node:crypto';

import { ByteWriter } from './byte-writer.js';
import { deriveBytes } from './seed.js';
import { defaultChipId, defaultSnpTcb, encodeSnpTcb, type SnpTcbValues, type TestSnpProduct } from './snp-tcb.js';
import { DEFAULT_BUILDER_SEED, type SignMode } from './intel-quote-builder.js';

export const SNP_REPORT = {
  size: 0x4a0,
  signedLength: 0x2a0,
  version: 0x000,
  guestSvn: 0x004,
  policy: 0x008,
  familyId: 0x010,
  imageId: 0x020,
  vmpl: 0x030,
  signatureAlgo: 0x034,
  currentTcb: 0x038,
  platformInfo: 0x040,
  signerInfo: 0x048,
  reportData: 0x050,
  measurement: 0x090,
  hostData: 0x0c0,
  idKeyDigest: 0x0e0,
  authorKeyDigest: 0x110,
  reportId: 0x140,
  reportIdMa: 0x160,
  reportedTcb: 0x180,
  cpuidFamId: 0x188,
  cpuidModId: 0x189,
  cpuidStep: 0x18a,
  chipId: 0x1a0,
  committedTcb: 0x1e0,
  currentBuild: 0x1e8,
  currentMinor: 0x1e9,
  currentMajor: 0x1ea,
  committedBuild: 0x1ec,
  committedMinor: 0x1ed,
  committedMajor: 0x1ee,
  launchTcb: 0x1f0,
  launchMitVector: 0x1f8,
  currentMitVector: 0x200,
  signatureR: 0x2a0,
  signatureS: 0x2e8,
} as const;

/** Signed CPUID family / model / stepping per product (v3+; S06). */
export const SNP_PRODUCT_CPUID: Record<TestSnpProduct, { family: number; model: number; stepping: number }> = {
  Milan: { family: 0x19, model: 0x01, stepping: 0x01 },
  Genoa: { family: 0x19, model: 0x11, stepping: 0x01 },
  Turin: { family: 0x1a, model: 0x02, stepping: 0x00 },
};

export type SnpTcbInput = SnpTcbValues | Uint8Array;

export interface SnpVersionFields {
  major: number;
  minor: number;
  build: number;
}

export interface SnpReportFields {
  guestSvn: number;
  /** Bit 17 must be 1 (S04); default 0x30000 (bit 17 + SMT allowed). */
  policy: bigint;
  familyId: Uint8Array;
  imageId: Uint8Array;
  vmpl: number;
  signatureAlgo: number;
  currentTcb: SnpTcbInput;
  /** The TCB the VCEK / VLEK was issued for. */
  reportedTcb: SnpTcbInput;
  committedTcb: SnpTcbInput;
  launchTcb: SnpTcbInput;
  platformInfo: bigint;
  authorKeyEnabled: boolean;
  maskChipKey: boolean;
  reportData: Uint8Array;
  measurement: Uint8Array;
  hostData: Uint8Array;
  idKeyDigest: Uint8Array;
  authorKeyDigest: Uint8Array;
  reportId: Uint8Array;
  reportIdMa: Uint8Array;
  /** v3+: written at 0x188..0x18A; default from the product. */
  cpuid: { family: number; model: number; stepping: number };
  chipId: Uint8Array;
  currentVersion: SnpVersionFields;
  committedVersion: SnpVersionFields;
  /** v5 only. */
  launchMitVector: bigint;
  /** v5 only. */
  currentMitVector: bigint;
}

export interface SnpReportOptions extends Partial<SnpReportFields> {
  version: 2 | 3 | 4 | 5;
  product: TestSnpProduct;
  signingKey: 'vcek' | 'vlek';
  /** P-384 private key of the VCEK / VLEK. Needed unless signing is "skip". */
  key?: KeyObject;
  seed?: string;
  /** Raw SIGNING_KEY bits (4:2) override, e.g. 7 for "no key" negative tests. */
  signingKeyField?: number;
  trailing?: Uint8Array;
  signing?: SignMode;
  /** Called after every field is written and before signing. */
  mutate?: (bytes: Uint8Array) => void;
}

export interface BuiltSnpReport {
  bytes: Uint8Array;
  version: 2 | 3 | 4 | 5;
  product: TestSnpProduct;
  signingKey: 'vcek' | 'vlek';
  fields: SnpReportFields;
  /** The 8 TCB_VERSION bytes as written. */
  tcbBytes: { current: Uint8Array; reported: Uint8Array; committed: Uint8Array; launch: Uint8Array };
}

function defaultFields(seed: string, product: TestSnpProduct): SnpReportFields {
  // Same defaults as createAmdTestPki: with one seed, report and VCEK agree.
  const tcb = defaultSnpTcb(product);
  const chipId = defaultChipId(seed, product);
  return {
    guestSvn: 1,
    policy: 0x30000n,
    familyId: new Uint8Array(16),
    imageId: new Uint8Array(16),
    vmpl: 0,
    signatureAlgo: 1,
    currentTcb: tcb,
    reportedTcb: tcb,
    committedTcb: tcb,
    launchTcb: tcb,
    platformInfo: 0x25n, // SMT_EN, ECC_EN, ALIAS_CHECK_COMPLETE
    authorKeyEnabled: false,
    maskChipKey: false,
    reportData: deriveBytes(seed, 'snp:report-data', 64),
    measurement: deriveBytes(seed, 'snp:measurement', 48),
    hostData: new Uint8Array(32),
    idKeyDigest: new Uint8Array(48),
    authorKeyDigest: new Uint8Array(48),
    reportId: deriveBytes(seed, 'snp:report-id', 32),
    reportIdMa: new Uint8Array(32).fill(0xff), // no migration agent
    cpuid: SNP_PRODUCT_CPUID[product],
    chipId,
    currentVersion: { major: 1, minor: 55, build: 21 },
    committedVersion: { major: 1, minor: 55, build: 21 },
    launchMitVector: 0n,
    currentMitVector: 0n,
  };
}

/** Big-endian r || s (48 + 48) -> two 72-byte little-endian fields (§4.2). */
export function snpSignatureFields(rs: Uint8Array): { r: Uint8Array; s: Uint8Array } {
  const r = new Uint8Array(72);
  const s = new Uint8Array(72);
  for (let i = 0; i < 48; i++) {
    r[i] = rs[47 - i] ?? 0;
    s[i] = rs[95 - i] ?? 0;
  }
  return { r, s };
}

/** Signs [0, 0x2A0) of `bytes` in place with a P-384 key (S12). */
export function resignSnpReport(bytes: Uint8Array, key: KeyObject, mode: SignMode = 'sign'): Uint8Array {
  if (mode === 'skip') return bytes;
  const rs = new Uint8Array(sign('sha384', bytes.subarray(0, SNP_REPORT.signedLength), { key, dsaEncoding: 'ieee-p1363' }));
  const { r, s } = snpSignatureFields(rs);
  if (mode === 'corrupt') s[0] = (s[0] ?? 0) ^ 0x01; // least significant byte of S
  bytes.set(r, SNP_REPORT.signatureR);
  bytes.set(s, SNP_REPORT.signatureS);
  return bytes;
}

function tcbBytes(value: SnpTcbInput, product: TestSnpProduct): Uint8Array {
  return value instanceof Uint8Array ? value : encodeSnpTcb(value, product);
}

function writeVersion(w: ByteWriter, at: number, v: SnpVersionFields): void {
  w.u8(at, v.build, 'build');
  w.u8(at + 1, v.minor, 'minor');
  w.u8(at + 2, v.major, 'major');
}

/** An SEV-SNP report of version 2, 3, 4 (v3 layout) or 5. */
export function buildSnpReport(options: SnpReportOptions): BuiltSnpReport {
  const { version, product } = options;
  const L = SNP_REPORT;
  const { version: _v, product: _p, signingKey: _s, key, seed, signingKeyField, trailing, signing, mutate, ...overrides } = options;
  const f: SnpReportFields = { ...defaultFields(seed ?? DEFAULT_BUILDER_SEED, product), ...overrides };
  const tcb = {
    current: tcbBytes(f.currentTcb, product),
    reported: tcbBytes(f.reportedTcb, product),
    committed: tcbBytes(f.committedTcb, product),
    launch: tcbBytes(f.launchTcb, product),
  };
  const extra = trailing ?? new Uint8Array(0);
  const w = new ByteWriter(L.size + extra.length);
  w.u32(L.version, version, 'version');
  w.u32(L.guestSvn, f.guestSvn, 'guestSvn');
  w.u64(L.policy, f.policy, 'policy');
  w.put(L.familyId, f.familyId, 16, 'familyId');
  w.put(L.imageId, f.imageId, 16, 'imageId');
  w.u32(L.vmpl, f.vmpl, 'vmpl');
  w.u32(L.signatureAlgo, f.signatureAlgo, 'signatureAlgo');
  w.put(L.currentTcb, tcb.current, 8, 'currentTcb');
  w.u64(L.platformInfo, f.platformInfo, 'platformInfo');
  const keyBits = signingKeyField ?? (options.signingKey === 'vlek' ? 1 : 0);
  w.u32(L.signerInfo, (f.authorKeyEnabled ? 1 : 0) | (f.maskChipKey ? 2 : 0) | (keyBits << 2), 'signerInfo');
  w.put(L.reportData, f.reportData, 64, 'reportData');
  w.put(L.measurement, f.measurement, 48, 'measurement');
  w.put(L.hostData, f.hostData, 32, 'hostData');
  w.put(L.idKeyDigest, f.idKeyDigest, 48, 'idKeyDigest');
  w.put(L.authorKeyDigest, f.authorKeyDigest, 48, 'authorKeyDigest');
  w.put(L.reportId, f.reportId, 32, 'reportId');
  w.put(L.reportIdMa, f.reportIdMa, 32, 'reportIdMa');
  w.put(L.reportedTcb, tcb.reported, 8, 'reportedTcb');
  if (version >= 3) {
    // S43: v2 keeps 0x188..0x19F reserved; CPUID exists from v3 on.
    w.u8(L.cpuidFamId, f.cpuid.family, 'cpuidFamId');
    w.u8(L.cpuidModId, f.cpuid.model, 'cpuidModId');
    w.u8(L.cpuidStep, f.cpuid.stepping, 'cpuidStep');
  }
  w.put(L.chipId, f.chipId, 64, 'chipId');
  w.put(L.committedTcb, tcb.committed, 8, 'committedTcb');
  writeVersion(w, L.currentBuild, f.currentVersion);
  writeVersion(w, L.committedBuild, f.committedVersion);
  w.put(L.launchTcb, tcb.launch, 8, 'launchTcb');
  if (version >= 5) {
    w.u64(L.launchMitVector, f.launchMitVector, 'launchMitVector');
    w.u64(L.currentMitVector, f.currentMitVector, 'currentMitVector');
  }
  w.put(L.size, extra, extra.length, 'trailing');
  const bytes = w.bytes;
  mutate?.(bytes);
  const mode = signing ?? 'sign';
  if (mode !== 'skip') {
    if (!key) throw new TypeError('buildSnpReport: a signing key is required unless signing is "skip"');
    resignSnpReport(bytes, key, mode);
  }
  return { bytes, version, product, signingKey: options.signingKey, fields: f, tcbBytes: tcb };
}
