/** Artifact identities: stable strings used as cache keys and bundle keys. */
import type { SnpReport } from '../evidence/types.js';
import type { ArtifactKind } from './artifact.js';

export type IntelTee = 'sgx' | 'tdx';
export type PckCa = 'platform' | 'processor';
export type UpdateChannel = 'standard' | 'early';
export type AmdProduct = 'Milan' | 'Genoa' | 'Turin';
export type AmdKeyKind = 'vcek' | 'vlek';

export interface TcbInfoRequest {
  tee: IntelTee;
  /** 12 hex digits. */
  fmspc: string;
  update?: UpdateChannel;
  tcbEvaluationDataNumber?: number;
}

export interface QeIdentityRequest {
  tee: IntelTee;
  update?: UpdateChannel;
  tcbEvaluationDataNumber?: number;
}

/** VCEK request: product, hardware ID (CHIP_ID; Turin uses its first 8 bytes) and reported TCB SPLs. */
export interface VcekRequest {
  product: AmdProduct;
  hwId: Uint8Array;
  bootloader: number;
  tee: number;
  snp: number;
  microcode: number;
  /** Turin only. */
  fmc?: number;
}

/** What the KDS names a VCEK by: product, hwID (Turin: 8 bytes of CHIP_ID) and REPORTED_TCB (S35). */
export function vcekRequestOf(report: SnpReport, product: AmdProduct): VcekRequest {
  const t = report.tcb!.reported;
  return {
    product,
    hwId: report.chipId.subarray(0, product === 'Turin' ? 8 : 64),
    bootloader: t.bootloader,
    tee: t.tee,
    snp: t.snp,
    microcode: t.microcode,
    ...(t.fmc === undefined ? {} : { fmc: t.fmc }),
  };
}

function selector(r: { update?: UpdateChannel; tcbEvaluationDataNumber?: number }): string {
  return r.tcbEvaluationDataNumber !== undefined ? `eval=${r.tcbEvaluationDataNumber}` : `update=${r.update ?? 'standard'}`;
}

export const artifactKey = {
  tcbInfo: (r: TcbInfoRequest) => `intel/tcb-info/${r.tee}/${r.fmspc.toLowerCase()}/${selector(r)}`,
  qeIdentity: (r: QeIdentityRequest) => `intel/qe-identity/${r.tee}/${selector(r)}`,
  pckCrl: (ca: PckCa) => `intel/pck-crl/${ca}`,
  rootCaCrl: () => 'intel/root-ca-crl',
  // S35: the VCEK identity is (product, hwID, full TCB incl. FMC), never its serial.
  vcek: (r: VcekRequest) =>
    `amd/vcek/${r.product}/${Buffer.from(r.hwId).toString('hex')}/bl=${r.bootloader},tee=${r.tee},snp=${r.snp},ucode=${r.microcode}${r.fmc === undefined ? '' : `,fmc=${r.fmc}`}`,
  certChain: (product: AmdProduct, key: AmdKeyKind) => `amd/cert-chain/${product}/${key}`,
  amdCrl: (product: AmdProduct, key: AmdKeyKind) => `amd/crl/${product}/${key}`,
} as const;

export function kindOfKey(key: string): ArtifactKind | undefined {
  if (key.startsWith('intel/tcb-info/')) return 'intel-tcb-info';
  if (key.startsWith('intel/qe-identity/')) return 'intel-qe-identity';
  if (key.startsWith('intel/pck-crl/')) return 'intel-pck-crl';
  if (key === 'intel/root-ca-crl') return 'intel-root-ca-crl';
  if (key.startsWith('amd/vcek/')) return 'amd-vcek';
  if (key.startsWith('amd/vlek/')) return 'amd-vlek'; // only from a report's certificate table (KDS serves no VLEK)
  if (key.startsWith('amd/cert-chain/')) return 'amd-cert-chain';
  if (key.startsWith('amd/crl/')) return 'amd-crl';
  return undefined;
}

/**
 * The platform a key names, for keys that come from the evidence: the chip
 * (`amd/<product>/<hwID>`) of a VCEK key, whatever its TCB, and the FMSPC
 * (`intel/<fmspc>`) of a TCB info key, whatever its TEE and selector;
 * undefined for the fixed documents.
 */
export function platformOfKey(key: string): string | undefined {
  const parts = key.split('/');
  if (parts[0] === 'amd' && parts[1] === 'vcek' && parts.length >= 5) return `amd/${parts[2]}/${parts[3]}`;
  if (parts[0] === 'intel' && parts[1] === 'tcb-info' && parts.length >= 5) return `intel/${parts[3]}`;
  return undefined;
}
