/**
 * SEV-SNP vectors of the shared manifest as verifier inputs: the report, the
 * VCEK / VLEK named by the manifest's collateral roles, the chain files the
 * vector ships (to test S37 against the pins) and the only CRLs the shared
 * vectors hold (KDS /vcek/v1/{Genoa,Milan}/crl).
 */
import { parseEvidence, type SnpProduct, type SnpReport } from '../../../../src/index.js';
import { parseCertificate, parseCrl, splitPemCertificates } from '../../../../src/x509/index.js';
import { evidenceEntries, readEvidenceBytes, readVectorFile, type ManifestEntry } from '../../../helpers/vectors.js';
import { productOfEntry } from '../../../helpers/recorded-collateral.js';

export const V2_MILAN = 'trustee/snp_test_report_vcek';
export const V3_VLEK = 'trustee/snp_test_vlek_report';
export const V3_MILAN = 'ms-tee-attestation-verification/milan';
export const V3_GENOA = 'ms-tee-attestation-verification/genoa';
export const V5_TURIN = 'ms-tee-attestation-verification/turin';
export const V3_GENOA_CRL = 'openpcc/azure_sevsnp_genoa';
export const V2_GO_SEV = 'go-sev-guest/attestation_bin';

export function snpEntries(): ManifestEntry[] {
  return evidenceEntries().filter((e) => e.kind === 'snp-report');
}

export function entry(id: string): ManifestEntry {
  const e = snpEntries().find((x) => x.id === id);
  if (!e) throw new Error(`no SNP vector ${id}`);
  return e;
}

/** Every certificate of a PEM or DER file, as DER. */
export function certificatesOf(rel: string): Uint8Array[] {
  const raw = readVectorFile(rel);
  return raw.subarray(0, 10).toString('latin1').startsWith('-----') ? splitPemCertificates(raw) : [new Uint8Array(raw)];
}

export function productOf(e: ManifestEntry): SnpProduct {
  return productOfEntry(e);
}

/** Parsed with the manifest's product: required for v2, checked against the CPUID for v3+. */
export function reportOf(e: ManifestEntry): SnpReport {
  return parseEvidence(readEvidenceBytes(e), { snpProduct: productOf(e) }) as SnpReport;
}

export function signingCertificateOf(e: ManifestEntry): Uint8Array {
  const c = e.collateral;
  const rel = c['vcek'] ?? c['vlek'] ?? c['vcek_ask_ark_chain'];
  if (!rel) throw new Error(`${e.id}: no signing certificate`);
  const first = certificatesOf(rel)[0];
  if (!first) throw new Error(`${e.id}: empty certificate file`);
  return first;
}

/** Every CA certificate the vector ships (chain files, separate ASK / ARK files), by CN. */
export function shippedCas(e: ManifestEntry): Map<string, Uint8Array> {
  const out = new Map<string, Uint8Array>();
  for (const [role, rel] of Object.entries(e.collateral)) {
    if (role === 'vcek' || role === 'vlek' || role === 'amd_crl' || role.startsWith('original_')) continue;
    for (const der of certificatesOf(rel)) {
      const cn = parseCertificate(der).subjectAttributes.CN ?? '';
      if (cn.startsWith('ARK-') || cn.startsWith('SEV-') && cn !== 'SEV-VCEK' && cn !== 'SEV-VLEK') out.set(cn, der);
    }
  }
  return out;
}

export function crlFile(product: SnpProduct): string | undefined {
  return product === 'Genoa' ? 'openpcc/extracted/test_amd_genoa_crl.pem' : product === 'Milan' ? 'openpcc/extracted/test_amd_milan_crl.pem' : undefined;
}

export function crlBytes(product: SnpProduct): Uint8Array {
  const rel = crlFile(product);
  if (!rel) throw new Error(`no CRL for ${product}`);
  return new Uint8Array(readVectorFile(rel));
}

/**
 * The shared CRLs are the VCEK CRLs (ARK-signed, cover the ASK). They apply
 * to a VCEK report whose verification instant lies in their window.
 */
export function applicableCrl(e: ManifestEntry): Uint8Array | undefined {
  const product = productOf(e);
  if (e.signing_key !== 'VCEK' || !crlFile(product)) return undefined;
  const crl = crlBytes(product);
  const info = parseCrl(crl);
  const at = new Date(e.verification_time!).getTime();
  return info.thisUpdate.getTime() <= at && info.nextUpdate !== undefined && at <= info.nextUpdate.getTime() ? crl : undefined;
}

export function instantOf(e: ManifestEntry): Date {
  return new Date(e.verification_time!);
}

/** Options for a vector: its instant; v2 listed when the report is v2. */
export function optionsFor(e: ManifestEntry, extra: Record<string, unknown> = {}) {
  return { at: instantOf(e), ...extra }; // default versions: v2 verifies because reportOf names the product
}
