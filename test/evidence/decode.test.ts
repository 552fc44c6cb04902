/** Input decoding: binary, hex and base64 text detected automatically. */
import { describe, expect, it } from 'vitest';

import { decodeEvidenceInput, parseEvidence } from '../../src/index.js';
import { expectError } from '../helpers/expect-error.js';
import { HAVE_VECTORS, findEntry, readEvidenceBytes, readVectorFile } from '../helpers/vectors.js';

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

  it('detects hex text, with 0x prefix, upper case and whitespace around it', () => {
    for (const text of ['04000200', '0x04000200', ' 04000200\n', '\t0x04000200\r\n', '0X04000200', '04000200'.toUpperCase()]) {
      const d = decodeEvidenceInput(text);
      expect(d).toEqual({ bytes: new Uint8Array([4, 0, 2, 0]), encoding: 'hex' });
      expect(decodeEvidenceInput(Buffer.from(text))).toEqual(d);
    }
  });

  it('reads line-wrapped hex (xxd -p style, LF or CRLF) as the joined digits', () => {
    const bytes = new Uint8Array(90).map((_, i) => (i === 0 ? 4 : i === 1 || i === 3 ? 0 : i === 2 ? 2 : i));
    const hex = Buffer.from(bytes).toString('hex');
    const wrapped = hex.match(/.{1,60}/g)!.join('\n') + '\n';
    expect(decodeEvidenceInput(wrapped)).toEqual({ bytes, encoding: 'hex' });
    expect(decodeEvidenceInput(wrapped.replace(/\n/g, '\r\n'), 'hex')).toEqual({ bytes, encoding: 'hex' });
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

describe('strict text input (docs/decisions.md, "Evidence text input")', () => {
  const header = new Uint8Array([4, 0, 2, 0]);
  const bad = (input: string, reason: string, encoding?: 'hex' | 'base64') => {
    const e = expectError(() => decodeEvidenceInput(input, encoding), { code: 'ERR_BAD_ENCODING', errorClass: 'PARSE' });
    expect(e.details['reason']).toBe(reason);
    return e;
  };

  it('Unicode whitespace and other non-ASCII characters are refused, never stripped', () => {
    for (const [text, at] of [['\ufeff04000200', 0], ['0400\u00a00200', 4], ['04000200\u2028', 8], ['BAAC\u2029AA', 4], ['04000200\u0000', 8], ['\u00a0BAACAA==', 0]] as const) {
      for (const encoding of [undefined, 'hex', 'base64'] as const) {
        const e = bad(text, 'not-ascii-text', encoding);
        expect(e.offset).toBe(at);
      }
    }
    // bytes read as text (encoding named) with a latin-1 byte: refused at that byte
    const e = expectError(() => decodeEvidenceInput(new Uint8Array([0x30, 0x34, 0xa0]), 'hex'), { code: 'ERR_BAD_ENCODING', offset: 2 });
    expect(e.details['reason']).toBe('not-ascii-text');
  });

  it('hex: no whitespace inside but line breaks (split digits, spaced bytes, tabs, empty lines), an even number of digits', () => {
    bad('0 4 0 0', 'not-hex-or-base64');
    bad('0 4 0 0', 'hex-character', 'hex');
    bad('04 00 02 00', 'hex-character', 'hex');
    bad('0400\t0200', 'hex-character', 'hex');
    bad('0400\n\n0200', 'hex-character', 'hex');
    bad('0400\n 0200', 'hex-character', 'hex');
    bad('0400\n0x0200', 'hex-character', 'hex');
    bad('0x', 'hex-length', 'hex');
    bad('0400020', 'hex-length', 'hex');
  });

  it('base64: canonical only (BAACAA== yes, BAACAB== no)', () => {
    expect(decodeEvidenceInput('BAACAA==')).toEqual({ bytes: header, encoding: 'base64' });
    bad('BAACAB==', 'not-hex-or-base64'); // auto: no valid reading at all
    bad('BAACAB==', 'base64-non-canonical', 'base64');
    bad('BAACAAB=', 'base64-non-canonical', 'base64');
  });

  it('base64: one alphabet per input', () => {
    const std = Buffer.from([0xfb, 0xef, 0xbe, 0xff, 0xff]).toString('base64'); // "++++//8="
    expect(std).toMatch(/\+/);
    expect(decodeEvidenceInput(std, 'base64').bytes).toEqual(new Uint8Array([0xfb, 0xef, 0xbe, 0xff, 0xff]));
    expect(decodeEvidenceInput(Buffer.from([0xfb, 0xef, 0xbe, 0xff, 0xff]).toString('base64url'), 'base64').bytes).toEqual(new Uint8Array([0xfb, 0xef, 0xbe, 0xff, 0xff]));
    bad('++--//8=', 'base64-mixed-alphabet', 'base64');
    bad('BA+C-AAA', 'not-hex-or-base64');
  });

  it('base64: padding absent or complete, only at the end', () => {
    expect(decodeEvidenceInput('BAACAA', 'base64').bytes).toEqual(header);
    bad('BAACA=', 'base64-padding', 'base64');
    bad('BAACAA=', 'base64-padding', 'base64');
    bad('BAACAA===', 'base64-padding', 'base64');
    bad('BA=ACAA=', 'base64-padding', 'base64');
    bad('BAACA', 'base64-length', 'base64');
  });

  it('base64: line breaks (LF, CRLF) between non-empty lines; no spaces, tabs or blank lines inside', () => {
    const bytes = Uint8Array.from({ length: 300 }, (_, i) => (i * 7) & 0xff);
    bytes[0] = 4;
    bytes[1] = 0;
    const b64 = Buffer.from(bytes).toString('base64');
    const wrapped = b64.replace(/.{76}/g, '$&\n');
    expect(decodeEvidenceInput(`${wrapped}\n`).bytes).toEqual(bytes);
    expect(decodeEvidenceInput(wrapped.replace(/\n/g, '\r\n')).bytes).toEqual(bytes);
    bad(wrapped.replace('\n', '\n\n'), 'base64-whitespace', 'base64');
    bad(`${b64.slice(0, 8)} ${b64.slice(8)}`, 'base64-whitespace', 'base64');
    bad(`${b64.slice(0, 8)}\t${b64.slice(8)}`, 'base64-whitespace', 'base64');
  });

  it('auto: text that reads both ways takes the reading that starts like evidence', () => {
    // "BAACAA" is six hex digits (ba ac aa) and base64 of 04 00 02 00: a TDX v4 header
    expect(decodeEvidenceInput('BAACAA')).toEqual({ bytes: header, encoding: 'base64' });
    // "04000200" is base64 too (d3 8d 34 d3 6d 34), but only the hex reading is a header
    expect(decodeEvidenceInput('04000200')).toEqual({ bytes: header, encoding: 'hex' });
    expect(decodeEvidenceInput('0x04000200')).toEqual({ bytes: header, encoding: 'hex' });
    // an SNP report header in either encoding
    expect(decodeEvidenceInput('02000000').bytes).toEqual(new Uint8Array([2, 0, 0, 0]));
    expect(decodeEvidenceInput('AgAAAA==').bytes).toEqual(new Uint8Array([2, 0, 0, 0]));
  });

  it('auto: text that reads both ways and starts like evidence in neither is ambiguous; naming the encoding decides', () => {
    const e = expectError(() => decodeEvidenceInput('ABCDEF12'), { code: 'ERR_AMBIGUOUS_ENCODING', errorClass: 'PARSE' });
    expect(e.details['reason']).toBe('ambiguous');
    expect(decodeEvidenceInput('ABCDEF12', 'hex').bytes).toEqual(new Uint8Array([0xab, 0xcd, 0xef, 0x12]));
    expect(decodeEvidenceInput('ABCDEF12', 'base64').bytes).toEqual(new Uint8Array(Buffer.from('ABCDEF12', 'base64')));
  });

  it('whitespace-only text is empty; an unknown encoding name is an argument error', () => {
    expectError(() => decodeEvidenceInput(' \n\t'), { code: 'ERR_EMPTY_INPUT', errorClass: 'PARSE' });
    expectError(() => decodeEvidenceInput('04000200', 'utf8' as never), { code: 'ERR_INVALID_ARGUMENT', errorClass: 'ARGUMENT' });
    expectError(() => decodeEvidenceInput('04000200', 'toString' as never), { code: 'ERR_INVALID_ARGUMENT', errorClass: 'ARGUMENT' });
  });
});

describe.skipIf(!HAVE_VECTORS)('the shared hex vectors still decode', () => {
  for (const id of ['phala-dcap-qvl/tdx_quote_hex', 'phala-dcap-qvl/quote_from_tappd_hex', 'phala-dcap-qvl/near_gas_test_quote', 'virtee-sev/report_milan']) {
    it(`${id}: the file as stored (0x prefix, trailing newline) gives the manifest's bytes`, () => {
      const entry = findEntry(id)!;
      const decoded = decodeEvidenceInput(readVectorFile(entry.file));
      expect(decoded.encoding).toBe('hex');
      expect(Buffer.from(decoded.bytes).equals(Buffer.from(readEvidenceBytes(entry)))).toBe(true);
    });
  }
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

  it('the kind option refuses evidence of another kind (test/evidence/routing.test.ts has the rest)', () => {
    const bytes = readEvidenceBytes(findEntry('phala-dcap-qvl/tdx_quote')!);
    expectError(() => parseEvidence(bytes, { kind: 'sgx' }), { code: 'ERR_UNKNOWN_FORMAT' });
    expect(parseEvidence(bytes, { kind: 'tdx' }).kind).toBe('tdx');
  });

  it('an unknown trailing mode is an argument error', () => {
    const bytes = readEvidenceBytes(findEntry('phala-dcap-qvl/tdx_quote')!);
    expectError(() => parseEvidence(bytes, { trailing: 'loose' as never }), { code: 'ERR_INVALID_ARGUMENT', errorClass: 'ARGUMENT' });
  });
});
