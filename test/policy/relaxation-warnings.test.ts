/**
 * Review s8, finding 1: a relaxation is an explicit policy option that shows
 * up as a warning whenever it is what let the evidence pass (the evidence has
 * the property the default refuses), so the EAR says "warning", never
 * "affirming". Evidence without the property gives no warning under the same
 * relaxing policy: the relaxation was not used.
 */
import { describe, expect, it } from 'vitest';

import { Findings } from '../../src/policy/checks/findings.js';
import { checkVtpm } from '../../src/policy/checks/vtpm.js';
import { defaultPolicy, evaluatePolicy, loadPolicy, toEar } from '../../src/policy/index.js';
import type { VtpmPolicy } from '../../src/policy/types.js';
import type { VerificationResult } from '../../src/verify/types.js';
import { loadReferenceList } from '../../src/vtpm/reference.js';
import type { ImaEntry } from '../../src/vtpm/types.js';
import { expectOk, hex, snp, syntheticSnp, syntheticTdx, tdx } from './helpers.js';

const ANY_TDX = { tee: 'tdx', mrTd: 'any', mrConfigId: 'any', mrOwner: 'any', mrOwnerConfig: 'any' };
const ANY_SNP = { tee: 'snp', measurement: 'any', hostData: 'any' };

const earStatus = (r: VerificationResult, policy: ReturnType<typeof loadPolicy>) => toEar(r, evaluatePolicy(r, policy), { verifierId: 'test', iat: 1 }).submods.cpu0!['ear.status'];

interface Row {
  name: string;
  check: string;
  /** Evidence with the property the default refuses. */
  evidence: () => VerificationResult;
  /** The policy that relaxes exactly that rule. */
  relaxing: Record<string, unknown>;
  /** Evidence of the same TEE without the property. */
  clean: () => VerificationResult;
}

const SERVICE_TD = hex(0x5e, 48);
const lowTcb = { bootloader: 4, tee: 0, snp: 0x10, microcode: 0xdb };

const rows: Row[] = [
  {
    name: 'TDX allowMigratable: a MIGRATABLE TD',
    check: 'T34',
    // MIGRATABLE with SEPT_VE_DISABLE (bit 28), which the default requires since review s13: only bit 29 is refused
    evidence: () => syntheticTdx({ quote: { tdBody: { tdAttributes: 0x30000000n } } }),
    relaxing: { ...ANY_TDX, allowMigratable: true },
    clean: () => syntheticTdx(),
  },
  {
    name: 'TDX mrServiceTd listing a service TD: a bound service TD',
    check: 'T40',
    evidence: () => syntheticTdx({ version: 5, bodyType: 3, quote: { tdBody: { mrServiceTd: Buffer.from(SERVICE_TD, 'hex') } } }),
    relaxing: { ...ANY_TDX, mrServiceTd: [hex(0, 48), SERVICE_TD] },
    clean: () => syntheticTdx({ version: 5, bodyType: 3 }),
  },
  {
    name: 'TDX mrServiceTd "any": a bound service TD',
    check: 'T40',
    evidence: () => syntheticTdx({ version: 5, bodyType: 3, quote: { tdBody: { mrServiceTd: Buffer.from(SERVICE_TD, 'hex') } } }),
    relaxing: { ...ANY_TDX, mrServiceTd: 'any' },
    clean: () => syntheticTdx({ version: 5, bodyType: 3 }),
  },
  {
    name: 'SNP allowMigrationAgent: MIGRATE_MA set',
    check: 'S22',
    evidence: () => syntheticSnp({ report: { policy: 0x30000n | (1n << 18n) } }),
    relaxing: { ...ANY_SNP, allowMigrationAgent: true },
    clean: () => syntheticSnp(),
  },
  {
    name: 'SNP allowMigrationAgent: REPORT_ID_MA names an agent',
    check: 'S28',
    evidence: () => syntheticSnp({ report: { reportIdMa: new Uint8Array(32).fill(0x11) } }),
    relaxing: { ...ANY_SNP, allowMigrationAgent: true },
    clean: () => syntheticSnp(),
  },
  {
    name: 'SNP guestPolicy.allowCxl: CXL_ALLOW set',
    check: 'S22',
    evidence: () => syntheticSnp({ report: { policy: 0x30000n | (1n << 21n) } }),
    relaxing: { ...ANY_SNP, guestPolicy: { allowCxl: true } },
    clean: () => syntheticSnp(),
  },
  {
    name: 'SNP vmpl [0, 1]: a report requested at VMPL 1',
    check: 'S24',
    evidence: () => syntheticSnp({ report: { vmpl: 1 } }),
    relaxing: { ...ANY_SNP, vmpl: [0, 1] },
    clean: () => syntheticSnp(),
  },
  {
    name: 'SNP vmpl "any": a report requested at VMPL 3',
    check: 'S24',
    evidence: () => syntheticSnp({ report: { vmpl: 3 } }),
    relaxing: { ...ANY_SNP, vmpl: 'any' },
    clean: () => syntheticSnp(),
  },
  {
    name: 'SNP signingKeys with vlek: a VLEK-signed report',
    check: 'S32',
    evidence: () => syntheticSnp({ signingKey: 'vlek' }),
    relaxing: { ...ANY_SNP, signingKeys: ['vcek', 'vlek'] },
    clean: () => syntheticSnp(),
  },
  {
    name: 'SNP allowProvisionalFirmware: committed version below current',
    check: 'S19',
    evidence: () => syntheticSnp({ report: { committedVersion: { major: 1, minor: 55, build: 20 } } }),
    relaxing: { ...ANY_SNP, allowProvisionalFirmware: true },
    clean: () => syntheticSnp(),
  },
  {
    name: 'SNP allowProvisionalFirmware: COMMITTED_TCB below CURRENT_TCB',
    check: 'S15',
    evidence: () => syntheticSnp({ pki: { tcb: lowTcb }, report: { reportedTcb: lowTcb, committedTcb: lowTcb } }),
    relaxing: { ...ANY_SNP, allowProvisionalFirmware: true },
    clean: () => syntheticSnp(),
  },
];

describe('a relaxation that lets evidence pass leaves a warning with its check id', () => {
  for (const row of rows) {
    it(row.name, () => {
      const r = row.evidence();
      const strict = evaluatePolicy(r, defaultPolicy(r.tee));
      // The default refuses this evidence on exactly this rule (so the relaxation is what lets it pass).
      expect(strict.ok).toBe(false);
      expect(strict.violations.every((v) => v.check === row.check)).toBe(true);
      expect(strict.warnings).toEqual([]);

      const relaxing = loadPolicy(row.relaxing);
      const a = evaluatePolicy(r, relaxing);
      expectOk(a);
      expect(a.warnings).toHaveLength(1);
      expect(a.warnings[0]!.startsWith(`${row.check}: `)).toBe(true);
      expect(earStatus(r, relaxing)).toBe('warning');
    });

    it(`${row.name}: evidence without the property gives no warning`, () => {
      const r = row.clean();
      const relaxing = loadPolicy(row.relaxing);
      const a = evaluatePolicy(r, relaxing);
      expectOk(a);
      expect(a.warnings).toEqual([]);
      expect(r.warnings).toEqual([]);
      expect(earStatus(r, relaxing)).toBe('affirming');
    });
  }

  it('the clean evidence really lacks each property', () => {
    expect(tdx(syntheticTdx()).migratable).toBe(false);
    expect(tdx(syntheticTdx({ version: 5, bodyType: 3 })).mrServiceTd).toBe(hex(0, 48));
    const c = snp(syntheticSnp());
    expect([c.vmpl, c.signingKey, c.policy.migrateMa, c.policy.cxlAllow, c.reportIdMa, c.tcbRelations.committedEqualsCurrent, c.committedVersion === c.currentVersion]).toEqual([0, 'vcek', false, false, 'f'.repeat(64), true, true]);
  });

  it('a relaxation that does not let the evidence pass adds no warning to a violation of its own rule', () => {
    // VMPL 2 under vmpl [0, 1]: a violation, not a warning
    const a = evaluatePolicy(syntheticSnp({ report: { vmpl: 2 } }), loadPolicy({ ...ANY_SNP, vmpl: [0, 1] }));
    expect(a.violations.map((v) => v.check)).toEqual(['S24']);
    expect(a.warnings).toEqual([]);
  });

  it('every relaxation used at once: one warning each, in evaluation order', () => {
    const r = syntheticSnp({ signingKey: 'vlek', report: { vmpl: 1, policy: 0x30000n | (1n << 18n) | (1n << 21n), reportIdMa: new Uint8Array(32).fill(0x11), committedVersion: { major: 1, minor: 55, build: 20 } } });
    const a = evaluatePolicy(r, loadPolicy({ ...ANY_SNP, signingKeys: ['vlek'], allowMigrationAgent: true, guestPolicy: { allowCxl: true }, vmpl: 'any', allowProvisionalFirmware: true }));
    expectOk(a);
    expect(a.warnings.map((w) => w.slice(0, 4))).toEqual(['S32:', 'S22:', 'S22:', 'S24:', 'S28:', 'S19:']);
  });
});

describe('vTPM unknownImaEntries "allow": unknown entries let through are one warning', () => {
  const entry = (index: number, path: string): ImaEntry => ({
    index, offset: index, pcr: 10, templateDigest: new Uint8Array(20), templateName: 'ima-ng', templateData: new Uint8Array(0), path, fileDigestAlg: 'sha256', fileDigest: new Uint8Array(32).fill(0x22),
  });
  const reference = loadReferenceList({ version: 1, ima: { files: { '/bin/sh': [`sha256:${'22'.repeat(32)}`] } } });
  const allow: VtpmPolicy = { pcrs: {}, unknownImaEntries: 'allow', imaViolations: 'violation' };
  const judge = (entries: ImaEntry[]) => {
    const f = new Findings();
    checkVtpm(allow, { pcrs: {}, ima: { entries, violations: [] }, reference }, f);
    return f;
  };

  it('two unknown entries: no violation, one VTPM-IMA warning naming the count and the first', () => {
    const f = judge([entry(1, '/bin/sh'), entry(2, '/usr/bin/unknown'), entry(3, '/etc/other')]);
    expect(f.violations).toEqual([]);
    expect(f.warnings).toEqual(['VTPM-IMA: 2 IMA entries not named by the reference list allowed by the policy (unknownImaEntries "allow"), first /usr/bin/unknown']);
  });

  it('only listed entries: no warning', () => {
    const f = judge([entry(1, '/bin/sh')]);
    expect(f.violations).toEqual([]);
    expect(f.warnings).toEqual([]);
  });
});
