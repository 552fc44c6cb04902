/**
 * Section A (T02–T08) on genuine quotes. Each rule is enforced twice: by the
 * native parser on the bytes (parseEvidence), and by the verifier on the
 * parsed object it is handed, so an object assembled or changed outside the
 * parser cannot skip it. Both paths assert the class and the check id.
 */
import { describe, expect, it } from 'vitest';

import { parseEvidence, type SgxQuote, type TdxQuote } from '../../../src/index.js';
import { verifyIntelQuote } from '../../../src/verify/intel/index.js';
import { catchError } from '../../helpers/expect-error.js';
import { HAVE_VECTORS } from '../../helpers/vectors.js';
import { mutated, realSetup, replaceChainCertificate, runReal, type RealSetup } from './helpers/real.js';

function expectParseFailure(bytes: Uint8Array, errorClass: string, check: string): void {
  const err = catchError(() => parseEvidence(bytes));
  expect({ errorClass: err.errorClass, check: err.check }).toEqual({ errorClass, check });
}

function quoteOf(s: RealSetup): TdxQuote | SgxQuote {
  const q = parseEvidence(s.bytes);
  if (q.kind === 'snp') throw new Error('not Intel');
  return q;
}

function expectVerifierFailure(s: RealSetup, quote: TdxQuote | SgxQuote, errorClass: string, check: string): void {
  const err = catchError(() => verifyIntelQuote(quote, s.collateral, { at: s.at, relaxations: s.relaxations }));
  expect({ errorClass: err.errorClass, check: err.check }).toEqual({ errorClass, check });
}

describe.skipIf(!HAVE_VECTORS)('quote structure T02–T08 (genuine quotes)', () => {
  const v4 = () => realSetup('phala-dcap-qvl/tdx_quote');
  const v5 = () => realSetup('phala-dcap-qvl/tdx_quote_outdated');
  const sgx = () => realSetup('phala-dcap-qvl/sgx_quote');
  const authSize = (b: Uint8Array) => (b[0x4c2] ?? 0) | ((b[0x4c3] ?? 0) << 8);

  it('T02: a quote cut below the minimum, and one above the 64 KiB cap, are PARSE', () => {
    const s = v4();
    expectParseFailure(s.bytes.slice(0, 100), 'PARSE', 'T02');
    const big = new Uint8Array(65 * 1024);
    big.set(s.bytes);
    expectParseFailure(big, 'PARSE', 'T02');
    const q = quoteOf(s);
    expectVerifierFailure(s, { ...q, bytes: big }, 'PARSE', 'T02');
    expectVerifierFailure(s, { ...q, bytes: q.bytes.subarray(0, 1000) }, 'PARSE', 'T02');
  });

  it('T03: version, attestation key type, TEE type and QE vendor are UNSUPPORTED', () => {
    const s = v4();
    expectParseFailure(mutated(s.bytes, (b) => (b[0] = 6)), 'UNSUPPORTED', 'T03');
    expectParseFailure(mutated(s.bytes, (b) => (b[2] = 3)), 'UNSUPPORTED', 'T03');
    expectParseFailure(mutated(s.bytes, (b) => (b[4] = 0)), 'UNSUPPORTED', 'T03');
    expectParseFailure(mutated(s.bytes, (b) => (b[0x0c] = (b[0x0c] ?? 0) ^ 1)), 'UNSUPPORTED', 'T03');
    const q = quoteOf(s) as TdxQuote;
    expectVerifierFailure(s, { ...q, version: 3 as unknown as 4 }, 'UNSUPPORTED', 'T03');
    expectVerifierFailure(s, { ...q, header: { ...q.header, attestationKeyType: 3 } }, 'UNSUPPORTED', 'T03');
    expectVerifierFailure(s, { ...q, header: { ...q.header, teeType: 0 } }, 'UNSUPPORTED', 'T03');
    expectVerifierFailure(s, { ...q, header: { ...q.header, qeVendorId: new Uint8Array(16) } }, 'UNSUPPORTED', 'T03');
    const g = sgx();
    expectParseFailure(mutated(g.bytes, (b) => (b[4] = 1)), 'UNSUPPORTED', 'T03');
    const sq = quoteOf(g) as SgxQuote;
    expectVerifierFailure(g, { ...sq, header: { ...sq.header, attestationKeyData0: 1 } }, 'UNSUPPORTED', 'T03');
  });

  it('T04: v5 body type 1 (SGX) and a wrong body size are rejected; v4 carries TD 1.0 only', () => {
    const s = v5();
    expectParseFailure(mutated(s.bytes, (b) => (b[0x30] = 1)), 'UNSUPPORTED', 'T04');
    expectParseFailure(mutated(s.bytes, (b) => (b[0x32] = (b[0x32] ?? 0) + 1)), 'PARSE', 'T04');
    const q = quoteOf(s) as TdxQuote;
    expectVerifierFailure(s, { ...q, bodyType: 1 as unknown as 2 }, 'UNSUPPORTED', 'T04');
    expectVerifierFailure(s, { ...q, signedRange: { offset: 0, length: 0x30 + 648 } }, 'PARSE', 'T04'); // a v5 quote read as v4 (aleph-vm #1186)
    const four = v4();
    const q4 = quoteOf(four) as TdxQuote;
    expectVerifierFailure(four, { ...q4, bodyType: 3 }, 'UNSUPPORTED', 'T04');
  });

  it('T05: a non-zero byte after the signature data is PARSE; all-zero padding is accepted and reported', () => {
    const s = v4();
    expectParseFailure(mutated(s.bytes, (b) => (b[b.length - 1] = 1)), 'PARSE', 'T05');
    const q = quoteOf(s);
    expectVerifierFailure(s, { ...q, trailing: { length: 70, allZero: false } }, 'PARSE', 'T05');
    const ok = runReal(s);
    expect(ok.checks.find((c) => c.id === 'T05')?.description).toContain('70 all-zero bytes');
  });

  it('T06: outer certification data type other than 6, or a wrong outer size', () => {
    const s = v4();
    expectParseFailure(mutated(s.bytes, (b) => (b[0x2fc] = 5)), 'UNSUPPORTED', 'T06');
    expectParseFailure(mutated(s.bytes, (b) => (b[0x2fe] = (b[0x2fe] ?? 0) + 1)), 'PARSE', 'T06');
    expectParseFailure(mutated(s.bytes, (b) => (b[0x278] = (b[0x278] ?? 0) + 1)), 'PARSE', 'T06');
    const q = quoteOf(s);
    expectVerifierFailure(s, { ...q, signatureData: { ...q.signatureData, outerCertificationDataType: 5 } }, 'UNSUPPORTED', 'T06');
  });

  it('T07: inner certification data type other than 5, sizes that do not consume the rest, oversized auth data', () => {
    const s = v4();
    const n = authSize(s.bytes);
    expectParseFailure(mutated(s.bytes, (b) => (b[0x4c4 + n] = 3)), 'UNSUPPORTED', 'T07');
    expectParseFailure(mutated(s.bytes, (b) => (b[0x4c4 + n + 2] = (b[0x4c4 + n + 2] ?? 0) + 1)), 'PARSE', 'T07');
    expectParseFailure(mutated(s.bytes, (b) => ((b[0x4c2] = 0xff), (b[0x4c3] = 0xff))), 'PARSE', 'T07');
    const g = sgx();
    const m = (g.bytes[0x3f4] ?? 0) | ((g.bytes[0x3f5] ?? 0) << 8);
    expectParseFailure(mutated(g.bytes, (b) => (b[0x3f6 + m] = 3)), 'UNSUPPORTED', 'T07'); // encrypted PPID, no chain
    const q = quoteOf(s);
    expectVerifierFailure(s, { ...q, signatureData: { ...q.signatureData, certificationDataType: 3 } }, 'UNSUPPORTED', 'T07');
    expectVerifierFailure(s, { ...q, signatureData: { ...q.signatureData, qeReportBytes: q.signatureData.qeReportBytes.subarray(0, 383) } }, 'PARSE', 'T07');
  });

  it('T08: a PEM chain that is not exactly three strict certificates is PARSE', () => {
    const s = v4();
    const text = Buffer.from(s.bytes).toString('latin1');
    const at = text.lastIndexOf('-----BEGIN CERTIFICATE-----');
    const broken = mutated(s.bytes, (b) => (b[at + 11] = 0x58)); // BEGIN CERTIFICATE -> BEGIN XERTIFICATE
    expect(catchError(() => runReal(s, { bytes: broken })).check).toBe('T08');
    expect(catchError(() => runReal(s, { bytes: broken })).errorClass).toBe('PARSE');
    const q = quoteOf(s);
    const pem = Buffer.from(q.signatureData.pckCertChainPem).toString('latin1');
    const twoCerts = new Uint8Array(Buffer.from(pem.slice(0, pem.lastIndexOf('-----BEGIN CERTIFICATE-----')), 'latin1'));
    expectVerifierFailure(s, { ...q, signatureData: { ...q.signatureData, pckCertChainPem: twoCerts } }, 'PARSE', 'T08');
    // A certificate whose DER is cut short inside a well-formed PEM block.
    const truncated = replaceChainCertificate(s.bytes, 1, (der) => (der[1] = 0x81));
    expect(catchError(() => runReal(s, { bytes: truncated })).check).toBe('T08');
  });
});
