/**
 * Review s14 (native), finding 2: ERR_BAD_PUBLIC_KEY had two classes. An EC
 * point off its curve was PARSE from a certificate (src/x509/spki.ts) but
 * ARGUMENT from src/crypto/ecdsa.ts, where the key is evidence too (a quote's
 * attestation key, a raw key handed to the exported ecdsaVerify). One code,
 * one class: PARSE (EvidenceParseError) everywhere, and docs/error-codes.md
 * agrees with docs/x509.md. The ecdsa.ts cases fail on the code before.
 */
import { readFileSync } from 'node:fs';
import { describe, expect, it } from 'vitest';

import { EcdsaPublicKey, EvidenceParseError, ecdsaVerify } from '../../src/index.js';
import { parseDer } from '../../src/x509/asn1.js';
import { decodePublicKey } from '../../src/x509/spki.js';
import { catchError, expectError } from '../helpers/expect-error.js';

const read = (rel: string) => readFileSync(new URL(`../../${rel}`, import.meta.url), 'utf8');

// (1, 1) is on neither P-256 nor P-384.
const offCurve = (n: number) => {
  const xy = new Uint8Array(2 * n);
  xy[n - 1] = 1;
  xy[2 * n - 1] = 1;
  return xy;
};
const PARSE = { code: 'ERR_BAD_PUBLIC_KEY', errorClass: 'PARSE' };

describe('review s14 #2: ERR_BAD_PUBLIC_KEY is class PARSE everywhere', () => {
  for (const [curve, n] of [['P-256', 32], ['P-384', 48]] as const) {
    it(`${curve}: ecdsaVerify and EcdsaPublicKey.import, a point off the curve or a key of the wrong length`, () => {
      const sig = new Uint8Array(2 * n).fill(1);
      for (const key of [offCurve(n), new Uint8Array(2 * n - 1), new Uint8Array(2 * n + 1)]) {
        expect(expectError(() => ecdsaVerify(curve, key, new Uint8Array(10), sig), PARSE)).toBeInstanceOf(EvidenceParseError);
        expect(expectError(() => EcdsaPublicKey.import(curve, key), PARSE)).toBeInstanceOf(EvidenceParseError);
      }
    });
  }

  it('the certificate path gives the same code and class for the same point', () => {
    const spki = Buffer.concat([Buffer.from('3059301306072a8648ce3d020106082a8648ce3d030107034200', 'hex'), Buffer.from([4]), offCurve(32)]);
    const fromCert = catchError(() => decodePublicKey(parseDer(new Uint8Array(spki))));
    const fromRaw = catchError(() => ecdsaVerify('P-256', offCurve(32), new Uint8Array(10), new Uint8Array(64).fill(1)));
    expect({ code: fromRaw.code, errorClass: fromRaw.errorClass }).toEqual({ code: fromCert.code, errorClass: fromCert.errorClass });
    expect(fromCert).toBeInstanceOf(EvidenceParseError);
  });

  it('docs/error-codes.md and docs/x509.md give the class PARSE', () => {
    const row = (doc: string) => doc.split('\n').find((l) => l.startsWith('| `ERR_BAD_PUBLIC_KEY` |'))?.split('|')[2]?.trim();
    expect(row(read('docs/error-codes.md'))).toBe('PARSE');
    expect(row(read('docs/x509.md'))).toBe('PARSE');
    // No other row of either document gives the code another class.
    for (const doc of ['docs/error-codes.md', 'docs/x509.md']) {
      const rows = read(doc).split('\n').filter((l) => l.startsWith('| `ERR_BAD_PUBLIC_KEY` |'));
      expect(rows.length, doc).toBe(1);
    }
  });
});

// The generator point of each curve: a valid key, so only the signature's length is wrong.
const GENERATOR = {
  'P-256': '6b17d1f2e12c4247f8bce6e563a440f277037d812deb33a0f4a13945d898c2964fe342e2fe1a7f9b8ee7eb4a7c0f9e162bce33576b315ececbb6406837bf51f5',
  'P-384': 'aa87ca22be8b05378eb1c71ef320ad746e1d3b628ba79b9859f741e082542a385502f25dbf55296c3a545e3872760ab73617de4a96262c6f5d9e98bf9292dc29f8f41dbd289a147ce9da3113b5f0b8c00a60b1ce1d7e819d7a431d7c90ea0e5f',
} as const;

describe('review s14 (lead): ERR_BAD_SIGNATURE_ENCODING is class PARSE on the raw path too, as in src/x509', () => {
  for (const [curve, n] of [['P-256', 32], ['P-384', 48]] as const) {
    it(`${curve}: a raw signature of the wrong length`, () => {
      const xy = new Uint8Array(Buffer.from(GENERATOR[curve], 'hex'));
      const key = EcdsaPublicKey.import(curve, xy);
      const bad = { code: 'ERR_BAD_SIGNATURE_ENCODING', errorClass: 'PARSE' };
      for (const sig of [new Uint8Array(2 * n - 1), new Uint8Array(2 * n + 1)]) {
        expect(expectError(() => ecdsaVerify(curve, xy, new Uint8Array(10), sig), bad)).toBeInstanceOf(EvidenceParseError);
        expect(expectError(() => key.verify(new Uint8Array(10), sig), bad)).toBeInstanceOf(EvidenceParseError);
      }
    });
  }

  it('docs/error-codes.md and docs/x509.md give the class PARSE', () => {
    const row = (doc: string) => doc.split('\n').find((l) => l.startsWith('| `ERR_BAD_SIGNATURE_ENCODING` |'))?.split('|')[2]?.trim();
    expect(row(read('docs/error-codes.md'))).toBe('PARSE');
    expect(row(read('docs/x509.md'))).toBe('PARSE');
  });
});
