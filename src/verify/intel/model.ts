/** Typed views of Intel's TCB info v3 and QE identity v2 (checklist §2.4, §3), after T18 / T21. */

/** Platform TCB level statuses (QVL TcbLevel.cpp); anything else is COLLATERAL_FORMAT. */
export const PLATFORM_STATUSES = [
  'UpToDate',
  'SWHardeningNeeded',
  'ConfigurationNeeded',
  'ConfigurationAndSWHardeningNeeded',
  'OutOfDate',
  'OutOfDateConfigurationNeeded',
  'Revoked',
] as const;
/** TDX module and QE levels carry only these. */
export const ISV_STATUSES = ['UpToDate', 'OutOfDate', 'Revoked'] as const;

export type PlatformStatus = (typeof PLATFORM_STATUSES)[number];
export type IsvStatus = (typeof ISV_STATUSES)[number];

export interface PlatformTcbLevel {
  /** comp01..comp16 SVNs. */
  sgx: number[];
  pcesvn: number;
  /** TDX only: 16 TDX component SVNs. */
  tdx: number[] | undefined;
  tcbDate: string;
  status: PlatformStatus;
  advisoryIds: string[];
}

export interface IsvTcbLevel {
  isvsvn: number;
  tcbDate: string;
  status: IsvStatus;
  advisoryIds: string[];
}

export interface TdxModuleExpectation {
  /** 48 bytes. */
  mrsigner: Uint8Array;
  /** 8 bytes each, the SEAMATTRIBUTES value as serialised in the quote. */
  attributes: Uint8Array;
  attributesMask: Uint8Array;
}

export interface TdxModuleIdentity extends TdxModuleExpectation {
  /** e.g. "TDX_01" (compared uppercased). */
  id: string;
  /** Sorted by isvsvn, highest first. */
  tcbLevels: IsvTcbLevel[];
}

export interface TcbInfo {
  tee: 'tdx' | 'sgx';
  version: number;
  issueDate: Date;
  nextUpdate: Date;
  fmspc: Uint8Array;
  pceId: Uint8Array;
  tcbEvaluationDataNumber: number;
  /** TDX only. */
  tdxModule: TdxModuleExpectation | undefined;
  tdxModuleIdentities: TdxModuleIdentity[];
  /** Sorted highest first (QVL: SGX components, then PCESVN, then TDX components). */
  tcbLevels: PlatformTcbLevel[];
}

export interface QeIdentity {
  id: 'TD_QE' | 'QE';
  version: number;
  issueDate: Date;
  nextUpdate: Date;
  tcbEvaluationDataNumber: number;
  /** 4 bytes, big-endian as written. */
  miscselect: Uint8Array;
  miscselectMask: Uint8Array;
  /** 16 bytes, in report byte order. */
  attributes: Uint8Array;
  attributesMask: Uint8Array;
  /** 32 bytes. */
  mrsigner: Uint8Array;
  isvprodid: number;
  /** Sorted by isvsvn, highest first. */
  tcbLevels: IsvTcbLevel[];
}

/** Sorts ISV levels by isvsvn, highest first (checklist T25, T31). */
export function sortIsvLevels(levels: IsvTcbLevel[]): IsvTcbLevel[] {
  return [...levels].sort((a, b) => b.isvsvn - a.isvsvn);
}

function compareSvns(a: readonly number[] | undefined, b: readonly number[] | undefined): number {
  const x = a ?? [];
  const y = b ?? [];
  for (let i = 0; i < Math.max(x.length, y.length); i++) {
    const d = (x[i] ?? 0) - (y[i] ?? 0);
    if (d !== 0) return d;
  }
  return 0;
}

/** Highest first: SGX components lexicographically, then PCESVN, then TDX components (QVL TcbLevel order). */
export function sortPlatformLevels(levels: PlatformTcbLevel[]): PlatformTcbLevel[] {
  return [...levels].sort((a, b) => compareSvns(b.sgx, a.sgx) || b.pcesvn - a.pcesvn || compareSvns(b.tdx, a.tdx));
}
