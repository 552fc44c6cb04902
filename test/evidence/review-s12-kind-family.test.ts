/**
 * Review s12 docs #5: docs/error-codes.md says ERR_UNKNOWN_FORMAT is "the evidence is not of the
 * kind the caller asked for (kind option)", but across families a named kind sent the bytes to that
 * family's parser: a TDX quote named snp failed as ERR_UNSUPPORTED_VERSION (S03), an SNP report
 * named tdx as ERR_UNSUPPORTED_KEY_TYPE (T03). The family (bytes 2..3) is now checked first: a
 * named kind of another family is ERR_UNKNOWN_FORMAT (class PARSE, offset 2). Synthetic evidence:
 * no shared vectors needed.
 */
import { describe, expect, it } from 'vitest';

import { parseEvidence } from '../../src/index.js';
import { expectError } from '../helpers/expect-error.js';
import { platform } from '../verify/intel/helpers/synthetic.js';
import { setup } from '../verify/snp/helpers/synthetic.js';

function withKeyType(bytes: Uint8Array, keyType: number): Uint8Array {
  const out = Uint8Array.from(bytes);
  new DataView(out.buffer).setUint16(2, keyType, true);
  return out;
}

const tdx = platform({ tee: 'tdx' }).quote.bytes;
const sgx = platform({ tee: 'sgx' }).quote.bytes;
const snp = setup().report.bytes;

describe('a named kind of another family is ERR_UNKNOWN_FORMAT', () => {
  it('a TDX or SGX quote named snp', () => {
    for (const quote of [tdx, sgx]) expectError(() => parseEvidence(quote, { kind: 'snp' }), { code: 'ERR_UNKNOWN_FORMAT', errorClass: 'PARSE', offset: 2 });
  });

  it('an SNP report named tdx or sgx', () => {
    for (const kind of ['tdx', 'sgx'] as const) expectError(() => parseEvidence(snp, { kind }), { code: 'ERR_UNKNOWN_FORMAT', errorClass: 'PARSE', offset: 2 });
  });

  it('a quote with attestation key type 0 named tdx (bytes 2..3 = 0: no quote we accept)', () => {
    expectError(() => parseEvidence(withKeyType(tdx, 0), { kind: 'tdx' }), { code: 'ERR_UNKNOWN_FORMAT', errorClass: 'PARSE', offset: 2 });
  });

  it('within a family nothing changes: TDX named sgx is ERR_UNKNOWN_FORMAT, another key type fails at T03, the right kind parses', () => {
    expectError(() => parseEvidence(tdx, { kind: 'sgx' }), { code: 'ERR_UNKNOWN_FORMAT', errorClass: 'PARSE' });
    expectError(() => parseEvidence(withKeyType(tdx, 3), { kind: 'tdx' }), { code: 'ERR_UNSUPPORTED_KEY_TYPE', errorClass: 'UNSUPPORTED', check: 'T03' });
    expect(parseEvidence(tdx, { kind: 'tdx' }).kind).toBe('tdx');
    expect(parseEvidence(sgx, { kind: 'sgx' }).kind).toBe('sgx');
    expect(parseEvidence(snp, { kind: 'snp' }).kind).toBe('snp');
  });

  it('the family is checked after decoding: hex text named snp is judged by its bytes', () => {
    const hex = Buffer.from(tdx).toString('hex');
    expectError(() => parseEvidence(hex, { kind: 'snp', encoding: 'hex' }), { code: 'ERR_UNKNOWN_FORMAT', errorClass: 'PARSE', offset: 2 });
  });
});
