/**
 * The SEV-SNP extended-report certificate table (GHCB spec; configfs-tsm
 * `auxblob`, SNP_GET_EXT_REPORT): 24-byte entries {GUID, u32 offset, u32
 * length} ended by an all-zero entry. Bounds, caps and duplicates are
 * checked natively (S05); this module names the entries and slices them.
 */
import { native, isNativeFailure } from '../native/index.js';
import { errorFromNative } from './native-failure.js';

export type SnpCertificateKind = 'vcek' | 'vlek' | 'ask' | 'ark' | 'unknown';

/** GUIDs in their canonical text form (S05). */
export const SNP_CERT_GUIDS: Readonly<Record<string, Exclude<SnpCertificateKind, 'unknown'>>> = {
  '63da758d-e664-4564-adc5-f4b93be8accd': 'vcek',
  'a8074bc2-a25a-483e-aae6-39c045a0b8a1': 'vlek',
  '4ab7b379-bbac-4fe4-a02f-05aef327c782': 'ask',
  'c0b406a4-a803-4952-9743-3fb6014cd0ae': 'ark',
};

export interface SnpCertificateEntry {
  guid: string;
  /** VLEK tables carry the ASVK under the ASK GUID. */
  kind: SnpCertificateKind;
  /** DER bytes: a view of the table buffer (unverified until chain checks run). */
  der: Uint8Array;
  offset: number;
}

/** Formats the stored GUID (first three groups little-endian) as text. */
export function guidToString(g: Uint8Array): string {
  const hex = (from: number, to: number, reverse: boolean) => {
    const part = Array.from(g.subarray(from, to));
    if (reverse) part.reverse();
    return part.map((b) => b.toString(16).padStart(2, '0')).join('');
  };
  return [hex(0, 4, true), hex(4, 6, true), hex(6, 8, true), hex(8, 10, false), hex(10, 16, false)].join('-');
}

/** Encodes a text GUID into the table's byte form (for builders and tests). */
export function guidToBytes(text: string): Uint8Array {
  const parts = text.split('-');
  const out = new Uint8Array(16);
  let at = 0;
  parts.forEach((p, i) => {
    const bytes = Array.from(Buffer.from(p, 'hex'));
    if (i < 3) bytes.reverse();
    for (const b of bytes) out[at++] = b;
  });
  return out;
}

/** cpp/core/snp_report.h kMaxCertTableBlob: the native parser refuses a longer table. */
const MAX_CERT_TABLE_BYTES = 1024 * 1024;

export function parseSnpCertificateTable(blob: Uint8Array): SnpCertificateEntry[] {
  // The parser's cap, before the copy (T02: no allocation for what is refused anyway).
  if (blob.length > MAX_CERT_TABLE_BYTES) {
    throw errorFromNative({ code: 'ERR_INPUT_TOO_LARGE', offset: MAX_CERT_TABLE_BYTES, check: 'S05', unsupported: false }, 'SEV-SNP certificate table');
  }
  const bytes = Uint8Array.from(blob);
  const result = native().parseSnpCertTable(bytes);
  if (isNativeFailure(result)) throw errorFromNative(result, 'SEV-SNP certificate table');
  return result.entries.map((e) => {
    const guid = guidToString(e.guid);
    return {
      guid,
      kind: SNP_CERT_GUIDS[guid] ?? 'unknown',
      der: bytes.subarray(e.offset, e.offset + e.length),
      offset: e.offset,
    };
  });
}
