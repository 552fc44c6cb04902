/**
 * Re-assembles a real certificate or CRL with edited TBS fields, keeping the
 * signature algorithm and signature bytes: for parse-level defects that no
 * issuer would sign. Framing is split with the reader under test; that is
 * fine because each test asserts what the parser then makes of the result.
 */
import { children, parseDer, type DerNode } from '../../../src/x509/asn1.js';
import { concat, seq } from './der.js';

export interface Parts {
  tbsFields: Uint8Array[];
  algorithm: Uint8Array;
  signature: Uint8Array;
}

export function split(der: Uint8Array): Parts {
  const [tbs, algorithm, signature] = children(parseDer(der)) as [DerNode, DerNode, DerNode];
  return { tbsFields: children(tbs).map((n) => Uint8Array.from(n.der)), algorithm: Uint8Array.from(algorithm.der), signature: Uint8Array.from(signature.der) };
}

export function join(parts: Parts): Uint8Array {
  return seq(seq(...parts.tbsFields), parts.algorithm, parts.signature);
}

/** Applies `edit` to the TBS field list of `der` and re-assembles. */
export function editTbs(der: Uint8Array, edit: (fields: Uint8Array[]) => Uint8Array[]): Uint8Array {
  const parts = split(der);
  return join({ ...parts, tbsFields: edit(parts.tbsFields.slice()) });
}

/** The [3] extensions wrapper's inner SEQUENCE items of a v3 certificate's TBS field list. */
export function extensionItems(fields: Uint8Array[]): { index: number; items: Uint8Array[] } {
  const index = fields.findIndex((f) => f[0] === 0xa3);
  if (index < 0) throw new Error('no extensions');
  const inner = children(parseDer(fields[index] as Uint8Array))[0] as DerNode;
  return { index, items: children(inner).map((n) => Uint8Array.from(n.der)) };
}

export { concat };
