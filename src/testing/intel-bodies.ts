/**
 * The two report bodies Intel quotes carry, written with this module's own
 * offsets from the checklist (§2.1 tables), never with the parser's layout
 * tables: the builders are an independent check of the parser.
 */
import { ByteWriter } from './byte-writer.js';
import { deriveBytes } from './seed.js';

/** sgx_report_body_t, 384 bytes (QE report; ISV enclave report of SGX v3). */
export const SGX_REPORT_BODY = {
  size: 0x180,
  cpuSvn: 0x000,
  miscSelect: 0x010,
  isvExtProdId: 0x020,
  attributes: 0x030,
  mrEnclave: 0x040,
  mrSigner: 0x080,
  configId: 0x0c0,
  isvProdId: 0x100,
  isvSvn: 0x102,
  configSvn: 0x104,
  isvFamilyId: 0x130,
  reportData: 0x140,
} as const;

/** sgx_report2_body_t (TDX 1.0, 584 bytes) and the TDX 1.5 extension (648 bytes). */
export const TD_REPORT_BODY = {
  size10: 0x248,
  size15: 0x288,
  teeTcbSvn: 0x000,
  mrSeam: 0x010,
  mrSignerSeam: 0x040,
  seamAttributes: 0x070,
  tdAttributes: 0x078,
  xfam: 0x080,
  mrTd: 0x088,
  mrConfigId: 0x0b8,
  mrOwner: 0x0e8,
  mrOwnerConfig: 0x118,
  rtmr0: 0x148,
  rtmr1: 0x178,
  rtmr2: 0x1a8,
  rtmr3: 0x1d8,
  reportData: 0x208,
  teeTcbSvn2: 0x248,
  mrServiceTd: 0x258,
} as const;

export interface SgxReportBodyFields {
  cpuSvn: Uint8Array;
  miscSelect: number;
  isvExtProdId: Uint8Array;
  /** flags (u64 LE) || xfrm (u64 LE); DEBUG is flags bit 1. */
  attributes: Uint8Array;
  mrEnclave: Uint8Array;
  mrSigner: Uint8Array;
  configId: Uint8Array;
  isvProdId: number;
  isvSvn: number;
  configSvn: number;
  isvFamilyId: Uint8Array;
  reportData: Uint8Array;
}

export interface TdReportBodyFields {
  teeTcbSvn: Uint8Array;
  mrSeam: Uint8Array;
  mrSignerSeam: Uint8Array;
  seamAttributes: bigint;
  tdAttributes: bigint;
  xfam: bigint;
  mrTd: Uint8Array;
  mrConfigId: Uint8Array;
  mrOwner: Uint8Array;
  mrOwnerConfig: Uint8Array;
  rtmr0: Uint8Array;
  rtmr1: Uint8Array;
  rtmr2: Uint8Array;
  rtmr3: Uint8Array;
  reportData: Uint8Array;
  /** Body type 3 only. */
  teeTcbSvn2: Uint8Array;
  /** Body type 3 only. */
  mrServiceTd: Uint8Array;
}

const hex = (text: string) => Uint8Array.from(Buffer.from(text, 'hex'));

/** A not-debug enclave (flags INIT | MODE64BIT) with x87/SSE/AVX XFRM. */
const DEFAULT_ATTRIBUTES = hex('1100000000000000e700000000000000');

/**
 * Default QE report: Intel-shaped values (TD_QE ISVPRODID 2, SGX QE 1) but a
 * synthetic MRSIGNER, so it can never match Intel's QE identity.
 */
export function defaultQeReport(seed: string, kind: 'tdx' | 'sgx'): SgxReportBodyFields {
  return {
    cpuSvn: hex('07070202030100050000000000000000'),
    miscSelect: 0,
    isvExtProdId: new Uint8Array(16),
    attributes: DEFAULT_ATTRIBUTES,
    mrEnclave: deriveBytes(seed, `qe:${kind}:mrenclave`, 32),
    mrSigner: deriveBytes('tee-verify test QE signer', kind, 32),
    configId: new Uint8Array(64),
    isvProdId: kind === 'tdx' ? 2 : 1,
    isvSvn: 8,
    configSvn: 0,
    isvFamilyId: new Uint8Array(16),
    reportData: new Uint8Array(64), // replaced by the QE binding (T23) unless overridden
  };
}

/** Default ISV enclave report of an SGX v3 quote. */
export function defaultEnclaveReport(seed: string): SgxReportBodyFields {
  return {
    ...defaultQeReport(seed, 'sgx'),
    mrEnclave: deriveBytes(seed, 'sgx:mrenclave', 32),
    mrSigner: deriveBytes(seed, 'sgx:mrsigner', 32),
    isvProdId: 7,
    isvSvn: 3,
    reportData: deriveBytes(seed, 'sgx:reportdata', 64),
  };
}

/** Default TD report: TDX module 1.x, SEPT_VE_DISABLE set, seed-derived measurements. */
export function defaultTdReport(seed: string): TdReportBodyFields {
  const m = (label: string) => deriveBytes(seed, `tdx:${label}`, 48);
  return {
    teeTcbSvn: hex('05010200000000000000000000000000'),
    mrSeam: m('mrseam'),
    mrSignerSeam: new Uint8Array(48), // Intel-signed modules: all zero (T28)
    seamAttributes: 0n,
    tdAttributes: 0x0000000010000000n, // SEPT_VE_DISABLE (bit 28), not DEBUG
    xfam: 0x00000000000206e7n,
    mrTd: m('mrtd'),
    mrConfigId: new Uint8Array(48),
    mrOwner: new Uint8Array(48),
    mrOwnerConfig: new Uint8Array(48),
    rtmr0: m('rtmr0'),
    rtmr1: m('rtmr1'),
    rtmr2: m('rtmr2'),
    rtmr3: new Uint8Array(48),
    reportData: deriveBytes(seed, 'tdx:reportdata', 64),
    teeTcbSvn2: hex('05010200000000000000000000000000'),
    mrServiceTd: new Uint8Array(48),
  };
}

export function writeSgxReportBody(f: SgxReportBodyFields): Uint8Array {
  const L = SGX_REPORT_BODY;
  const w = new ByteWriter(L.size);
  w.put(L.cpuSvn, f.cpuSvn, 16, 'cpuSvn');
  w.u32(L.miscSelect, f.miscSelect, 'miscSelect');
  w.put(L.isvExtProdId, f.isvExtProdId, 16, 'isvExtProdId');
  w.put(L.attributes, f.attributes, 16, 'attributes');
  w.put(L.mrEnclave, f.mrEnclave, 32, 'mrEnclave');
  w.put(L.mrSigner, f.mrSigner, 32, 'mrSigner');
  w.put(L.configId, f.configId, 64, 'configId');
  w.u16(L.isvProdId, f.isvProdId, 'isvProdId');
  w.u16(L.isvSvn, f.isvSvn, 'isvSvn');
  w.u16(L.configSvn, f.configSvn, 'configSvn');
  w.put(L.isvFamilyId, f.isvFamilyId, 16, 'isvFamilyId');
  w.put(L.reportData, f.reportData, 64, 'reportData');
  return w.bytes;
}

export function writeTdReportBody(f: TdReportBodyFields, bodyType: 2 | 3): Uint8Array {
  const L = TD_REPORT_BODY;
  const w = new ByteWriter(bodyType === 3 ? L.size15 : L.size10);
  w.put(L.teeTcbSvn, f.teeTcbSvn, 16, 'teeTcbSvn');
  w.put(L.mrSeam, f.mrSeam, 48, 'mrSeam');
  w.put(L.mrSignerSeam, f.mrSignerSeam, 48, 'mrSignerSeam');
  w.u64(L.seamAttributes, f.seamAttributes, 'seamAttributes');
  w.u64(L.tdAttributes, f.tdAttributes, 'tdAttributes');
  w.u64(L.xfam, f.xfam, 'xfam');
  w.put(L.mrTd, f.mrTd, 48, 'mrTd');
  w.put(L.mrConfigId, f.mrConfigId, 48, 'mrConfigId');
  w.put(L.mrOwner, f.mrOwner, 48, 'mrOwner');
  w.put(L.mrOwnerConfig, f.mrOwnerConfig, 48, 'mrOwnerConfig');
  w.put(L.rtmr0, f.rtmr0, 48, 'rtmr0');
  w.put(L.rtmr1, f.rtmr1, 48, 'rtmr1');
  w.put(L.rtmr2, f.rtmr2, 48, 'rtmr2');
  w.put(L.rtmr3, f.rtmr3, 48, 'rtmr3');
  w.put(L.reportData, f.reportData, 64, 'reportData');
  if (bodyType === 3) {
    w.put(L.teeTcbSvn2, f.teeTcbSvn2, 16, 'teeTcbSvn2');
    w.put(L.mrServiceTd, f.mrServiceTd, 48, 'mrServiceTd');
  }
  return w.bytes;
}
