/**
 * SEV-SNP extended-report certificate table (S05). No real table is in the
 * shared vectors, so tables are built here from the real Genoa VCEK / ASK /
 * ARK files using the GHCB layout: 24-byte {GUID, u32 offset, u32 length}
 * entries, an all-zero terminator, then the DER certificates.
 */
import { describe, expect, it } from 'vitest';

import { guidToBytes, guidToString, parseSnpCertificateTable, SNP_CERT_GUIDS } from '../../src/index.js';
import { buildSnpCertTable } from '../../src/testing/index.js';
import { amdCollateralFromCertTable } from '../../src/verify/snp/index.js';
import { expectError } from '../helpers/expect-error.js';
import { HAVE_VECTORS, readFirstCertificate } from '../helpers/vectors.js';

const GUID = {
  vcek: '63da758d-e664-4564-adc5-f4b93be8accd',
  vlek: 'a8074bc2-a25a-483e-aae6-39c045a0b8a1',
  ask: '4ab7b379-bbac-4fe4-a02f-05aef327c782',
  ark: 'c0b406a4-a803-4952-9743-3fb6014cd0ae',
};

interface TableEntry {
  guid: string | Uint8Array;
  data: Uint8Array;
  offset?: number;
  length?: number;
}

/** Writes a table the way the kernel / GHCB hands it over, with optional overrides. */
function buildTable(entries: TableEntry[], pad = 0, terminator = true): Uint8Array {
  const headerSize = (entries.length + (terminator ? 1 : 0)) * 24;
  const total = headerSize + entries.reduce((n, e) => n + e.data.length, 0) + pad;
  const out = Buffer.alloc(total);
  let dataAt = headerSize;
  entries.forEach((e, i) => {
    const guid = typeof e.guid === 'string' ? guidToBytes(e.guid) : e.guid;
    out.set(guid, i * 24);
    out.writeUInt32LE((e.offset ?? dataAt) >>> 0, i * 24 + 16);
    out.writeUInt32LE((e.length ?? e.data.length) >>> 0, i * 24 + 20);
    out.set(e.data, dataAt);
    dataAt += e.data.length;
  });
  return new Uint8Array(out);
}

describe('certificate table GUIDs', () => {
  it('round-trips the text form and names the four kinds', () => {
    for (const [kind, text] of Object.entries(GUID)) {
      expect(guidToString(guidToBytes(text))).toBe(text);
      expect(SNP_CERT_GUIDS[text]).toBe(kind);
    }
    // First three groups are stored little-endian (GHCB spec).
    expect(Buffer.from(guidToBytes(GUID.vcek).subarray(0, 4)).toString('hex')).toBe('8d75da63');
  });
});

describe.skipIf(!HAVE_VECTORS)('certificate table built from real AMD certificates (S05)', () => {
  const dir = 'ms-tee-attestation-verification';
  const vcek = () => new Uint8Array(readFirstCertificate(`${dir}/tests/test_data/genoa_vcek.pem`).raw);
  const ask = () => new Uint8Array(readFirstCertificate(`${dir}/tests/test_data/genoa_ask.pem`).raw);
  const ark = () => new Uint8Array(readFirstCertificate(`${dir}/src/pinned_arks/genoa_ark.pem`).raw);

  it('parses VCEK / ASK / ARK with page padding and returns the exact DER bytes', () => {
    const table = buildTable([{ guid: GUID.vcek, data: vcek() }, { guid: GUID.ask, data: ask() }, { guid: GUID.ark, data: ark() }], 4096);
    const entries = parseSnpCertificateTable(table);
    expect(entries.map((e) => e.kind)).toEqual(['vcek', 'ask', 'ark']);
    expect(Buffer.from(entries[0]!.der).equals(Buffer.from(vcek()))).toBe(true);
    expect(Buffer.from(entries[2]!.der).equals(Buffer.from(ark()))).toBe(true);
  });

  it('keeps unknown GUIDs as kind "unknown"', () => {
    const entries = parseSnpCertificateTable(buildTable([{ guid: '01020304-0506-0708-090a-0b0c0d0e0f10', data: vcek() }]));
    expect(entries[0]!.kind).toBe('unknown');
  });

  it('offset + length wrapping 32 bits is out of bounds, not a small slice (V24)', () => {
    const table = buildTable([{ guid: GUID.vcek, data: vcek(), offset: 0xfffffff0, length: 0x20 }]);
    expectError(() => parseSnpCertificateTable(table), { code: 'ERR_LENGTH_OUT_OF_BOUNDS', check: 'S05', offset: 16 });
  });

  it('length past the end of the blob', () => {
    const data = vcek();
    const table = buildTable([{ guid: GUID.vcek, data, length: data.length + 1 }]);
    expectError(() => parseSnpCertificateTable(table), { code: 'ERR_LENGTH_OUT_OF_BOUNDS', check: 'S05' });
  });

  it('an offset inside the table itself', () => {
    const table = buildTable([{ guid: GUID.vcek, data: vcek(), offset: 8 }]);
    expectError(() => parseSnpCertificateTable(table), { code: 'ERR_BAD_LENGTH', check: 'S05', offset: 16 });
  });

  it('a certificate below the minimal DER size is rejected before any DER parser sees it (V28)', () => {
    for (const length of [0, 1, 27, 63]) {
      const table = buildTable([{ guid: GUID.vcek, data: vcek(), length }]);
      expectError(() => parseSnpCertificateTable(table), { code: 'ERR_BAD_LENGTH', check: 'S05', offset: 20 });
    }
  });

  it('duplicate GUIDs', () => {
    const table = buildTable([{ guid: GUID.vcek, data: vcek() }, { guid: GUID.vcek, data: vcek() }]);
    expectError(() => parseSnpCertificateTable(table), { code: 'ERR_DUPLICATE_ENTRY', check: 'S05', offset: 24 });
  });

  it('a zero GUID with a non-zero offset is not a terminator', () => {
    const table = buildTable([{ guid: new Uint8Array(16), data: vcek() }]);
    expectError(() => parseSnpCertificateTable(table), { code: 'ERR_BAD_FIELD_VALUE', check: 'S05', offset: 0 });
  });

  it('a table without its terminator, an empty blob, and more entries than the cap', () => {
    const entry = vcek();
    const noTerminator = Buffer.alloc(24 * 3, 0x11);
    expectError(() => parseSnpCertificateTable(noTerminator), { code: 'ERR_TRUNCATED', check: 'S05', offset: 72 });
    expectError(() => parseSnpCertificateTable(new Uint8Array(0)), { code: 'ERR_TRUNCATED', check: 'S05', offset: 0 });
    const many = Array.from({ length: 65 }, (_, i) => ({ guid: `${(i + 1).toString(16).padStart(8, '0')}-0000-0000-0000-000000000000`, data: entry }));
    expectError(() => parseSnpCertificateTable(buildTable(many)), { code: 'ERR_TOO_MANY_ENTRIES', check: 'S05', offset: 64 * 24 });
  });

  it('an empty table (terminator only) has no entries; blobs above 1 MiB are refused', () => {
    expect(parseSnpCertificateTable(new Uint8Array(24))).toEqual([]);
    expectError(() => parseSnpCertificateTable(new Uint8Array(1024 * 1024 + 1)), { code: 'ERR_INPUT_TOO_LARGE', check: 'S05' });
  });

  describe('layout: no overlap, nothing but zeros outside the certificates', () => {
    const TABLE3 = 4 * 24; // three entries and the terminator

    it('two GUIDs pointing into the same bytes are PARSE at S05 (the later entry is named)', () => {
      const table = buildSnpCertTable([{ guid: 'vcek', der: vcek() }, { guid: 'ask', der: ask(), offset: 3 * 24 }]);
      expectError(() => parseSnpCertificateTable(table), { code: 'ERR_BAD_LENGTH', errorClass: 'PARSE', check: 'S05', offset: 24 + 16 });
    });

    it('a certificate starting inside another one, whichever entry comes first in the table', () => {
      const v = vcek();
      const a = ask();
      const inside = TABLE3 + 100; // inside the VCEK's bytes, with the ASK's length still in bounds
      const table = buildSnpCertTable([{ guid: 'ask', der: a, offset: inside, length: a.length }, { guid: 'vcek', der: v, offset: TABLE3 }, { guid: 'ark', der: ark(), offset: TABLE3 + v.length + a.length }]);
      expectError(() => parseSnpCertificateTable(table), { code: 'ERR_BAD_LENGTH', check: 'S05', offset: 16 });
    });

    it('entries listed in another order than their offsets still parse to the exact DER', () => {
      const v = vcek();
      const a = ask();
      // data: VCEK then ASK; table: ASK entry first
      const table = buildSnpCertTable([{ guid: 'vcek', der: v }, { guid: 'ask', der: a }]);
      const swapped = Uint8Array.from(table);
      swapped.set(table.subarray(24, 48), 0);
      swapped.set(table.subarray(0, 24), 24);
      const entries = parseSnpCertificateTable(swapped);
      expect(entries.map((e) => e.kind)).toEqual(['ask', 'vcek']);
      expect(Buffer.from(entries[0]!.der).equals(Buffer.from(a))).toBe(true);
      expect(Buffer.from(entries[1]!.der).equals(Buffer.from(v))).toBe(true);
    });

    it('a non-zero byte after the last certificate is rejected at its offset; zero padding is not', () => {
      const table = buildSnpCertTable([{ guid: 'vcek', der: vcek() }, { guid: 'ask', der: ask() }, { guid: 'ark', der: ark() }]);
      const padded = new Uint8Array(table.length + 4096);
      padded.set(table);
      expect(parseSnpCertificateTable(padded).map((e) => e.kind)).toEqual(['vcek', 'ask', 'ark']);
      padded[table.length + 4000] = 0x01;
      expectError(() => parseSnpCertificateTable(padded), { code: 'ERR_RESERVED_NONZERO', errorClass: 'PARSE', check: 'S05', offset: table.length + 4000 });
      const junk = new Uint8Array([...table, 0x41]);
      expectError(() => parseSnpCertificateTable(junk), { code: 'ERR_RESERVED_NONZERO', check: 'S05', offset: table.length });
    });

    it('a non-zero byte between the table and the first certificate, or between two certificates', () => {
      const v = vcek();
      const a = ask();
      const gapped = (gapAt: 'head' | 'middle'): Uint8Array => {
        const head = 3 * 24;
        const vAt = head + (gapAt === 'head' ? 16 : 0);
        const aAt = vAt + v.length + (gapAt === 'middle' ? 16 : 0);
        const out = new Uint8Array(aAt + a.length);
        out.set(guidToBytes(GUID.vcek), 0);
        new DataView(out.buffer).setUint32(16, vAt, true);
        new DataView(out.buffer).setUint32(20, v.length, true);
        out.set(guidToBytes(GUID.ask), 24);
        new DataView(out.buffer).setUint32(40, aAt, true);
        new DataView(out.buffer).setUint32(44, a.length, true);
        out.set(v, vAt);
        out.set(a, aAt);
        return out;
      };
      for (const where of ['head', 'middle'] as const) {
        const zeroGap = gapped(where);
        expect(parseSnpCertificateTable(zeroGap).map((e) => e.kind)).toEqual(['vcek', 'ask']); // zero gaps are padding
        const at = where === 'head' ? 3 * 24 + 5 : 3 * 24 + v.length + 5;
        zeroGap[at] = 0xff;
        expectError(() => parseSnpCertificateTable(zeroGap), { code: 'ERR_RESERVED_NONZERO', check: 'S05', offset: at });
      }
    });

    it('an unknown GUID is kept as "unknown" and never serves as VCEK, ASK or ARK', () => {
      const table = buildSnpCertTable([{ guid: '01020304-0506-0708-090a-0b0c0d0e0f10', der: vcek() }, { guid: '11020304-0506-0708-090a-0b0c0d0e0f10', der: ask() }]);
      const entries = parseSnpCertificateTable(table);
      expect(entries.map((e) => e.kind)).toEqual(['unknown', 'unknown']);
      expectError(() => amdCollateralFromCertTable(entries, 'vcek'), { code: 'ERR_COLLATERAL_UNAVAILABLE', check: 'S05' });
      const withLeaf = parseSnpCertificateTable(buildSnpCertTable([{ guid: 'vcek', der: vcek() }, { guid: '11020304-0506-0708-090a-0b0c0d0e0f10', der: ask() }]));
      const input = amdCollateralFromCertTable(withLeaf, 'vcek');
      expect(input.certChain).toBeUndefined(); // the unknown entry is not taken as the ASK
    });
  });

  it('every truncation of a valid table fails with a typed error', () => {
    const table = buildTable([{ guid: GUID.vcek, data: vcek() }, { guid: GUID.ask, data: ask() }]);
    for (let n = 0; n < table.length; n++) {
      expect(() => parseSnpCertificateTable(table.subarray(0, n))).toThrow(expect.objectContaining({ errorClass: 'PARSE' }));
    }
  });
});
