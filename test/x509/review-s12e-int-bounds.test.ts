/**
 * Review s12 change review (core) #2: INTEGER decoding was quadratic in the content length (a
 * 60 KB RSA modulus in a hostile VCEK under the 64 KiB certificate cap cost ~300 ms to parse). Now
 * the conversion is linear, decodeInteger refuses content longer than a number can need
 * (MAX_INTEGER_OCTETS: an RSA-8192 modulus and its sign byte), and a certificate serial longer than
 * MAX_SERIAL_OCTETS is refused. No timing: the bound is asserted as a refusal. Every test except
 * the control fails on the code before.
 */
import { randomFillSync } from 'node:crypto';
import { describe, expect, it } from 'vitest';

import { createAmdTestPki } from '../../src/testing/index.js';
import * as asn1 from '../../src/x509/asn1.js';
import { parseDer } from '../../src/x509/asn1.js';
import * as certificateModule from '../../src/x509/certificate.js';
import { parseCertificate } from '../../src/x509/index.js';
import { rawInt, tlv } from './helpers/der.js';
import { editTbs } from './helpers/rebuild.js';

// Read through the namespaces: on the code before these exports are missing and the tests fail, not the import.
const MAX_INTEGER_OCTETS = (asn1 as Record<string, unknown>)['MAX_INTEGER_OCTETS'] as number;
const MAX_SERIAL_OCTETS = (certificateModule as Record<string, unknown>)['MAX_SERIAL_OCTETS'] as number;

function codeOf(fn: () => unknown): string | undefined {
  try {
    fn();
  } catch (err) {
    return (err as { code?: string }).code;
  }
  return undefined;
}

const pki = createAmdTestPki({ seed: 's12e-ints', product: 'Milan', validity: { notBefore: new Date('2024-01-01T00:00:00Z'), notAfter: new Date('2030-01-01T00:00:00Z') } });
/** The VCEK with its serialNumber INTEGER content (TBS field 1, after the version) replaced. */
const withSerial = (content: Uint8Array): Uint8Array => editTbs(pki.vcek.der, (f) => f.map((x, i) => (i === 1 ? tlv(0x02, content) : x)));

describe('review s12e #2: INTEGER length is bounded where a number is expected', () => {
  it('decodeInteger refuses content longer than MAX_INTEGER_OCTETS (an RSA-8192 modulus and its sign byte) as ERR_BAD_DER', () => {
    expect(MAX_INTEGER_OCTETS).toBe(1025);
    const fits = Uint8Array.of(0, 0x80, ...new Uint8Array(1023));
    expect(asn1.decodeInteger(parseDer(tlv(0x02, fits)), 'x')).toBe(1n << 8191n);
    const long = Uint8Array.of(0x7f, ...new Uint8Array(1025));
    expect(codeOf(() => asn1.decodeInteger(parseDer(tlv(0x02, long)), 'x'))).toBe('ERR_BAD_DER');
    const huge = Uint8Array.of(0x7f, ...new Uint8Array(60_000));
    expect(codeOf(() => asn1.decodeInteger(parseDer(tlv(0x02, huge)), 'x'))).toBe('ERR_BAD_DER');
  });

  it('a certificate serial longer than MAX_SERIAL_OCTETS is ERR_BAD_DER; 20 octets with a sign byte (seen in real chains) parse', () => {
    expect(MAX_SERIAL_OCTETS).toBeGreaterThanOrEqual(21);
    expect(MAX_SERIAL_OCTETS).toBeLessThanOrEqual(32);
    const twentyOne = Uint8Array.of(0, 0xff, ...new Uint8Array(19).fill(0x11));
    expect(parseCertificate(withSerial(twentyOne)).serialNumber).toBe('ff' + '11'.repeat(19));
    const atCap = Uint8Array.of(0x01, ...new Uint8Array(MAX_SERIAL_OCTETS - 1));
    expect(parseCertificate(withSerial(atCap)).serialNumber).toBe('1' + '00'.repeat(MAX_SERIAL_OCTETS - 1));
    const over = Uint8Array.of(0x01, ...new Uint8Array(MAX_SERIAL_OCTETS));
    expect(codeOf(() => parseCertificate(withSerial(over)))).toBe('ERR_BAD_DER');
    const hostile = Uint8Array.of(0x01, ...new Uint8Array(50_000));
    expect(codeOf(() => parseCertificate(withSerial(hostile)))).toBe('ERR_BAD_DER');
  });

  it('control: the conversion is exact (positive, negative, zero, sign-byte values)', () => {
    const cases: [number[], bigint][] = [
      [[0x00], 0n],
      [[0x7f], 127n],
      [[0x00, 0x80], 128n],
      [[0x80], -128n],
      [[0xff, 0x7f], -129n],
      [[0x01, 0x00, 0x00], 65536n],
      [[0xff], -1n],
    ];
    for (const [content, value] of cases) expect(asn1.decodeInteger(parseDer(rawInt(content)), 'x')).toBe(value);
    for (let i = 0; i < 50; i++) {
      const c = randomFillSync(new Uint8Array(1 + (i % 40)));
      const hex = Buffer.from(c).toString('hex');
      const unsigned = BigInt(`0x${hex}`);
      const expected = c[0]! & 0x80 ? unsigned - (1n << BigInt(8 * c.length)) : unsigned;
      expect(asn1.integerContentToBigInt(c)).toBe(expected);
    }
    expect(asn1.integerContentToBigInt(new Uint8Array(0))).toBe(0n);
  });
});
