/**
 * Negative tests that need valid signatures around a defect (checklist §7
 * harness 2): the synthetic AMD-shaped PKI of src/testing, injected as
 * TrustRoots. Every case asserts its error class and checklist id, and is run
 * again against PRODUCTION_TRUST_ROOTS, where synthetic evidence must fail
 * with CHAIN (cases rejected before any chain check fail identically there).
 */
import { describe, expect, it } from 'vitest';

import type { SnpReport } from '../../../src/index.js';
import { parseEvidence } from '../../../src/index.js';
import { KDS_OID_PREFIX, basicConstraints, buildSnpReport, crlDistributionPoint, deriveEcKeyPair, keyUsage, loadAmdRsaKeys, subjectKeyIdentifier, type CertExtension } from '../../../src/testing/index.js';
import * as der from '../../../src/testing/der.js';
import { PRODUCTION_TRUST_ROOTS } from '../../../src/verify/roots/index.js';
import { verifySnpReport, type AmdCollateralInput, type SnpVerifyOptions } from '../../../src/verify/snp/index.js';
import type { SnpClaims } from '../../../src/verify/types.js';
import { expectError, type ExpectedError } from '../../helpers/expect-error.js';
import { AT, buildAmdCrl, setup, type Setup, type SetupOptions } from './helpers/synthetic.js';

const KDS = KDS_OID_PREFIX;
const OTHER_RSA = loadAmdRsaKeys('Genoa');
const OLD = { notBefore: new Date('2020-01-01T00:00:00Z'), notAfter: new Date('2025-01-01T00:00:00Z') };
const milanTcb = { bootloader: 4, tee: 0, snp: 0x18, microcode: 0xdb };

interface Case {
  name: string;
  setup?: SetupOptions;
  /** Changes on top of the setup's collateral / options / report. */
  collateral?: (s: Setup) => Partial<AmdCollateralInput>;
  options?: Partial<SnpVerifyOptions>;
  report?: (s: Setup) => SnpReport;
  expected: ExpectedError;
  /** Rejected before the chain is looked at: production fails the same way. */
  structural?: boolean;
}

const replaceExt = (oid: string, by: CertExtension | undefined) => (defaults: CertExtension[]) =>
  defaults.flatMap((e) => (e.oid === oid ? (by ? [by] : []) : [e]));
const kdsInt = (suffix: string, content: Uint8Array): CertExtension => ({ oid: `${KDS}.${suffix}`, critical: false, value: content });

const err = (errorClass: string, check: string, code = `ERR_${errorClass}`): ExpectedError => ({ code, errorClass, check });

const CASES: Case[] = [
  // A. structure
  { name: 'S03: v4 (v3 layout) is not allowed by default', setup: { version: 4 }, options: { allowedVersions: [3, 5] }, expected: err('UNSUPPORTED', 'S03'), structural: true },
  { name: 'S06: a CPUID that names no SEV-SNP product', setup: { report: { cpuid: { family: 0x17, model: 0x31, stepping: 0 } } }, expected: err('PRODUCT', 'S06'), structural: true },
  // B. ARK
  { name: 'S07: ARK self-signature corrupted', setup: { pki: { overrides: { ark: { corruptSignature: true } } } }, expected: err('CHAIN', 'S07') },
  { name: 'S07: ARK expired', setup: { pki: { overrides: { ark: { validity: OLD } } } }, expected: err('EXPIRED', 'S07') },
  { name: 'S07: ARK named for another product', setup: { pki: { overrides: { ark: { subject: [['CN', 'ARK-Genoa']] } } } }, expected: err('CHAIN', 'S07') },
  { name: 'S07: ARK not self-issued', setup: { pki: { overrides: { ark: { issuer: [['CN', 'Someone Else']] } } } }, expected: err('CHAIN', 'S07') },
  { name: 'S07: ARK without CA:TRUE', setup: { pki: { overrides: { ark: { extensions: replaceExt('2.5.29.19', undefined) } } } }, expected: err('CHAIN', 'S07') },
  // B. ASK / ASVK
  { name: 'S08: ASK signed by another key (forged link)', setup: { pki: { overrides: { ask: { signingKey: OTHER_RSA.ark.privateKey } } } }, expected: err('CHAIN', 'S08') },
  { name: 'S08: ASK without pathlen 0', setup: { pki: { overrides: { ask: { extensions: replaceExt('2.5.29.19', basicConstraints(true)) } } } }, expected: err('CHAIN', 'S08') },
  { name: 'S08: ASK keyUsage without keyCertSign', setup: { pki: { overrides: { ask: { extensions: replaceExt('2.5.29.15', keyUsage(['cRLSign'])) } } } }, expected: err('CHAIN', 'S08') },
  {
    name: 'S08, S34: ASK CRL distribution point is not the fixed KDS URL (compared, never fetched)',
    setup: { pki: { overrides: { ask: { extensions: replaceExt('2.5.29.31', crlDistributionPoint('https://kds.example/vcek/v1/Milan/crl')) } } } },
    expected: err('CHAIN', 'S08'),
  },
  {
    name: 'S08: ASK outside the ARK location (O differs)',
    setup: { pki: { overrides: { ask: { subject: [['OU', 'tee-verify test'], ['C', 'US'], ['L', 'Santa Clara'], ['ST', 'CA'], ['O', 'Elsewhere'], ['CN', 'SEV-Milan']] } } } },
    expected: err('CHAIN', 'S08'),
  },
  { name: 'S08: ASK issuer name is not the ARK', setup: { pki: { overrides: { ask: { issuer: [['CN', 'ARK-Milan']] } } } }, expected: err('CHAIN', 'S08') },
  { name: 'S08: ASK expired', setup: { pki: { overrides: { ask: { validity: OLD } } } }, expected: err('EXPIRED', 'S08') },
  { name: 'S08: ASVK expired (VLEK report)', setup: { signingKey: 'vlek', pki: { overrides: { asvk: { validity: OLD } } } }, expected: err('EXPIRED', 'S08') },
  // B. CRL
  { name: 'S09: CRL lists the ASK serial', collateral: (s) => ({ crl: buildAmdCrl(s.pki, { revoked: [s.pki.ask.serialHex] }) }), expected: err('REVOKED', 'S09') },
  { name: 'S09: CRL lists the ASVK serial (VLEK report)', setup: { signingKey: 'vlek' }, collateral: (s) => ({ crl: buildAmdCrl(s.pki, { revoked: [s.pki.asvk.serialHex] }) }), expected: err('REVOKED', 'S09') },
  { name: 'S09: CRL lists the VLEK serial', setup: { signingKey: 'vlek' }, collateral: (s) => ({ crl: buildAmdCrl(s.pki, { revoked: ['0102', s.pki.vlek.serialHex] }) }), expected: err('REVOKED', 'S09') },
  { name: 'S09: CRL without nextUpdate is never current', collateral: (s) => ({ crl: buildAmdCrl(s.pki, { nextUpdate: null }) }), expected: err('EXPIRED', 'S09') },
  { name: 'S09: CRL past nextUpdate', collateral: (s) => ({ crl: buildAmdCrl(s.pki, { nextUpdate: new Date('2025-05-31T00:00:00Z') }) }), expected: err('EXPIRED', 'S09') },
  { name: 'S09: CRL signed by the ASK, not the ARK', collateral: (s) => ({ crl: buildAmdCrl(s.pki, { signingKey: s.pki.ask.key.privateKey }) }), expected: err('COLLATERAL_SIG', 'S09') },
  { name: 'S09: no CRL (fail closed)', collateral: () => ({ crl: undefined }), expected: err('COLLATERAL_UNAVAILABLE', 'S09') },
  // B. leaf
  { name: 'S10: VCEK signed by a key other than the ASK', setup: { pki: { overrides: { vcek: { signingKey: OTHER_RSA.ask.privateKey } } } }, expected: err('CHAIN', 'S10') },
  { name: 'S10: VCEK issued by the ASVK', setup: { pki: { overrides: { vcek: { signingKey: loadAmdRsaKeys('Milan').asvk.privateKey, issuer: [['CN', 'SEV-VLEK-Milan']] } } } }, expected: err('CHAIN', 'S10') },
  { name: 'S10: VCEK with a P-256 key', setup: { pki: { overrides: { vcek: { key: deriveEcKeyPair('p256', 'vcek', 'P-256') } } } }, expected: err('CHAIN', 'S10') },
  { name: 'S10: leaf CN is neither SEV-VCEK nor SEV-VLEK', setup: { pki: { overrides: { vcek: { subject: [['CN', 'SEV-VCEK-ish']] } } } }, expected: err('CHAIN', 'S10') },
  { name: 'S10: VCEK that claims to be a CA', setup: { pki: { overrides: { vcek: { extensions: (d) => [...d, basicConstraints(true)] } } } }, expected: err('CHAIN', 'S10') },
  { name: 'S10: VCEK expired', setup: { pki: { overrides: { vcek: { validity: OLD } } } }, expected: err('EXPIRED', 'S10') },
  { name: 'S10: VLEK expired', setup: { signingKey: 'vlek', pki: { overrides: { vlek: { validity: OLD } } } }, expected: err('EXPIRED', 'S10') },
  { name: 'S10: VLEK certificate for a VCEK-signed report', collateral: (s) => ({ signingCertificate: s.pki.vlek.der }), expected: err('SNP_SIGNER', 'S10') },
  { name: 'S10: a KDS extension twice is malformed DER', setup: { pki: { overrides: { vcek: { extensions: (d) => [...d, d[2]!] } } } }, expected: { code: 'ERR_BAD_DER', errorClass: 'PARSE', check: 'S10' } },
  // B. KDS extensions
  { name: 'S11: Milan VCEK without spl_4', setup: { pki: { kds: { vcek: { reservedSpl: { spl5: 0, spl6: 0, spl7: 0 } } } } }, expected: err('SNP_CERT', 'S11') },
  { name: 'S11: Milan VCEK with fmcSPL', setup: { pki: { kds: { vcek: { tcb: { ...milanTcb, fmc: 0 } } } } }, expected: err('SNP_CERT', 'S11') },
  { name: 'S11: Milan VCEK with structVersion 1', setup: { pki: { kds: { vcek: { structVersion: 1 } } } }, expected: err('SNP_CERT', 'S11') },
  { name: 'S11: productName of another product', setup: { pki: { kds: { vcek: { productName: 'Genoa-B1' } } } }, expected: err('PRODUCT', 'S11') },
  { name: 'S11: productName that only starts like the product', setup: { pki: { kds: { vcek: { productName: 'Milano' } } } }, expected: err('PRODUCT', 'S11') },
  { name: 'S11: VCEK without hwID', setup: { pki: { kds: { vcek: { hwId: undefined } } } }, expected: err('SNP_CERT', 'S11') },
  { name: 'S11: VCEK with hwID and cspId', setup: { pki: { kds: { vcek: { cspId: 'csp' } } } }, expected: err('SNP_CERT', 'S11') },
  { name: 'S11: VLEK with hwID instead of cspId', setup: { signingKey: 'vlek', pki: { kds: { vlek: { cspId: undefined, hwId: new Uint8Array(64).fill(1) } } } }, expected: err('SNP_CERT', 'S11') },
  { name: 'S11: VLEK with an empty cspId', setup: { signingKey: 'vlek', pki: { kds: { vlek: { cspId: '' } } } }, expected: err('SNP_CERT', 'S11') },
  { name: 'S11: a non-KDS extension in the leaf (exact set)', setup: { pki: { overrides: { vcek: { extensions: (d) => [...d, subjectKeyIdentifier(deriveEcKeyPair('x', 'y', 'P-384').publicKey)] } } } }, expected: err('SNP_CERT', 'S11') },
  { name: 'S11: an unknown OID under the KDS prefix', setup: { pki: { overrides: { vcek: { extensions: (d) => [...d, kdsInt('6', der.integer(0))] } } } }, expected: err('SNP_CERT', 'S11') },
  { name: 'S11: blSPL as a non-canonical INTEGER (02 02 00 04, V27)', setup: { pki: { overrides: { vcek: { extensions: replaceExt(`${KDS}.3.1`, kdsInt('3.1', Uint8Array.of(2, 2, 0, 4))) } } } }, expected: err('SNP_CERT', 'S11') },
  { name: 'S11: Turin VCEK with a 64-byte hwID', setup: { product: 'Turin', pki: { kds: { vcek: { hwId: new Uint8Array(64).fill(3) } } } }, expected: err('SNP_CERT', 'S11') },
  { name: 'S11: Turin VCEK without fmcSPL', setup: { product: 'Turin', pki: { kds: { vcek: { tcb: { bootloader: 1, tee: 1, snp: 3, microcode: 0x4f } } } } }, expected: err('SNP_CERT', 'S11') },
  { name: 'S11: Turin VCEK with spl_4', setup: { product: 'Turin', pki: { kds: { vcek: { reservedSpl: { spl4: 0, spl5: 0, spl6: 0, spl7: 0 } } } } }, expected: err('SNP_CERT', 'S11') },
  // C. signature
  { name: 'S12: report signed by another P-384 key', setup: { report: { key: deriveEcKeyPair('other', 'vcek', 'P-384').privateKey } }, expected: err('SIG_REPORT', 'S12') },
  { name: 'S12: corrupted S', setup: { report: { signing: 'corrupt' } }, expected: err('SIG_REPORT', 'S12') },
  // D. report <-> certificate
  { name: 'S13: VCEK snpSPL differs from REPORTED_TCB', setup: { pki: { tcb: { ...milanTcb, snp: 0x17 } } }, expected: err('SNP_TCB', 'S13') },
  { name: 'S13: VCEK ucodeSPL differs from REPORTED_TCB', setup: { pki: { tcb: { ...milanTcb, microcode: 0xd9 } } }, expected: err('SNP_TCB', 'S13') },
  { name: 'S13: VLEK blSPL differs from REPORTED_TCB', setup: { signingKey: 'vlek', pki: { tcb: { ...milanTcb, bootloader: 3 } } }, expected: err('SNP_TCB', 'S13') },
  { name: 'S13: Turin fmcSPL differs', setup: { product: 'Turin', pki: { kds: { vcek: { tcb: { fmc: 2, bootloader: 1, tee: 1, snp: 3, microcode: 0x4f } } } } }, expected: err('SNP_TCB', 'S13') },
  { name: 'S13: a reserved SPL is not zero', setup: { pki: { kds: { vcek: { reservedSpl: { spl4: 0, spl5: 1, spl6: 0, spl7: 0 } } } } }, expected: err('SNP_TCB', 'S13') },
  {
    name: 'S13: a reserved REPORTED_TCB byte is not zero',
    setup: { report: { reportedTcb: Uint8Array.of(4, 0, 0, 1, 0, 0, 0x18, 0xdb), currentTcb: Uint8Array.of(4, 0, 0, 1, 0, 0, 0x18, 0xdb), committedTcb: Uint8Array.of(4, 0, 0, 1, 0, 0, 0x18, 0xdb) } },
    expected: err('SNP_TCB', 'S13'),
  },
  {
    // S46: a Turin-layout TCB (FMC 1, BL 1, TEE 1, SNP 3, ucode 0x4F) in a v2 report named Milan: read as Milan, SNP is byte 6 (0) and bytes 2..3 are not zero.
    name: 'S46: REPORTED_TCB in the Turin layout read as Milan fails at S13',
    setup: {
      version: 2,
      pki: { tcb: { bootloader: 1, tee: 1, snp: 3, microcode: 0x4f } },
      report: (() => {
        const turin = Uint8Array.of(1, 1, 1, 3, 0, 0, 0, 0x4f);
        return { reportedTcb: turin, currentTcb: turin, committedTcb: turin, launchTcb: turin };
      })(),
    },
    expected: err('SNP_TCB', 'S13'),
  },
  { name: 'S14: CHIP_ID is not the VCEK hwID', setup: { report: { chipId: new Uint8Array(64).fill(0x42) } }, expected: err('SNP_CHIP', 'S14') },
  { name: 'S14: MASK_CHIP_KEY with a zero CHIP_ID', setup: { report: { maskChipKey: true, chipId: new Uint8Array(64) } }, expected: err('SNP_CHIP', 'S14') },
  { name: 'S14: an all-zero CHIP_ID without the mask bit', setup: { report: { chipId: new Uint8Array(64) } }, expected: err('SNP_CHIP', 'S14') },
  {
    name: 'S44: Turin CHIP_ID with bytes after the first 8',
    setup: { product: 'Turin' },
    report: (s) => resigned(s, { chipId: Uint8Array.from(s.pki.chipId, (b, i) => (i === 10 ? 1 : b)) }),
    expected: err('SNP_CHIP', 'S44'),
  },
  // E. TCB consistency
  { name: 'S15: COMMITTED_TCB above CURRENT_TCB', setup: { report: { committedTcb: { ...milanTcb, snp: 0x19 } } }, expected: err('SNP_TCB', 'S15') },
  { name: 'S16: REPORTED_TCB above CURRENT_TCB', setup: { report: { currentTcb: { ...milanTcb, snp: 0x17 }, committedTcb: { ...milanTcb, snp: 0x17 } } }, expected: err('SNP_TCB', 'S16') },
  { name: 'S16: Turin REPORTED_TCB FMC above CURRENT_TCB', setup: { product: 'Turin', report: { currentTcb: { fmc: 0, bootloader: 1, tee: 1, snp: 3, microcode: 0x4f }, committedTcb: { fmc: 0, bootloader: 1, tee: 1, snp: 3, microcode: 0x4f } } }, expected: err('SNP_TCB', 'S16') },
];

/** The setup's report rebuilt with other fields, signed by its leaf. */
function resigned(s: Setup, fields: Record<string, unknown>): SnpReport {
  const product = s.pki.product;
  const version = s.report.version;
  const key = (s.report.signerInfo.signingKey === 'vcek' ? s.pki.vcek : s.pki.vlek).key.privateKey;
  const built = buildSnpReport({ version, product, signingKey: s.report.signerInfo.signingKey, key, seed: `snp-verify:${product}`, ...fields });
  return parseEvidence(built.bytes, version === 2 ? { snpProduct: product } : {}) as SnpReport;
}

function runCase(c: Case, production: boolean) {
  const s = setup(c.setup);
  const report = c.report ? c.report(s) : s.report;
  const collateral: AmdCollateralInput = { ...s.collateral, ...c.collateral?.(s) };
  if (production) collateral.certChain = s.collateral.certChain; // the synthetic chain travels with the evidence
  const options: SnpVerifyOptions = { ...s.options, ...c.options, ...(production ? { trustRoots: PRODUCTION_TRUST_ROOTS } : {}) };
  return () => verifySnpReport(report, collateral, options);
}

describe('SNP synthetic PKI: positive controls', () => {
  for (const product of ['Milan', 'Genoa', 'Turin'] as const) {
    for (const signingKey of ['vcek', 'vlek'] as const) {
      it(`${product} ${signingKey.toUpperCase()}: verifies under the test roots, fails CHAIN under the production pins`, () => {
        const s = setup({ product, signingKey });
        const result = verifySnpReport(s.report, s.collateral, s.options);
        expect(result.trustRoots).toBe('test-pki');
        expect(result.warnings).toEqual([]);
        expect(result.checks.map((c) => c.id)).toEqual(['S02', 'S03', 'S04', 'S06', 'S07', 'S37', 'S08', 'S09', 'S10', 'S11', 'S12', 'S13', ...(signingKey === 'vcek' ? ['S14'] : product === 'Turin' ? ['S44'] : []), 'S15', 'S16']);
        const claims = result.claims as SnpClaims;
        expect(claims).toMatchObject({ product, signingKey, productSource: 'cpuid', reportVersion: product === 'Turin' ? 5 : 3 });
        if (signingKey === 'vlek') expect(claims.cspId).toBe('tee-verify-test-csp');
        expectError(() => verifySnpReport(s.report, s.collateral, { ...s.options, trustRoots: PRODUCTION_TRUST_ROOTS }), { code: 'ERR_CHAIN', errorClass: 'CHAIN', check: 'S37' });
      });
    }
  }

  describe('S03 report versions: default 3, 4, 5, and 2 with a caller-named product (clarifications.md)', () => {
    const noVersionList = (s: Setup): SnpVerifyOptions => {
      expect(s.options).not.toHaveProperty('allowedVersions'); // the default set is under test
      return s.options;
    };

    it('v4 (v3 layout) verifies by default', () => {
      const s = setup({ version: 4 });
      const result = verifySnpReport(s.report, s.collateral, noVersionList(s));
      expect((result.claims as SnpClaims).reportVersion).toBe(4);
      expect(result.warnings).toEqual([]);
    });

    it('v3 and v5 verify by default', () => {
      for (const version of [3, 5] as const) {
        const s = setup({ version, product: 'Genoa' });
        expect((verifySnpReport(s.report, s.collateral, noVersionList(s)).claims as SnpClaims).reportVersion).toBe(version);
      }
    });

    it('v2 with the product named by the caller verifies by default, with a warning', () => {
      const s = setup({ version: 2 });
      const result = verifySnpReport(s.report, s.collateral, noVersionList(s));
      expect(result.warnings).toEqual([expect.stringContaining('named by the caller')]);
      expect((result.claims as SnpClaims).productSource).toBe('caller');
      expect((result.claims as SnpClaims).reportVersion).toBe(2);
    });

    it('v2 without a named product fails S06 with a message that says how to name it', () => {
      const s = setup({ version: 2 });
      const unnamed = parseEvidence(s.bytes) as SnpReport;
      expect(unnamed.productSource).not.toBe('caller');
      const e = expectError(() => verifySnpReport(unnamed, s.collateral, noVersionList(s)), { code: 'ERR_PRODUCT', errorClass: 'PRODUCT', check: 'S06' });
      expect(e.message).toMatch(/no CPUID.*names the product.*snpProduct.*--product/);
    });

    it('allowedVersions replaces the default: [3] refuses 4 and 5; [3, 4, 5] refuses v2 even with a product', () => {
      for (const version of [4, 5] as const) {
        const s = setup({ version });
        expectError(() => verifySnpReport(s.report, s.collateral, { ...s.options, allowedVersions: [3] }), { code: 'ERR_UNSUPPORTED', errorClass: 'UNSUPPORTED', check: 'S03' });
      }
      const s3 = setup({ version: 3 });
      expect(verifySnpReport(s3.report, s3.collateral, { ...s3.options, allowedVersions: [3] }).ok).toBe(true);
      const v2 = setup({ version: 2 });
      expectError(() => verifySnpReport(v2.report, v2.collateral, { ...v2.options, allowedVersions: [3, 4, 5] }), { code: 'ERR_UNSUPPORTED', errorClass: 'UNSUPPORTED', check: 'S03' });
    });
  });

  it('SNP report with the debug bit: verifies, and claims.policy.debug is true (the policy layer rejects it)', () => {
    const s = setup({ report: { policy: 0x30000n | (1n << 19n) } });
    const result = verifySnpReport(s.report, s.collateral, s.options);
    const claims = result.claims as SnpClaims;
    expect(claims.policy.debug).toBe(true);
    expect(claims.policy.raw).toBe('0x00000000000b0000');
    expect(result.ok).toBe(true);
  });

  it('S14: a masked CHIP_ID is accepted only with allowMaskedChipId, with a warning', () => {
    const s = setup({ report: { maskChipKey: true, chipId: new Uint8Array(64) } });
    const result = verifySnpReport(s.report, s.collateral, { ...s.options, allowMaskedChipId: true });
    expect(result.warnings).toEqual([expect.stringContaining('allowMaskedChipId')]);
    expect(result.checks.map((c) => c.id)).not.toContain('S14');
    expect((result.claims as SnpClaims).maskChipKey).toBe(true);
  });

  it('S15: COMMITTED below CURRENT is a claim, not a failure', () => {
    const s = setup({ report: { committedTcb: { ...milanTcb, microcode: 0xda } } });
    const claims = verifySnpReport(s.report, s.collateral, s.options).claims as SnpClaims;
    expect(claims.tcbRelations).toEqual({ committedEqualsCurrent: false, reportedAtMostCurrent: true, committedAtMostCurrent: true });
  });

  it('claims expose what the policy checks need (S21-S28, S31, S32, S39)', () => {
    const s = setup({ report: { vmpl: 2, guestSvn: 7, hostData: new Uint8Array(32).fill(0xab), authorKeyEnabled: true, platformInfo: 0x25n } });
    const claims = verifySnpReport(s.report, s.collateral, s.options).claims as SnpClaims;
    expect(claims).toMatchObject({ vmpl: 2, guestSvn: 7, hostData: 'ab'.repeat(32), authorKeyEnabled: true, maskChipKey: false });
    expect(claims.platformInfo).toMatchObject({ raw: '0x0000000000000025', smtEnabled: true, eccEnabled: true, aliasCheckComplete: true, tsmeEnabled: false });
    expect(claims.policy).toMatchObject({ smt: true, migrateMa: false, debug: false, abiMajor: 0, abiMinor: 0 });
    expect(claims.reportIdMa).toBe('ff'.repeat(32));
    expect(claims.chipId).toBe(Buffer.from(s.pki.chipId).toString('hex'));
    expect(claims.tcb.reported).toEqual({ raw: '0xdb18000000000004', bootloader: 4, tee: 0, snp: 0x18, microcode: 0xdb });
    expect(claims.currentVersion).toBe('1.55.21');
    expect(claims.launchMitVector).toBeUndefined();
  });
});

describe('SNP synthetic PKI: negatives (class and check id; production pins fail CHAIN)', () => {
  for (const c of CASES) {
    it(c.name, () => {
      expectError(runCase(c, false), c.expected);
      const production = c.structural ? c.expected : { code: 'ERR_CHAIN', errorClass: 'CHAIN' };
      expectError(runCase(c, true), production);
    });
  }
});

describe('the synthetic instant', () => {
  it('every case runs at a fixed instant inside the synthetic validity', () => {
    expect(AT.toISOString()).toBe('2025-06-01T00:00:00.000Z');
  });
});
