/**
 * Session 12: a CRL entry's serial is bounded like a certificate's (MAX_SERIAL_OCTETS, 32; Intel's
 * PCK Platform CA uses 21): a longer one is ERR_BAD_DER, so a hostile CRL cannot carry integers of up
 * to an RSA modulus's length per entry. Fails on the code before (the 33-octet serial parsed).
 */
import { describe, expect, it } from 'vitest';

import { buildTestCrl, createIntelTestPki } from '../../src/testing/index.js';
import { MAX_SERIAL_OCTETS } from '../../src/x509/certificate.js';
import { parseCrl } from '../../src/x509/index.js';

const pki = createIntelTestPki({ seed: 's12f-crl-serial', validity: { notBefore: new Date('2024-01-01T00:00:00Z'), notAfter: new Date('2030-01-01T00:00:00Z') } });
const crlWith = (serial: Uint8Array): Uint8Array =>
  buildTestCrl(pki.pckCa, { thisUpdate: new Date('2026-01-01T00:00:00Z'), nextUpdate: new Date('2026-02-01T00:00:00Z'), revokedSerials: [serial] });
const serialOf = (octets: number): Uint8Array => Uint8Array.from({ length: octets }, (_, i) => (i === 0 ? 0x7f : 0x11));

describe('CRL entry serial length', () => {
  it(`a ${MAX_SERIAL_OCTETS}-octet serial parses and is listed`, () => {
    const crl = parseCrl(crlWith(serialOf(MAX_SERIAL_OCTETS)));
    expect(crl.revokedCount).toBe(1);
  });

  it(`a ${MAX_SERIAL_OCTETS + 1}-octet serial is ERR_BAD_DER`, () => {
    expect(() => parseCrl(crlWith(serialOf(MAX_SERIAL_OCTETS + 1)))).toThrow(expect.objectContaining({ code: 'ERR_BAD_DER' }));
  });
});
