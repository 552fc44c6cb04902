/**
 * SEV-SNP policy under allowProvisionalFirmware (review 2, session 5): the
 * platform can roll back to its committed firmware, so the committed version
 * meets the firmware minimums (S19) as COMMITTED_TCB meets the reported-TCB
 * minimums (S17). A minimum failed by the committed side has its own path
 * (the field's pointer + " (committed)"), so it never collides with the
 * same minimum failed by the reported TCB or the current version.
 */
import { describe, expect, it } from 'vitest';

import { loadPolicy } from '../../src/policy/index.js';
import { evaluatePolicy } from '../../src/policy/index.js';
import { expectOk, expectOnly, pairs, snp, syntheticSnp } from './helpers.js';

const ANY_SNP = { tee: 'snp', measurement: 'any', hostData: 'any' };
// Minimums for some products only are refused unless "products" is narrowed to them (review s6).
const p = (extra: Record<string, unknown>) => loadPolicy({ ...ANY_SNP, ...(extra['tcbMinimums'] && !extra['products'] ? { products: Object.keys(extra['tcbMinimums'] as object) } : {}), ...extra });
const version = (major: number, minor: number, build: number) => ({ major, minor, build });

describe('S19: the committed firmware version meets the minimums when provisional firmware is allowed', () => {
  it('committed build below minBuild: its own violation; the current build (21) meets it', () => {
    const r = syntheticSnp({ report: { committedVersion: version(1, 55, 20) } });
    expect(snp(r).currentVersion).toBe('1.55.21');
    const v = expectOnly(evaluatePolicy(r, p({ allowProvisionalFirmware: true, firmware: { minBuild: 21 } })), 'S19', '/firmware/minBuild (committed)', 'TCB_STATUS');
    expect(v.actual).toBe(20);
    expect(v.message).toContain('committed firmware');
    expectOk(evaluatePolicy(r, p({ allowProvisionalFirmware: true, firmware: { minBuild: 20 } })));
    // Without provisional firmware the committed version must equal the current one: S19 says so, once.
    expect(pairs(evaluatePolicy(r, p({ firmware: { minBuild: 21 } })))).toEqual([['S19', '/allowProvisionalFirmware']]);
  });

  it('committed ABI below minAbi: its own violation', () => {
    const r = syntheticSnp({ report: { committedVersion: version(1, 54, 21) } });
    const v = expectOnly(evaluatePolicy(r, p({ allowProvisionalFirmware: true, firmware: { minAbi: '1.55' } })), 'S19', '/firmware/minAbi (committed)', 'TCB_STATUS');
    expect(v.actual).toBe('1.54.21');
  });

  it('current and committed both below: two findings, two paths', () => {
    const r = syntheticSnp({ report: { currentVersion: version(1, 55, 19), committedVersion: version(1, 55, 18) } });
    expect(pairs(evaluatePolicy(r, p({ allowProvisionalFirmware: true, firmware: { minBuild: 21 } })))).toEqual([
      ['S19', '/firmware/minBuild'],
      ['S19', '/firmware/minBuild (committed)'],
    ]);
  });
});

describe('S17: the reported and committed findings of one minimum never share a path', () => {
  it('REPORTED_TCB and COMMITTED_TCB both below the SNP minimum: two findings, two paths', () => {
    const low = { bootloader: 4, tee: 0, snp: 0x10, microcode: 0xdb };
    const r = syntheticSnp({ pki: { tcb: low }, report: { reportedTcb: low, committedTcb: low } });
    expect(snp(r).tcb.reported.snp).toBe(0x10);
    const a = evaluatePolicy(r, p({ allowProvisionalFirmware: true, tcbMinimums: { Milan: { reported: { snp: 0x18 } } } }));
    expect(pairs(a)).toEqual([
      ['S17', '/tcbMinimums/Milan/reported/snp'],
      ['S17', '/tcbMinimums/Milan/reported/snp (committed)'],
    ]);
    expect(a.violations.map((v) => v.message.includes('COMMITTED_TCB'))).toEqual([false, true]);
  });
});
