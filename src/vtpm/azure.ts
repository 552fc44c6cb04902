/**
 * Azure confidential VM evidence: the HCL report ("HCLA") written by the
 * paravisor into vTPM NV index 0x01400001 wraps the hardware report (SEV-SNP
 * attestation report, or the TDX TDREPORT whose TD quote Azure's IMDS
 * returns) and a runtime-data JSON document with the vTPM attestation key
 * (`HCLAkPub`, an RSA JWK).
 *
 * The binding rule (docs/vtpm.md, from azure-cvm-tooling az-cvm-vtpm
 * src/hcl/mod.rs `var_data_sha256` and trustee deps/verifier az_snp_vtpm /
 * az_tdx_vtpm `verify_report_data` / `verify_hcl_var_data`): the hardware
 * report_data[0..32] is SHA-256 of the runtime-data bytes exactly as they
 * appear in the HCL report, with the hash type field = 1 (SHA-256). The rest
 * of report_data is not used by the rule (zero in every real report).
 */
import { createHash } from 'node:crypto';

import { CollateralUnavailableError } from '../collateral/errors.js';
import { parseStrictJson } from '../collateral/strict-json.js';
import { InvalidArgumentError, TeeVerifyError } from '../errors.js';
import type { SnpCertificateEntry } from '../evidence/cert-table.js';
import { SNP_CERT_GUIDS } from '../evidence/cert-table.js';
import { parseEvidence } from '../evidence/index.js';
import type { Evidence, SnpProduct, SnpReport, TdxQuote } from '../evidence/types.js';
import type { CheckRecord, VerificationResult } from '../verify/types.js';
import { checkNoUndefinedOptions, checkOptionKeys, type OptionKeys } from '../option-keys.js';
import { parseCertificate } from '../x509/index.js';
import { VtpmVerificationError, vtpmFail } from './errors.js';
import { bytesEqual } from './quote.js';
import { keyFromJwk, type AttestationKey } from './tpm-key.js';
import type { HclReport } from './types.js';

/**
 * IGVM report-data hash types of the HCL request data that are accepted: only
 * 1 = SHA-256, as azure-cvm-tooling and trustee accept (2 = SHA-384 and
 * 3 = SHA-512 are refused, VT03; review s6, finding 7). The parser refuses
 * them first; this is the same rule for an HclReport built elsewhere.
 */
const HASH_TYPES: Record<number, { node: string; size: number } | undefined> = { 1: { node: 'sha256', size: 32 } };

/** Largest runtime-data document we parse (real ones are about 1.2 KiB). */
const MAX_RUNTIME_DATA = 16 * 1024;

export interface AzureRuntimeData {
  /** The runtime-data bytes the hardware report commits to. */
  raw: Uint8Array;
  /** HCLAkPub as a key. */
  ak: AttestationKey;
  /** HCLAkPub as in the document (public members). */
  akJwk: Record<string, unknown>;
  /** `user-data` decoded from hex (Azure puts the caller's report data here on request). */
  userData?: Uint8Array;
  /** `vm-configuration` as in the document. */
  vmConfiguration?: Record<string, unknown>;
}

const isObject = (v: unknown): v is Record<string, unknown> => typeof v === 'object' && v !== null && !Array.isArray(v);

/** The runtime-data JSON: strict (no duplicate keys), exactly one HCLAkPub. */
export function parseRuntimeData(hcl: HclReport): AzureRuntimeData {
  const raw = hcl.runtimeData;
  if (raw.length > MAX_RUNTIME_DATA) vtpmFail('ERR_VTPM_RUNTIME_DATA', `runtime data of ${raw.length} bytes is above ${MAX_RUNTIME_DATA}`);
  let doc: unknown;
  try {
    doc = parseStrictJson(raw, { maxBytes: MAX_RUNTIME_DATA, maxDepth: 8 });
  } catch (err) {
    const reason = err instanceof TeeVerifyError ? err.message : String(err);
    return vtpmFail('ERR_VTPM_RUNTIME_DATA', `runtime data is not strict JSON (${reason})`);
  }
  if (!isObject(doc) || !Array.isArray(doc['keys'])) vtpmFail('ERR_VTPM_RUNTIME_DATA', 'runtime data has no "keys" array');
  const aks = (doc['keys'] as unknown[]).filter((k) => isObject(k) && k['kid'] === 'HCLAkPub') as Record<string, unknown>[];
  if (aks.length !== 1) vtpmFail('ERR_VTPM_RUNTIME_DATA', `runtime data holds ${aks.length} HCLAkPub keys, not exactly one`);
  const akJwk = aks[0]!;
  if (akJwk['kty'] !== 'RSA') vtpmFail('ERR_VTPM_RUNTIME_DATA', 'HCLAkPub is not an RSA key');
  const out: AzureRuntimeData = { raw, ak: keyFromJwk(akJwk, 'HCLAkPub'), akJwk: { kid: akJwk['kid'], kty: akJwk['kty'], n: akJwk['n'], e: akJwk['e'] } };
  const userData = doc['user-data'];
  if (userData !== undefined) {
    if (typeof userData !== 'string' || !/^(?:[0-9a-fA-F]{2})*$/.test(userData)) vtpmFail('ERR_VTPM_RUNTIME_DATA', 'runtime data "user-data" is not hex');
    out.userData = new Uint8Array(Buffer.from(userData, 'hex'));
  }
  if (isObject(doc['vm-configuration'])) out.vmConfiguration = doc['vm-configuration'];
  return out;
}

/** VT03: hardware report_data[0..n] = H(runtime data), H from the HCL hash type. */
export function checkRuntimeDataBinding(hcl: HclReport, reportData: Uint8Array, checks: CheckRecord[]): void {
  const h = HASH_TYPES[hcl.reportDataHashType];
  if (!h) throw new VtpmVerificationError('ERR_VTPM_UNSUPPORTED', `HCL report-data hash type ${hcl.reportDataHashType} is not 1 (SHA-256), the only one accepted`, { hashType: hcl.reportDataHashType }, { check: 'VT03' });
  const digest = createHash(h.node).update(hcl.runtimeData).digest();
  if (!bytesEqual(digest, reportData.subarray(0, h.size))) {
    vtpmFail('ERR_VTPM_RUNTIME_DATA', `the hardware report_data does not commit to the runtime data (${h.node} differs)`, {
      computed: digest.toString('hex'),
      reportData: Buffer.from(reportData).toString('hex'),
    });
  }
  checks.push({ id: 'VT03', description: `hardware report_data[0..${h.size}] = ${h.node.toUpperCase()}(HCL runtime data, ${hcl.runtimeData.length} bytes)` });
}

/** VT14: the runtime data's user-data starts with the expected value (Azure's hardware-level nonce). */
export function checkUserData(runtime: AzureRuntimeData, expected: Uint8Array, checks: CheckRecord[]): void {
  // An empty prefix matches every user-data (review s14, vTPM finding 4): verifyVtpmEvidence refuses it as an option first.
  if (expected.length === 0) throw new InvalidArgumentError('ERR_INVALID_ARGUMENT', 'userData must not be empty: an empty prefix matches any user-data', { details: { option: 'userData' } });
  const ud = runtime.userData;
  if (!ud || ud.length < expected.length || !bytesEqual(ud.subarray(0, expected.length), expected)) {
    vtpmFail('ERR_VTPM_NONCE', 'the HCL runtime data "user-data" does not start with the expected value', { expected: Buffer.from(expected).toString('hex') });
  }
  checks.push({ id: 'VT14', description: `HCL runtime data user-data starts with the expected ${expected.length}-byte value` });
}

/** TDREPORT offsets (TDX module ABI: REPORTMACSTRUCT 256, TEE_TCB_INFO 239 + 17 reserved, TDINFO at 512). */
const TD_REPORT = { size: 1024, reportData: 128, tdAttributes: 512, xfam: 520, mrTd: 528, mrConfigId: 576, mrOwner: 624, mrOwnerConfig: 672, rtmr0: 720 } as const;

function u64le(b: Uint8Array, at: number): bigint {
  return new DataView(b.buffer, b.byteOffset + at, 8).getBigUint64(0, true);
}

/** VT17: the TD quote quotes the TDREPORT the HCL report carries (measurements, attributes, report_data). */
export function checkTdReportMatchesQuote(hcl: HclReport, quote: TdxQuote, checks: CheckRecord[]): void {
  const r = hcl.hardwareReport;
  if (r.length < TD_REPORT.size) vtpmFail('ERR_VTPM_RUNTIME_DATA', `the HCL TD report has ${r.length} bytes, not ${TD_REPORT.size}`);
  const b = quote.body;
  const slice = (at: number, n: number) => r.subarray(at, at + n);
  const fields: [string, boolean][] = [
    ['report_data', bytesEqual(slice(TD_REPORT.reportData, 64), b.reportData)],
    ['mr_td', bytesEqual(slice(TD_REPORT.mrTd, 48), b.mrTd)],
    ['mr_config_id', bytesEqual(slice(TD_REPORT.mrConfigId, 48), b.mrConfigId)],
    ['mr_owner', bytesEqual(slice(TD_REPORT.mrOwner, 48), b.mrOwner)],
    ['mr_owner_config', bytesEqual(slice(TD_REPORT.mrOwnerConfig, 48), b.mrOwnerConfig)],
    ['td_attributes', u64le(r, TD_REPORT.tdAttributes) === b.tdAttributes],
    ['xfam', u64le(r, TD_REPORT.xfam) === b.xfam],
    ...[b.rtmr0, b.rtmr1, b.rtmr2, b.rtmr3].map((v, i): [string, boolean] => [`rtmr${i}`, bytesEqual(slice(TD_REPORT.rtmr0 + 48 * i, 48), v)]),
  ];
  const differ = fields.filter(([, same]) => !same).map(([name]) => name);
  if (differ.length > 0) vtpmFail('ERR_VTPM_RUNTIME_DATA', `the TD quote does not quote the HCL TD report (${differ.join(', ')} differ)`, { fields: differ });
  checks.push({ id: 'VT17', description: 'the TD quote body equals the HCL TD report (report_data, MRTD, MRCONFIGID, MROWNER, MROWNERCONFIG, RTMR0-3, attributes, XFAM)' });
}

/** Verifies a hardware report or quote with its collateral (verifyEvidence in the library, the CLI's collateral path in the CLI). */
export type HardwareVerifier = (evidence: Evidence, certTable: SnpCertificateEntry[]) => Promise<VerificationResult>;

export interface AzureHardwareInput {
  hcl: HclReport;
  /** Azure TDX: the TD quote of the HCL's TD report (IMDS /acc/tdquote). */
  tdQuote?: Uint8Array;
  /** SEV-SNP: VCEK (and ASK / ARK) DER, e.g. from Azure's THIM / IMDS certification endpoint. */
  certificates?: Uint8Array[];
  /** SEV-SNP product, needed for v2 reports (Azure Milan). */
  snpProduct?: SnpProduct;
}

/** The keys AzureHardwareInput accepts (the compiler keeps this list equal to the type's keys). */
const AZURE_HARDWARE_INPUT_KEYS: OptionKeys<AzureHardwareInput> = { hcl: true, tdQuote: true, certificates: true, snpProduct: true };

export interface AzureHardwareResult {
  platform: 'azure-snp' | 'azure-tdx';
  hardware: VerificationResult;
  runtime: AzureRuntimeData;
  checks: CheckRecord[];
}

const GUID_OF = Object.fromEntries(Object.entries(SNP_CERT_GUIDS).map(([guid, kind]) => [kind, guid])) as Record<'vcek' | 'vlek' | 'ask' | 'ark', string>;

/**
 * Certificates sorted into certificate-table roles by subject CN for a report
 * signed by `signingKey` (a VLEK table carries the ASVK under the ASK GUID).
 * Trust comes from the chain checks, not from this sorting.
 */
export function snpCertTable(certificates: readonly Uint8Array[], signingKey: 'vcek' | 'vlek'): SnpCertificateEntry[] {
  const table: SnpCertificateEntry[] = [];
  for (const der of certificates) {
    const cn = parseCertificate(der).subjectAttributes['CN'] ?? '';
    let kind: 'vcek' | 'vlek' | 'ask' | 'ark' | undefined;
    if (cn === 'SEV-VCEK') kind = 'vcek';
    else if (cn === 'SEV-VLEK') kind = 'vlek';
    else if (cn.startsWith('ARK-')) kind = 'ark';
    else if (cn.startsWith('SEV-VLEK-')) kind = signingKey === 'vlek' ? 'ask' : undefined;
    else if (cn.startsWith('SEV-')) kind = signingKey === 'vcek' ? 'ask' : undefined;
    if (kind) table.push({ guid: GUID_OF[kind], kind, der, offset: 0 });
  }
  return table;
}

/**
 * VT02 hardware evidence (SNP report or TD quote with collateral), VT18 SNP
 * VMPL 0, VT17 TD report = quote, VT03 runtime-data commitment; returns the
 * attestation key the runtime data names.
 */
export async function verifyAzureHardware(input: AzureHardwareInput, verify: HardwareVerifier): Promise<AzureHardwareResult> {
  // A closed set (review s13 CR intel #1): a misspelt snpProduct would silently drop the product check.
  if (checkOptionKeys(input, AZURE_HARDWARE_INPUT_KEYS, 'verifyAzureHardware') === undefined) {
    throw new InvalidArgumentError('ERR_INVALID_ARGUMENT', 'verifyAzureHardware: input (with hcl) is required', { details: { option: 'hcl' } });
  }
  // Review s13 CR polb #1: an own snpProduct whose value is undefined is not "no product check"; hcl is required.
  checkNoUndefinedOptions(input, ['snpProduct'], 'verifyAzureHardware');
  if (typeof input.hcl !== 'object' || input.hcl === null) {
    throw new InvalidArgumentError('ERR_INVALID_ARGUMENT', 'verifyAzureHardware: input.hcl (a parsed HCL report) is required', { details: { option: 'hcl' } });
  }
  const { hcl } = input;
  const checks: CheckRecord[] = [];
  let hardware: VerificationResult;
  let reportData: Uint8Array;
  if (hcl.reportType === 'snp') {
    if (input.tdQuote) vtpmFail('ERR_VTPM_BUNDLE', 'a TD quote does not belong with an SEV-SNP HCL report');
    const report = parseEvidence(hcl.hardwareReport, { kind: 'snp', encoding: 'binary', ...(input.snpProduct !== undefined ? { snpProduct: input.snpProduct } : {}) }) as SnpReport;
    hardware = await verify(report, snpCertTable(input.certificates ?? [], report.signerInfo.signingKey));
    checks.push({ id: 'VT02', description: `SEV-SNP report in the HCL report verified (${hardware.checks.length} checks, signature, VCEK chain, TCB)` });
    // The paravisor asks for the report at VMPL 0; a report from a higher VMPL could come from the guest with report_data of its choosing.
    if (report.vmpl !== 0) vtpmFail('ERR_VTPM_RUNTIME_DATA', `the SNP report was requested at VMPL ${report.vmpl}, not by the paravisor at VMPL 0`, { vmpl: report.vmpl });
    checks.push({ id: 'VT18', description: 'SNP report requested at VMPL 0 (the paravisor)' });
    reportData = report.reportData;
  } else {
    if (!input.tdQuote) {
      throw new CollateralUnavailableError('ERR_COLLATERAL_MISSING', 'an Azure TDX HCL report needs its TD quote (IMDS /acc/tdquote): the TD report alone cannot be verified off the platform');
    }
    const quote = parseEvidence(input.tdQuote, { kind: 'tdx', encoding: 'binary' }) as TdxQuote;
    hardware = await verify(quote, []);
    checks.push({ id: 'VT02', description: `TD quote of the HCL TD report verified (${hardware.checks.length} checks, signature, PCK chain, TCB)` });
    checkTdReportMatchesQuote(hcl, quote, checks);
    reportData = quote.body.reportData;
  }
  checkRuntimeDataBinding(hcl, reportData, checks);
  const runtime = parseRuntimeData(hcl);
  return { platform: hcl.reportType === 'snp' ? 'azure-snp' : 'azure-tdx', hardware, runtime, checks };
}
