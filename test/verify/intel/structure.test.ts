/**
 * Section A (T02–T08) on genuine quotes. Each rule is enforced twice: by the
 * native parser in parseEvidence, and by the verifier, which frames the
 * quote object's bytes again (T49: the object is only a carrier) and asserts
 * the rules once more on the quote it rebuilt. Both paths assert the class
 * and the check id; an edited object field is never read.
 */
import { describe, expect, it } from 'vitest';

import { parseEvidence, type SgxQuote, type TdxQuote } from '../../../src/index.js';
import { verifyIntelQuote } from '../../../src/verify/intel/index.js';
import { catchError } from '../../helpers/expect-error.js';
import { HAVE_VECTORS } from '../../helpers/vectors.js';
import { mutated, realSetup, replaceChainCertificate, runReal, type RealSetup } from './helpers/real.js';

function quoteOf(s: RealSetup): TdxQuote | SgxQuote {
  const q = parseEvidence(s.bytes);
  if (q.kind === 'snp') throw new Error('not Intel');
  return q;
}

function expectVerifierFailure(s: RealSetup, quote: TdxQuote | SgxQuote, errorClass: string, check: string, code?: string): void {
  const err = catchError(() => verifyIntelQuote(quote, s.collateral, { at: s.at, relaxations: s.relaxations }));
  expect({ errorClass: err.errorClass, check: err.check }).toEqual({ errorClass, check });
  if (code !== undefined) expect(err.code).toBe(code);
}

/** The parser refuses `bytes`; so does the verifier when a genuine quote object carries them. */
function expectRejected(s: RealSetup, bytes: Uint8Array, errorClass: string, check: string): void {
  const err = catchError(() => parseEvidence(bytes));
  expect({ errorClass: err.errorClass, check: err.check }).toEqual({ errorClass, check });
  expectVerifierFailure(s, { ...quoteOf(s), bytes }, errorClass, check, err.code);
}

/** What a verification established, without the instant-independent noise. */
function outcomeOf(s: RealSetup, quote: TdxQuote | SgxQuote) {
  const r = verifyIntelQuote(quote, s.collateral, { at: s.at, relaxations: s.relaxations });
  return { tcbStatus: r.tcbStatus, advisoryIds: r.advisoryIds, claims: r.claims, checks: r.checks, warnings: r.warnings };
}

describe.skipIf(!HAVE_VECTORS)('quote structure T02–T08 (genuine quotes)', () => {
  const v4 = () => realSetup('phala-dcap-qvl/tdx_quote');
  const v5 = () => realSetup('phala-dcap-qvl/tdx_quote_outdated');
  const sgx = () => realSetup('phala-dcap-qvl/sgx_quote');
  const authSize = (b: Uint8Array) => (b[0x4c2] ?? 0) | ((b[0x4c3] ?? 0) << 8);

  it('T02: a quote cut below the minimum, and one above the 64 KiB cap, are PARSE', () => {
    const s = v4();
    expectRejected(s, s.bytes.slice(0, 100), 'PARSE', 'T02');
    const big = new Uint8Array(65 * 1024);
    big.set(s.bytes);
    expectRejected(s, big, 'PARSE', 'T02');
  });

  it('T03: version, attestation key type, TEE type and QE vendor are UNSUPPORTED', () => {
    const s = v4();
    expectRejected(s, mutated(s.bytes, (b) => (b[0] = 6)), 'UNSUPPORTED', 'T03');
    expectRejected(s, mutated(s.bytes, (b) => (b[2] = 3)), 'UNSUPPORTED', 'T03');
    expectRejected(s, mutated(s.bytes, (b) => (b[4] = 0)), 'UNSUPPORTED', 'T03');
    expectRejected(s, mutated(s.bytes, (b) => (b[0x0c] = (b[0x0c] ?? 0) ^ 1)), 'UNSUPPORTED', 'T03');
    const g = sgx();
    expectRejected(g, mutated(g.bytes, (b) => (b[4] = 1)), 'UNSUPPORTED', 'T03');
  });

  it('T04: v5 body type 1 (SGX) and a wrong body size are rejected; v4 carries TD 1.0 only', () => {
    const s = v5();
    expectRejected(s, mutated(s.bytes, (b) => (b[0x30] = 1)), 'UNSUPPORTED', 'T04');
    expectRejected(s, mutated(s.bytes, (b) => (b[0x32] = (b[0x32] ?? 0) + 1)), 'PARSE', 'T04');
  });

  it('T05: a non-zero byte after the signature data is PARSE; all-zero padding is accepted and reported', () => {
    const s = v4();
    expectRejected(s, mutated(s.bytes, (b) => (b[b.length - 1] = 1)), 'PARSE', 'T05');
    const ok = runReal(s);
    expect(ok.checks.find((c) => c.id === 'T05')?.description).toContain('70 all-zero bytes');
  });

  it('T06: outer certification data type other than 6, or a wrong outer size', () => {
    const s = v4();
    expectRejected(s, mutated(s.bytes, (b) => (b[0x2fc] = 5)), 'UNSUPPORTED', 'T06');
    expectRejected(s, mutated(s.bytes, (b) => (b[0x2fe] = (b[0x2fe] ?? 0) + 1)), 'PARSE', 'T06');
    expectRejected(s, mutated(s.bytes, (b) => (b[0x278] = (b[0x278] ?? 0) + 1)), 'PARSE', 'T06');
  });

  it('T07: inner certification data type other than 5, sizes that do not consume the rest, oversized auth data', () => {
    const s = v4();
    const n = authSize(s.bytes);
    expectRejected(s, mutated(s.bytes, (b) => (b[0x4c4 + n] = 3)), 'UNSUPPORTED', 'T07');
    expectRejected(s, mutated(s.bytes, (b) => (b[0x4c4 + n + 2] = (b[0x4c4 + n + 2] ?? 0) + 1)), 'PARSE', 'T07');
    expectRejected(s, mutated(s.bytes, (b) => ((b[0x4c2] = 0xff), (b[0x4c3] = 0xff))), 'PARSE', 'T07');
    const g = sgx();
    const m = (g.bytes[0x3f4] ?? 0) | ((g.bytes[0x3f5] ?? 0) << 8);
    expectRejected(g, mutated(g.bytes, (b) => (b[0x3f6 + m] = 3)), 'UNSUPPORTED', 'T07'); // encrypted PPID, no chain
  });

  it('T49: an object whose kind, version or body type contradicts its bytes is PARSE (ERR_EVIDENCE_OBJECT_MISMATCH)', () => {
    const s = v4();
    const q = quoteOf(s) as TdxQuote;
    const code = 'ERR_EVIDENCE_OBJECT_MISMATCH';
    expectVerifierFailure(s, { ...q, version: 5 }, 'PARSE', 'T03', code);
    expectVerifierFailure(s, { ...q, kind: 'sgx', version: 3 } as unknown as SgxQuote, 'PARSE', 'T03', code);
    expectVerifierFailure(s, { ...q, bodyType: 3 }, 'PARSE', 'T04', code);
    const five = v5();
    const q5 = quoteOf(five) as TdxQuote;
    expectVerifierFailure(five, { ...q5, version: 4, signedRange: { offset: 0, length: 0x30 + 584 } }, 'PARSE', 'T03', code); // a v5 quote read as v4 (aleph-vm #1186)
    const g = sgx();
    const sq = quoteOf(g) as SgxQuote;
    expectVerifierFailure(g, { ...sq, kind: 'tdx', version: 4 } as unknown as TdxQuote, 'PARSE', 'T03', code);
    // SEV-SNP report bytes in an Intel quote object
    const snp = new Uint8Array(0x4a0);
    snp[0] = 3;
    expectVerifierFailure(s, { ...q, bytes: snp }, 'PARSE', 'T03', code);
  });

  it('T49: every other field of the object is ignored; the verification reads the bytes only', () => {
    for (const s of [v4(), sgx()]) {
      const q = quoteOf(s);
      const genuine = outcomeOf(s, q);
      const sd = q.signatureData;
      const edits: Partial<TdxQuote | SgxQuote>[] = [
        // q's header is a union of the v3 and v4 header types; the spread keeps q's own version's fields.
        { header: { ...q.header, attestationKeyType: 3, qeVendorId: new Uint8Array(16) } } as Partial<TdxQuote | SgxQuote>,
        { signedRange: { offset: 0, length: 0x30 } },
        { trailing: { length: 70, allZero: false } },
        { warnings: ['dangerouslyLenient: ignored 3 trailing bytes that are not all zero'] },
        { signatureData: { ...sd, outerCertificationDataType: 5, certificationDataType: 3, qeReportBytes: sd.qeReportBytes.subarray(0, 383) } },
        { signatureData: { ...sd, pckCertChainPem: sd.pckCertChainPem.subarray(0, 100), quoteSignature: new Uint8Array(64) } },
        { signatureData: { ...sd, qeReport: { ...sd.qeReport, isvSvn: 999, attributes: new Uint8Array(16) } } },
        { body: { ...q.body, reportData: new Uint8Array(64) } } as Partial<TdxQuote>,
      ];
      for (const edit of edits) expect(outcomeOf(s, { ...q, ...edit } as TdxQuote | SgxQuote)).toEqual(genuine);
    }
  });

  it('T08: a PEM chain that is not exactly three strict certificates is PARSE', () => {
    const s = v4();
    const text = Buffer.from(s.bytes).toString('latin1');
    const at = text.lastIndexOf('-----BEGIN CERTIFICATE-----');
    const broken = mutated(s.bytes, (b) => (b[at + 11] = 0x58)); // BEGIN CERTIFICATE -> BEGIN XERTIFICATE
    expect(catchError(() => runReal(s, { bytes: broken })).check).toBe('T08');
    expect(catchError(() => runReal(s, { bytes: broken })).errorClass).toBe('PARSE');
    // A certificate whose DER is cut short inside a well-formed PEM block.
    const truncated = replaceChainCertificate(s.bytes, 1, (der) => (der[1] = 0x81));
    expect(catchError(() => runReal(s, { bytes: truncated })).check).toBe('T08');
  });
});
