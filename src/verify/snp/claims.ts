/**
 * Step F (checklist §4.4 S39, S45; S17–S28, S31, S32 are the policy layer's):
 * the verified facts as plain claims: numbers, booleans and lowercase hex,
 * 64-bit values as 0x-prefixed hex. Built only after every check passed
 * (S42), from the fields decoded out of the signed bytes.
 */
import { toHex, u64Hex } from '../../evidence/bytes.js';
import type { SnpReport, SnpTcb } from '../../evidence/types.js';
import type { AmdKdsExtension } from '../../x509/index.js';
import type { SnpClaims, SnpTcbClaim } from '../types.js';
import type { CheckedReport } from './structure.js';
import { atMost } from './tcb.js';

function tcbClaim(t: SnpTcb): SnpTcbClaim {
  const { raw, ...components } = t;
  return { ...components, raw: u64Hex(raw) };
}

const version = (v: SnpReport['currentVersion']): string => `${v.major}.${v.minor}.${v.build}`;

function sameTcb(a: SnpTcb, b: SnpTcb): boolean {
  return a.raw === b.raw;
}

export function buildClaims(checked: CheckedReport, ext: AmdKdsExtension): SnpClaims {
  const { report: r, product, tcb } = checked;
  const { raw: policyRaw, ...policy } = r.policy;
  const { raw: platformRaw, ...platformInfo } = r.platformInfo;
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
    policy: { ...policy, raw: u64Hex(policyRaw) },
    platformInfo: { ...platformInfo, raw: u64Hex(platformRaw) },
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
