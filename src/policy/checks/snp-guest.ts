/**
 * SEV-SNP guest policy and platform (checklist §4.4 F): DEBUG (S21), the
 * other POLICY bits (S22), PLATFORM_INFO (S23), VMPL (S24), REPORT_ID_MA
 * (S28).
 */
import type { SnpClaims } from '../../verify/types.js';
import type { SnpPlatformInfoRules, SnpPolicy } from '../types.js';
import type { Findings } from './findings.js';

function checkGuestPolicy(c: SnpClaims, p: SnpPolicy, f: Findings): void {
  const g = p.guestPolicy;
  const bit = (on: boolean, path: string, message: string) => {
    if (on) f.fail(path, 'S22', 'POLICY', !on, on, message);
  };
  // S22: each rule of the guest POLICY
  bit(c.policy.migrateMa && !p.allowMigrationAgent, '/allowMigrationAgent', 'MIGRATE_MA is set and the policy trusts no migration agent');
  bit(c.policy.smt && !g.allowSmt, '/guestPolicy/allowSmt', 'the guest policy allows SMT');
  bit(c.policy.cxlAllow && !g.allowCxl, '/guestPolicy/allowCxl', 'CXL_ALLOW is set');
  const required = [
    ['requireSingleSocket', c.policy.singleSocket, 'SINGLE_SOCKET'],
    ['requireMemAes256Xts', c.policy.memAes256Xts, 'MEM_AES_256_XTS'],
    ['requireRaplDis', c.policy.raplDis, 'RAPL_DIS'],
    ['requireCiphertextHiding', c.policy.ciphertextHiding, 'CIPHERTEXT_HIDING'],
    ['requirePageSwapDisable', c.policy.pageSwapDisable, 'PAGE_SWAP_DISABLE'],
  ] as const;
  for (const [key, actual, name] of required) {
    if (g[key] && !actual) f.fail(`/guestPolicy/${key}`, 'S22', 'POLICY', true, false, `${name} is required and not set`);
  }
  if (g.minAbi !== undefined) {
    const [major = 0, minor = 0] = g.minAbi.split('.').map(Number);
    if (c.policy.abiMajor < major || (c.policy.abiMajor === major && c.policy.abiMinor < minor)) {
      f.fail('/guestPolicy/minAbi', 'S22', 'POLICY', { minimum: g.minAbi }, `${c.policy.abiMajor}.${c.policy.abiMinor}`, 'the guest policy\'s minimum ABI is below the policy\'s');
    }
  }
}

const PLATFORM_BITS: readonly (keyof SnpPlatformInfoRules)[] = ['smtEnabled', 'tsmeEnabled', 'eccEnabled', 'raplDisabled', 'ciphertextHidingDramEnabled', 'aliasCheckComplete', 'tioEnabled'];

export function checkSnpGuest(c: SnpClaims, p: SnpPolicy, f: Findings): void {
  if (c.policy.debug) {
    // S21: POLICY.DEBUG zero unless the policy allows debug, then a warning
    if (!p.allowDebug) f.fail('/allowDebug', 'S21', 'POLICY', false, true, `the guest policy allows debugging (POLICY ${c.policy.raw})`);
    else f.warn('S21', `debug guest accepted by the policy (allowDebug; POLICY ${c.policy.raw}): never release keys to it`);
  }
  checkGuestPolicy(c, p, f);
  for (const name of PLATFORM_BITS) {
    const want = p.platformInfo[name];
    // S23: PLATFORM_INFO bits as the policy requires (e.g. ALIAS_CHECK_COMPLETE for BadRAM)
    if (want !== undefined && c.platformInfo[name] !== want) f.fail(`/platformInfo/${name}`, 'S23', 'POLICY', want, c.platformInfo[name], `PLATFORM_INFO ${name} is ${c.platformInfo[name]}`);
  }
  f.allowed(p.vmpl, c.vmpl, '/vmpl', 'S24', 'VMPL'); // S24: the requester's VMPL
  // S28: REPORT_ID_MA all-FF unless a migration agent is allowed
  if (!p.allowMigrationAgent && c.reportIdMa !== 'f'.repeat(64)) f.fail('/allowMigrationAgent', 'S28', 'POLICY', 'f'.repeat(64), c.reportIdMa, 'REPORT_ID_MA names a migration agent');
}
