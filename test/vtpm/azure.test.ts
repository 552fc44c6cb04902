/**
 * Azure CVM evidence on the shared real vectors:
 * - Genoa (trustee evidence-genoa.json): HCL report + VCEK + TPM quote with
 *   its 24 SHA-256 PCRs, verified end to end at the manifest instant with
 *   the real AMD Genoa CRL (openpcc) and nonce 0218488b… (trustee
 *   test_evaluate_genoa): hardware, runtime data, HCLAkPub, quote.
 * - Milan (trustee hcl-report.bin, v2 report): hardware + runtime data.
 * - Azure TDX (openpcc DCesv6 HCL report + its TD quote): runtime data
 *   commitment and TD report = TD quote; without Intel collateral the full
 *   verification fails closed (collateral unavailable).
 * Named negatives: runtime data not matching report_data, an AK that is not
 * HCLAkPub, a nonce mismatch, a tampered SNP report.
 */
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';

import { verifyQeReportDataBinding, verifyQuoteSignature } from '../../src/crypto/ecdsa.js';
import type { Evidence, TdxQuote } from '../../src/evidence/types.js';
import { amdCollateralFromCertTable, verifySnpReport } from '../../src/verify/snp/index.js';
import type { VerificationResult } from '../../src/verify/types.js';
import { checkRuntimeDataBinding, parseRuntimeData, verifyAzureHardware, type HardwareVerifier } from '../../src/vtpm/azure.js';
import type { VtpmBundle } from '../../src/vtpm/bundle.js';
import { parseHclReport } from '../../src/vtpm/parse.js';
import { verifyVtpmEvidence } from '../../src/vtpm/verify.js';
import { splitPemCertificates } from '../../src/x509/index.js';
import { HAVE_VECTORS, VECTORS_DIR, loadManifest } from '../helpers/vectors.js';

const read = (rel: string) => new Uint8Array(readFileSync(join(VECTORS_DIR, rel)));
const readText = (rel: string) => readFileSync(join(VECTORS_DIR, rel), 'utf8');

const GENOA_NONCE = '0218488bae25d2509232bf676f1a66a30d7372add909109b36016ef136f2938ca05475f8b46094de6b64270ea35d950f';

/** trustee's raw RSASSA-SHA256 quote signature as a TPMT_SIGNATURE (sigAlg RSASSA, hash SHA-256, TPM2B). */
function rsassaSha256Signature(raw: Uint8Array): Uint8Array {
  const out = new Uint8Array(6 + raw.length);
  const v = new DataView(out.buffer);
  v.setUint16(0, 0x0014);
  v.setUint16(2, 0x000b);
  v.setUint16(4, raw.length);
  out.set(raw, 6);
  return out;
}

function pemToDer(pem: string): Uint8Array {
  const body = pem.replace(/-----(BEGIN|END) [A-Z509 ]+-----/g, '').replace(/\s+/g, '');
  return new Uint8Array(Buffer.from(body, 'base64'));
}

/** The Genoa vTPM evidence as a bundle: HCL report, VCEK + Genoa chain, quote, PCRs, nonce. */
function genoaBundle(): VtpmBundle {
  const e = JSON.parse(readText('trustee/deps/verifier/test_data/az-snp-vtpm/evidence-genoa.json')) as {
    quote: { message: number[]; signature: number[]; pcrs: number[][] };
    report: number[];
    vcek: string;
  };
  const chain = splitPemCertificates(readText('trustee/deps/verifier/src/snp/genoa_ask_ark_asvk.pem'));
  return {
    nonce: new Uint8Array(Buffer.from(GENOA_NONCE, 'hex')),
    hardware: { hclReport: new Uint8Array(e.report), certificates: [...splitPemCertificates(e.vcek), ...chain] },
    tpm: {
      quotes: [{ attest: new Uint8Array(e.quote.message), signature: rsassaSha256Signature(new Uint8Array(e.quote.signature)) }],
      pcrs: { sha256: Object.fromEntries(e.quote.pcrs.map((v, i) => [String(i), new Uint8Array(v)])) },
    },
  };
}

const genoaEntry = () => loadManifest().find((e) => e.id === 'trustee/az_snp_vtpm_evidence_genoa')!;
const genoaCrl = () => pemToDer(readText('openpcc/extracted/test_amd_genoa_crl.pem'));

/** Offline SNP verification with the bundle's certificates and the real Genoa CRL. */
function genoaVerifier(at: Date): HardwareVerifier {
  return async (evidence: Evidence, table) => {
    if (evidence.kind !== 'snp') throw new Error('expected SNP');
    return verifySnpReport(evidence, amdCollateralFromCertTable(table, 'vcek', genoaCrl()), { at });
  };
}

async function errorOf(fn: () => Promise<unknown>): Promise<{ code: string; errorClass: string }> {
  try {
    await fn();
  } catch (err) {
    return err as { code: string; errorClass: string };
  }
  return { code: 'no error', errorClass: '' };
}

/** The openpcc Azure DCesv6 txtar: HCL report and TD quote PEM blocks. */
function azureTdx(): { hcl: Uint8Array; quote: Uint8Array } {
  const t = readText('openpcc/attestation/attest/testdata/azure_tdx_report.txt');
  const block = (member: string) => {
    const after = t.split(`-- ${member} --`)[1]!;
    const body = after.split(/-----BEGIN [A-Z]+-----/)[1]!.split(/-----END/)[0]!;
    return new Uint8Array(Buffer.from(body.replace(/\s+/g, ''), 'base64'));
  };
  return { hcl: block('test_azure_tdx_report.pem'), quote: block('test_azure_tdx_quote.pem') };
}

describe.skipIf(!HAVE_VECTORS)('Azure SEV-SNP vTPM (Genoa): end to end at the manifest instant', () => {
  const at = () => new Date(genoaEntry().verification_time!);

  it('hardware + runtime data + HCLAkPub + quote verify; PCR 0 is the value trustee asserts', async () => {
    const r = await verifyVtpmEvidence(genoaBundle(), { at: at(), nonce: new Uint8Array(Buffer.from(GENOA_NONCE, 'hex')), verifyHardware: genoaVerifier(at()) });
    expect(r.platform).toBe('azure-snp');
    expect(r.at).toBe('2025-02-23T02:21:48.000Z');
    expect(r.hardware!.tee).toBe('snp');
    expect(r.hardware!.claims.kind === 'snp' && r.hardware!.claims.product).toBe('Genoa');
    expect(r.tpm.pcrs.sha256!['0']).toBe('afd689d0bb1c5f36f023fbaf574135f555a28a10c1f6b938d2a25e70c7783338');
    expect(r.runtimeData!.akPub['kid']).toBe('HCLAkPub');
    // HCLAkPub is an RSA JWK: no TPMT_PUBLIC, so whether it is a restricted key is not established (review s6-6).
    expect(r.warnings).toEqual([expect.stringMatching(/^VT05 not checked: .*HCLAkPub attestation key comes without a TPMT_PUBLIC/)]);
    const ids = r.checks.map((c) => c.id);
    for (const id of ['VT01', 'VT02', 'VT18', 'VT03', 'VT04', 'VT07', 'VT10', 'VT11', 'VT12', 'VT13']) expect(ids).toContain(id);
    expect(ids).toContain('S12'); // the SNP report signature check of the hardware verifier
    expect(ids.indexOf('VT02')).toBeLessThan(ids.indexOf('VT03'));
    expect(ids.indexOf('VT03')).toBeLessThan(ids.indexOf('VT04'));
    expect(ids.indexOf('VT04')).toBeLessThan(ids.indexOf('VT07'));
  });

  it('without an expected nonce the bundle nonce is used, with a warning', async () => {
    const r = await verifyVtpmEvidence(genoaBundle(), { at: at(), verifyHardware: genoaVerifier(at()) });
    expect(r.warnings).toEqual([expect.stringContaining('freshness is not established'), expect.stringMatching(/^VT05 not checked/)]);
  });

  it('runtime data not matching the hardware report_data: ERR_VTPM_RUNTIME_DATA', async () => {
    const b = genoaBundle();
    const hcl = b.hardware!.hclReport;
    const at_ = Buffer.from(hcl).indexOf('"user-data":"0');
    expect(at_).toBeGreaterThan(0);
    hcl[at_ + '"user-data":"'.length] = 0x31; // '0' -> '1': still valid JSON, different bytes
    const err = await errorOf(() => verifyVtpmEvidence(b, { at: at(), verifyHardware: genoaVerifier(at()) }));
    expect(err.code).toBe('ERR_VTPM_RUNTIME_DATA');
    expect(err.errorClass).toBe('BINDING');
  });

  it('a TPM AK that is not HCLAkPub (the GCE AK in the bundle): ERR_VTPM_AK', async () => {
    const b = genoaBundle();
    b.tpm.ak = { public: read('go-tpm-tools/extracted/gce-cos-85-nonce9009/ak_pub.tpmt_public') };
    expect((await errorOf(() => verifyVtpmEvidence(b, { at: at(), verifyHardware: genoaVerifier(at()) }))).code).toBe('ERR_VTPM_AK');
  });

  it('nonce mismatch: ERR_VTPM_NONCE', async () => {
    const nonce = new Uint8Array(Buffer.from(GENOA_NONCE, 'hex'));
    nonce[47]! ^= 1;
    expect((await errorOf(() => verifyVtpmEvidence(genoaBundle(), { at: at(), nonce, verifyHardware: genoaVerifier(at()) }))).code).toBe('ERR_VTPM_NONCE');
  });

  it('a PCR value altered: ERR_VTPM_PCR_DIGEST', async () => {
    const b = genoaBundle();
    b.tpm.pcrs.sha256!['8']![0]! ^= 1;
    expect((await errorOf(() => verifyVtpmEvidence(b, { at: at(), verifyHardware: genoaVerifier(at()) }))).code).toBe('ERR_VTPM_PCR_DIGEST');
  });

  it('a tampered SNP report inside the HCL report: the hardware verification rejects it (SIG_REPORT)', async () => {
    const b = genoaBundle();
    b.hardware!.hclReport[32 + 0x50 + 40]! ^= 1; // report_data byte 40 (unused by the runtime-data rule)
    const err = await errorOf(() => verifyVtpmEvidence(b, { at: at(), verifyHardware: genoaVerifier(at()) }));
    expect(err.code).toBe('ERR_SIG_REPORT');
  });

  it("an IMA list from another machine (ibmtss sha1.log) does not reproduce the quoted PCR 10: ERR_VTPM_IMA_MISMATCH", async () => {
    const b = { ...genoaBundle(), ima: { binary: read('ibmtss/utils/sha1.log') } };
    const err = await errorOf(() => verifyVtpmEvidence(b, { at: at(), verifyHardware: genoaVerifier(at()) }));
    expect(err.code).toBe('ERR_VTPM_IMA_MISMATCH');
  });
});

describe.skipIf(!HAVE_VECTORS)('Azure SEV-SNP HCL report (Milan, v2)', () => {
  const entry = () => loadManifest().find((e) => e.id === 'trustee/az_snp_vtpm_hcl_report_milan')!;

  it('hardware and runtime data verify at the manifest instant (--product Milan, CRL skipped as a warning)', async () => {
    const at = new Date(entry().verification_time!);
    const hcl = parseHclReport(read('trustee/deps/verifier/test_data/az-snp-vtpm/hcl-report.bin'));
    const verify: HardwareVerifier = async (evidence, table) => {
      if (evidence.kind !== 'snp') throw new Error('expected SNP');
      return verifySnpReport(evidence, amdCollateralFromCertTable(table, 'vcek'), { at, allowedVersions: [2, 3, 4, 5], relaxations: { skipCrl: true } });
    };
    const certificates = splitPemCertificates(readText('trustee/deps/verifier/test_data/az-snp-vtpm/vcek.pem'));
    const r = await verifyAzureHardware({ hcl, certificates, snpProduct: 'Milan' }, verify);
    expect(r.platform).toBe('azure-snp');
    expect(r.hardware.warnings.join(' ')).toMatch(/CRL/);
    expect(r.checks.map((c) => c.id)).toEqual(['VT02', 'VT18', 'VT03']);
    expect(r.runtime.vmConfiguration).toMatchObject({ 'secure-boot': true, 'tpm-enabled': true });
    expect(r.runtime.ak.key.asymmetricKeyType).toBe('rsa');
  });

  it('the runtime-data rule on its own: SHA-256(runtime data) = report_data[0..32]; one flipped runtime byte breaks it', () => {
    const bytes = read('trustee/deps/verifier/test_data/az-snp-vtpm/hcl-report.bin');
    const hcl = parseHclReport(bytes);
    expect(hcl.reportDataHashType).toBe(1);
    const reportData = hcl.hardwareReport.subarray(0x50, 0x90);
    const checks: { id: string; description: string }[] = [];
    checkRuntimeDataBinding(hcl, reportData, checks);
    expect(checks[0]!.id).toBe('VT03');
    const copy = new Uint8Array(bytes);
    const pos = Buffer.from(copy).indexOf('"vmUniqueId":"') + '"vmUniqueId":"'.length;
    copy[pos] = copy[pos] === 0x41 ? 0x42 : 0x41;
    expect(() => checkRuntimeDataBinding(parseHclReport(copy), reportData, [])).toThrow(expect.objectContaining({ code: 'ERR_VTPM_RUNTIME_DATA' }));
  });
});

describe.skipIf(!HAVE_VECTORS)('Azure TDX vTPM (openpcc DCesv6 HCL report + TD quote)', () => {
  it('runtime data commits into the TD quote report_data and the TD quote quotes the HCL TD report', async () => {
    const { hcl: hclBytes, quote } = azureTdx();
    const hcl = parseHclReport(hclBytes);
    expect(hcl.reportType).toBe('tdx');
    // No Intel collateral in the shared vectors: verify what exists (quote signature, QE binding) and stand in for the rest.
    const signaturesOnly: HardwareVerifier = async (evidence) => {
      const q = evidence as TdxQuote;
      expect(verifyQuoteSignature(q)).toBe(true);
      expect(verifyQeReportDataBinding(q)).toBe(true);
      return { ok: true, tee: 'tdx', checks: [{ id: 'T26', description: 'quote signature (signatures only, no collateral)' }], warnings: [] } as unknown as VerificationResult;
    };
    const r = await verifyAzureHardware({ hcl, tdQuote: quote }, signaturesOnly);
    expect(r.platform).toBe('azure-tdx');
    expect(r.checks.map((c) => c.id)).toEqual(['VT02', 'VT17', 'VT03']);
    expect(parseRuntimeData(hcl).akJwk['kid']).toBe('HCLAkPub');
  });

  it('a TD quote of another TD (trustee az-tdx-vtpm td-quote.bin) does not quote this HCL report: ERR_VTPM_RUNTIME_DATA', async () => {
    const hcl = parseHclReport(azureTdx().hcl);
    const other = read('trustee/deps/verifier/test_data/az-tdx-vtpm/td-quote.bin');
    const pass: HardwareVerifier = async () => ({ ok: true, tee: 'tdx', checks: [], warnings: [] }) as unknown as VerificationResult;
    expect((await errorOf(() => verifyAzureHardware({ hcl, tdQuote: other }, pass))).code).toBe('ERR_VTPM_RUNTIME_DATA');
  });

  it('full verification without Intel collateral fails closed: collateral unavailable (exit 3 class)', async () => {
    const { hcl, quote } = azureTdx();
    const bundle: VtpmBundle = { hardware: { hclReport: hcl, tdQuote: quote }, tpm: { quotes: [{ attest: new Uint8Array(8), signature: new Uint8Array(8) }], pcrs: {} } };
    const err = await errorOf(() => verifyVtpmEvidence(bundle, { at: new Date('2025-06-01T00:00:00Z') }));
    expect(err.errorClass).toBe('COLLATERAL_UNAVAILABLE');
  });

  it('an Azure TDX HCL report without its TD quote cannot be verified: collateral unavailable', async () => {
    const hcl = parseHclReport(azureTdx().hcl);
    const err = await errorOf(() => verifyAzureHardware({ hcl }, async () => ({}) as VerificationResult));
    expect(err.code).toBe('ERR_COLLATERAL_MISSING');
  });
});
