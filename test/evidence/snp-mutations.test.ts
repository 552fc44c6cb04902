/**
 * Negative tests for the SEV-SNP report parser and signature (S02-S04, S12)
 * on genuine reports. Offsets come from the checklist §4.1.
 */
import { describe, expect, it } from 'vitest';

import { parseEvidence, TeeVerifyError, verifySnpReportSignature, type SnpReport } from '../../src/index.js';
import { expectError } from '../helpers/expect-error.js';
import { HAVE_VECTORS, findEntry, rawEcPoint, readEvidenceBytes, snpSigningCertificate } from '../helpers/vectors.js';

const V2 = 'trustee/snp_test_report_vcek';
const V3 = 'ms-tee-attestation-verification/genoa';
const V3_VLEK = 'trustee/snp_test_vlek_report';
const V5 = 'ms-tee-attestation-verification/turin';

function load(id: string): Uint8Array {
  return readEvidenceBytes(findEntry(id)!);
}

function keyOf(id: string): Uint8Array {
  return rawEcPoint(snpSigningCertificate(findEntry(id)!)!.publicKey);
}

function withU32(bytes: Uint8Array, offset: number, value: number): Uint8Array {
  const copy = Uint8Array.from(bytes);
  Buffer.from(copy.buffer).writeUInt32LE(value >>> 0, offset);
  return copy;
}

function withU64(bytes: Uint8Array, offset: number, value: bigint): Uint8Array {
  const copy = Uint8Array.from(bytes);
  Buffer.from(copy.buffer).writeBigUInt64LE(value, offset);
  return copy;
}

function setByte(bytes: Uint8Array, offset: number, value = 0x01): Uint8Array {
  const copy = Uint8Array.from(bytes);
  copy[offset] = value;
  return copy;
}

const u64 = (b: Uint8Array, o: number) => Buffer.from(b).readBigUInt64LE(o);
const PRODUCT = { snpProduct: 'Milan' } as const;

describe.skipIf(!HAVE_VECTORS)('SNP: a flipped byte in the signed range fails (S12)', () => {
  for (const id of [V2, V3, V3_VLEK, V5]) {
    it(`${id}: every byte of [0, 0x2A0) and of R / S`, () => {
      const bytes = load(id);
      const key = keyOf(id);
      const opts = id === V2 ? PRODUCT : {};
      expect(verifySnpReportSignature(parseEvidence(bytes, opts) as SnpReport, key)).toBe(true);
      let rejectedByParser = 0;
      for (let i = 0; i < 0x2a0; i++) {
        const mutated = Uint8Array.from(bytes);
        mutated[i]! ^= 0x01;
        let report: SnpReport;
        try {
          report = parseEvidence(mutated, opts) as SnpReport;
        } catch (err) {
          expect(err).toBeInstanceOf(TeeVerifyError); // version, algo, signer info, reserved ranges, policy
          rejectedByParser++;
          continue;
        }
        expect(verifySnpReportSignature(report, key), `byte 0x${i.toString(16)}`).toBe(false);
      }
      expect(rejectedByParser).toBeGreaterThan(0);
      for (const at of [0x2a0, 0x2cf, 0x2e8, 0x317]) {
        const mutated = Uint8Array.from(bytes);
        mutated[at]! ^= 0x01;
        expect(verifySnpReportSignature(parseEvidence(mutated, opts) as SnpReport, key)).toBe(false);
      }
    });
  }

  it('the VLEK report does not verify with a VCEK key and vice versa', () => {
    const vlekReport = parseEvidence(load(V3_VLEK)) as SnpReport;
    expect(vlekReport.signerInfo.signingKey).toBe('vlek');
    expect(verifySnpReportSignature(vlekReport, keyOf(V3))).toBe(false);
  });
});

describe.skipIf(!HAVE_VECTORS)('SNP: structure (S02-S04)', () => {
  it('every shorter length is ERR_TRUNCATED (S02)', () => {
    const bytes = load(V3);
    for (let n = 1; n < 0x4a0; n++) {
      const cut = bytes.subarray(0, n);
      const err = expectError(() => parseEvidence(cut, { encoding: 'binary' }), { code: 'ERR_TRUNCATED', errorClass: 'PARSE' });
      if (n >= 4) expect({ check: err.check, offset: err.offset }).toEqual({ check: 'S02', offset: n });
    }
  });

  it('trailing bytes: zero padding reported, non-zero rejected, strict rejects all, input cap', () => {
    const bytes = load(V3);
    const padded = new Uint8Array(0x4a0 + 32);
    padded.set(bytes);
    expect(parseEvidence(padded).trailing).toEqual({ length: 32, allZero: true });
    expectError(() => parseEvidence(padded, { trailing: 'strict' }), { code: 'ERR_TRAILING_DATA', check: 'S02', offset: 0x4a0 });
    padded[0x4a0 + 5] = 7;
    expectError(() => parseEvidence(padded), { code: 'ERR_TRAILING_DATA', check: 'S02', offset: 0x4a0 + 5 });
    const huge = new Uint8Array(0x4a0 + 4097);
    huge.set(bytes);
    expectError(() => parseEvidence(huge), { code: 'ERR_INPUT_TOO_LARGE', check: 'S02' });
  });

  it('versions outside 2..5 are UNSUPPORTED, never read as v5 (S03, V29)', () => {
    for (const v of [0, 1, 6, 7, 0xffff]) {
      expectError(() => parseEvidence(withU32(load(V5), 0, v)), { code: 'ERR_UNSUPPORTED_VERSION', errorClass: 'UNSUPPORTED', check: 'S03' });
    }
  });

  it('signature algorithm other than ECDSA P-384 / SHA-384 is UNSUPPORTED (S04)', () => {
    for (const algo of [0, 2, 0xffffffff]) {
      expectError(() => parseEvidence(withU32(load(V3), 0x34, algo)), { code: 'ERR_UNSUPPORTED_SIGNATURE_ALGORITHM', errorClass: 'UNSUPPORTED', check: 'S04' });
    }
  });

  it('signer info: SIGNING_KEY other than VCEK / VLEK is UNSUPPORTED; bits 31:5 must be zero (S04)', () => {
    const bytes = load(V3);
    for (const key of [2, 3, 6, 7]) {
      expectError(() => parseEvidence(withU32(bytes, 0x48, key << 2)), { code: 'ERR_UNSUPPORTED_SIGNING_KEY', check: 'S04' });
    }
    for (const bit of [5, 16, 31]) {
      expectError(() => parseEvidence(withU32(bytes, 0x48, 1 << bit)), { code: 'ERR_RESERVED_NONZERO', check: 'S04', offset: 0x48 });
    }
  });

  it('policy: bit 17 must be one, bits 63:26 zero (S04)', () => {
    const bytes = load(V3);
    const policy = u64(bytes, 0x08);
    expectError(() => parseEvidence(withU64(bytes, 0x08, policy & ~(1n << 17n))), { code: 'ERR_BAD_FIELD_VALUE', check: 'S04', offset: 0x08 });
    for (const bit of [26n, 40n, 63n]) {
      expectError(() => parseEvidence(withU64(bytes, 0x08, policy | (1n << bit))), { code: 'ERR_RESERVED_NONZERO', check: 'S04', offset: 0x08 });
    }
  });

  it('platform info: bits 63:8 must be zero (S04)', () => {
    const bytes = load(V5);
    for (const bit of [8n, 32n, 63n]) {
      expectError(() => parseEvidence(withU64(bytes, 0x40, u64(bytes, 0x40) | (1n << bit))), { code: 'ERR_RESERVED_NONZERO', check: 'S04', offset: 0x40 });
    }
  });

  it('reserved ranges common to every version must be zero, including the unsigned tail (S04, V30)', () => {
    for (const id of [V2, V3, V5]) {
      const opts = id === V2 ? PRODUCT : {};
      for (const at of [0x04c, 0x04f, 0x1eb, 0x1ef, 0x2d0, 0x2e7, 0x318, 0x32f, 0x330, 0x400, 0x49f]) {
        expectError(() => parseEvidence(setByte(load(id), at), opts), { code: 'ERR_RESERVED_NONZERO', check: 'S04', offset: at });
      }
    }
  });

  it('version-dependent ranges: v2 CPUID bytes reserved (S43), v5 mitigation vectors allowed', () => {
    const v2 = load(V2);
    for (const at of [0x188, 0x18a, 0x19f, 0x1f8, 0x207, 0x29f]) {
      expectError(() => parseEvidence(setByte(v2, at), PRODUCT), { code: 'ERR_RESERVED_NONZERO', check: 'S04', offset: at });
    }
    const v3 = load(V3);
    expect(() => parseEvidence(setByte(v3, 0x18a, 9))).not.toThrow(); // stepping is a field from v3 on
    for (const at of [0x18b, 0x19f, 0x1f8, 0x200, 0x29f]) {
      expectError(() => parseEvidence(setByte(v3, at)), { code: 'ERR_RESERVED_NONZERO', check: 'S04', offset: at });
    }
    const v5 = load(V5);
    const mitigated = setByte(v5, 0x1f8, 0x80);
    expect((parseEvidence(mitigated) as SnpReport).launchMitVector).toBe(u64(mitigated, 0x1f8));
    for (const at of [0x208, 0x29f]) {
      expectError(() => parseEvidence(setByte(v5, at)), { code: 'ERR_RESERVED_NONZERO', check: 'S04', offset: at });
    }
  });

  it('product: v3+ comes from CPUID and must match a named product; v2 needs the caller (S06)', () => {
    const genoa = parseEvidence(load(V3)) as SnpReport;
    expect({ product: genoa.product, source: genoa.productSource }).toEqual({ product: 'Genoa', source: 'cpuid' });
    expectError(() => parseEvidence(load(V3), { snpProduct: 'Milan' }), { code: 'ERR_PRODUCT_MISMATCH', errorClass: 'PRODUCT', check: 'S06' });
    const v2 = parseEvidence(load(V2)) as SnpReport;
    expect({ product: v2.product, source: v2.productSource, tcb: v2.tcb }).toEqual({ product: undefined, source: 'unknown', tcb: undefined });
    // An unknown CPUID family is not a parse failure: the product stays unknown for verification to refuse.
    const unknown = parseEvidence(setByte(load(V3), 0x188, 0x17)) as SnpReport;
    expect(unknown.product).toBeUndefined();
  });

  it('Turin TCB layout puts FMC first; the Milan layout reads the same bytes differently (S46)', () => {
    const turin = parseEvidence(load(V5)) as SnpReport;
    expect(turin.product).toBe('Turin');
    expect(turin.tcb!.reported.fmc).toBe(turin.reportedTcbBytes[0]);
    expect(turin.tcb!.reported.snp).toBe(turin.reportedTcbBytes[3]);
    const milan = parseEvidence(load(V2), PRODUCT) as SnpReport;
    expect(milan.tcb!.reported.fmc).toBeUndefined();
    expect(milan.tcb!.reported.snp).toBe(milan.reportedTcbBytes[6]);
  });
});
