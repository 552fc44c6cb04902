/**
 * S11: the KDS extensions of real VCEKs / VLEKs decode to the manifest's
 * values (hwID = the report's CHIP_ID, as S14 will compare); trustee's
 * "invalid" VCEKs decode (raw and OCTET STRING-wrapped hwID); INTEGERs are
 * canonical DER (V27: never "the last byte"); every other deviation is
 * PARSE / ERR_BAD_EXTENSION / S11.
 */
import { describe, expect, it } from 'vitest';

import { parseEvidence, type SnpReport } from '../../src/index.js';
import { parseAmdKdsExtensions, type AmdKdsExtension, type CertificateInfo } from '../../src/x509/index.js';
import { expectError } from '../helpers/expect-error.js';
import { HAVE_VECTORS, loadManifest, readEvidenceBytes, type ManifestEntry } from '../helpers/vectors.js';
import { bool, concat, hex, ia5, int, octets, rawInt, tlv, utf8 } from './helpers/der.js';
import { certificatesOf } from './helpers/real.js';

const KDS = '1.3.6.1.4.1.3704.1';
const S11 = { code: 'ERR_BAD_EXTENSION', errorClass: 'PARSE', check: 'S11' };
const PRODUCTS = ['Milan', 'Genoa', 'Turin'] as const;

/** The manifest's names for the extension values, mapped to ours. */
function expectedFromManifest(ext: Record<string, unknown>): Partial<AmdKdsExtension> {
  const out: Record<string, unknown> = {};
  for (const [key, value] of Object.entries(ext)) {
    if (key === 'cspID') out['cspId'] = value;
    else if (key !== 'hwID') out[key] = value;
  }
  return out as Partial<AmdKdsExtension>;
}

function leafFileOf(entry: ManifestEntry): string {
  const c = entry.collateral;
  return c['vcek'] ?? c['vlek'] ?? c['vcek_ask_ark_chain'] ?? entry.file;
}

describe.skipIf(!HAVE_VECTORS)('real VCEKs and VLEKs', () => {
  const entries = loadManifest().filter((e) => e.checks?.['vcek_extensions'] !== undefined || e.kind === 'vcek-cert');
  let chipIdsCompared = 0;

  it.each(entries.map((e) => [e.id, e] as const))('%s', (_id, entry) => {
    const leaf = certificatesOf(leafFileOf(entry))[0] as CertificateInfo;
    const ext = parseAmdKdsExtensions(leaf);
    const manifest = (entry.checks['vcek_extensions'] ?? entry.checks['extensions']) as Record<string, unknown>;
    expect(ext).toMatchObject(expectedFromManifest(manifest));
    const turin = ext.structVersion === 1;
    // The SPL set differs by struct version (the verifier checks it per product, S11).
    if (turin) {
      expect(ext.fmcSPL).toBeTypeOf('number');
      expect(ext.spl4).toBeUndefined();
    } else {
      expect(ext.fmcSPL).toBeUndefined();
      expect(ext.spl4).toBe(0);
    }
    expect([ext.spl5, ext.spl6, ext.spl7]).toEqual([0, 0, 0]);
    if (leaf.subjectAttributes.CN === 'SEV-VLEK') {
      expect(ext.hwId).toBeUndefined();
      expect(ext.cspId).toBeTypeOf('string');
      return;
    }
    expect(ext.cspId).toBeUndefined();
    expect(ext.hwId?.length).toBe(turin ? 8 : 64);
    if (typeof manifest['hwID'] === 'string') expect(hex(ext.hwId as Uint8Array)).toBe(manifest['hwID']);
    if (entry.kind === 'snp-report' && entry.checks['vcek_hwID_matches_report_chip_id'] === true) {
      const product = PRODUCTS.find((p) => (entry.cpu ?? '').startsWith(p));
      const report = parseEvidence(readEvidenceBytes(entry), product ? { snpProduct: product } : {}) as SnpReport;
      expect(hex(ext.hwId as Uint8Array)).toBe(hex(report.chipId.subarray(0, turin ? 8 : 64)));
      chipIdsCompared++;
    }
  });

  it('compared hwID with CHIP_ID for every VCEK-signed report (Milan, Genoa, Turin)', () => {
    expect(chipIdsCompared).toBeGreaterThanOrEqual(9);
  });

  it('trustee test-vcek-invalid-legacy (raw hwID) and -new (hwID inside an OCTET STRING) decode alike', () => {
    const legacy = parseAmdKdsExtensions(certificatesOf('trustee/deps/verifier/test_data/snp/test-vcek-invalid-legacy.der')[0] as CertificateInfo);
    const wrapped = parseAmdKdsExtensions(certificatesOf('trustee/deps/verifier/test_data/snp/test-vcek-invalid-new.der')[0] as CertificateInfo);
    expect(hex(legacy.hwId as Uint8Array)).toBe(hex(wrapped.hwId as Uint8Array));
    expect(legacy.hwId?.length).toBe(64);
    expect(legacy.ucodeSPL).toBe(169); // 02 02 00 a9: a two-byte canonical INTEGER, not "the last byte"
  });
});

/** A VCEK-shaped certificate reduced to what the parser reads: its extension list. */
function vcek(extensions: { oid: string; value: Uint8Array }[]): CertificateInfo {
  return { extensions: extensions.map((e) => ({ ...e, critical: false })) } as unknown as CertificateInfo;
}

const CHIP = Uint8Array.from({ length: 64 }, (_, i) => i);
const milan = (overrides: Record<string, Uint8Array | null> = {}) => {
  const base: Record<string, Uint8Array | null> = {
    [`${KDS}.1`]: int(0),
    [`${KDS}.2`]: ia5('Milan-B0'),
    [`${KDS}.3.1`]: int(3),
    [`${KDS}.3.2`]: int(0),
    [`${KDS}.3.4`]: int(0),
    [`${KDS}.3.5`]: int(0),
    [`${KDS}.3.6`]: int(0),
    [`${KDS}.3.7`]: int(0),
    [`${KDS}.3.3`]: int(8),
    [`${KDS}.3.8`]: int(0x73),
    [`${KDS}.4`]: CHIP,
    ...overrides,
  };
  return vcek(Object.entries(base).flatMap(([oid, value]) => (value === null ? [] : [{ oid, value }])));
};

describe('synthetic KDS extension lists', () => {
  it('baseline', () => {
    expect(parseAmdKdsExtensions(milan())).toEqual({
      structVersion: 0,
      productName: 'Milan-B0',
      blSPL: 3,
      teeSPL: 0,
      snpSPL: 8,
      ucodeSPL: 0x73,
      spl4: 0,
      spl5: 0,
      spl6: 0,
      spl7: 0,
      hwId: CHIP,
    });
  });

  it('ucodeSPL >= 0x80 needs the 00 sign byte and reads as the full value', () => {
    expect(parseAmdKdsExtensions(milan({ [`${KDS}.3.8`]: rawInt([0x00, 0xdb]) })).ucodeSPL).toBe(0xdb);
  });

  it('hwID: raw, or wrapped in an OCTET STRING of a valid size; a raw id that merely starts with 04 stays raw', () => {
    expect(parseAmdKdsExtensions(milan({ [`${KDS}.4`]: octets(CHIP) })).hwId).toEqual(CHIP);
    const looksWrapped = Uint8Array.from(CHIP);
    looksWrapped[0] = 0x04;
    looksWrapped[1] = 62; // "04 3e" + 62 bytes: a valid TLV, but 62 is not an id size
    expect(parseAmdKdsExtensions(milan({ [`${KDS}.4`]: looksWrapped })).hwId).toEqual(looksWrapped);
    const turin = CHIP.subarray(0, 8);
    expect(parseAmdKdsExtensions(milan({ [`${KDS}.4`]: octets(turin) })).hwId).toEqual(turin);
    expect(parseAmdKdsExtensions(milan({ [`${KDS}.4`]: turin })).hwId).toEqual(turin);
  });

  it('VLEK: cspId and no hwID', () => {
    const ext = parseAmdKdsExtensions(milan({ [`${KDS}.4`]: null, [`${KDS}.5`]: ia5('CN=cc-us-east-2.amazonaws.com') }));
    expect(ext.cspId).toBe('CN=cc-us-east-2.amazonaws.com');
    expect(ext.hwId).toBeUndefined();
  });

  it.each([
    ['a padded INTEGER (02 02 00 05, V27)', { [`${KDS}.3.3`]: rawInt([0x00, 0x05]) }],
    ['a padded ucodeSPL (02 03 00 00 73)', { [`${KDS}.3.8`]: rawInt([0x00, 0x00, 0x73]) }],
    ['a negative SPL', { [`${KDS}.3.1`]: rawInt([0xff]) }],
    ['an SPL of 256', { [`${KDS}.3.2`]: int(256) }],
    ['an empty INTEGER', { [`${KDS}.3.1`]: rawInt([]) }],
    ['an INTEGER followed by a byte', { [`${KDS}.3.1`]: concat([int(3), Uint8Array.of(0)]) }],
    ['an SPL that is not an INTEGER', { [`${KDS}.3.1`]: bool(true) }],
    ['an SPL as raw bytes without a tag', { [`${KDS}.3.1`]: Uint8Array.of(3) }],
    ['a structVersion of 256', { [`${KDS}.1`]: int(256) }],
    ['missing blSPL', { [`${KDS}.3.1`]: null }],
    ['missing teeSPL', { [`${KDS}.3.2`]: null }],
    ['missing snpSPL', { [`${KDS}.3.3`]: null }],
    ['missing ucodeSPL', { [`${KDS}.3.8`]: null }],
    ['an unknown OID under the prefix', { [`${KDS}.3.10`]: int(0) }],
    ['an unknown top-level OID under the prefix', { [`${KDS}.6`]: int(0) }],
    ['a 63-byte hwID', { [`${KDS}.4`]: CHIP.subarray(0, 63) }],
    ['an empty hwID', { [`${KDS}.4`]: new Uint8Array(0) }],
    ['a wrapped hwID of 63 bytes', { [`${KDS}.4`]: octets(CHIP.subarray(0, 63)) }],
    ['both hwID and cspId', { [`${KDS}.5`]: ia5('CN=x') }],
    ['a productName as UTF8String', { [`${KDS}.2`]: utf8('Milan-B0') }],
    ['a productName with a control character', { [`${KDS}.2`]: ia5('Milan\n') }],
    ['a productName with a non-ASCII byte', { [`${KDS}.2`]: tlv(0x16, Uint8Array.of(0x4d, 0xe9)) }],
  ])('rejects %s', (_name, overrides) => {
    expectError(() => parseAmdKdsExtensions(milan(overrides)), S11);
  });

  it('rejects a duplicated extension OID', () => {
    const list = milan();
    const ext = list.extensions;
    expectError(() => parseAmdKdsExtensions({ ...list, extensions: [...ext, ext[2]!] }), S11);
  });

  it('a certificate without KDS extensions (an Intel leaf, say) is rejected, not read as zeros (S40)', () => {
    expectError(() => parseAmdKdsExtensions(vcek([{ oid: '2.5.29.19', value: new Uint8Array([0x30, 0x00]) }])), S11);
  });
});
