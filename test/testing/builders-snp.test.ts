import { describe, expect, it } from 'vitest';

import {
  guidToBytes,
  parseEvidence,
  parseSnpCertificateTable,
  SNP_CERT_GUIDS,
  verifySnpReportSignature,
  type SnpReport,
} from '../../src/index.js';
import {
  buildSnpCertTable,
  buildSnpReport,
  createAmdTestPki,
  ecPublicKeyXY,
  encodeTableGuid,
  resignSnpReport,
  SNP_CERT_TABLE_GUIDS,
  SNP_PRODUCT_CPUID,
  SNP_REPORT,
  type BuiltSnpReport,
  type TestSnpProduct,
} from '../../src/testing/index.js';
import { hex, VALIDITY } from './helpers.js';
import { flipByte } from '../helpers/bytes.js';

const SEED = 'builder-test';
const pkis = new Map<TestSnpProduct, ReturnType<typeof createAmdTestPki>>();
function pki(product: TestSnpProduct) {
  if (!pkis.has(product)) pkis.set(product, createAmdTestPki({ seed: SEED, product, validity: VALIDITY }));
  return pkis.get(product)!;
}

function expectFields(parsed: SnpReport, built: BuiltSnpReport): void {
  const f = built.fields;
  expect(parsed.version).toBe(built.version);
  expect(parsed.guestSvn).toBe(f.guestSvn);
  expect(parsed.policy.raw).toBe(f.policy);
  expect(parsed.platformInfo.raw).toBe(f.platformInfo);
  expect(parsed.vmpl).toBe(f.vmpl);
  expect(parsed.signatureAlgo).toBe(1);
  expect(parsed.signerInfo.signingKey).toBe(built.signingKey);
  for (const k of ['familyId', 'imageId', 'reportData', 'measurement', 'hostData', 'idKeyDigest', 'authorKeyDigest', 'reportId', 'reportIdMa', 'chipId'] as const) {
    expect([k, hex(parsed[k])]).toEqual([k, hex(f[k])]);
  }
  expect(hex(parsed.currentTcbBytes)).toBe(hex(built.tcbBytes.current));
  expect(hex(parsed.reportedTcbBytes)).toBe(hex(built.tcbBytes.reported));
  expect(hex(parsed.committedTcbBytes)).toBe(hex(built.tcbBytes.committed));
  expect(hex(parsed.launchTcbBytes)).toBe(hex(built.tcbBytes.launch));
  expect(parsed.currentVersion).toEqual(f.currentVersion);
  expect(parsed.committedVersion).toEqual(f.committedVersion);
}

describe('buildSnpReport', () => {
  it.each([
    [3, 'Milan'],
    [3, 'Genoa'],
    [4, 'Genoa'],
    [5, 'Turin'],
    [5, 'Milan'],
  ] as const)('v%i %s parses to the fields that went in and verifies with the VCEK (S12)', (version, product) => {
    const amd = pki(product);
    const built = buildSnpReport({
      version,
      product,
      seed: SEED,
      signingKey: 'vcek',
      key: amd.vcek.key.privateKey,
      reportData: new Uint8Array(64).fill(0x42),
      vmpl: 1,
      guestSvn: 7,
      ...(version === 5 ? { launchMitVector: 3n, currentMitVector: 7n } : {}),
    });
    expect(built.bytes.length).toBe(0x4a0);
    const parsed = parseEvidence(built.bytes) as SnpReport;
    expect(parsed.kind).toBe('snp');
    expect(parsed.product).toBe(product);
    expect(parsed.productSource).toBe('cpuid');
    expect(parsed.cpuid).toEqual(SNP_PRODUCT_CPUID[product]);
    expectFields(parsed, built);
    // Same seed: the builder's default TCB and chip ID are the PKI's.
    expect(parsed.tcb?.reported).toMatchObject(amd.tcb);
    expect(hex(parsed.chipId)).toBe(hex(amd.chipId));
    if (version === 5) {
      expect(parsed.launchMitVector).toBe(3n);
      expect(parsed.currentMitVector).toBe(7n);
    }
    expect(verifySnpReportSignature(parsed, ecPublicKeyXY(amd.vcek.key.publicKey))).toBe(true);
  });

  it('builds v2 without CPUID bytes; the product comes from the caller (S43)', () => {
    const amd = pki('Milan');
    const built = buildSnpReport({ version: 2, product: 'Milan', seed: SEED, signingKey: 'vcek', key: amd.vcek.key.privateKey });
    expect(hex(built.bytes.subarray(0x188, 0x1a0))).toBe('00'.repeat(24));
    const parsed = parseEvidence(built.bytes, { snpProduct: 'Milan' }) as SnpReport;
    expect(parsed.cpuid).toBeUndefined();
    expect(parsed.productSource).toBe('caller');
    expectFields(parsed, built);
  });

  it('encodes Turin TCBs with the FMC byte first', () => {
    const built = buildSnpReport({
      version: 5,
      product: 'Turin',
      signingKey: 'vcek',
      signing: 'skip',
      reportedTcb: { fmc: 9, bootloader: 8, tee: 7, snp: 6, microcode: 5 },
    });
    expect(hex(built.tcbBytes.reported)).toBe('0908070600000005');
    const parsed = parseEvidence(built.bytes) as SnpReport;
    expect(parsed.tcb?.reported).toMatchObject({ fmc: 9, bootloader: 8, tee: 7, snp: 6, microcode: 5 });
  });

  it('signs as the VLEK with SIGNING_KEY 1', () => {
    const amd = pki('Genoa');
    const built = buildSnpReport({ version: 3, product: 'Genoa', signingKey: 'vlek', key: amd.vlek.key.privateKey });
    const parsed = parseEvidence(built.bytes) as SnpReport;
    expect(parsed.signerInfo.signingKey).toBe('vlek');
    expect(verifySnpReportSignature(parsed, ecPublicKeyXY(amd.vlek.key.publicKey))).toBe(true);
    expect(verifySnpReportSignature(parsed, ecPublicKeyXY(amd.vcek.key.publicKey))).toBe(false);
  });

  it('writes R and S little-endian with their top 24 bytes zero (§4.2)', () => {
    const built = buildSnpReport({ version: 3, product: 'Milan', signingKey: 'vcek', key: pki('Milan').vcek.key.privateKey });
    expect(hex(built.bytes.subarray(0x2d0, 0x2e8))).toBe('00'.repeat(24));
    expect(hex(built.bytes.subarray(0x318, 0x330))).toBe('00'.repeat(24));
    expect(hex(built.bytes.subarray(0x330, 0x4a0))).toBe('00'.repeat(0x170));
  });

  it('corrupts the signature on request, and resignSnpReport re-signs after a mutation', () => {
    const amd = pki('Milan');
    const xy = ecPublicKeyXY(amd.vcek.key.publicKey);
    const bad = buildSnpReport({ version: 3, product: 'Milan', signingKey: 'vcek', key: amd.vcek.key.privateKey, signing: 'corrupt' });
    expect(verifySnpReportSignature(parseEvidence(bad.bytes) as SnpReport, xy)).toBe(false);

    const good = buildSnpReport({ version: 3, product: 'Milan', signingKey: 'vcek', key: amd.vcek.key.privateKey });
    const bytes = Uint8Array.from(good.bytes);
    flipByte(bytes, SNP_REPORT.measurement);
    expect(verifySnpReportSignature(parseEvidence(bytes) as SnpReport, xy)).toBe(false);
    resignSnpReport(bytes, amd.vcek.key.privateKey);
    expect(verifySnpReportSignature(parseEvidence(bytes) as SnpReport, xy)).toBe(true);
  });

  it('lets negative tests break fixed fields (S04)', () => {
    const noKey = buildSnpReport({ version: 3, product: 'Milan', signingKey: 'vcek', signingKeyField: 7, signing: 'skip' });
    expect(() => parseEvidence(noKey.bytes)).toThrow(expect.objectContaining({ code: 'ERR_UNSUPPORTED_SIGNING_KEY', check: 'S04' }));
    const policy = buildSnpReport({ version: 3, product: 'Milan', signingKey: 'vcek', policy: 0n, signing: 'skip' });
    expect(() => parseEvidence(policy.bytes)).toThrow(expect.objectContaining({ check: 'S04' }));
  });
});

describe('buildSnpCertTable', () => {
  it('encodes GUIDs as the library decodes them (first three groups little-endian)', () => {
    for (const text of Object.values(SNP_CERT_TABLE_GUIDS)) expect(hex(encodeTableGuid(text))).toBe(hex(guidToBytes(text)));
    expect(Object.keys(SNP_CERT_GUIDS).sort()).toEqual(Object.values(SNP_CERT_TABLE_GUIDS).sort());
    expect(hex(encodeTableGuid(SNP_CERT_TABLE_GUIDS.vcek)).slice(0, 8)).toBe('8d75da63');
  });

  it('builds a table that parses back to the same certificates (S05)', () => {
    const amd = pki('Milan');
    const table = buildSnpCertTable([
      { guid: 'vcek', der: amd.vcek.der },
      { guid: 'ask', der: amd.ask.der },
      { guid: 'ark', der: amd.ark.der },
    ]);
    expect(hex(table.subarray(72, 96))).toBe('00'.repeat(24)); // terminator
    const entries = parseSnpCertificateTable(table);
    expect(entries.map((e) => e.kind)).toEqual(['vcek', 'ask', 'ark']);
    expect(entries.map((e) => hex(e.der))).toEqual([amd.vcek.der, amd.ask.der, amd.ark.der].map(hex));
    expect(entries[0]!.offset).toBe(96);
  });

  it('takes offset / length overrides for bounds tests', () => {
    const amd = pki('Milan');
    const past = buildSnpCertTable([{ guid: 'vcek', der: amd.vcek.der, length: amd.vcek.der.length + 1 }]);
    expect(() => parseSnpCertificateTable(past)).toThrow(expect.objectContaining({ code: 'ERR_LENGTH_OUT_OF_BOUNDS', check: 'S05' }));
    const inside = buildSnpCertTable([{ guid: 'vcek', der: amd.vcek.der, offset: 0 }]);
    expect(() => parseSnpCertificateTable(inside)).toThrow(expect.objectContaining({ check: 'S05' }));
  });
});
