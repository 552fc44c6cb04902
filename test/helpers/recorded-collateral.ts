/**
 * Builds server records (real paths, real headers) from the collateral files
 * that the shared manifest lists for a vector. The files hold the issuer
 * chains as PEM; Intel sends them URL-encoded in response headers, so the
 * headers are rebuilt in that format (clarifications).
 */
import { readFileSync } from 'node:fs';

import type { Record } from './collateral-server.js';
import { readEvidenceBytes, vectorPath, type ManifestEntry } from './vectors.js';

const read = (rel: string) => readFileSync(vectorPath(rel));

function pemToDer(text: string, label: string): Uint8Array {
  const m = new RegExp(`-----BEGIN ${label}-----([\\s\\S]+?)-----END ${label}-----`).exec(text);
  if (!m) throw new Error(`no ${label} block`);
  return new Uint8Array(Buffer.from(m[1]!.replace(/\s+/g, ''), 'base64'));
}

/** The CA that issued a PCK CRL, read from the DER bytes of its issuer name. */
function pckCrlCa(der: Uint8Array): 'platform' | 'processor' {
  return Buffer.from(der).includes('Intel SGX PCK Platform CA') ? 'platform' : 'processor';
}

interface IntelFiles {
  tcbInfoBody?: Buffer;
  tcbInfoChain?: string;
  qeIdentityBody?: Buffer;
  qeIdentityChain?: string;
  pckCrl?: Uint8Array;
  pckCrlChain?: string;
  rootCaCrl?: Uint8Array;
}

function fromDcapQvlBundle(rel: string): IntelFiles {
  const b = JSON.parse(read(rel).toString('utf8')) as { [k: string]: string };
  return {
    tcbInfoBody: Buffer.from(`{"tcbInfo":${b['tcb_info']},"signature":"${b['tcb_info_signature']}"}`),
    tcbInfoChain: b['tcb_info_issuer_chain'],
    qeIdentityBody: Buffer.from(`{"enclaveIdentity":${b['qe_identity']},"signature":"${b['qe_identity_signature']}"}`),
    qeIdentityChain: b['qe_identity_issuer_chain'],
    pckCrl: new Uint8Array(Buffer.from(b['pck_crl']!, 'hex')),
    pckCrlChain: b['pck_crl_issuer_chain'],
    rootCaCrl: new Uint8Array(Buffer.from(b['root_ca_crl']!, 'hex')),
  };
}

function fromFiles(c: { [role: string]: string }): IntelFiles {
  const out: IntelFiles = {};
  if (c['tcb_info']) out.tcbInfoBody = read(c['tcb_info']);
  if (c['tcb_info_issuer_chain']) out.tcbInfoChain = read(c['tcb_info_issuer_chain']).toString('latin1');
  if (c['qe_identity']) out.qeIdentityBody = read(c['qe_identity']);
  if (c['qe_identity_issuer_chain']) out.qeIdentityChain = read(c['qe_identity_issuer_chain']).toString('latin1');
  if (c['pck_crl']) out.pckCrl = new Uint8Array(read(c['pck_crl']));
  if (c['pck_crl_issuer_chain']) out.pckCrlChain = read(c['pck_crl_issuer_chain']).toString('latin1');
  if (c['root_ca_crl']) out.rootCaCrl = new Uint8Array(read(c['root_ca_crl']));
  return out;
}

function teeOf(body: Buffer): { tee: string; fmspc?: string } {
  const v = JSON.parse(body.toString('utf8')) as { tcbInfo?: { id: string; fmspc?: string }; enclaveIdentity?: { id: string } };
  if (v.tcbInfo) return { tee: v.tcbInfo.id === 'TDX' ? 'tdx' : 'sgx', fmspc: v.tcbInfo.fmspc! };
  return { tee: v.enclaveIdentity!.id === 'TD_QE' ? 'tdx' : 'sgx' };
}

/**
 * Intel signs every TCB info and QE identity with the same TCB Signing key;
 * where a source kept the document but not the response header, the header
 * is rebuilt from Intel's (re-issued, same key) chain in the dcap-qvl bundle.
 */
function intelTcbSigningChain(): string {
  return fromDcapQvlBundle('phala-dcap-qvl/sample/tdx_quote_collateral.json').tcbInfoChain!;
}

/** Records for an Intel vector's collateral, at PCS / PCCS paths. */
export function intelRecords(entry: ManifestEntry): Record[] {
  const files = entry.collateral['collateral_bundle'] ? fromDcapQvlBundle(entry.collateral['collateral_bundle']) : fromFiles(entry.collateral);
  if (files.tcbInfoBody && !files.tcbInfoChain) files.tcbInfoChain = intelTcbSigningChain();
  if (files.qeIdentityBody && !files.qeIdentityChain) files.qeIdentityChain = intelTcbSigningChain();
  const json = { 'content-type': 'application/json' };
  const records: Record[] = [];
  if (files.tcbInfoBody) {
    const { tee, fmspc } = teeOf(files.tcbInfoBody);
    records.push({
      path: `/${tee}/certification/v4/tcb`,
      query: { fmspc: fmspc! },
      body: files.tcbInfoBody,
      headers: { ...json, ...(files.tcbInfoChain ? { 'TCB-Info-Issuer-Chain': encodeURIComponent(files.tcbInfoChain) } : {}) },
    });
  }
  if (files.qeIdentityBody) {
    const { tee } = teeOf(files.qeIdentityBody);
    records.push({
      path: `/${tee}/certification/v4/qe/identity`,
      body: files.qeIdentityBody,
      headers: { ...json, ...(files.qeIdentityChain ? { 'SGX-Enclave-Identity-Issuer-Chain': encodeURIComponent(files.qeIdentityChain) } : {}) },
    });
  }
  if (files.pckCrl) {
    records.push({
      path: '/sgx/certification/v4/pckcrl',
      query: { ca: pckCrlCa(files.pckCrl) },
      body: files.pckCrl,
      headers: { 'content-type': 'application/pkix-crl', ...(files.pckCrlChain ? { 'SGX-PCK-CRL-Issuer-Chain': encodeURIComponent(files.pckCrlChain) } : {}) },
    });
  }
  if (files.rootCaCrl) {
    const headers = { 'content-type': 'application/pkix-crl' };
    records.push({ path: '/sgx/certification/v4/rootcacrl', body: files.rootCaCrl, headers });
    records.push({ path: '/IntelSGXRootCA.der', body: files.rootCaCrl, headers });
  }
  return records;
}

const PRODUCT_FILE: { [p: string]: string } = { Milan: 'milan', Genoa: 'genoa', Turin: 'turin_vcek' };
const VLEK_FILE: { [p: string]: string } = { Milan: 'milan_vlek', Genoa: 'genoa_vlek', Turin: 'turin_vlek' };
const CRL_FILE: { [p: string]: string } = { Milan: 'openpcc/extracted/test_amd_milan_crl.pem', Genoa: 'openpcc/extracted/test_amd_genoa_crl.pem' };

export function productOfEntry(entry: ManifestEntry): 'Milan' | 'Genoa' | 'Turin' {
  const p = (['Milan', 'Genoa', 'Turin'] as const).find((x) => (entry.cpu ?? '').startsWith(x));
  if (!p) throw new Error(`no product for ${entry.id}`);
  return p;
}

/** KDS cert_chain and CRL records for every product, from the shared files. */
export function amdProductRecords(): Record[] {
  const records: Record[] = [];
  for (const product of ['Milan', 'Genoa', 'Turin']) {
    const pem = { 'content-type': 'application/x-pem-file' };
    records.push({ path: `/vcek/v1/${product}/cert_chain`, body: read(`go-sev-guest/verify/trust/ask_ark_${PRODUCT_FILE[product]}.pem`), headers: pem });
    records.push({ path: `/vlek/v1/${product}/cert_chain`, body: read(`go-sev-guest/verify/trust/ask_ark_${VLEK_FILE[product]}.pem`), headers: pem });
    const crl = CRL_FILE[product];
    if (crl) records.push({ path: `/vcek/v1/${product}/crl`, body: pemToDer(read(crl).toString('latin1'), 'X509 CRL'), headers: { 'content-type': 'application/pkix-crl' } });
  }
  return records;
}

/** The VCEK record of an SNP vector, at the KDS path built from its CHIP_ID. */
export function vcekRecord(entry: ManifestEntry): Record | undefined {
  const rel = entry.collateral['vcek'];
  if (!rel) return undefined;
  const raw = read(rel);
  const der = raw.subarray(0, 10).toString('latin1').startsWith('-----') ? pemToDer(raw.toString('latin1'), 'CERTIFICATE') : new Uint8Array(raw);
  const report = readEvidenceBytes(entry);
  const product = productOfEntry(entry);
  const hwid = Buffer.from(report.subarray(0x1a0, 0x1a0 + (product === 'Turin' ? 8 : 64))).toString('hex');
  return { path: `/vcek/v1/${product}/${hwid}`, body: der, headers: { 'content-type': 'application/x-x509-ca-cert' } };
}
