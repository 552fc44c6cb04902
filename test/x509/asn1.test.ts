/**
 * The strict DER reader: every rule that makes two byte strings unable to
 * decode to the same value, and the bounds on work (T08: strict DER, no
 * trailing bytes, bounded nesting).
 */
import { describe, expect, it } from 'vitest';

import {
  MAX_DER_DEPTH,
  canonicalHex,
  decodeInteger,
  decodeOid,
  decodeTime,
  parseDer,
  readTlv,
} from '../../src/x509/asn1.js';
import { expectError } from '../helpers/expect-error.js';
import { bool, fromHex, int, oid, rawInt, seq, tlv } from './helpers/der.js';

const BAD_DER = { code: 'ERR_BAD_DER', errorClass: 'PARSE' };

describe('parseDer framing', () => {
  it('accepts a nested SEQUENCE and returns views of the input', () => {
    const der = seq(int(5), seq(bool(true), oid('1.2.840.113741.1.13.1')));
    const node = parseDer(der);
    expect(node.der).toEqual(der);
    expect(node.der.buffer).toBe(der.buffer);
  });

  it.each([
    ['trailing byte after the value', '3000' + '00'],
    ['truncated header', '30'],
    ['content past the end', '3005020101'],
    ['indefinite length', '3080020101' + '0000'],
    ['long-form length below 128', '308103020101'],
    ['long-form length with a leading zero', '30820003020101'],
    ['length field longer than 4 bytes', '3085000000000300'],
    ['multi-byte tag number', '1f2200'],
    ['empty input', ''],
  ])('rejects %s', (_name, hexInput) => {
    expectError(() => parseDer(fromHex(hexInput)), BAD_DER);
  });

  it('reports the offset of the failure', () => {
    const err = expectError(() => parseDer(fromHex('3000ff')), BAD_DER);
    expect(err.details['offset']).toBe(2);
  });

  it('accepts a long-form length when needed', () => {
    const der = tlv(0x04, new Uint8Array(200));
    expect(Array.from(der.subarray(0, 3))).toEqual([0x04, 0x81, 200]);
    expect(parseDer(der).content.length).toBe(200);
  });
});

describe('parseDer content rules', () => {
  it.each([
    ['BOOLEAN other than 00 / FF', '300301' + '0101'],
    ['BOOLEAN of two bytes', '3004' + '01020000'],
    ['INTEGER padded with 00', '3004' + '02020005'],
    ['INTEGER padded with FF', '3004' + '0202ff80'],
    ['empty INTEGER', '3002' + '0200'],
    ['empty ENUMERATED', '3002' + '0a00'],
    ['NULL with content', '3003' + '050100'],
    ['BIT STRING with 8 unused bits', '3004' + '030208ff'],
    ['BIT STRING with non-zero padding bits', '3004' + '030201ff'],
    ['empty BIT STRING claiming unused bits', '3003' + '030101'],
    ['OID arc with a leading 0x80', '3004' + '06028001'],
    ['OID ending inside an arc', '3003' + '060188'],
    ['constructed OCTET STRING', '3004' + '24020400'],
    ['primitive SEQUENCE', '1000'],
    ['end-of-contents octets', '3002' + '0000'],
  ])('rejects %s', (_name, hexInput) => {
    expectError(() => parseDer(fromHex(hexInput)), BAD_DER);
  });

  it('does not descend into OCTET STRING content (extension values are parsed by their owners)', () => {
    expect(() => parseDer(fromHex('3004' + '0402' + '3080'))).not.toThrow();
  });

  it(`bounds nesting at ${MAX_DER_DEPTH}`, () => {
    let ok = int(1);
    for (let i = 1; i < MAX_DER_DEPTH; i++) ok = seq(ok);
    expect(() => parseDer(ok)).not.toThrow();
    expectError(() => parseDer(seq(ok)), BAD_DER);
  });

  it('survives a deeply nested bomb without exhausting the stack', () => {
    let bomb: Uint8Array = new Uint8Array(0);
    for (let i = 0; i < 3_000; i++) bomb = seq(bomb);
    expectError(() => parseDer(bomb), BAD_DER);
  });
});

describe('value decoders', () => {
  it('INTEGER: canonical values, signs, and hex without leading zeros', () => {
    expect(decodeInteger(parseDer(int(0)), 'x')).toBe(0n);
    expect(decodeInteger(parseDer(int(0x80)), 'x')).toBe(0x80n);
    expect(decodeInteger(parseDer(rawInt([0xff])), 'x')).toBe(-1n);
    expect(canonicalHex(decodeInteger(parseDer(rawInt([0x00, 0x80, 0x00])), 'x'))).toBe('8000');
    expect(canonicalHex(0n)).toBe('0');
  });

  it('OBJECT IDENTIFIER round trip, including large arcs', () => {
    for (const dotted of ['1.2.840.113741.1.13.1.2.18', '2.5.29.19', '1.3.6.1.4.1.3704.1.3.9', '2.999.1']) {
      expect(decodeOid(parseDer(oid(dotted)), 'x')).toBe(dotted);
    }
  });

  it('readTlv rejects a wrong expected tag through decoders', () => {
    expectError(() => decodeInteger(parseDer(bool(true)), 'x'), BAD_DER);
    expect(readTlv(int(7), 0).tag).toBe(0x02);
  });

  it.each([
    ['UTCTime', '170d' + Buffer.from('491231235959Z').toString('hex'), '2049-12-31T23:59:59.000Z'],
    ['UTCTime 1950', '170d' + Buffer.from('500101000000Z').toString('hex'), '1950-01-01T00:00:00.000Z'],
    ['GeneralizedTime', '180f' + Buffer.from('20500101000000Z').toString('hex'), '2050-01-01T00:00:00.000Z'],
  ])('decodes %s', (_name, hexInput, iso) => {
    expect(decodeTime(parseDer(fromHex(hexInput)), 'x').toISOString()).toBe(iso);
  });

  it.each([
    ['no seconds', '170b' + Buffer.from('4912312359Z').toString('hex')],
    ['an offset instead of Z', '1711' + Buffer.from('491231235959+0100').toString('hex')],
    ['fractional seconds', '1811' + Buffer.from('20500101000000.5Z').toString('hex')],
    ['31 February', '170d' + Buffer.from('240231000000Z').toString('hex')],
    ['hour 24', '170d' + Buffer.from('240101240000Z').toString('hex')],
    ['month 13', '170d' + Buffer.from('241301000000Z').toString('hex')],
    ['letters in the date', '170d' + Buffer.from('24AB01000000Z').toString('hex')],
    ['a non-time tag', '020101'],
  ])('rejects a time with %s (X01: unparsable dates never pass)', (_name, hexInput) => {
    expectError(() => decodeTime(parseDer(fromHex(hexInput)), 'x'), BAD_DER);
  });
});
