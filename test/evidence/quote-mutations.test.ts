/**
 * Negative tests for the Intel quote parser and signatures on genuine quotes:
 * flipped bytes in each signed region, truncation at every length, and every
 * length field set to zero, off by one, past the buffer and to values that
 * overflow 32-bit arithmetic (checklist §7). Offsets below come from the
 * checklist (§2.1, §3), not from the parser.
 */
import { describe, expect, it } from 'vitest';

import {
  parseEvidence,
  TeeVerifyError,
  verifyQeReportDataBinding,
  verifyQeReportSignature,
  verifyQuoteSignature,
  type SgxQuote,
  type TdxQuote,
} from '../../src/index.js';
import { expectError } from '../helpers/expect-error.js';
import { HAVE_VECTORS, certificatesFromPem, findEntry, rawEcPoint, readEvidenceBytes } from '../helpers/vectors.js';

type IntelQuote = TdxQuote | SgxQuote;

const V4 = 'trustee/tdx_quote_4'; // no trailing bytes
const V4_PADDED = 'phala-dcap-qvl/tdx_quote'; // 70 zero bytes of padding
const V5_TD15 = 'go-tdx-guest/quote_v5_sample';
const V5_TD10 = 'trustee/tdx_quote_5';
const V3 = 'phala-dcap-qvl/sgx_quote';

function load(id: string): Uint8Array {
  return readEvidenceBytes(findEntry(id)!);
}

function withU16(bytes: Uint8Array, offset: number, value: number): Uint8Array {
  const copy = Uint8Array.from(bytes);
  Buffer.from(copy.buffer).writeUInt16LE(value, offset);
  return copy;
}

function withU32(bytes: Uint8Array, offset: number, value: number): Uint8Array {
  const copy = Uint8Array.from(bytes);
  Buffer.from(copy.buffer).writeUInt32LE(value >>> 0, offset);
  return copy;
}

function flip(bytes: Uint8Array, offset: number, mask = 0x01): Uint8Array {
  const copy = Uint8Array.from(bytes);
  copy[offset]! ^= mask;
  return copy;
}

const u32 = (b: Uint8Array, o: number) => Buffer.from(b).readUInt32LE(o);
const u16 = (b: Uint8Array, o: number) => Buffer.from(b).readUInt16LE(o);

/** Signature-data offsets per §2.1 / §3 for the quote at hand. */
function layoutOf(bytes: Uint8Array) {
  const version = u16(bytes, 0);
  const sigLenAt = version === 3 ? 0x1b0 : version === 4 ? 0x278 : 0x36 + u32(bytes, 0x32);
  const sigStart = sigLenAt + 4;
  const outerTypeAt = version === 3 ? undefined : sigStart + 128;
  const qeReportAt = version === 3 ? sigStart + 128 : sigStart + 134;
  const authSizeAt = qeReportAt + 384 + 64;
  const n = u16(bytes, authSizeAt);
  const innerTypeAt = authSizeAt + 2 + n;
  const innerSizeAt = innerTypeAt + 2;
  return { version, sigLenAt, sigStart, outerTypeAt, qeReportAt, authSizeAt, innerTypeAt, innerSizeAt, end: sigStart + u32(bytes, sigLenAt) };
}

function pckKey(q: IntelQuote): Uint8Array {
  return rawEcPoint(certificatesFromPem(q.signatureData.pckCertChainPem)[0]!.publicKey);
}

describe.skipIf(!HAVE_VECTORS)('Intel quotes: a flipped byte in each signed region fails its check', () => {
  for (const id of [V4, V5_TD15, V3]) {
    it(`${id}: every byte of header || body (T26, T03, T04)`, () => {
      const bytes = load(id);
      const good = parseEvidence(bytes) as IntelQuote;
      expect(verifyQuoteSignature(good)).toBe(true);
      for (let i = 0; i < good.signedRange.length; i++) {
        let parsed: IntelQuote;
        try {
          parsed = parseEvidence(flip(bytes, i)) as IntelQuote;
        } catch (err) {
          // Header fields (version, key type, TEE type, vendor, body descriptor) reject before crypto.
          expect(err).toBeInstanceOf(TeeVerifyError);
          expect(i).toBeLessThan(0x36);
          continue;
        }
        expect(verifyQuoteSignature(parsed), `byte ${i}`).toBe(false);
      }
    });

    it(`${id}: every byte of the QE report (T22, T23)`, () => {
      const bytes = load(id);
      const { qeReportAt } = layoutOf(bytes);
      const key = pckKey(parseEvidence(bytes) as IntelQuote);
      for (let i = 0; i < 384; i++) {
        const q = parseEvidence(flip(bytes, qeReportAt + i)) as IntelQuote;
        expect(verifyQeReportSignature(q, key), `QE byte ${i}`).toBe(false);
        expect(verifyQuoteSignature(q)).toBe(true);
      }
    });

    it(`${id}: signatures, attestation key and QE auth data`, () => {
      const bytes = load(id);
      const { sigStart, qeReportAt, authSizeAt } = layoutOf(bytes);
      const key = pckKey(parseEvidence(bytes) as IntelQuote);
      for (let i = 0; i < 64; i++) {
        expect(verifyQuoteSignature(parseEvidence(flip(bytes, sigStart + i)) as IntelQuote)).toBe(false);
        expect(verifyQeReportSignature(parseEvidence(flip(bytes, qeReportAt + 384 + i)) as IntelQuote, key)).toBe(false);
        // A changed attestation key breaks the QE binding (T23) and the quote signature (T26).
        const q = parseEvidence(flip(bytes, sigStart + 64 + i)) as IntelQuote;
        expect(verifyQeReportDataBinding(q)).toBe(false);
        try {
          expect(verifyQuoteSignature(q)).toBe(false);
        } catch (err) {
          expect((err as TeeVerifyError).code).toBe('ERR_BAD_PUBLIC_KEY');
        }
      }
      expect(verifyQeReportDataBinding(parseEvidence(flip(bytes, authSizeAt + 2)) as IntelQuote)).toBe(false);
    });
  }
});

describe.skipIf(!HAVE_VECTORS)('Intel quotes: truncation at every length', () => {
  for (const id of [V4, V5_TD15, V5_TD10, V3]) {
    it(`${id}: every prefix fails with the code of the field it cuts`, () => {
      const bytes = load(id);
      const { sigLenAt, end } = layoutOf(bytes);
      expect(end).toBe(bytes.length);
      for (let n = 0; n < bytes.length; n++) {
        const cut = bytes.subarray(0, n);
        let expected: string;
        if (n === 0) expected = 'ERR_EMPTY_INPUT';
        else if (n < sigLenAt + 4) expected = 'ERR_TRUNCATED';
        else expected = 'ERR_LENGTH_OUT_OF_BOUNDS'; // signature_data_len points past the end (T05)
        const err = expectError(() => parseEvidence(cut, { encoding: 'binary' }), { code: expected, errorClass: 'PARSE' });
        if (expected === 'ERR_LENGTH_OUT_OF_BOUNDS') expect({ check: err.check, offset: err.offset }).toEqual({ check: 'T05', offset: sigLenAt });
      }
    });
  }
});

describe.skipIf(!HAVE_VECTORS)('Intel quotes: length fields (T05-T07)', () => {
  it('signature_data_len: zero, too small, off by one, past the buffer, overflowing', () => {
    const bytes = load(V4);
    const L = layoutOf(bytes);
    const actual = u32(bytes, L.sigLenAt);
    const cases: [number, string, string][] = [
      [0, 'ERR_BAD_LENGTH', 'T06'],
      [133, 'ERR_BAD_LENGTH', 'T06'],
      [actual - 1, 'ERR_LENGTH_OUT_OF_BOUNDS', 'T06'], // the outer size no longer fits
      [actual + 1, 'ERR_LENGTH_OUT_OF_BOUNDS', 'T05'],
      [0x7fffffff, 'ERR_LENGTH_OUT_OF_BOUNDS', 'T05'],
      [0x80000000, 'ERR_LENGTH_OUT_OF_BOUNDS', 'T05'],
      [0xffffffff, 'ERR_LENGTH_OUT_OF_BOUNDS', 'T05'],
    ];
    for (const [value, code, check] of cases) {
      expectError(() => parseEvidence(withU32(bytes, L.sigLenAt, value)), { code, check, errorClass: 'PARSE' });
    }
    // With zero padding behind it, one byte more makes the outer size too small.
    const padded = load(V4_PADDED);
    const P = layoutOf(padded);
    expectError(() => parseEvidence(withU32(padded, P.sigLenAt, u32(padded, P.sigLenAt) + 1)), { code: 'ERR_BAD_LENGTH', check: 'T06' });
  });

  it('SGX v3 signature_data_len too small for the fixed parts', () => {
    const bytes = load(V3);
    const L = layoutOf(bytes);
    for (const value of [0, 127, 500]) {
      expectError(() => parseEvidence(withU32(bytes, L.sigLenAt, value), { trailing: 'dangerouslyLenient' }), { code: 'ERR_BAD_LENGTH', errorClass: 'PARSE', offset: L.sigLenAt });
    }
    // Room for the QE report but not for the auth data it announces.
    expectError(() => parseEvidence(withU32(bytes, L.sigLenAt, 600), { trailing: 'dangerouslyLenient' }), { code: 'ERR_LENGTH_OUT_OF_BOUNDS', check: 'T07', offset: L.authSizeAt });
  });

  it('outer certification data (type 6) size and type', () => {
    const bytes = load(V4);
    const L = layoutOf(bytes);
    const sizeAt = L.outerTypeAt! + 2;
    const actual = u32(bytes, sizeAt);
    const cases: [number, string][] = [
      [0, 'ERR_BAD_LENGTH'],
      [actual - 1, 'ERR_BAD_LENGTH'],
      [actual + 1, 'ERR_LENGTH_OUT_OF_BOUNDS'],
      [0xfffffffa, 'ERR_LENGTH_OUT_OF_BOUNDS'], // uint32 + 6 would wrap
      [0xffffffff, 'ERR_LENGTH_OUT_OF_BOUNDS'],
    ];
    for (const [value, code] of cases) {
      expectError(() => parseEvidence(withU32(bytes, sizeAt, value)), { code, check: 'T06', offset: sizeAt });
    }
    for (const type of [0, 1, 5, 7, 0xffff]) {
      expectError(() => parseEvidence(withU16(bytes, L.outerTypeAt!, type)), { code: 'ERR_UNSUPPORTED_CERT_DATA_TYPE', errorClass: 'UNSUPPORTED', check: 'T06' });
    }
  });

  for (const id of [V4, V5_TD15, V3]) {
    it(`${id}: QE auth data size and inner certification data (type 5) size and type (T07)`, () => {
      const bytes = load(id);
      const L = layoutOf(bytes);
      expectError(() => parseEvidence(withU16(bytes, L.authSizeAt, 0xffff)), { code: 'ERR_LENGTH_OUT_OF_BOUNDS', check: 'T07', offset: L.authSizeAt });
      const actual = u32(bytes, L.innerSizeAt);
      const cases: [number, string][] = [
        [0, 'ERR_BAD_LENGTH'],
        [actual - 1, 'ERR_BAD_LENGTH'],
        [actual + 1, 'ERR_LENGTH_OUT_OF_BOUNDS'],
        [0xfffffffa, 'ERR_LENGTH_OUT_OF_BOUNDS'],
        [0xffffffff, 'ERR_LENGTH_OUT_OF_BOUNDS'],
      ];
      for (const [value, code] of cases) {
        expectError(() => parseEvidence(withU32(bytes, L.innerSizeAt, value)), { code, check: 'T07', offset: L.innerSizeAt });
      }
      for (const type of [1, 2, 3, 4, 6, 0xffff]) {
        expectError(() => parseEvidence(withU16(bytes, L.innerTypeAt, type)), { code: 'ERR_UNSUPPORTED_CERT_DATA_TYPE', errorClass: 'UNSUPPORTED', check: 'T07' });
      }
    });
  }
});

describe.skipIf(!HAVE_VECTORS)('Intel quotes: header and body descriptor (T02-T04)', () => {
  it('versions other than 3, 4, 5 are UNSUPPORTED', () => {
    const bytes = load(V4);
    for (const v of [1, 2, 6, 0xff]) {
      expectError(() => parseEvidence(withU16(bytes, 0, v)), { code: 'ERR_UNSUPPORTED_VERSION', errorClass: 'UNSUPPORTED', check: 'T03', offset: 0 });
    }
  });

  it('attestation key type other than 2 (P-256) is UNSUPPORTED, including P-384 (3)', () => {
    for (const id of [V4, V3]) {
      for (const t of [1, 3, 0xffff]) {
        expectError(() => parseEvidence(withU16(load(id), 2, t)), { code: 'ERR_UNSUPPORTED_KEY_TYPE', errorClass: 'UNSUPPORTED', check: 'T03' });
      }
    }
  });

  it('TEE type: v4/v5 must be TDX (0x81), v3 reserved bytes must be zero', () => {
    expectError(() => parseEvidence(withU32(load(V4), 4, 0)), { code: 'ERR_UNSUPPORTED_TEE_TYPE', check: 'T03' });
    expectError(() => parseEvidence(withU32(load(V5_TD15), 4, 0x80)), { code: 'ERR_UNSUPPORTED_TEE_TYPE', check: 'T03' });
    expectError(() => parseEvidence(withU32(load(V3), 4, 0x81)), { code: 'ERR_UNSUPPORTED_TEE_TYPE', check: 'T03' });
  });

  it('QE vendor ID other than Intel is UNSUPPORTED (V10)', () => {
    for (const id of [V4, V3]) {
      expectError(() => parseEvidence(flip(load(id), 0x0c + 15)), { code: 'ERR_UNSUPPORTED_QE_VENDOR', check: 'T03', offset: 0x0c });
    }
  });

  it('v5 body type must be 2 or 3 with its exact size (T04)', () => {
    const bytes = load(V5_TD15);
    for (const t of [0, 1, 4]) {
      expectError(() => parseEvidence(withU16(bytes, 0x30, t)), { code: 'ERR_UNSUPPORTED_BODY_TYPE', errorClass: 'UNSUPPORTED', check: 'T04' });
    }
    for (const size of [0, 584, 647, 649, 0xffffffff]) {
      expectError(() => parseEvidence(withU32(bytes, 0x32, size)), { code: 'ERR_BAD_LENGTH', errorClass: 'PARSE', check: 'T04', offset: 0x32 });
    }
    // A TD 1.5 body relabelled as TD 1.0 with the matching size misframes everything after it.
    const relabelled = withU32(withU16(bytes, 0x30, 2), 0x32, 584);
    expect(() => parseEvidence(relabelled)).toThrow(TeeVerifyError);
  });

  it('input above the 64 KiB cap is rejected before parsing (T02)', () => {
    const bytes = load(V4);
    const big = new Uint8Array(64 * 1024 + 1);
    big.set(bytes);
    expectError(() => parseEvidence(big), { code: 'ERR_INPUT_TOO_LARGE', check: 'T02' });
  });

  it('non-zero bytes after the signature data: rejected by default, ignored with a warning when lenient', () => {
    const bytes = load(V4);
    const extended = new Uint8Array(bytes.length + 10);
    extended.set(bytes);
    extended[bytes.length + 9] = 0x41;
    expectError(() => parseEvidence(extended), { code: 'ERR_TRAILING_DATA', check: 'T05', offset: bytes.length + 9 });
    const lenient = parseEvidence(extended, { trailing: 'dangerouslyLenient' });
    expect(lenient.trailing).toEqual({ length: 10, allZero: false });
    expect(lenient.warnings).toHaveLength(1);
  });
});
