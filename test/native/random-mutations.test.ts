/**
 * Property test: random mutations of genuine evidence and random garbage never
 * crash the process and never throw anything but a TeeVerifyError with a
 * known code (checklist §7: INTERNAL must never be observed).
 */
import fc from 'fast-check';
import { describe, expect, it } from 'vitest';

import { parseEvidence, parseSnpCertificateTable, TeeVerifyError, verifyQuoteSignature, type SgxQuote, type TdxQuote } from '../../src/index.js';
import { HAVE_VECTORS, evidenceEntries, readEvidenceBytes } from '../helpers/vectors.js';

const KNOWN_CODES = new Set([
  'ERR_EMPTY_INPUT', 'ERR_BAD_ENCODING', 'ERR_UNKNOWN_FORMAT', 'ERR_PRODUCT_MISMATCH', 'ERR_INPUT_TOO_LARGE',
  'ERR_TRUNCATED', 'ERR_LENGTH_OUT_OF_BOUNDS', 'ERR_BAD_LENGTH', 'ERR_TRAILING_DATA', 'ERR_RESERVED_NONZERO',
  'ERR_BAD_FIELD_VALUE', 'ERR_DUPLICATE_ENTRY', 'ERR_TOO_MANY_ENTRIES', 'ERR_UNSUPPORTED_VERSION',
  'ERR_UNSUPPORTED_KEY_TYPE', 'ERR_UNSUPPORTED_TEE_TYPE', 'ERR_UNSUPPORTED_QE_VENDOR', 'ERR_UNSUPPORTED_BODY_TYPE',
  'ERR_UNSUPPORTED_CERT_DATA_TYPE', 'ERR_UNSUPPORTED_SIGNATURE_ALGORITHM', 'ERR_UNSUPPORTED_SIGNING_KEY',
]);

function parseOrKnownError(bytes: Uint8Array, trailing: 'default' | 'strict' | 'dangerouslyLenient'): unknown {
  try {
    return parseEvidence(bytes, { encoding: 'binary', trailing });
  } catch (err) {
    expect(err).toBeInstanceOf(TeeVerifyError);
    expect(KNOWN_CODES.has((err as TeeVerifyError).code), (err as TeeVerifyError).code).toBe(true);
    expect((err as TeeVerifyError).errorClass).toMatch(/^(PARSE|UNSUPPORTED|PRODUCT)$/);
    return undefined;
  }
}

const mutation = fc.oneof(
  fc.record({ kind: fc.constant('set' as const), at: fc.nat(), value: fc.integer({ min: 0, max: 255 }) }),
  fc.record({ kind: fc.constant('u32' as const), at: fc.nat(), value: fc.constantFrom(0, 1, 0x7fffffff, 0x80000000, 0xffffffff, 0xfffffffa) }),
  fc.record({ kind: fc.constant('cut' as const), at: fc.nat() }),
  fc.record({ kind: fc.constant('insert' as const), at: fc.nat(), bytes: fc.uint8Array({ minLength: 1, maxLength: 16 }) }),
);
type Mutation = typeof mutation extends fc.Arbitrary<infer T> ? T : never;

function apply(bytes: Uint8Array, mutations: Mutation[]): Uint8Array {
  let out = Uint8Array.from(bytes);
  for (const m of mutations) {
    if (out.length === 0) break;
    const at = m.at % out.length;
    if (m.kind === 'set') out[at] = m.value;
    else if (m.kind === 'u32' && at + 4 <= out.length) Buffer.from(out.buffer, out.byteOffset).writeUInt32LE(m.value, at);
    else if (m.kind === 'cut') out = out.slice(0, at);
    else if (m.kind === 'insert') out = new Uint8Array([...out.subarray(0, at), ...m.bytes, ...out.subarray(at)]);
  }
  return out;
}

describe.skipIf(!HAVE_VECTORS)('random mutations of genuine evidence (X09)', () => {
  const corpus = evidenceEntries().map(readEvidenceBytes);
  const genuineQuotes = new Set<string>();
  for (const bytes of corpus) {
    const q = parseOrKnownError(bytes, 'dangerouslyLenient') as TdxQuote | SgxQuote | undefined;
    if (q && q.kind !== ('snp' as string)) {
      genuineQuotes.add(Buffer.concat([q.bytes.subarray(0, q.signedRange.length), q.signatureData.quoteSignature, q.signatureData.attestationKey]).toString('hex'));
    }
  }

  it('never crash, only typed errors with known codes; a mutated signed quote never verifies', () => {
    fc.assert(
      fc.property(
        fc.constantFrom(...corpus),
        fc.array(mutation, { minLength: 1, maxLength: 4 }),
        fc.constantFrom('default' as const, 'strict' as const, 'dangerouslyLenient' as const),
        (original, mutations, trailing) => {
          const mutated = apply(original, mutations);
          const ev = parseOrKnownError(mutated, trailing) as TdxQuote | SgxQuote | undefined;
          if (ev && ev.kind !== ('snp' as string)) {
            // The same signed bytes, signature and key as some genuine quote verify; anything else must not.
            const fingerprint = (q: TdxQuote | SgxQuote) =>
              Buffer.concat([q.bytes.subarray(0, q.signedRange.length), q.signatureData.quoteSignature, q.signatureData.attestationKey]).toString('hex');
            if (!genuineQuotes.has(fingerprint(ev))) {
              try {
                expect(verifyQuoteSignature(ev)).toBe(false);
              } catch (err) {
                expect((err as TeeVerifyError).code).toBe('ERR_BAD_PUBLIC_KEY');
              }
            }
          }
        },
      ),
      { numRuns: 3000 },
    );
  });
});

describe('random garbage through the addon (X09)', () => {
  it('evidence parser', () => {
    fc.assert(
      fc.property(fc.uint8Array({ minLength: 0, maxLength: 6000 }), (bytes) => {
        if (bytes.length === 0) return;
        parseOrKnownError(bytes, 'default');
      }),
      { numRuns: 2000 },
    );
  });

  it('evidence parser on inputs shaped like each header', () => {
    const prefixes = [[4, 0, 2, 0, 0x81, 0, 0, 0], [5, 0, 2, 0, 0x81, 0, 0, 0], [3, 0, 2, 0, 0, 0, 0, 0], [2, 0, 0, 0], [5, 0, 0, 0]];
    fc.assert(
      fc.property(fc.constantFrom(...prefixes), fc.uint8Array({ maxLength: 5200 }), (prefix, rest) => {
        parseOrKnownError(new Uint8Array([...prefix, ...rest]), 'default');
      }),
      { numRuns: 2000 },
    );
  });

  it('certificate table parser', () => {
    fc.assert(
      fc.property(fc.uint8Array({ maxLength: 4000 }), (bytes) => {
        try {
          parseSnpCertificateTable(bytes);
        } catch (err) {
          expect(err).toBeInstanceOf(TeeVerifyError);
          expect((err as TeeVerifyError).errorClass).toBe('PARSE');
        }
      }),
      { numRuns: 2000 },
    );
  });
});
