/**
 * TD policy (checklist §2.5 F, T34–T40), only on claims of a quote that
 * passed verification. Measurements are compared as lowercase hex, 64-bit
 * fields as BigInt (§1.1: JS bit operators are 32-bit).
 */
import type { TdxClaims } from '../../verify/types.js';
import { tdUnderDebug } from '../td-debug.js';
import type { TdxPolicy } from '../types.js';
import type { Findings } from './findings.js';

const NO_SERVICE_TD = '0'.repeat(96);

/** T39: TDX module SVN as ITA counts it: TEE_TCB_SVN[1] (major) × 256 + TEE_TCB_SVN[0] (minor). */
export function seamSvnOf(claims: TdxClaims): number {
  const b = Buffer.from(claims.teeTcbSvn, 'hex');
  return (b[1] ?? 0) * 256 + (b[0] ?? 0);
}

function checkAttributes(c: TdxClaims, p: TdxPolicy, f: Findings): void {
  const attrs = BigInt(c.tdAttributes);
  // td-debug.ts: the one definition of the TD-under-debug group, shared with the EAR vector and the key broker
  if (tdUnderDebug(c)) {
    // T34: DEBUG (bit 0) and TUD bits 7:1 zero unless the policy allows debug, then a warning
    if (!p.allowDebug) f.fail('/allowDebug', 'T34', 'POLICY', false, true, `the TD is debuggable (TDATTRIBUTES ${c.tdAttributes})`);
    else f.warn('T34', `debug TD accepted by the policy (allowDebug; TDATTRIBUTES ${c.tdAttributes}): its memory is visible to the host, never release keys to it`);
  }
  if (c.migratable) {
    // T34: MIGRATABLE (bit 29) rejected unless allowed (§8); when allowed, a warning (a relaxation)
    if (!p.allowMigratable) f.fail('/allowMigratable', 'T34', 'POLICY', false, true, 'the TD is migratable');
    else f.warn('T34', `migratable TD accepted by the policy (allowMigratable; TDATTRIBUTES ${c.tdAttributes}): its state can be moved to another platform by a migration TD`);
  }
  if (!c.septVeDisable) {
    // T34: SEPT_VE_DISABLE (bit 28) required by default (checklist); when a policy relaxes it, a warning
    if (p.requireSeptVeDisable) f.fail('/requireSeptVeDisable', 'T34', 'POLICY', true, false, 'SEPT_VE_DISABLE is not set');
    else f.warn('T34', `TD without SEPT_VE_DISABLE accepted by the policy (requireSeptVeDisable false; TDATTRIBUTES ${c.tdAttributes}): the host can make EPT violations raise #VE in the TD, so its kernel must handle host-induced #VE safely`);
  }
  // T34: the exact TDATTRIBUTES value under the policy's mask (V16: pin the value, not a bit table)
  if (p.tdAttributes !== 'any' && (attrs & BigInt(p.tdAttributes.mask)) !== BigInt(p.tdAttributes.value)) {
    f.fail('/tdAttributes', 'T34', 'POLICY', p.tdAttributes, c.tdAttributes, `TDATTRIBUTES ${c.tdAttributes} do not match the policy under its mask`);
  }
  // T35: XFAM exact value or allowlist
  f.allowed(p.xfam, c.xfam, '/xfam', 'T35', 'XFAM');
}

function checkMeasurements(c: TdxClaims, p: TdxPolicy, f: Findings): void {
  f.allowed(p.mrTd, c.mrTd, '/mrTd', 'T36', 'MRTD'); // T36: MRTD in the allowlist
  // T37: RTMR0–3 exact allowlists
  f.allowed(p.rtmr0, c.rtmr0, '/rtmr0', 'T37', 'RTMR0');
  f.allowed(p.rtmr1, c.rtmr1, '/rtmr1', 'T37', 'RTMR1');
  f.allowed(p.rtmr2, c.rtmr2, '/rtmr2', 'T37', 'RTMR2');
  f.allowed(p.rtmr3, c.rtmr3, '/rtmr3', 'T37', 'RTMR3');
  // T38: MRCONFIGID / MROWNER / MROWNERCONFIG expected value or explicit "any"
  f.allowed(p.mrConfigId, c.mrConfigId, '/mrConfigId', 'T38', 'MRCONFIGID');
  f.allowed(p.mrOwner, c.mrOwner, '/mrOwner', 'T38', 'MROWNER');
  f.allowed(p.mrOwnerConfig, c.mrOwnerConfig, '/mrOwnerConfig', 'T38', 'MROWNERCONFIG');
  // T39: the TDX module: MRSEAM, MRSIGNERSEAM, module SVN
  f.allowed(p.mrSeam, c.mrSeam, '/mrSeam', 'T39', 'MRSEAM');
  f.allowed(p.mrSignerSeam, c.mrSignerSeam, '/mrSignerSeam', 'T39', 'MRSIGNERSEAM');
  const svn = seamSvnOf(c);
  f.allowed(p.seamSvn, svn, '/seamSvn', 'T39', 'TDX module SVN');
  f.atLeast(p.minSeamSvn, svn, '/minSeamSvn', 'T39', 'TDX module SVN');
  // T40: MRSERVICETD zero unless a service TD binding is expected; a quote without the
  // field (v4, v5 body type 2) binds no service TD, which is zero (no skip when absent, S40)
  const serviceTd = c.mrServiceTd ?? NO_SERVICE_TD;
  f.allowed(p.mrServiceTd, serviceTd, '/mrServiceTd', 'T40', 'MRSERVICETD');
  // T40: a bound service TD is refused by default; a policy that accepts one says so in a warning
  if (serviceTd !== NO_SERVICE_TD && (p.mrServiceTd === 'any' || p.mrServiceTd.includes(serviceTd))) {
    f.warn('T40', `a service TD is bound (MRSERVICETD ${serviceTd}), accepted by the policy's mrServiceTd: it can act on the TD's behalf`);
  }
}

export function checkTdx(c: TdxClaims, p: TdxPolicy, f: Findings): void {
  checkAttributes(c, p, f);
  checkMeasurements(c, p, f);
}
