/**
 * A readable summary of parsed evidence for `show`: label / value rows, byte
 * fields in lowercase hex, 64-bit fields as 0x-prefixed hex. Parsing only:
 * nothing here says the evidence is genuine.
 */
import type { Evidence, SgxQuote, SgxReportBody, SnpReport, SnpTcb, TdxQuote } from '../index.js';

export type Row = readonly [label: string, value: string];

const hex = (b: Uint8Array) => Buffer.from(b.buffer, b.byteOffset, b.byteLength).toString('hex');
const u64 = (v: bigint) => `0x${v.toString(16).padStart(16, '0')}`;
const yesNo = (v: boolean) => (v ? 'yes' : 'no');

function intelCommon(q: TdxQuote | SgxQuote): Row[] {
  const sd = q.signatureData;
  return [
    ['attestation key (x||y)', hex(sd.attestationKey)],
    ['QE report MRSIGNER', hex(sd.qeReport.mrSigner)],
    ['QE report ISVPRODID / ISVSVN', `${sd.qeReport.isvProdId} / ${sd.qeReport.isvSvn}`],
    ['QE auth data', `${sd.qeAuthData.length} bytes`],
    ['certification data', `type ${sd.certificationDataType}, PCK chain PEM ${sd.pckCertChainPem.length} bytes`],
    ['signed range', `[0, ${q.signedRange.length})`],
    ['trailing bytes', trailingText(q.trailing)],
  ];
}

function trailingText(t: { length: number; allZero: boolean }): string {
  if (t.length === 0) return 'none';
  return `${t.length} (${t.allZero ? 'all zero, ignored' : 'NOT all zero'})`;
}

function sgxReportRows(b: SgxReportBody): Row[] {
  const flags = (b.attributes[0] ?? 0) | ((b.attributes[1] ?? 0) << 8);
  return [
    ['MRENCLAVE', hex(b.mrEnclave)],
    ['MRSIGNER', hex(b.mrSigner)],
    ['ISVPRODID / ISVSVN', `${b.isvProdId} / ${b.isvSvn}`],
    ['ATTRIBUTES', `${hex(b.attributes)} (debug: ${yesNo((flags & 0x2) !== 0)})`],
    ['MISCSELECT', `0x${b.miscSelect.toString(16).padStart(8, '0')}`],
    ['REPORTDATA', hex(b.reportData)],
  ];
}

function tdxRows(q: TdxQuote): Row[] {
  const b = q.body;
  const rows: Row[] = [
    ['evidence', `Intel TDX quote v${q.version}, body type ${q.bodyType} (${q.bodyType === 3 ? 'TDX 1.5' : 'TDX 1.0'})`],
    ['TEE_TCB_SVN', hex(b.teeTcbSvn)],
    ['MRSEAM', hex(b.mrSeam)],
    ['MRSIGNERSEAM', hex(b.mrSignerSeam)],
    ['SEAMATTRIBUTES', u64(b.seamAttributes)],
    ['TDATTRIBUTES', `${u64(b.tdAttributes)} (debug: ${yesNo((b.tdAttributes & 1n) === 1n)})`],
    ['XFAM', u64(b.xfam)],
    ['MRTD', hex(b.mrTd)],
    ['MRCONFIGID', hex(b.mrConfigId)],
    ['MROWNER', hex(b.mrOwner)],
    ['MROWNERCONFIG', hex(b.mrOwnerConfig)],
    ['RTMR0', hex(b.rtmr0)],
    ['RTMR1', hex(b.rtmr1)],
    ['RTMR2', hex(b.rtmr2)],
    ['RTMR3', hex(b.rtmr3)],
    ['REPORTDATA', hex(b.reportData)],
  ];
  if (b.teeTcbSvn2) rows.push(['TEE_TCB_SVN2', hex(b.teeTcbSvn2)]);
  if (b.mrServiceTd) rows.push(['MRSERVICETD', hex(b.mrServiceTd)]);
  return [...rows, ...intelCommon(q)];
}

function sgxRows(q: SgxQuote): Row[] {
  return [['evidence', 'Intel SGX quote v3'], ...sgxReportRows(q.body), ...intelCommon(q)];
}

function tcbText(raw: Uint8Array, t: SnpTcb | undefined): string {
  if (!t) return `${hex(raw)} (product unknown: not decoded)`;
  const fmc = t.fmc === undefined ? '' : `fmc ${t.fmc}, `;
  return `${hex(raw)} (${fmc}bl ${t.bootloader}, tee ${t.tee}, snp ${t.snp}, ucode ${t.microcode})`;
}

function snpRows(r: SnpReport): Row[] {
  const v = (x: { major: number; minor: number; build: number }) => `${x.major}.${x.minor}.${x.build}`;
  const rows: Row[] = [
    ['evidence', `AMD SEV-SNP report v${r.version}`],
    ['product', r.product ? `${r.product} (from ${r.productSource})` : 'unknown (v2: pass --product)'],
    ['signing key', r.signerInfo.signingKey.toUpperCase()],
    ['POLICY', `${u64(r.policy.raw)} (debug: ${yesNo(r.policy.debug)}, migrate MA: ${yesNo(r.policy.migrateMa)}, SMT: ${yesNo(r.policy.smt)})`],
    ['PLATFORM_INFO', u64(r.platformInfo.raw)],
    ['VMPL', String(r.vmpl)],
    ['GUEST_SVN', String(r.guestSvn)],
    ['MEASUREMENT', hex(r.measurement)],
    ['REPORT_DATA', hex(r.reportData)],
    ['HOST_DATA', hex(r.hostData)],
    ['CHIP_ID', hex(r.chipId)],
    ['CURRENT_TCB', tcbText(r.currentTcbBytes, r.tcb?.current)],
    ['REPORTED_TCB', tcbText(r.reportedTcbBytes, r.tcb?.reported)],
    ['COMMITTED_TCB', tcbText(r.committedTcbBytes, r.tcb?.committed)],
    ['LAUNCH_TCB', tcbText(r.launchTcbBytes, r.tcb?.launch)],
    ['firmware current / committed', `${v(r.currentVersion)} / ${v(r.committedVersion)}`],
  ];
  if (r.cpuid) rows.push(['CPUID', `family 0x${r.cpuid.family.toString(16)}, model 0x${r.cpuid.model.toString(16)}, stepping ${r.cpuid.stepping}`]);
  if (r.launchMitVector !== undefined) rows.push(['LAUNCH_MIT_VECTOR', u64(r.launchMitVector)]);
  if (r.currentMitVector !== undefined) rows.push(['CURRENT_MIT_VECTOR', u64(r.currentMitVector)]);
  rows.push(['trailing bytes', trailingText(r.trailing)]);
  return rows;
}

export function summaryRows(e: Evidence): Row[] {
  const rows = e.kind === 'tdx' ? tdxRows(e) : e.kind === 'sgx' ? sgxRows(e) : snpRows(e);
  return [...rows, ['size', `${e.bytes.length} bytes`], ...e.warnings.map((w): Row => ['warning', w])];
}

/** Rows aligned on the longest label. */
export function formatRows(rows: readonly Row[]): string[] {
  const width = Math.max(...rows.map(([label]) => label.length));
  return rows.map(([label, value]) => `${label.padEnd(width)}  ${value}`);
}
