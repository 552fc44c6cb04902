/**
 * The Intel SGX PCK certificate extension, OID 1.2.840.113741.1.13.1
 * (checklist §2.3, T15): SEQUENCE of (OID, value). 5 entries for a leaf
 * issued by the Processor CA, 7 (Platform Instance ID and Configuration
 * added) for one issued by the Platform CA.
 */
import * as der from './der.js';
import type { CertExtension } from './x509-builder.js';

export const SGX_EXTENSION_OID = '1.2.840.113741.1.13.1';
const SGX = SGX_EXTENSION_OID;

export interface SgxTcbValues {
  /** comp01..comp16 SVNs, each 0-255. */
  components: readonly number[];
  /** 0-65535. */
  pceSvn: number;
  /** 16 bytes. */
  cpuSvn: Uint8Array;
}

export interface SgxConfiguration {
  dynamicPlatform: boolean;
  cachedKeys: boolean;
  smtEnabled: boolean;
}

export interface SgxExtensionValues {
  /** 16 bytes. */
  ppid: Uint8Array;
  tcb: SgxTcbValues;
  /** 2 bytes. */
  pceId: Uint8Array;
  /** 6 bytes. */
  fmspc: Uint8Array;
  /** 0 Standard, 1 Scalable, 2 ScalableWithIntegrity. */
  sgxType: number;
  /** Platform CA leaves only: 16 bytes. */
  platformInstanceId?: Uint8Array;
  /** Platform CA leaves only. */
  configuration?: SgxConfiguration;
}

function entry(oid: string, value: Uint8Array): Uint8Array {
  return der.sequence(der.objectIdentifier(oid), value);
}

function encodeTcb(tcb: SgxTcbValues): Uint8Array {
  if (tcb.components.length !== 16) throw new RangeError('SGX TCB: exactly 16 component SVNs');
  const items = tcb.components.map((svn, i) => entry(`${SGX}.2.${i + 1}`, der.integer(svn)));
  items.push(entry(`${SGX}.2.17`, der.integer(tcb.pceSvn)));
  items.push(entry(`${SGX}.2.18`, der.octetString(tcb.cpuSvn)));
  return der.sequence(...items);
}

/** extnValue content of the SGX extension, entries in Intel's order. */
export function encodeSgxExtensionValue(v: SgxExtensionValues): Uint8Array {
  const entries = [
    entry(`${SGX}.1`, der.octetString(v.ppid)),
    entry(`${SGX}.2`, encodeTcb(v.tcb)),
    entry(`${SGX}.3`, der.octetString(v.pceId)),
    entry(`${SGX}.4`, der.octetString(v.fmspc)),
    entry(`${SGX}.5`, der.enumerated(v.sgxType)),
  ];
  if (v.platformInstanceId) entries.push(entry(`${SGX}.6`, der.octetString(v.platformInstanceId)));
  if (v.configuration) {
    const c = v.configuration;
    entries.push(
      entry(
        `${SGX}.7`,
        der.sequence(
          entry(`${SGX}.7.1`, der.boolean(c.dynamicPlatform)),
          entry(`${SGX}.7.2`, der.boolean(c.cachedKeys)),
          entry(`${SGX}.7.3`, der.boolean(c.smtEnabled)),
        ),
      ),
    );
  }
  return der.sequence(...entries);
}

export function sgxExtension(v: SgxExtensionValues): CertExtension {
  return { oid: SGX_EXTENSION_OID, critical: false, value: encodeSgxExtensionValue(v) };
}
