import { describe, expect, it } from 'vitest';

import { runIntelChecks, runSnpChecks, type CheckResult } from '../../src/cli/demo-checks.js';
import {
  buildSnpCertTable,
  buildSnpReport,
  buildTdxQuote,
  createAmdTestPki,
  createIntelTestPki,
  qeReportDataBinding,
} from '../../src/testing/index.js';
import { VALIDITY } from '../testing/helpers.js';
import { flipByte } from '../helpers/bytes.js';

const SEED = 'demo-checks';
const intel = createIntelTestPki({ seed: SEED, validity: VALIDITY });
const keys = { pckKey: intel.pck.key.privateKey, pckChainPem: intel.pckChainPem };

const byId = (results: CheckResult[]) => Object.fromEntries(results.map((r) => [r.id, r]));

describe('demo checks on builder-made Intel quotes', () => {
  it('pass on a good quote', () => {
    const results = runIntelChecks(buildTdxQuote({ ...keys, version: 4 }).bytes);
    expect(results.map((r) => r.id)).toEqual(['T02-T07', 'T08', 'T23', 'T22', 'T26']);
    expect(results.every((r) => r.passed)).toBe(true);
  });

  it('T22 fails when the QE report signature is corrupted', () => {
    const r = byId(runIntelChecks(buildTdxQuote({ ...keys, version: 5, signing: { qeReport: 'corrupt' } }).bytes));
    expect(r['T22']?.passed).toBe(false);
    expect(r['T26']?.passed).toBe(true);
  });

  it('T22 fails when the QE report is signed by a key other than the embedded leaf', () => {
    const r = byId(runIntelChecks(buildTdxQuote({ ...keys, pckKey: intel.pckCa.key.privateKey, version: 4 }).bytes));
    expect(r['T22']?.passed).toBe(false);
  });

  it('T23 fails when QE REPORTDATA does not bind the attestation key', () => {
    const reportData = qeReportDataBinding(new Uint8Array(64), new Uint8Array(32));
    const r = byId(runIntelChecks(buildTdxQuote({ ...keys, version: 4, qeReport: { reportData } }).bytes));
    expect(r['T23']?.passed).toBe(false);
    expect(r['T22']?.passed).toBe(true);
  });

  it('T08 fails on a chain of two certificates, and T22 is then not run', () => {
    const r = byId(runIntelChecks(buildTdxQuote({ ...keys, version: 4, pckChainPem: intel.pck.pem + intel.pckCa.pem }).bytes));
    expect(r['T08']).toMatchObject({ passed: false, detail: expect.stringMatching(/^ERR_[A-Z_]+ .*\(T08\)/) });
    expect(r['T22']).toMatchObject({ passed: false, detail: expect.stringContaining('not run') });
  });

  it('T08 accepts one trailing NUL after the chain', () => {
    const pem = new Uint8Array(Buffer.concat([Buffer.from(intel.pckChainPem), Buffer.of(0)]));
    expect(byId(runIntelChecks(buildTdxQuote({ ...keys, version: 4, pckChainPem: pem }).bytes))['T08']?.passed).toBe(true);
  });

  it('T26 fails when the quote signature is corrupted', () => {
    const r = byId(runIntelChecks(buildTdxQuote({ ...keys, version: 4, signing: { quote: 'corrupt' } }).bytes));
    expect(r['T26']?.passed).toBe(false);
  });
});

describe('demo checks on builder-made SNP reports', () => {
  const milan = createAmdTestPki({ seed: SEED, product: 'Milan', validity: VALIDITY });
  const turin = createAmdTestPki({ seed: SEED, product: 'Turin', validity: VALIDITY });
  const report = (amd: typeof milan, extra: Partial<Parameters<typeof buildSnpReport>[0]> = {}) =>
    buildSnpReport({
      version: amd.product === 'Turin' ? 5 : 3,
      product: amd.product,
      seed: SEED,
      signingKey: 'vcek',
      key: amd.vcek.key.privateKey,
      ...extra,
    }).bytes;

  it('pass on good Milan and Turin reports, with S05 when a table is given', () => {
    const table = buildSnpCertTable([{ guid: 'vcek', der: milan.vcek.der }, { guid: 'ask', der: milan.ask.der }, { guid: 'ark', der: milan.ark.der }]);
    const m = runSnpChecks(report(milan), milan.vcek.der, table);
    expect(m.map((r) => r.id)).toEqual(['S02-S04', 'S05', 'S12', 'S13', 'S14']);
    expect(m.every((r) => r.passed)).toBe(true);
    expect(runSnpChecks(report(turin), turin.vcek.der).every((r) => r.passed)).toBe(true);
  });

  it('S12 fails with another VCEK', () => {
    const other = createAmdTestPki({ seed: 'other', product: 'Milan', validity: VALIDITY });
    expect(byId(runSnpChecks(report(milan), other.vcek.der))['S12']?.passed).toBe(false);
  });

  it('S13 fails when REPORTED_TCB differs from the VCEK SPLs', () => {
    const r = byId(runSnpChecks(report(milan, { reportedTcb: { ...milan.tcb, snp: milan.tcb.snp + 1 } }), milan.vcek.der));
    expect(r['S12']?.passed).toBe(true);
    expect(r['S13']).toMatchObject({ passed: false, detail: expect.stringContaining('snpSPL') });
  });

  it('S13 fails when a Turin report is read against a VCEK missing fmcSPL', () => {
    const noFmc = createAmdTestPki({
      seed: SEED,
      product: 'Turin',
      validity: VALIDITY,
      overrides: { vcek: { extensions: (d) => d.filter((e) => e.oid !== '1.3.6.1.4.1.3704.1.3.9') } },
    });
    expect(byId(runSnpChecks(report(noFmc), noFmc.vcek.der))['S13']).toMatchObject({ passed: false, detail: expect.stringContaining('fmcSPL') });
  });

  it('S14 fails when CHIP_ID differs from the VCEK hwID', () => {
    const chipId = Uint8Array.from(milan.chipId);
    flipByte(chipId, 63);
    const r = byId(runSnpChecks(report(milan, { chipId }), milan.vcek.der));
    expect(r['S14']).toMatchObject({ passed: false, detail: expect.stringContaining('hwID') });
  });

  it('S14 fails on a masked chip key', () => {
    expect(byId(runSnpChecks(report(milan, { maskChipKey: true }), milan.vcek.der))['S14']?.passed).toBe(false);
  });
});
