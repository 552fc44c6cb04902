/**
 * SEV-SNP policy (checklist §4.4: S03, S06, S15, S17–S29, S31, S32, S45):
 * each check with a positive and a negative, on the genuine shared reports
 * (verified with their VCEK / VLEK at their instants) and on the synthetic
 * AMD PKI for values no genuine vector has.
 */
import { describe, expect, it } from 'vitest';

import { defaultPolicy, evaluatePolicy, loadPolicy } from '../../src/policy/index.js';
import type { VerificationResult } from '../../src/verify/types.js';
import {
  HAVE_VECTORS,
  SNP_DEBUG,
  SNP_GENOA_CRL,
  SNP_MILAN,
  SNP_PROVISIONAL,
  SNP_TURIN,
  SNP_VLEK,
  expectOk,
  expectOnly,
  hex,
  pairs,
  realSnpResult,
  snp,
  syntheticSnp,
} from './helpers.js';

const ANY_SNP = { tee: 'snp', measurement: 'any', hostData: 'any' };
// Minimums for some products only are refused unless "products" is narrowed to them (review s6).
const p = (extra: Record<string, unknown>) => loadPolicy({ ...ANY_SNP, ...(extra['tcbMinimums'] && !extra['products'] ? { products: Object.keys(extra['tcbMinimums'] as object) } : {}), ...extra });
const other = (h: string) => `${h.slice(0, -2)}${h.endsWith('00') ? '01' : '00'}`;

describe.skipIf(!HAVE_VECTORS)('genuine SNP reports under the default policy', () => {
  it('Milan v3, Genoa v3 (with CRL) and Turin v5 VCEK reports pass', () => {
    for (const id of [SNP_MILAN, SNP_GENOA_CRL, SNP_TURIN]) expectOk(evaluatePolicy(realSnpResult(id), defaultPolicy('snp')));
  });

  it('S21: the go-sev-guest report allows debugging: one violation; allowDebug accepts it with a warning', () => {
    const r = realSnpResult(SNP_DEBUG);
    expect(snp(r).policy.debug).toBe(true);
    expectOnly(evaluatePolicy(r, defaultPolicy('snp')), 'S21', '/allowDebug');
    const a = evaluatePolicy(r, p({ allowDebug: true }));
    expectOk(a);
    expect(a.warnings.some((w) => w.startsWith('S21: debug guest accepted'))).toBe(true);
  });

  it('S15: provisional firmware (COMMITTED_TCB below CURRENT_TCB) is refused unless allowed', () => {
    const r = realSnpResult(SNP_PROVISIONAL);
    expect(snp(r).tcbRelations.committedEqualsCurrent).toBe(false);
    expectOnly(evaluatePolicy(r, defaultPolicy('snp')), 'S15', '/allowProvisionalFirmware', 'SNP_TCB');
    expectOk(evaluatePolicy(r, p({ allowProvisionalFirmware: true })));
  });

  it('S32: a VLEK-signed report needs a policy that enables VLEK; S45 pins its CSP', () => {
    const r = realSnpResult(SNP_VLEK);
    const c = snp(r);
    expect(c.signingKey).toBe('vlek');
    expect(c.cspId).toBe('CN=cc-us-east-2.amazonaws.com');
    expect(pairs(evaluatePolicy(r, defaultPolicy('snp')))).toEqual([
      ['S32', '/signingKeys'],
      ['S24', '/vmpl'],
      ['S15', '/allowProvisionalFirmware'],
    ]);
    // requested at VMPL 1 (S24 test below): allowed explicitly here
    const vlek = { signingKeys: ['vcek', 'vlek'], allowProvisionalFirmware: true, vmpl: [1] };
    expectOk(evaluatePolicy(r, p({ ...vlek, cspIds: ['CN=cc-us-east-2.amazonaws.com'] })));
    expect(expectOnly(evaluatePolicy(r, p({ ...vlek, cspIds: ['CN=cc-eu-west-1.amazonaws.com'] })), 'S45', '/cspIds').actual).toBe('CN=cc-us-east-2.amazonaws.com');
  });

  it('S45: CSP IDs do not apply to VCEK reports', () => {
    expectOk(evaluatePolicy(realSnpResult(SNP_MILAN), p({ cspIds: ['CN=cc-eu-west-1.amazonaws.com'] })));
  });

  it('S24: VMPL allowlist (the VLEK report was requested at VMPL 1)', () => {
    const r = realSnpResult(SNP_VLEK);
    const ok = { signingKeys: ['vlek'], allowProvisionalFirmware: true };
    expectOnly(evaluatePolicy(r, p({ ...ok, vmpl: [0] })), 'S24', '/vmpl');
    expectOk(evaluatePolicy(r, p({ ...ok, vmpl: [0, 1] })));
  });
});

describe.skipIf(!HAVE_VECTORS)('measurements, identity and TCB on the genuine Milan report (ms-tee-attestation-verification/milan)', () => {
  let result: VerificationResult;
  const r = () => (result ??= realSnpResult(SNP_MILAN));

  it('S25 / S26 / S27 / S29 / S31 positive: pinned to its real values', () => {
    const c = snp(r());
    expectOk(
      evaluatePolicy(
        r(),
        p({
          measurement: [c.measurement],
          hostData: [c.hostData],
          idKeyDigest: [c.idKeyDigest],
          familyId: [c.familyId],
          imageId: [c.imageId],
          minGuestSvn: c.guestSvn,
          reportData: c.reportData,
          chipIds: { allow: [c.chipId] },
          vmpl: [c.vmpl],
          products: ['Milan'],
          minReportVersion: 3,
        }),
      ),
    );
  });

  const cases: [string, string, (c: ReturnType<typeof snp>) => Record<string, unknown>, string?][] = [
    ['S25', '/measurement', (c) => ({ measurement: [other(c.measurement)] })],
    ['S26', '/hostData', (c) => ({ hostData: [other(c.hostData)] })],
    ['S27', '/idKeyDigest', (c) => ({ idKeyDigest: [other(c.idKeyDigest)] })],
    ['S27', '/authorKeyDigest', (c) => ({ authorKeyDigest: [c.authorKeyDigest] })], // AUTHOR_KEY_EN is 0: no trusted author key can vouch
    ['S27', '/familyId', (c) => ({ familyId: [other(c.familyId)] })],
    ['S27', '/imageId', (c) => ({ imageId: [other(c.imageId)] })],
    ['S27', '/minGuestSvn', (c) => ({ minGuestSvn: c.guestSvn + 1 })],
    ['S29', '/reportData', (c) => ({ reportData: other(c.reportData) }), 'BINDING'],
    ['S31', '/chipIds/allow', (c) => ({ chipIds: { allow: [other(c.chipId)] } })],
    ['S31', '/chipIds/deny', (c) => ({ chipIds: { deny: [c.chipId] } })],
    ['S06', '/products', () => ({ products: ['Genoa', 'Turin'] }), 'PRODUCT'],
    ['S03', '/minReportVersion', () => ({ minReportVersion: 5 }), 'UNSUPPORTED'],
    ['S22', '/guestPolicy/allowSmt', () => ({ guestPolicy: { allowSmt: false } })],
    ['S22', '/guestPolicy/requireSingleSocket', () => ({ guestPolicy: { requireSingleSocket: true } })],
    ['S22', '/guestPolicy/minAbi', () => ({ guestPolicy: { minAbi: '1.0' } })],
    ['S23', '/platformInfo/smtEnabled', () => ({ platformInfo: { smtEnabled: false } })],
    ['S23', '/platformInfo/tsmeEnabled', () => ({ platformInfo: { tsmeEnabled: true } })],
    ['S19', '/firmware/minAbi', () => ({ firmware: { minAbi: '1.56' } }), 'TCB_STATUS'],
    ['S19', '/firmware/minBuild', () => ({ firmware: { minBuild: 30 } }), 'TCB_STATUS'],
    ['S20', '/requiredMitigations/launch', () => ({ requiredMitigations: { launch: '0x0000000000000001' } })],
  ];
  for (const [check, path, change, errorClass] of cases) {
    it(`negative ${check}: ${path}`, () => {
      expectOnly(evaluatePolicy(r(), p(change(snp(r())))), check, path, errorClass ?? 'POLICY');
    });
  }

  it('S22 / S23 / S19 positives on the same report', () => {
    const c = snp(r());
    expect(c.currentVersion).toBe('1.55.29');
    expect(c.platformInfo.aliasCheckComplete).toBe(true);
    expectOk(evaluatePolicy(r(), p({ guestPolicy: { minAbi: '0.31' }, platformInfo: { smtEnabled: true, aliasCheckComplete: true, tsmeEnabled: false }, firmware: { minAbi: '1.55', minBuild: 29 } })));
  });

  it('S17: REPORTED_TCB minimum per component, for the report\'s product only', () => {
    const t = snp(r()).tcb.reported;
    expectOk(evaluatePolicy(r(), p({ tcbMinimums: { Milan: { reported: { bootloader: t.bootloader, tee: t.tee, snp: t.snp, microcode: t.microcode } } } })));
    const a = evaluatePolicy(r(), p({ tcbMinimums: { Milan: { reported: { snp: t.snp + 1, microcode: t.microcode + 1 } } } }));
    // with no launch block the same floor applies to LAUNCH_TCB (S18), which this report launched at
    expect(pairs(a)).toEqual([
      ['S17', '/tcbMinimums/Milan/reported/snp'],
      ['S17', '/tcbMinimums/Milan/reported/microcode'],
      ['S18', '/tcbMinimums/Milan/reported/snp (launch)'],
      ['S18', '/tcbMinimums/Milan/reported/microcode (launch)'],
    ]);
    expect(a.violations.every((v) => v.errorClass === 'TCB_STATUS')).toBe(true);
    expectOk(evaluatePolicy(r(), p({ products: ['Milan', 'Genoa'], tcbMinimums: { Milan: { reported: { snp: t.snp } }, Genoa: { reported: { snp: 0xff } } } })));
  });

  it('S18: LAUNCH_TCB minimum', () => {
    const t = snp(r()).tcb.launch;
    expectOk(evaluatePolicy(r(), p({ tcbMinimums: { Milan: { launch: { snp: t.snp } } } })));
    expectOnly(evaluatePolicy(r(), p({ tcbMinimums: { Milan: { launch: { snp: t.snp + 1 } } } })), 'S18', '/tcbMinimums/Milan/launch/snp', 'TCB_STATUS');
  });
});

describe.skipIf(!HAVE_VECTORS)('Turin (v5): FMC minimum and mitigation vectors', () => {
  it('S17 on FMC, S20 on the mitigation vectors the report carries', () => {
    const r = realSnpResult(SNP_TURIN);
    const c = snp(r);
    expect(c.tcb.reported.fmc).toBeDefined();
    expect(c.launchMitVector).toBe('0x000000000000003f');
    expectOk(evaluatePolicy(r, p({ tcbMinimums: { Turin: { reported: { fmc: c.tcb.reported.fmc } } }, requiredMitigations: { launch: '0x000000000000003f', current: '0x0000000000000001' } })));
    expect(pairs(evaluatePolicy(r, p({ tcbMinimums: { Turin: { reported: { fmc: c.tcb.reported.fmc! + 1 } } } })))).toEqual([
      ['S17', '/tcbMinimums/Turin/reported/fmc'],
      ['S18', '/tcbMinimums/Turin/reported/fmc (launch)'],
    ]);
    expectOnly(evaluatePolicy(r, p({ requiredMitigations: { current: '0x0000000000000040' } })), 'S20', '/requiredMitigations/current');
  });
});

describe('synthetic SEV-SNP reports for values no genuine vector has', () => {
  it('S22: MIGRATE_MA (policy bit 18) is refused unless a migration agent is allowed', () => {
    const r = syntheticSnp({ report: { policy: 0x30000n | (1n << 18n) } });
    expect(snp(r).policy.migrateMa).toBe(true);
    expectOnly(evaluatePolicy(r, defaultPolicy('snp')), 'S22', '/allowMigrationAgent');
    expectOk(evaluatePolicy(r, p({ allowMigrationAgent: true })));
  });

  it('S22: CXL_ALLOW (bit 21) refused by default; required bits when the policy requires them', () => {
    const cxl = syntheticSnp({ report: { policy: 0x30000n | (1n << 21n) } });
    expectOnly(evaluatePolicy(cxl, defaultPolicy('snp')), 'S22', '/guestPolicy/allowCxl');
    expectOk(evaluatePolicy(cxl, p({ guestPolicy: { allowCxl: true } })));
    const hardened = syntheticSnp({ report: { policy: 0x30000n | (1n << 20n) | (1n << 22n) | (1n << 23n) | (1n << 24n) } });
    const all = { requireSingleSocket: true, requireMemAes256Xts: true, requireRaplDis: true, requireCiphertextHiding: true };
    expectOk(evaluatePolicy(hardened, p({ guestPolicy: all })));
    expect(pairs(evaluatePolicy(syntheticSnp(), p({ guestPolicy: { ...all, requirePageSwapDisable: true } })))).toEqual([
      ['S22', '/guestPolicy/requireSingleSocket'],
      ['S22', '/guestPolicy/requireMemAes256Xts'],
      ['S22', '/guestPolicy/requireRaplDis'],
      ['S22', '/guestPolicy/requireCiphertextHiding'],
      ['S22', '/guestPolicy/requirePageSwapDisable'],
    ]);
  });

  it('S28: REPORT_ID_MA naming a migration agent is refused unless allowed', () => {
    const r = syntheticSnp({ report: { reportIdMa: new Uint8Array(32).fill(0x11) } });
    expectOnly(evaluatePolicy(r, defaultPolicy('snp')), 'S28', '/allowMigrationAgent');
    expectOk(evaluatePolicy(r, p({ allowMigrationAgent: true })));
  });

  it('S27: an ID block signed by a trusted author key (AUTHOR_KEY_EN = 1)', () => {
    const author = new Uint8Array(48).fill(0xa7);
    const r = syntheticSnp({ report: { authorKeyEnabled: true, authorKeyDigest: author, idKeyDigest: new Uint8Array(48).fill(0x1d) } });
    expectOk(evaluatePolicy(r, p({ idKeyDigest: [hex(0x22, 48)], authorKeyDigest: [hex(0xa7, 48)] })));
    expectOk(evaluatePolicy(r, p({ idKeyDigest: [hex(0x1d, 48)], authorKeyDigest: [hex(0x22, 48)] })));
    expectOnly(evaluatePolicy(r, p({ idKeyDigest: [hex(0x22, 48)], authorKeyDigest: [hex(0x22, 48)] })), 'S27', '/idKeyDigest');
  });

  it('S27: AUTHOR_KEY_DIGEST must be zero when AUTHOR_KEY_EN is 0, whatever the policy', () => {
    const r = syntheticSnp({ report: { authorKeyEnabled: false, authorKeyDigest: new Uint8Array(48).fill(0xa7) } });
    expectOnly(evaluatePolicy(r, defaultPolicy('snp')), 'S27', '/authorKeyDigest');
  });

  it('S18: a guest launched on older firmware keeps failing the launch minimum after an update', () => {
    const r = syntheticSnp({ report: { launchTcb: { bootloader: 4, tee: 0, snp: 0x10, microcode: 0xdb } } });
    const min = { tcbMinimums: { Milan: { reported: { snp: 0x18 }, launch: { snp: 0x18 } } } };
    expect(snp(r).tcb.reported.snp).toBe(0x18);
    expectOnly(evaluatePolicy(r, p(min)), 'S18', '/tcbMinimums/Milan/launch/snp', 'TCB_STATUS');
  });

  it('S18 without a launch block: the reported floor applies to LAUNCH_TCB (s16 red team tcb #1: a guest launched on vulnerable firmware, then live-updated)', () => {
    const r = syntheticSnp({ report: { launchTcb: { bootloader: 4, tee: 0, snp: 0x08, microcode: 0xdb } } });
    expect(snp(r).tcb.reported.snp).toBe(0x18);
    expect(snp(r).tcb.current.snp).toBe(0x18);
    const floor = { tcbMinimums: { Milan: { reported: { snp: 0x18, microcode: 0xdb } } } };
    const v = expectOnly(evaluatePolicy(r, p(floor)), 'S18', '/tcbMinimums/Milan/reported/snp (launch)', 'TCB_STATUS');
    expect(v.actual).toBe(0x08);
    expect(v.message).toContain('LAUNCH_TCB');
    // an explicit, lower launch minimum is how a policy accepts older launches: accepted, warned
    const relaxed = evaluatePolicy(r, p({ tcbMinimums: { Milan: { reported: { snp: 0x18, microcode: 0xdb }, launch: { snp: 0x08 } } } }));
    expectOk(relaxed);
    expect(relaxed.warnings.filter((w) => w.startsWith('S18:'))).toEqual([expect.stringContaining('LAUNCH_TCB snp 8 < reported minimum 24')]);
    // a launch block naming other components leaves snp at the reported floor (s16 change review #2)
    for (const launch of [{ microcode: 0xdb }, { bootloader: 0 }, { tee: 0 }]) {
      expectOnly(evaluatePolicy(r, p({ tcbMinimums: { Milan: { reported: { snp: 0x18, microcode: 0xdb }, launch } } })), 'S18', '/tcbMinimums/Milan/reported/snp (launch)', 'TCB_STATUS');
    }
    // a launch at the floor passes
    const atFloor = syntheticSnp({ report: { launchTcb: { bootloader: 4, tee: 0, snp: 0x18, microcode: 0xdb } } });
    expectOk(evaluatePolicy(atFloor, p(floor)));
  });

  it('S17 under provisional firmware: COMMITTED_TCB (the platform can roll back to it) meets the minimums too', () => {
    const r = syntheticSnp({ report: { committedTcb: { bootloader: 4, tee: 0, snp: 0x10, microcode: 0xdb } } });
    expect(snp(r).tcb.reported.snp).toBe(0x18);
    expect(snp(r).tcb.committed.snp).toBe(0x10);
    const min = { tcbMinimums: { Milan: { reported: { snp: 0x18 } } } };
    const v = expectOnly(evaluatePolicy(r, p({ ...min, allowProvisionalFirmware: true })), 'S17', '/tcbMinimums/Milan/reported/snp (committed)', 'TCB_STATUS');
    expect(v.actual).toBe(0x10);
    expect(v.message).toContain('COMMITTED_TCB');
    expectOk(evaluatePolicy(r, p({ tcbMinimums: { Milan: { reported: { snp: 0x10 } } }, allowProvisionalFirmware: true })));
    // without provisional firmware the committed TCB must equal the current one: S15 says so, once
    expect(pairs(evaluatePolicy(r, p(min)))).toEqual([['S15', '/allowProvisionalFirmware']]);
  });

  it('S19: a committed firmware version other than the current one is provisional firmware', () => {
    const r = syntheticSnp({ report: { committedVersion: { major: 1, minor: 55, build: 20 } } });
    expectOnly(evaluatePolicy(r, defaultPolicy('snp')), 'S19', '/allowProvisionalFirmware', 'SNP_TCB');
    expectOk(evaluatePolicy(r, p({ allowProvisionalFirmware: true })));
  });

  it('S23: ALIAS_CHECK_COMPLETE required (BadRAM)', () => {
    const r = syntheticSnp({ report: { platformInfo: 0x05n } });
    expectOnly(evaluatePolicy(r, p({ platformInfo: { aliasCheckComplete: true } })), 'S23', '/platformInfo/aliasCheckComplete');
    expectOk(evaluatePolicy(syntheticSnp(), p({ platformInfo: { aliasCheckComplete: true } })));
  });

  it('S29: REPORT_DATA of the request, class BINDING', () => {
    const r = syntheticSnp();
    expectOk(evaluatePolicy(r, defaultPolicy('snp'), { reportData: snp(r).reportData }));
    expectOnly(evaluatePolicy(r, defaultPolicy('snp'), { reportData: new Uint8Array(64) }), 'S29', '/reportData', 'BINDING');
  });

  it('S06 on a Genoa report; S32 on a synthetic VLEK', () => {
    expectOnly(evaluatePolicy(syntheticSnp({ product: 'Genoa' }), p({ products: ['Milan'] })), 'S06', '/products', 'PRODUCT');
    const vlek = syntheticSnp({ signingKey: 'vlek' });
    expectOnly(evaluatePolicy(vlek, defaultPolicy('snp')), 'S32', '/signingKeys');
    expectOk(evaluatePolicy(vlek, p({ signingKeys: ['vlek'] })));
  });
});
