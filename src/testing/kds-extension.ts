/**
 * AMD KDS VCEK / VLEK extensions under 1.3.6.1.4.1.3704.1 (checklist §4.3,
 * S11, S13, S14). Each extension is its own X.509 extension; hwID is the raw
 * chip ID bytes with no OCTET STRING tag inside extnValue, as KDS issues it.
 */
import * as der from './der.js';
import type { SnpTcbValues, TestSnpProduct } from './snp-tcb.js';
import type { CertExtension } from './x509-builder.js';

export const KDS_OID_PREFIX = '1.3.6.1.4.1.3704.1';
const KDS = KDS_OID_PREFIX;

export interface KdsExtensionValues {
  /** 0 for Milan / Genoa, 1 for Turin. */
  structVersion: number;
  /** e.g. "Milan-B0", "Genoa-B1", "Turin". */
  productName: string;
  tcb: SnpTcbValues;
  /** Reserved SPLs; spl4 is absent on Turin (structVersion 1). */
  reservedSpl: { spl4?: number; spl5: number; spl6: number; spl7: number };
  /** VCEK only: 64 bytes (Milan / Genoa) or 8 bytes (Turin). */
  hwId?: Uint8Array;
  /** VLEK only. */
  cspId?: string;
}

const plain = (oid: string, value: Uint8Array): CertExtension => ({ oid, critical: false, value });

/** The KDS extensions in the order KDS emits them. */
export function kdsExtensions(v: KdsExtensionValues): CertExtension[] {
  const out: CertExtension[] = [
    plain(`${KDS}.1`, der.integer(v.structVersion)),
    plain(`${KDS}.2`, der.ia5String(v.productName)),
    plain(`${KDS}.3.1`, der.integer(v.tcb.bootloader)),
    plain(`${KDS}.3.2`, der.integer(v.tcb.tee)),
    plain(`${KDS}.3.3`, der.integer(v.tcb.snp)),
  ];
  if (v.reservedSpl.spl4 !== undefined) out.push(plain(`${KDS}.3.4`, der.integer(v.reservedSpl.spl4)));
  out.push(plain(`${KDS}.3.5`, der.integer(v.reservedSpl.spl5)));
  out.push(plain(`${KDS}.3.6`, der.integer(v.reservedSpl.spl6)));
  out.push(plain(`${KDS}.3.7`, der.integer(v.reservedSpl.spl7)));
  out.push(plain(`${KDS}.3.8`, der.integer(v.tcb.microcode)));
  if (v.tcb.fmc !== undefined) out.push(plain(`${KDS}.3.9`, der.integer(v.tcb.fmc)));
  if (v.hwId) out.push(plain(`${KDS}.4`, Uint8Array.from(v.hwId))); // raw bytes, no tag
  if (v.cspId !== undefined) out.push(plain(`${KDS}.5`, der.ia5String(v.cspId)));
  return out;
}

/** Default KDS values for a product: real-shaped struct version, name and SPL set. */
export function defaultKdsValues(
  product: TestSnpProduct,
  tcb: SnpTcbValues,
  leaf: { kind: 'vcek'; chipId: Uint8Array } | { kind: 'vlek'; cspId: string },
): KdsExtensionValues {
  const turin = product === 'Turin';
  const values: KdsExtensionValues = {
    structVersion: turin ? 1 : 0,
    productName: product === 'Milan' ? 'Milan-B0' : product === 'Genoa' ? 'Genoa-B1' : 'Turin',
    tcb: turin ? { ...tcb, fmc: tcb.fmc ?? 0 } : { bootloader: tcb.bootloader, tee: tcb.tee, snp: tcb.snp, microcode: tcb.microcode },
    reservedSpl: turin ? { spl5: 0, spl6: 0, spl7: 0 } : { spl4: 0, spl5: 0, spl6: 0, spl7: 0 },
  };
  // S14: Milan / Genoa hwID is the whole CHIP_ID; Turin uses its first 8 bytes.
  if (leaf.kind === 'vcek') values.hwId = turin ? leaf.chipId.subarray(0, 8) : leaf.chipId;
  else values.cspId = leaf.cspId;
  return values;
}
