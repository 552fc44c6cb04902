/**
 * Negative tests on genuine SEV-SNP evidence (checklist §7): each failure
 * asserts its error class and checklist id, never a message. Every test runs
 * at the vector's instant unless it tests time.
 */
import { describe, expect, it } from 'vitest';

import type { SnpReport } from '../../../src/index.js';
import { PRODUCTION_TRUST_ROOTS, type TrustRoots } from '../../../src/verify/roots/index.js';
import { verifySnpReport, type AmdCollateralInput, type SnpVerifyOptions } from '../../../src/verify/snp/index.js';
import type { SnpClaims } from '../../../src/verify/types.js';
import { expectError } from '../../helpers/expect-error.js';
import { HAVE_VECTORS, readEvidenceBytes } from '../../helpers/vectors.js';
import { parseEvidence } from '../../../src/index.js';
import {
  V2_GO_SEV,
  V2_MILAN,
  V3_GENOA,
  V3_GENOA_CRL,
  V3_MILAN,
  V3_VLEK,
  V5_TURIN,
  applicableCrl,
  crlBytes,
  entry,
  optionsFor,
  reportOf,
  signingCertificateOf,
} from './helpers/real.js';

const PINS = PRODUCTION_TRUST_ROOTS.amd;
const SKIP_CRL = { relaxations: { skipCrl: true } };

function run(id: string, collateral: Partial<AmdCollateralInput> = {}, options: SnpVerifyOptions = {}, report?: SnpReport) {
  const e = entry(id);
  return verifySnpReport(report ?? reportOf(e), { signingCertificate: signingCertificateOf(e), ...collateral }, { ...optionsFor(e, SKIP_CRL), ...options });
}

/** A parsed report whose bytes were changed afterwards (the verifier must re-read them: S33). */
function withBytes(id: string, edit: (b: Uint8Array) => void): SnpReport {
  const report = reportOf(entry(id));
  const bytes = Uint8Array.from(report.bytes);
  edit(bytes);
  return { ...report, bytes };
}

/** The report re-parsed from edited bytes (edits the parser accepts). */
function reparsed(id: string, edit: (b: Uint8Array) => void): SnpReport {
  const e = entry(id);
  const bytes = Uint8Array.from(readEvidenceBytes(e));
  edit(bytes);
  return parseEvidence(bytes, { snpProduct: reportOf(e).product! }) as SnpReport;
}

const flip = (offset: number, mask = 0xff) => (b: Uint8Array) => {
  b[offset]! ^= mask;
};

describe.skipIf(!HAVE_VECTORS)('SNP negatives on genuine evidence', () => {
  describe('A. structure (S02-S06)', () => {
    it('S02: a report object whose bytes are truncated', () => {
      const report = reportOf(entry(V3_MILAN));
      expectError(() => run(V3_MILAN, {}, {}, { ...report, bytes: report.bytes.subarray(0, 0x49f) }), { code: 'ERR_TRUNCATED', errorClass: 'PARSE', check: 'S02' });
    });

    it('S03: v3 when only v5 is allowed; v2 (product named) when the list leaves it out; version 6 in the bytes', () => {
      expectError(() => run(V3_MILAN, {}, { allowedVersions: [5] }), { code: 'ERR_UNSUPPORTED', errorClass: 'UNSUPPORTED', check: 'S03' });
      const e = entry(V2_MILAN);
      expectError(() => verifySnpReport(reportOf(e), { signingCertificate: signingCertificateOf(e) }, { at: new Date(e.verification_time!), allowedVersions: [3, 4, 5], ...SKIP_CRL }), {
        code: 'ERR_UNSUPPORTED',
        errorClass: 'UNSUPPORTED',
        check: 'S03',
      });
      expectError(() => run(V3_MILAN, {}, {}, withBytes(V3_MILAN, (b) => (b[0] = 6))), { code: 'ERR_UNSUPPORTED_VERSION', errorClass: 'UNSUPPORTED', check: 'S03' });
    });

    it('S03: v4 (v3 layout) is allowed by default, refused when a list leaves it out', () => {
      const v4 = withBytes(V3_MILAN, (b) => (b[0] = 4)); // not re-signed: S03 fires before S12
      expectError(() => run(V3_MILAN, {}, { allowedVersions: [3, 5] }, v4), { code: 'ERR_UNSUPPORTED', errorClass: 'UNSUPPORTED', check: 'S03' });
      expectError(() => run(V3_MILAN, {}, {}, v4), { code: 'ERR_SIG_REPORT', errorClass: 'SIG_REPORT', check: 'S12' });
    });

    it('S04: reserved bytes after the signature (unsigned, V30), POLICY bit 17, SIGNING_KEY 7', () => {
      expectError(() => run(V3_MILAN, {}, {}, withBytes(V3_MILAN, (b) => (b[0x400] = 1))), { code: 'ERR_RESERVED_NONZERO', errorClass: 'PARSE', check: 'S04' });
      expectError(() => run(V3_MILAN, {}, {}, withBytes(V3_MILAN, flip(0x0a, 0x02))), { code: 'ERR_BAD_FIELD_VALUE', errorClass: 'PARSE', check: 'S04' });
      expectError(() => run(V3_MILAN, {}, {}, withBytes(V3_MILAN, (b) => (b[0x48] = 7 << 2))), { code: 'ERR_UNSUPPORTED_SIGNING_KEY', errorClass: 'UNSUPPORTED', check: 'S04' });
    });

    it('S43: a v2 report with bytes at the v3 CPUID offsets', () => {
      const e = entry(V2_MILAN);
      const report = withBytes(V2_MILAN, (b) => (b[0x188] = 0x19));
      expectError(() => verifySnpReport(report, { signingCertificate: signingCertificateOf(e) }, optionsFor(e, SKIP_CRL)), { code: 'ERR_RESERVED_NONZERO', errorClass: 'PARSE', check: 'S04' });
    });

    it('S06: v2 (allowed by default) but the product was not named', () => {
      const e = entry(V2_MILAN);
      const report = parseEvidence(readEvidenceBytes(e)) as SnpReport;
      expectError(() => verifySnpReport(report, { signingCertificate: signingCertificateOf(e) }, optionsFor(e, SKIP_CRL)), { code: 'ERR_PRODUCT', errorClass: 'PRODUCT', check: 'S06' });
    });

    it('S06: the report object names another product than its signed CPUID', () => {
      const report = reportOf(entry(V3_MILAN));
      expectError(() => run(V3_MILAN, {}, {}, { ...report, product: 'Genoa' }), { code: 'ERR_PRODUCT', errorClass: 'PRODUCT', check: 'S06' });
    });

    it('S06: a product outside allowedProducts (owners may exclude Milan)', () => {
      expectError(() => run(V3_MILAN, {}, { allowedProducts: ['Genoa', 'Turin'] }), { code: 'ERR_PRODUCT', errorClass: 'PRODUCT', check: 'S06' });
      expect(run(V3_GENOA, {}, { allowedProducts: ['Genoa', 'Turin'] }).ok).toBe(true);
    });

    it('S06: a Turin CPUID in the bytes selects the Turin anchors, so a Milan chain cannot follow', () => {
      // family 0x1A model 0x01 (Turin) written into a Milan report: S06 picks Turin, the Milan VCEK cannot chain to ASK-Turin.
      const report = withBytes(V3_MILAN, (b) => {
        b[0x188] = 0x1a;
      });
      // The parsed object still says Milan: the bytes disagree with it.
      expectError(() => run(V3_MILAN, {}, {}, report), { code: 'ERR_PRODUCT', errorClass: 'PRODUCT', check: 'S06' });
      expectError(() => run(V3_MILAN, {}, {}, { ...report, product: undefined }), { code: 'ERR_CHAIN', errorClass: 'CHAIN', check: 'S10' });
    });
  });

  describe('B. chain (S07, S08, S37, S38)', () => {
    it('S07: a Genoa ARK pinned for Milan never validates a Milan report', () => {
      const roots: TrustRoots = { label: 'swapped', intelRootCas: [], amd: { Milan: PINS.Genoa! } };
      expectError(() => run(V3_MILAN, {}, { trustRoots: roots }), { code: 'ERR_CHAIN', errorClass: 'CHAIN', check: 'S07' });
    });

    it('S07: trust roots without an ARK for the product', () => {
      const roots: TrustRoots = { label: 'genoa-only', intelRootCas: [], amd: { Genoa: PINS.Genoa! } };
      expectError(() => run(V3_MILAN, {}, { trustRoots: roots }), { code: 'ERR_CHAIN', errorClass: 'CHAIN', check: 'S07' });
    });

    it('S07: the ARK has expired (instant after 2045-10-22)', () => {
      expectError(() => run(V3_MILAN, {}, { at: new Date('2046-01-01T00:00:00Z') }), { code: 'ERR_EXPIRED', errorClass: 'EXPIRED', check: 'S07' });
    });

    it('S37: the Genoa ARK supplied with a Milan report', () => {
      expectError(() => run(V3_MILAN, { certChain: [PINS.Milan!.ask, PINS.Genoa!.ark] }), { code: 'ERR_CHAIN', errorClass: 'CHAIN', check: 'S37' });
    });

    it('S37: the Milan ASK supplied as both ASK and ARK', () => {
      expectError(() => run(V3_MILAN, { certChain: [PINS.Milan!.ask, PINS.Milan!.ask] }), { code: 'ERR_CHAIN', errorClass: 'CHAIN', check: 'S37' });
    });

    it('S37: the Genoa ASK supplied with a Milan report', () => {
      expectError(() => run(V3_MILAN, { certChain: [PINS.Genoa!.ask, PINS.Milan!.ark] }), { code: 'ERR_CHAIN', errorClass: 'CHAIN', check: 'S37' });
    });

    it('S10: a supplied chain of three certificates (the chain is exactly ARK -> intermediate -> leaf)', () => {
      expectError(() => run(V3_MILAN, { certChain: [PINS.Milan!.ask, PINS.Milan!.ark, PINS.Milan!.asvk] }), { code: 'ERR_CHAIN', errorClass: 'CHAIN', check: 'S10' });
    });

    it('S38: the ASVK supplied with a VCEK-signed report, the ASK with a VLEK-signed one', () => {
      expectError(() => run(V3_MILAN, { certChain: [PINS.Milan!.asvk, PINS.Milan!.ark] }), { code: 'ERR_SNP_SIGNER', errorClass: 'SNP_SIGNER', check: 'S38' });
      expectError(() => run(V3_VLEK, { certChain: [PINS.Milan!.ask, PINS.Milan!.ark] }), { code: 'ERR_SNP_SIGNER', errorClass: 'SNP_SIGNER', check: 'S38' });
    });

    it('S38: collateral fetched for a VLEK used for a VCEK-signed report; for another product', () => {
      expectError(() => run(V3_MILAN, { for: { product: 'Milan', signingKey: 'vlek' } }), { code: 'ERR_SNP_SIGNER', errorClass: 'SNP_SIGNER', check: 'S38' });
      expectError(() => run(V3_MILAN, { for: { product: 'Genoa', signingKey: 'vcek' } }), { code: 'ERR_COLLATERAL_MISMATCH', errorClass: 'COLLATERAL_MISMATCH', check: 'S07' });
    });

    it('S08: an ASVK pinned in the ASK slot is an intermediate for the other key kind', () => {
      const roots: TrustRoots = { label: 'swapped', intelRootCas: [], amd: { Milan: { ...PINS.Milan!, ask: PINS.Milan!.asvk } } };
      expectError(() => run(V3_MILAN, {}, { trustRoots: roots }), { code: 'ERR_SNP_SIGNER', errorClass: 'SNP_SIGNER', check: 'S08' });
    });

    it('S08: the Genoa ASK pinned under the Milan ARK', () => {
      const roots: TrustRoots = { label: 'swapped', intelRootCas: [], amd: { Milan: { ...PINS.Milan!, ask: PINS.Genoa!.ask } } };
      expectError(() => run(V3_MILAN, {}, { trustRoots: roots }), { code: 'ERR_CHAIN', errorClass: 'CHAIN', check: 'S08' });
    });

    it('S08: the ASK is not yet valid (an instant between the ARK and ASK notBefore)', () => {
      expectError(() => run(V3_MILAN, {}, { at: new Date('2020-10-22T18:00:00Z') }), { code: 'ERR_EXPIRED', errorClass: 'EXPIRED', check: 'S08' });
    });
  });

  describe('B. CRL (S09)', () => {
    it('S09: no CRL fails closed unless skipCrl (then a warning)', () => {
      const e = entry(V3_GENOA_CRL);
      const collateral = { signingCertificate: signingCertificateOf(e) };
      expectError(() => verifySnpReport(reportOf(e), collateral, optionsFor(e)), { code: 'ERR_COLLATERAL_UNAVAILABLE', errorClass: 'COLLATERAL_UNAVAILABLE', check: 'S09' });
      const result = verifySnpReport(reportOf(e), collateral, optionsFor(e, SKIP_CRL));
      expect(result.warnings.filter((w) => w.startsWith('skipCrl'))).toHaveLength(1);
      expect(result.checks.map((c) => c.id)).not.toContain('S09');
    });

    it('S09: the Genoa CRL past its nextUpdate (2026-03-01 > 2025-11-03)', () => {
      expectError(() => run(V3_GENOA, { crl: crlBytes('Genoa') }), { code: 'ERR_EXPIRED', errorClass: 'EXPIRED', check: 'S09' });
    });

    it('S09: an instant before the CRL thisUpdate', () => {
      expectError(() => run(V3_GENOA_CRL, { crl: crlBytes('Genoa') }, { at: new Date('2024-10-01T00:00:00Z') }), { code: 'ERR_EXPIRED', errorClass: 'EXPIRED', check: 'S09' });
    });

    it('S09: the Milan CRL offered for a Genoa report', () => {
      expectError(() => run(V3_GENOA_CRL, { crl: crlBytes('Milan') }), { code: 'ERR_COLLATERAL_MISMATCH', errorClass: 'COLLATERAL_MISMATCH', check: 'S09' });
    });

    it('S09: the Genoa CRL with a flipped signature byte', () => {
      const e = entry(V3_GENOA_CRL);
      const crl = Uint8Array.from(applicableCrl(e)!);
      const pem = Buffer.from(crl).toString('latin1');
      const der = Buffer.from(pem.replace(/-----[^-]+-----/g, '').replace(/\s+/g, ''), 'base64');
      der[der.length - 10]! ^= 0x01;
      expectError(() => run(V3_GENOA_CRL, { crl: new Uint8Array(der) }), { code: 'ERR_COLLATERAL_SIG', errorClass: 'COLLATERAL_SIG', check: 'S09' });
    });

    it('S09: CRL bytes that are not a CRL', () => {
      expectError(() => run(V3_GENOA_CRL, { crl: Uint8Array.of(0x30, 0x03, 0x02, 0x01, 0x00) }), { code: 'ERR_BAD_DER', errorClass: 'PARSE', check: 'S09' });
    });

    it('S09: the Genoa CRL lists 0x20001, which is not the Genoa ASK: accepted', () => {
      const result = run(V3_GENOA_CRL, { crl: crlBytes('Genoa') }, { relaxations: {} });
      expect(result.checks.map((c) => c.id)).toContain('S09');
    });
  });

  describe('B. leaf (S10)', () => {
    it('S10: the VLEK certificate offered for a VCEK-signed report', () => {
      expectError(() => run(V3_MILAN, { signingCertificate: signingCertificateOf(entry(V3_VLEK)) }), { code: 'ERR_SNP_SIGNER', errorClass: 'SNP_SIGNER', check: 'S10' });
    });

    it('S10: a VCEK offered for the VLEK-signed report', () => {
      expectError(() => run(V3_VLEK, { signingCertificate: signingCertificateOf(entry(V3_MILAN)) }), { code: 'ERR_SNP_SIGNER', errorClass: 'SNP_SIGNER', check: 'S10' });
    });

    it('expired VLEK: the AWS VLEK (valid 2024-12-10..2025-12-10) at 2026-01-01 fails EXPIRED (S10)', () => {
      expectError(() => run(V3_VLEK, {}, { at: new Date('2026-01-01T00:00:00Z') }), { code: 'ERR_EXPIRED', errorClass: 'EXPIRED', check: 'S10' });
    });

    it('expired VCEK: the trustee VCEK (to 2030-01-24) at 2030-02-01 fails EXPIRED (S10)', () => {
      expectError(() => run(V2_MILAN, {}, { at: new Date('2030-02-01T00:00:00Z') }), { code: 'ERR_EXPIRED', errorClass: 'EXPIRED', check: 'S10' });
    });

    it('S10: a VCEK before its notBefore', () => {
      expectError(() => run(V3_MILAN, {}, { at: new Date('2026-02-01T00:00:00Z') }), { code: 'ERR_EXPIRED', errorClass: 'EXPIRED', check: 'S10' });
    });

    it('S10: a Genoa VCEK for a Milan report (issued by SEV-Genoa)', () => {
      expectError(() => run(V3_MILAN, { signingCertificate: signingCertificateOf(entry(V3_GENOA)) }), { code: 'ERR_CHAIN', errorClass: 'CHAIN', check: 'S10' });
    });

    it('S10: a VCEK whose signature byte is flipped', () => {
      const vcek = Uint8Array.from(signingCertificateOf(entry(V3_MILAN)));
      vcek[vcek.length - 5]! ^= 0x01;
      expectError(() => run(V3_MILAN, { signingCertificate: vcek }), { code: 'ERR_CHAIN', errorClass: 'CHAIN', check: 'S10' });
    });

    it('S10: the ASK offered as the leaf', () => {
      expectError(() => run(V3_MILAN, { signingCertificate: PINS.Milan!.ask }), { code: 'ERR_CHAIN', errorClass: 'CHAIN', check: 'S10' });
    });

    it('S10: bytes that are not a certificate; no certificate at all', () => {
      expectError(() => run(V3_MILAN, { signingCertificate: Uint8Array.of(1, 2, 3) }), { code: 'ERR_BAD_DER', errorClass: 'PARSE', check: 'S10' });
      const e = entry(V3_MILAN);
      expectError(() => verifySnpReport(reportOf(e), {} as AmdCollateralInput, optionsFor(e, SKIP_CRL)), { code: 'ERR_COLLATERAL_UNAVAILABLE', errorClass: 'COLLATERAL_UNAVAILABLE', check: 'S10' });
    });
  });

  describe('C. signature (S12)', () => {
    it('tampered body: report byte 100 ^= 0xFF (REPORT_DATA) fails SIG_REPORT (S12)', () => {
      expectError(() => run(V3_MILAN, {}, {}, reparsed(V3_MILAN, flip(100))), { code: 'ERR_SIG_REPORT', errorClass: 'SIG_REPORT', check: 'S12' });
    });

    it('tampered body: virtee bit 0x80 of byte 21; trustee bytes 42 and 384', () => {
      expectError(() => run('virtee-sev/report_milan', {}, {}, reparsed('virtee-sev/report_milan', flip(21, 0x80))), { code: 'ERR_SIG_REPORT', errorClass: 'SIG_REPORT', check: 'S12' });
      for (const offset of [42, 384]) {
        expectError(() => run(V2_MILAN, {}, {}, reparsed(V2_MILAN, flip(offset, 0x01))), { code: 'ERR_SIG_REPORT', errorClass: 'SIG_REPORT', check: 'S12' });
      }
    });

    it('tampered body after parsing: the verifier re-reads the bytes, not the object (S33)', () => {
      const report = withBytes(V3_MILAN, flip(0x90)); // MEASUREMENT
      expect(report.measurement[0]).toBe(reportOf(entry(V3_MILAN)).measurement[0]);
      expectError(() => run(V3_MILAN, {}, {}, report), { code: 'ERR_SIG_REPORT', errorClass: 'SIG_REPORT', check: 'S12' });
    });

    it('S12: a flipped bit in R and in S', () => {
      expectError(() => run(V5_TURIN, {}, {}, reparsed(V5_TURIN, flip(0x2a0, 0x01))), { code: 'ERR_SIG_REPORT', errorClass: 'SIG_REPORT', check: 'S12' });
      expectError(() => run(V5_TURIN, {}, {}, reparsed(V5_TURIN, flip(0x2e8 + 47, 0x80))), { code: 'ERR_SIG_REPORT', errorClass: 'SIG_REPORT', check: 'S12' });
    });

    it('wrong VCEK: another Milan chip\'s VCEK with the same TCB fails SIG_REPORT (S12)', () => {
      // trustee and virtee Milan VCEKs: both blSPL 3, snpSPL 8, ucode 0x73, both chain to ASK-Milan.
      expectError(() => run(V2_MILAN, { signingCertificate: signingCertificateOf(entry('virtee-sev/report_milan')) }), { code: 'ERR_SIG_REPORT', errorClass: 'SIG_REPORT', check: 'S12' });
    });

    it('wrong VCEK with another TCB also fails at the signature, before S13 (S42 order)', () => {
      expectError(() => run(V2_MILAN, { signingCertificate: signingCertificateOf(entry(V2_GO_SEV)) }), { code: 'ERR_SIG_REPORT', errorClass: 'SIG_REPORT', check: 'S12' });
    });
  });

  describe('policy claims are exposed, not judged', () => {
    it('the VLEK report at VMPL 1 verifies; VMPL is a claim for the policy layer (S24)', () => {
      const claims = run(V3_VLEK).claims as SnpClaims;
      expect(claims.vmpl).toBe(1);
      expect(claims.reportIdMa).toMatch(/^[0-9a-f]{64}$/);
    });
  });
});
