/** Real certificates and CRLs from the shared vectors, read in place. */
import { parseEvidence, type SgxQuote, type TdxQuote } from '../../../src/index.js';
import { parseCertificate, splitPemCertificates, type CertificateInfo } from '../../../src/x509/index.js';
import { evidenceEntries, readEvidenceBytes, readVectorFile, type ManifestEntry } from '../../helpers/vectors.js';

export interface QuoteChain {
  entry: ManifestEntry;
  pem: Uint8Array;
}

/** The PCK chain of every quote in the manifest that carries one. */
export function quoteChains(): QuoteChain[] {
  const out: QuoteChain[] = [];
  for (const entry of evidenceEntries()) {
    if (entry.kind === 'snp-report') continue;
    let quote: TdxQuote | SgxQuote;
    try {
      quote = parseEvidence(readEvidenceBytes(entry), { trailing: 'dangerouslyLenient' }) as TdxQuote | SgxQuote;
    } catch {
      continue; // the encrypted-PPID quote carries no chain
    }
    out.push({ entry, pem: quote.signatureData.pckCertChainPem });
  }
  return out;
}

/** Every certificate of a PEM or DER file. */
export function certificatesOf(rel: string): CertificateInfo[] {
  const raw = readVectorFile(rel);
  const isPem = raw.subarray(0, 10).toString('latin1').startsWith('-----');
  return isPem ? splitPemCertificates(new Uint8Array(raw)).map(parseCertificate) : [parseCertificate(new Uint8Array(raw))];
}

export const isoSeconds = (d: Date): string => d.toISOString().replace('.000Z', '+00:00');

/** Intel SGX Root CA, SHA-256 of the DER (checklist §2.3). */
export const INTEL_ROOT_SHA256 = '44a0196b2b99f889b8e149e95b807a350e7424964399e885a7cbb8ccfab674d3';
