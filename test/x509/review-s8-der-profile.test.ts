/**
 * Review s8, findings 2 and 3: RFC 5280 encodings with one form only.
 * Finding 2: GeneralizedTime for a year UTCTime covers (1950..2049) is refused, so an
 * instant has a single DER encoding (4.1.2.5, 5.1.2.4).
 */
import { generateKeyPairSync, sign } from 'node:crypto';
import { describe, expect, it } from 'vitest';

import * as der from '../../src/testing/der.js';
import { OID, buildCertificate, encodeName, signatureAlgorithm } from '../../src/testing/x509-builder.js';
import { decodeTime, parseDer } from '../../src/x509/asn1.js';
import { parseCertificate } from '../../src/x509/certificate.js';
import { parseCrl } from '../../src/x509/crl.js';
import { expectError } from '../helpers/expect-error.js';

const BAD_DER = { code: 'ERR_BAD_DER', errorClass: 'PARSE' };
const time = (tag: number, text: string) => parseDer(Uint8Array.from([tag, text.length, ...Buffer.from(text, 'latin1')]));
const UTC = 0x17;
const GENERALIZED = 0x18;

describe('RFC 5280 4.1.2.5: UTCTime through 2049, GeneralizedTime from 2050', () => {
  it.each([
    ['2049 (last UTCTime year)', '20491231235959Z'],
    ['1950 (first UTCTime year)', '19500101000000Z'],
    ['2025', '20250101000000Z'],
  ])('refuses GeneralizedTime for %s', (_name, text) => {
    const err = expectError(() => decodeTime(time(GENERALIZED, text), 'notAfter'), BAD_DER);
    expect(err.message).toContain('UTCTime');
  });

  it.each([
    ['2050', '20500101000000Z', '2050-01-01T00:00:00.000Z'],
    ['9999', '99991231235959Z', '9999-12-31T23:59:59.000Z'],
    ['1949 (before UTCTime)', '19491231235959Z', '1949-12-31T23:59:59.000Z'],
  ])('accepts GeneralizedTime for %s', (_name, text, iso) => {
    expect(decodeTime(time(GENERALIZED, text), 'x').toISOString()).toBe(iso);
  });

  it('the same instants as UTCTime decode', () => {
    expect(decodeTime(time(UTC, '491231235959Z'), 'x').toISOString()).toBe('2049-12-31T23:59:59.000Z');
    expect(decodeTime(time(UTC, '500101000000Z'), 'x').toISOString()).toBe('1950-01-01T00:00:00.000Z');
  });
});

/**
 * Finding 3: AuthorityKeyIdentifier is a SEQUENCE of OPTIONAL fields, so DER
 * has them at most once each, in tag order [0] [1] [2]; and a CRL that carries
 * extensions must say v2 (RFC 5280 5.1.2.1: v1 has no extensions).
 */
const key = generateKeyPairSync('ec', { namedCurve: 'prime256v1' });
const DN = [['CN', 'tee-verify test'], ['O', 'review s8']] as const;
const keyId = Uint8Array.from([1, 2, 3, 4]);
const akiField = {
  0: der.implicitPrimitive(0, keyId),
  1: der.explicit(1, der.explicit(4, encodeName(DN))), // authorityCertIssuer: GeneralNames { directoryName }
  2: der.implicitPrimitive(2, Uint8Array.from([7])), // authorityCertSerialNumber
};
const certWithAki = (...order: (0 | 1 | 2)[]) =>
  buildCertificate({
    serial: Uint8Array.from([1]), issuer: DN, subject: DN, notBefore: new Date('2024-01-01T00:00:00Z'), notAfter: new Date('2030-01-01T00:00:00Z'),
    publicKey: key.publicKey, signingKey: key.privateKey, signature: 'ecdsa-sha256',
    extensions: [{ oid: OID.authorityKeyIdentifier, critical: false, value: der.sequence(...order.map((n) => akiField[n])) }],
  });

describe('AuthorityKeyIdentifier fields: each at most once, in the order [0] [1] [2]', () => {
  it.each([
    ['[0]', [0]],
    ['[0] [1] [2]', [0, 1, 2]],
    ['[1] [2] (no key identifier)', [1, 2]],
  ] as const)('accepts %s', (_name, order) => {
    const cert = parseCertificate(certWithAki(...order));
    expect(cert.authorityKeyId).toBe(order.includes(0 as never) ? '01020304' : undefined);
  });

  it.each([
    ['[0] twice', [0, 0]],
    ['[2] before [0]', [2, 0]],
    ['[1] before [0]', [1, 0]],
    ['[0] [2] [1]', [0, 2, 1]],
  ] as const)('refuses %s (ERR_BAD_DER)', (_name, order) => {
    const err = expectError(() => parseCertificate(certWithAki(...order)), BAD_DER);
    expect(err.message).toContain('authorityKeyIdentifier');
  });
});

function crl({ version, crlExtensions, entryExtensions }: { version: boolean; crlExtensions: boolean; entryExtensions: boolean }): Uint8Array {
  const fields: Uint8Array[] = [];
  if (version) fields.push(der.integer(1));
  fields.push(signatureAlgorithm('ecdsa-sha256'), encodeName(DN), der.time(new Date('2025-01-01T00:00:00Z')), der.time(new Date('2025-02-01T00:00:00Z')));
  const reason = der.sequence(der.objectIdentifier('2.5.29.21'), der.octetString(der.enumerated(1))); // CRL reason: keyCompromise
  const entry = [der.integer(5), der.time(new Date('2025-01-01T00:00:00Z'))];
  if (entryExtensions) entry.push(der.sequence(reason));
  fields.push(der.sequence(der.sequence(...entry)));
  if (crlExtensions) fields.push(der.explicit(0, der.sequence(der.sequence(der.objectIdentifier('2.5.29.20'), der.octetString(der.integer(1))))));
  const tbs = der.sequence(...fields);
  const signature = new Uint8Array(sign('sha256', tbs, { key: key.privateKey, dsaEncoding: 'der' }));
  return der.sequence(tbs, signatureAlgorithm('ecdsa-sha256'), der.bitString(signature));
}

describe('RFC 5280 5.1.2.1: a CRL with extensions is v2', () => {
  it('v1 (no version) without extensions, and v2 with both kinds, parse', () => {
    expect(parseCrl(crl({ version: false, crlExtensions: false, entryExtensions: false })).revokedCount).toBe(1);
    const v2 = parseCrl(crl({ version: true, crlExtensions: true, entryExtensions: true }));
    expect(v2.crlNumber).toBe(1n);
  });

  it.each([
    ['crlExtensions', { crlExtensions: true, entryExtensions: false }],
    ['crlEntryExtensions', { crlExtensions: false, entryExtensions: true }],
  ])('no version with %s is ERR_BAD_DER', (_name, o) => {
    const err = expectError(() => parseCrl(crl({ version: false, ...o })), BAD_DER);
    expect(err.message).toContain('v2');
  });
});
