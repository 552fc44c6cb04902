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
  // S22: each rule of the guest POLICY; a bit the default refuses and the policy allows is a warning
  bit(c.policy.migrateMa && !p.allowMigrationAgent, '/allowMigrationAgent', 'MIGRATE_MA is set and the policy trusts no migration agent');
  if (c.policy.migrateMa && p.allowMigrationAgent) f.warn('S22', `MIGRATE_MA accepted by the policy (allowMigrationAgent; POLICY ${c.policy.raw}): a migration agent may be associated with the guest`);
  bit(c.policy.smt && !g.allowSmt, '/guestPolicy/allowSmt', 'the guest policy allows SMT');
  bit(c.policy.cxlAllow && !g.allowCxl, '/guestPolicy/allowCxl', 'CXL_ALLOW is set');
  if (c.policy.cxlAllow && g.allowCxl) f.warn('S22', `CXL_ALLOW accepted by the policy (guestPolicy.allowCxl; POLICY ${c.policy.raw}): guest memory may be backed by CXL devices`);
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

/** REPORT_ID_MA when no migration agent is associated with the guest (all FF). */
const NO_MIGRATION_AGENT = 'f'.repeat(64);

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
  // S24: the default accepts VMPL 0 only; a wider list that lets another VMPL through is a warning
  if (c.vmpl !== 0 && (p.vmpl === 'any' || p.vmpl.includes(c.vmpl))) {
    f.warn('S24', `VMPL ${c.vmpl} accepted by the policy (vmpl ${JSON.stringify(p.vmpl)}): the report was requested by software less privileged than VMPL 0, which can have any REPORT_DATA signed`);
  }
  // S28: REPORT_ID_MA all-FF unless a migration agent is allowed (then a warning)
  if (c.reportIdMa !== NO_MIGRATION_AGENT) {
    if (!p.allowMigrationAgent) f.fail('/allowMigrationAgent', 'S28', 'POLICY', NO_MIGRATION_AGENT, c.reportIdMa, 'REPORT_ID_MA names a migration agent');
    else f.warn('S28', `REPORT_ID_MA ${c.reportIdMa} accepted by the policy (allowMigrationAgent): a migration agent is bound to the guest`);
  }
}
