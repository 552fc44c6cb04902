/**
 * Builder of the SEV-SNP extended-report certificate table (GHCB spec;
 * configfs-tsm `auxblob`; checklist S05): 24-byte entries {GUID, u32 offset,
 * u32 length}, an all-zero terminator entry, then the certificates. GUIDs
 * are stored in the mixed-endian UUID form: the first three groups
 * little-endian, the last two as written.
 */
import { ByteWriter } from './byte-writer.js';

/** Entry GUIDs from checklist S05. */
export const SNP_CERT_TABLE_GUIDS = {
  vcek: '63da758d-e664-4564-adc5-f4b93be8accd',
  vlek: 'a8074bc2-a25a-483e-aae6-39c045a0b8a1',
  ask: '4ab7b379-bbac-4fe4-a02f-05aef327c782', // also the ASVK in a VLEK table
  ark: 'c0b406a4-a803-4952-9743-3fb6014cd0ae',
} as const;

export interface SnpCertTableEntryInput {
  /** A kind from SNP_CERT_TABLE_GUIDS or an explicit GUID text. */
  guid: keyof typeof SNP_CERT_TABLE_GUIDS | string;
  der: Uint8Array;
  /** Overrides of the computed offset / length (negative tests, S05). */
  offset?: number;
  length?: number;
}

const ENTRY_SIZE = 24;

/** UUID text -> 16 table bytes (groups 1-3 byte-reversed). */
export function encodeTableGuid(text: string): Uint8Array {
  const groups = text.toLowerCase().split('-');
  if (groups.length !== 5 || !/^[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$/.test(text.toLowerCase())) {
    throw new RangeError(`not a GUID: ${text}`);
  }
  const out: number[] = [];
  groups.forEach((g, i) => {
    const bytes = Array.from(Buffer.from(g, 'hex'));
    out.push(...(i < 3 ? bytes.reverse() : bytes));
  });
  return Uint8Array.from(out);
}

function guidText(guid: SnpCertTableEntryInput['guid']): string {
  return guid in SNP_CERT_TABLE_GUIDS ? SNP_CERT_TABLE_GUIDS[guid as keyof typeof SNP_CERT_TABLE_GUIDS] : guid;
}

/** The table followed by the certificates, each right after the previous one. */
export function buildSnpCertTable(entries: readonly SnpCertTableEntryInput[]): Uint8Array {
  const tableSize = (entries.length + 1) * ENTRY_SIZE;
  const total = tableSize + entries.reduce((n, e) => n + e.der.length, 0);
  const w = new ByteWriter(total);
  let at = tableSize;
  entries.forEach((e, i) => {
    const base = i * ENTRY_SIZE;
    w.put(base, encodeTableGuid(guidText(e.guid)), 16, 'guid');
    w.u32(base + 16, e.offset ?? at, 'offset');
    w.u32(base + 20, e.length ?? e.der.length, 'length');
    w.put(at, e.der, e.der.length, 'certificate');
    at += e.der.length;
  });
  return w.bytes; // the terminator entry is already all zero
}
