/** Input decoding: binary, hex and base64 text detected automatically. */
import { describe, expect, it } from 'vitest';

import { decodeEvidenceInput, parseEvidence } from '../../src/index.js';
import { expectError } from '../helpers/expect-error.js';
import { HAVE_VECTORS, findEntry, readEvidenceBytes } from '../helpers/vectors.js';

const sample = new Uint8Array([0x04, 0x00, 0x02, 0x00, 0x81, 0xff, 0x10]);

describe('decodeEvidenceInput', () => {
  it('keeps binary as binary and always returns a copy (T50)', () => {
    const input = Uint8Array.from(sample);
    const { bytes, encoding } = decodeEvidenceInput(input);
    expect(encoding).toBe('binary');
    expect(bytes).toEqual(sample);
    input[0] = 9;
    expect(bytes[0]).toBe(0x04);
  });

  it('detects hex text, with 0x prefix, upper case and whitespace', () => {
    for (const text of ['04000200', '0x04000200', ' 04 00\n02 00\n', '0X04000200', '04000200'.toUpperCase()]) {
      const d = decodeEvidenceInput(text);
      expect(d).toEqual({ bytes: new Uint8Array([4, 0, 2, 0]), encoding: 'hex' });
      expect(decodeEvidenceInput(Buffer.from(text))).toEqual(d);
    }
  });

  it('detects base64 and base64url text', () => {
    const b = Buffer.from(sample);
    expect(decodeEvidenceInput(b.toString('base64'))).toEqual({ bytes: sample, encoding: 'base64' });
    expect(decodeEvidenceInput(b.toString('base64url'))).toEqual({ bytes: sample, encoding: 'base64' });
    expect(decodeEvidenceInput(`${b.toString('base64')}\n`).bytes).toEqual(sample);
  });

  it('rejects malformed text with ERR_BAD_ENCODING', () => {
    expectError(() => decodeEvidenceInput('0400020', 'hex'), { code: 'ERR_BAD_ENCODING', errorClass: 'PARSE' });
    expectError(() => decodeEvidenceInput('04zz', 'hex'), { code: 'ERR_BAD_ENCODING' });
    expectError(() => decodeEvidenceInput('not base64 at all!'), { code: 'ERR_BAD_ENCODING' });
    expectError(() => decodeEvidenceInput('QUJD=A'), { code: 'ERR_BAD_ENCODING' });
  });

  it('rejects empty input, oversized text and wrong argument types', () => {
    expectError(() => decodeEvidenceInput(new Uint8Array(0)), { code: 'ERR_EMPTY_INPUT', errorClass: 'PARSE' });
    expectError(() => decodeEvidenceInput(''), { code: 'ERR_EMPTY_INPUT' });
    expectError(() => decodeEvidenceInput('00'.repeat(128 * 1024 + 1)), { code: 'ERR_INPUT_TOO_LARGE' });
    expectError(() => decodeEvidenceInput(42 as unknown as string), { code: 'ERR_INVALID_ARGUMENT', errorClass: 'ARGUMENT' });
    expectError(() => decodeEvidenceInput('0400', 'binary'), { code: 'ERR_INVALID_ARGUMENT' });
  });

  it('takes an explicit encoding over detection', () => {
    expect(decodeEvidenceInput('0400', 'base64').encoding).toBe('base64');
    expect(decodeEvidenceInput(new Uint8Array([0x30, 0x30]), 'binary').bytes).toEqual(new Uint8Array([0x30, 0x30]));
  });
});

describe.skipIf(!HAVE_VECTORS)('parseEvidence accepts the same quote in every encoding', () => {
  it('binary, hex, 0x-hex, base64 and an ArrayBuffer give identical results', () => {
    const bytes = readEvidenceBytes(findEntry('phala-dcap-qvl/tdx_quote')!);
    const hex = Buffer.from(bytes).toString('hex');
    const ref = parseEvidence(bytes);
    for (const input of [hex, `0x${hex}`, Buffer.from(bytes).toString('base64'), Buffer.from(hex), bytes.slice().buffer]) {
      const ev = parseEvidence(input);
      expect(Buffer.from(ev.bytes).equals(Buffer.from(ref.bytes))).toBe(true);
    }
  });

  it('the kind option refuses evidence of another kind', () => {
    const bytes = readEvidenceBytes(findEntry('phala-dcap-qvl/tdx_quote')!);
    expectError(() => parseEvidence(bytes, { kind: 'snp' }), { code: 'ERR_UNKNOWN_FORMAT' });
    expect(parseEvidence(bytes, { kind: 'tdx' }).kind).toBe('tdx');
  });

  it('an unknown trailing mode is an argument error', () => {
    const bytes = readEvidenceBytes(findEntry('phala-dcap-qvl/tdx_quote')!);
    expectError(() => parseEvidence(bytes, { trailing: 'loose' as never }), { code: 'ERR_INVALID_ARGUMENT', errorClass: 'ARGUMENT' });
  });
});
