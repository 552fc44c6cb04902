/**
 * Review s8, findings 2 and 3: RFC 5280 encodings with one form only.
 * GeneralizedTime for a year UTCTime covers (1950..2049) is refused, so an
 * instant has a single DER encoding (4.1.2.5, 5.1.2.4).
 */
import { describe, expect, it } from 'vitest';

import { decodeTime, parseDer } from '../../src/x509/asn1.js';
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
