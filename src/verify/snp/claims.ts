/**
 * Step F (checklist §4.4 S39, S45; S17–S28, S31, S32 are the policy layer's):
 * the verified facts as plain claims: numbers, booleans and lowercase hex,
 * 64-bit values as 0x-prefixed hex. Built only after every check passed
 * (S42), from the fields decoded out of the signed bytes.
 */
import { u64Hex as formatU64 } from '../../evidence/bytes.js';
import type { SnpPlatformInfo, SnpPolicy, SnpReport, SnpTcb } from '../../evidence/types.js';
import type { AmdKdsExtension } from '../../x509/index.js';
// Buffer's hex encoder on the view itself: the claims hex a dozen fields per report.
import { toHex } from '../intel/bytes.js';
import type { SnpClaims, SnpTcbClaim } from '../types.js';
import type { CheckedReport } from './structure.js';
import { atMost } from './tcb.js';

/**
 * 64-bit claims (policy, platform info, TCBs) by value: a platform's reports
 * repeat the same few values, and formatting a BigInt is a visible part of
 * building claims. Keyed by the value itself (a Map compares BigInts by
 * value); bounded.
 */
const hexByValue = new Map<bigint, string>();
const MAX_HEX_VALUES = 256;

function u64Hex(value: bigint): string {
  let text = hexByValue.get(value);
  if (text === undefined) {
    text = formatU64(value);
    if (hexByValue.size >= MAX_HEX_VALUES) hexByValue.delete(hexByValue.keys().next().value as bigint);
    hexByValue.set(value, text);
  }
  return text;
}

function tcbClaim(t: SnpTcb): SnpTcbClaim {
  // Fields named one by one (same order as the rest-spread they replace): cheaper per report.
  const raw = u64Hex(t.raw);
  if (t.fmc !== undefined) return { fmc: t.fmc, bootloader: t.bootloader, tee: t.tee, snp: t.snp, microcode: t.microcode, raw };
  return { bootloader: t.bootloader, tee: t.tee, snp: t.snp, microcode: t.microcode, raw };
}

// Policy and platform info field by field, raw last (the order the rest-spread they replace gave).
function policyClaim(p: SnpPolicy): SnpClaims['policy'] {
  return {
    abiMinor: p.abiMinor,
    abiMajor: p.abiMajor,
    smt: p.smt,
    migrateMa: p.migrateMa,
    debug: p.debug,
    singleSocket: p.singleSocket,
    cxlAllow: p.cxlAllow,
    memAes256Xts: p.memAes256Xts,
    raplDis: p.raplDis,
    ciphertextHiding: p.ciphertextHiding,
    pageSwapDisable: p.pageSwapDisable,
    raw: u64Hex(p.raw),
  };
}

function platformInfoClaim(p: SnpPlatformInfo): SnpClaims['platformInfo'] {
  return {
    smtEnabled: p.smtEnabled,
    tsmeEnabled: p.tsmeEnabled,
    eccEnabled: p.eccEnabled,
    raplDisabled: p.raplDisabled,
    ciphertextHidingDramEnabled: p.ciphertextHidingDramEnabled,
    aliasCheckComplete: p.aliasCheckComplete,
    bit6: p.bit6,
    tioEnabled: p.tioEnabled,
    raw: u64Hex(p.raw),
  };
}

const version = (v: SnpReport['currentVersion']): string => `${v.major}.${v.minor}.${v.build}`;

function sameTcb(a: SnpTcb, b: SnpTcb): boolean {
  return a.raw === b.raw;
}

export function buildClaims(checked: CheckedReport, ext: AmdKdsExtension): SnpClaims {
  const { report: r, product, tcb } = checked;
  const claims: SnpClaims = {
    kind: 'snp',
    reportVersion: r.version,
    product,
    productSource: r.productSource === 'cpuid' ? 'cpuid' : 'caller',
    signingKey: r.signerInfo.signingKey,
    measurement: toHex(r.measurement),
    hostData: toHex(r.hostData),
    reportData: toHex(r.reportData),
    idKeyDigest: toHex(r.idKeyDigest),
    authorKeyDigest: toHex(r.authorKeyDigest),
    familyId: toHex(r.familyId),
    imageId: toHex(r.imageId),
    reportIdMa: toHex(r.reportIdMa),
    chipId: toHex(r.chipId),
    guestSvn: r.guestSvn,
    vmpl: r.vmpl,
    policy: policyClaim(r.policy),
    platformInfo: platformInfoClaim(r.platformInfo),
    authorKeyEnabled: r.signerInfo.authorKeyEnabled,
    maskChipKey: r.signerInfo.maskChipKey,
    tcb: { current: tcbClaim(tcb.current), reported: tcbClaim(tcb.reported), committed: tcbClaim(tcb.committed), launch: tcbClaim(tcb.launch) },
    tcbRelations: {
      committedEqualsCurrent: sameTcb(tcb.committed, tcb.current),
      reportedAtMostCurrent: atMost(tcb.reported, tcb.current, product),
      committedAtMostCurrent: atMost(tcb.committed, tcb.current, product),
    },
    currentVersion: version(r.currentVersion),
    committedVersion: version(r.committedVersion),
  };
  if (ext.cspId !== undefined) claims.cspId = ext.cspId; // S45: the CSP behind a VLEK, for policies that pin it
  if (r.launchMitVector !== undefined) claims.launchMitVector = u64Hex(r.launchMitVector);
  if (r.currentMitVector !== undefined) claims.currentMitVector = u64Hex(r.currentMitVector);
  return claims;
}
