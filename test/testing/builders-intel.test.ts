import { describe, expect, it } from 'vitest';

import {
  parseEvidence,
  verifyQeReportDataBinding,
  verifyQeReportSignature,
  verifyQuoteSignature,
  type SgxQuote,
  type TdxQuote,
} from '../../src/index.js';
import {
  buildSgxQuote,
  buildTdxQuote,
  createIntelTestPki,
  ecPublicKeyXY,
  intelQuoteLayout,
  qeReportDataBinding,
  resignIntelQuote,
  type BuiltSgxQuote,
  type BuiltTdxQuote,
  type SgxReportBodyFields,
  type TdReportBodyFields,
} from '../../src/testing/index.js';
import { hex, VALIDITY } from './helpers.js';
import { flipByte } from '../helpers/bytes.js';

const pki = createIntelTestPki({ seed: 'builder-test', validity: VALIDITY });
const pckXY = ecPublicKeyXY(pki.pck.key.publicKey);
const keys = { pckKey: pki.pck.key.privateKey, pckChainPem: pki.pckChainPem };

function asHex(fields: object): Record<string, unknown> {
  return Object.fromEntries(
    Object.entries(fields).map(([k, v]) => [k, v instanceof Uint8Array ? hex(v) : typeof v === 'bigint' ? v.toString(16) : v]),
  );
}

function expectTdBody(parsed: TdxQuote, built: BuiltTdxQuote): void {
  const b: Partial<TdReportBodyFields> = { ...built.body };
  if (built.bodyType === 2) {
    delete b.teeTcbSvn2;
    delete b.mrServiceTd;
  }
  expect(asHex(parsed.body)).toEqual(asHex(b));
}

function expectReportBody(parsed: object, built: SgxReportBodyFields): void {
  const got = asHex(parsed);
  for (const [k, v] of Object.entries(asHex(built))) expect([k, got[k]]).toEqual([k, v]);
}

function expectCommon(parsed: TdxQuote | SgxQuote, built: BuiltTdxQuote | BuiltSgxQuote): void {
  const sd = parsed.signatureData;
  expect(parsed.signedRange).toEqual({ offset: 0, length: built.layout.signedLength });
  expect(hex(sd.attestationKey)).toBe(hex(built.attestationKeyXY));
  expect(hex(sd.qeAuthData)).toBe(hex(built.qeAuthData));
  expect(hex(sd.pckCertChainPem)).toBe(hex(built.pckChainPem));
  expect(sd.certificationDataType).toBe(5);
  expectReportBody(sd.qeReport, built.qeReport);
  expect(hex(sd.qeReport.reportData)).toBe(hex(qeReportDataBinding(built.attestationKeyXY, built.qeAuthData)));
  expect(hex(parsed.header.qeVendorId)).toBe(hex(built.header.qeVendorId));
  expect(hex(parsed.header.userData)).toBe(hex(built.header.userData));
  expect(parsed.header.attestationKeyType).toBe(2);
  expect(verifyQuoteSignature(parsed)).toBe(true); // T26
  expect(verifyQeReportSignature(parsed, pckXY)).toBe(true); // T22
  expect(verifyQeReportDataBinding(parsed)).toBe(true); // T23
}

describe('builder offsets agree with the checklist tables (§2.1, §3)', () => {
  it.each([
    // version, body type, signature_data_len, QE report, QE signature, auth size
    [4, 2, 0x278, 0x302, 0x482, 0x4c2],
    [5, 2, 0x27e, 0x308, 0x488, 0x4c8],
    [5, 3, 0x2be, 0x348, 0x4c8, 0x508],
    [3, 1, 0x1b0, 0x234, 0x3b4, 0x3f4],
  ] as const)('v%i body type %i', (version, bodyType, sigLen, qe, qeSig, auth) => {
    const l = intelQuoteLayout(version, bodyType, 32, 100);
    expect([l.signatureDataLengthOffset, l.qeReportOffset, l.qeReportSignatureOffset, l.qeAuthDataSizeOffset]).toEqual([
      sigLen,
      qe,
      qeSig,
      auth,
    ]);
    expect(l.quoteSignatureOffset).toBe(sigLen + 4);
    expect(l.attestationKeyOffset).toBe(sigLen + 0x44);
    expect(l.certDataTypeOffset).toBe(auth + 2 + 32);
  });
});

describe('buildTdxQuote', () => {
  it.each([
    [4, 2],
    [5, 2],
    [5, 3],
  ] as const)('v%i body type %i parses to the fields that went in, with valid signatures', (version, bodyType) => {
    const built = buildTdxQuote({
      ...keys,
      version,
      bodyType,
      body: { mrTd: new Uint8Array(48).fill(0xaa), tdAttributes: 0x40000000n, rtmr3: new Uint8Array(48).fill(3) },
      qeReport: { isvSvn: 9 },
      header: { userData: new Uint8Array(20).fill(0x55) },
    });
    const parsed = parseEvidence(built.bytes) as TdxQuote;
    expect(parsed.kind).toBe('tdx');
    expect(parsed.version).toBe(version);
    expect(parsed.bodyType).toBe(bodyType);
    expect(parsed.header.teeType).toBe(0x81);
    expect(parsed.signatureData.outerCertificationDataType).toBe(6);
    expectTdBody(parsed, built);
    expectCommon(parsed, built);
    expect(parsed.signatureData.qeReport.isvSvn).toBe(9);
    expect(parsed.trailing).toEqual({ length: 0, allZero: true });
  });

  it('fails verifyQeReportSignature when the QE report signature is corrupted (T22)', () => {
    const built = buildTdxQuote({ ...keys, version: 4, signing: { qeReport: 'corrupt' } });
    const parsed = parseEvidence(built.bytes) as TdxQuote;
    expect(verifyQeReportSignature(parsed, pckXY)).toBe(false);
    expect(verifyQuoteSignature(parsed)).toBe(true);
    expect(verifyQeReportDataBinding(parsed)).toBe(true);
  });

  it('fails verifyQeReportSignature with another key than the PCK leaf key', () => {
    const parsed = parseEvidence(buildTdxQuote({ ...keys, version: 5 }).bytes) as TdxQuote;
    expect(verifyQeReportSignature(parsed, ecPublicKeyXY(pki.pckCa.key.publicKey))).toBe(false);
  });

  it('fails verifyQuoteSignature when the quote signature is corrupted (T26)', () => {
    const parsed = parseEvidence(buildTdxQuote({ ...keys, version: 4, signing: { quote: 'corrupt' } }).bytes) as TdxQuote;
    expect(verifyQuoteSignature(parsed)).toBe(false);
    expect(verifyQeReportSignature(parsed, pckXY)).toBe(true);
  });

  it('breaks the QE binding with an overridden QE REPORTDATA, still signed by the PCK (T23)', () => {
    const reportData = qeReportDataBinding(new Uint8Array(64), new Uint8Array(0));
    const parsed = parseEvidence(buildTdxQuote({ ...keys, version: 4, qeReport: { reportData } }).bytes) as TdxQuote;
    expect(verifyQeReportDataBinding(parsed)).toBe(false);
    expect(verifyQeReportSignature(parsed, pckXY)).toBe(true);
  });

  it('signs after `mutate`, and resignIntelQuote re-signs after a later change', () => {
    const built = buildTdxQuote({ ...keys, version: 5, bodyType: 3, mutate: (bytes, l) => bytes.fill(0x11, l.bodyOffset, l.bodyOffset + 16) });
    expect(hex((parseEvidence(built.bytes) as TdxQuote).body.teeTcbSvn)).toBe('11'.repeat(16));
    expect(verifyQuoteSignature(parseEvidence(built.bytes) as TdxQuote)).toBe(true);

    const bytes = Uint8Array.from(built.bytes);
    flipByte(bytes, built.layout.bodyOffset + 0x88, 0xff); // a byte of MRTD
    expect(verifyQuoteSignature(parseEvidence(bytes) as TdxQuote)).toBe(false);
    resignIntelQuote(bytes, { attestationKey: built.attestationKey, pckKey: pki.pck.key.privateKey });
    const resigned = parseEvidence(bytes) as TdxQuote;
    expect(verifyQuoteSignature(resigned)).toBe(true);
    expect(verifyQeReportSignature(resigned, pckXY)).toBe(true);
  });

  it('appends trailing bytes: zero padding is reported, anything else is ERR_TRAILING_DATA (T05)', () => {
    const padded = parseEvidence(buildTdxQuote({ ...keys, version: 4, trailing: new Uint8Array(70) }).bytes);
    expect(padded.trailing).toEqual({ length: 70, allZero: true });
    const dirty = buildTdxQuote({ ...keys, version: 4, trailing: Uint8Array.of(0, 1) }).bytes;
    expect(() => parseEvidence(dirty)).toThrow(expect.objectContaining({ code: 'ERR_TRAILING_DATA', check: 'T05' }));
  });

  it('overrides framing fields for negative tests (T06, T07)', () => {
    const type3 = buildTdxQuote({ ...keys, version: 4, framing: { certDataType: 3 } }).bytes;
    expect(() => parseEvidence(type3)).toThrow(expect.objectContaining({ code: 'ERR_UNSUPPORTED_CERT_DATA_TYPE', errorClass: 'UNSUPPORTED' }));
    const outer = buildTdxQuote({ ...keys, version: 4, framing: { outerCertDataType: 5 } }).bytes;
    expect(() => parseEvidence(outer)).toThrow(expect.objectContaining({ code: 'ERR_UNSUPPORTED_CERT_DATA_TYPE', check: 'T06' }));
    const v5size = buildTdxQuote({ ...keys, version: 5, framing: { bodySizeField: 585 } }).bytes;
    expect(() => parseEvidence(v5size)).toThrow(expect.objectContaining({ check: 'T04' }));
  });

  it('produces the same bytes for the same inputs, except the signatures', () => {
    const a = buildTdxQuote({ ...keys, version: 4 });
    const b = buildTdxQuote({ ...keys, version: 4 });
    const blank = (q: BuiltTdxQuote) => {
      const copy = Uint8Array.from(q.bytes);
      copy.fill(0, q.layout.quoteSignatureOffset, q.layout.quoteSignatureOffset + 64);
      copy.fill(0, q.layout.qeReportSignatureOffset, q.layout.qeReportSignatureOffset + 64);
      return hex(copy);
    };
    expect(blank(a)).toBe(blank(b));
  });
});

describe('buildSgxQuote', () => {
  it('builds a v3 quote (type 5 directly) whose fields and signatures check out', () => {
    const built = buildSgxQuote({ ...keys, body: { isvSvn: 42, mrEnclave: new Uint8Array(32).fill(0xee) }, header: { qeSvn: 3, pceSvn: 14 } });
    const parsed = parseEvidence(built.bytes) as SgxQuote;
    expect(parsed.kind).toBe('sgx');
    expect(parsed.version).toBe(3);
    expect(parsed.header.qeSvn).toBe(3);
    expect(parsed.header.pceSvn).toBe(14);
    expect(parsed.header.attestationKeyData0).toBe(0);
    expect(parsed.signatureData.outerCertificationDataType).toBeUndefined();
    expectReportBody(parsed.body, built.body);
    expectCommon(parsed, built);
  });

  it('fails verifyQeReportSignature when the QE report signature is corrupted', () => {
    const parsed = parseEvidence(buildSgxQuote({ ...keys, signing: { qeReport: 'corrupt' } }).bytes) as SgxQuote;
    expect(verifyQeReportSignature(parsed, pckXY)).toBe(false);
  });
});
