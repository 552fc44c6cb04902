/**
 * parseEvidence's routing: a kind the caller names must match the family
 * bytes 2..3 select, else ERR_UNKNOWN_FORMAT (review s12 docs #5; it used to
 * select the parser whatever bytes 2..3 said), and option names are looked up
 * as own keys only.
 */
import { describe, expect, it } from 'vitest';

import { parseEvidence, type SnpReport } from '../../src/index.js';
import { catchError, expectError } from '../helpers/expect-error.js';
import { HAVE_VECTORS, findEntry, readEvidenceBytes } from '../helpers/vectors.js';

const TDX = 'phala-dcap-qvl/tdx_quote';
const SNP_V3 = 'ms-tee-attestation-verification/genoa';

function withKeyType(bytes: Uint8Array, keyType: number): Uint8Array {
  const out = Uint8Array.from(bytes);
  new DataView(out.buffer).setUint16(2, keyType, true);
  return out;
}

describe.skipIf(!HAVE_VECTORS)('a named kind must match the family of bytes 2..3', () => {
  it('a TDX quote with attestation key type 0 named tdx is ERR_UNKNOWN_FORMAT at offset 2, not an SNP parser error', () => {
    const quote = withKeyType(readEvidenceBytes(findEntry(TDX)!), 0);
    expectError(() => parseEvidence(quote, { kind: 'tdx' }), { code: 'ERR_UNKNOWN_FORMAT', errorClass: 'PARSE', offset: 2 });
    // Unnamed, bytes 2..3 = 0 look like an SNP report's version: rejected by the SNP parser.
    const unnamed = catchError(() => parseEvidence(quote));
    expect(unnamed.check).toMatch(/^S0[2-4]$/);
  });

  it('other unsupported key types fail at T03 either way (P-384 is type 3)', () => {
    const quote = withKeyType(readEvidenceBytes(findEntry(TDX)!), 3);
    for (const options of [{}, { kind: 'tdx' as const }]) {
      expectError(() => parseEvidence(quote, options), { code: 'ERR_UNSUPPORTED_KEY_TYPE', errorClass: 'UNSUPPORTED', check: 'T03' });
    }
  });

  it('an SNP report named snp parses; named tdx it is ERR_UNKNOWN_FORMAT', () => {
    const report = readEvidenceBytes(findEntry(SNP_V3)!);
    expect((parseEvidence(report, { kind: 'snp' }) as SnpReport).version).toBe(3);
    expectError(() => parseEvidence(report, { kind: 'tdx' }), { code: 'ERR_UNKNOWN_FORMAT', errorClass: 'PARSE', offset: 2 });
  });

  it('a TDX quote named snp or sgx is ERR_UNKNOWN_FORMAT', () => {
    const quote = readEvidenceBytes(findEntry(TDX)!);
    expectError(() => parseEvidence(quote, { kind: 'snp' }), { code: 'ERR_UNKNOWN_FORMAT', errorClass: 'PARSE', offset: 2 });
    expectError(() => parseEvidence(quote, { kind: 'sgx' }), { code: 'ERR_UNKNOWN_FORMAT', errorClass: 'PARSE' });
  });
});

describe('option names are own keys', () => {
  const report = new Uint8Array(0x4a0);

  it('an unknown trailing mode, including inherited names, is an argument error before any parsing', () => {
    for (const trailing of ['toString', '__proto__', 'constructor', 'hasOwnProperty', 'loose', 42]) {
      expectError(() => parseEvidence(report, { trailing: trailing as never }), { code: 'ERR_INVALID_ARGUMENT', errorClass: 'ARGUMENT' });
    }
  });

  it('an unknown kind, including inherited names, is an argument error', () => {
    for (const kind of ['toString', '__proto__', 'valueOf', 'intel', 'SNP']) {
      expectError(() => parseEvidence(report, { kind: kind as never }), { code: 'ERR_INVALID_ARGUMENT', errorClass: 'ARGUMENT' });
    }
  });
});
