/** The vTPM bundle format: round trip, detection and strict parsing (unknown fields, types, encodings, bounds). */
import fc from 'fast-check';
import { describe, expect, it } from 'vitest';

import { TeeVerifyError } from '../../src/errors.js';

import { VTPM_BUNDLE_FORMAT, VTPM_BUNDLE_LIMITS, looksLikeVtpmBundle, parseVtpmBundle, serializeVtpmBundle, type VtpmBundle } from '../../src/vtpm/bundle.js';

const sample = (): VtpmBundle => ({
  nonce: new Uint8Array([0x90, 0x09]),
  tpm: {
    ak: { pem: '-----BEGIN PUBLIC KEY-----\nAAAA\n-----END PUBLIC KEY-----\n' },
    quotes: [{ attest: new Uint8Array([1, 2, 3]), signature: new Uint8Array([4, 5]) }],
    pcrs: { sha256: { '0': new Uint8Array(32).fill(1), '10': new Uint8Array(32).fill(2) }, sha1: { '7': new Uint8Array(20) } },
  },
  eventLog: new Uint8Array([9, 9, 9]),
  ima: { ascii: '10 00 ima-ng sha256:00 /bin/sh\n' },
});

function docOf(mutate: (d: Record<string, any>) => void): string {
  const d = JSON.parse(serializeVtpmBundle(sample()));
  mutate(d);
  return JSON.stringify(d);
}

function problem(text: string): { code: string; path: string } {
  try {
    parseVtpmBundle(text);
  } catch (err) {
    const e = err as { code: string; details: { path: string } };
    return { code: e.code, path: e.details.path };
  }
  return { code: 'no error', path: '' };
}

describe('vTPM bundle format', () => {
  it('round-trips through serialise / parse', () => {
    const text = serializeVtpmBundle(sample());
    expect(JSON.parse(text).format).toBe(VTPM_BUNDLE_FORMAT);
    const back = parseVtpmBundle(text);
    expect(Buffer.from(back.nonce!)).toEqual(Buffer.from([0x90, 0x09]));
    expect(back.tpm.pcrs.sha256!['10']).toEqual(new Uint8Array(32).fill(2));
    expect(back.ima).toEqual({ ascii: '10 00 ima-ng sha256:00 /bin/sh\n' });
    expect(serializeVtpmBundle(back)).toBe(text);
  });

  it('is detected by its format member; other JSON and binary evidence are not', () => {
    expect(looksLikeVtpmBundle(new TextEncoder().encode(`  \n${serializeVtpmBundle(sample())}`))).toBe(true);
    expect(looksLikeVtpmBundle(new TextEncoder().encode('{"tcbInfo":{}}'))).toBe(false);
    expect(looksLikeVtpmBundle(new Uint8Array([4, 0, 2, 0, 0x81]))).toBe(false);
  });

  const rejects: [string, (d: Record<string, any>) => void, string][] = [
    ['unknown top-level field', (d) => (d['extra'] = 1), '/extra'],
    ['unknown field in tpm', (d) => (d['tpm']['akCert'] = 'x'), '/tpm/akCert'],
    ['unknown field in a quote', (d) => (d['tpm']['quotes'][0]['pcrs'] = {}), '/tpm/quotes/0/pcrs'],
    ['wrong format string', (d) => (d['format'] = 'tee-verify/vtpm-bundle@2'), '/format'],
    ['missing tpm', (d) => delete d['tpm'], '/tpm'],
    ['no quotes', (d) => (d['tpm']['quotes'] = []), '/tpm/quotes'],
    ['too many quotes', (d) => (d['tpm']['quotes'] = Array(VTPM_BUNDLE_LIMITS.quotes + 1).fill(d['tpm']['quotes'][0])), '/tpm/quotes'],
    ['base64 with whitespace', (d) => (d['tpm']['quotes'][0]['attest'] = 'AQID\n'), '/tpm/quotes/0/attest'],
    ['base64url alphabet', (d) => (d['eventLog'] = 'a-_a'), '/eventLog'],
    ['base64 with non-zero padding bits', (d) => (d['nonce'] = 'kAl='), '/nonce'],
    ['nonce above 64 bytes', (d) => (d['nonce'] = Buffer.alloc(65).toString('base64')), '/nonce'],
    ['PCR value of the wrong length', (d) => (d['tpm']['pcrs']['sha256']['0'] = '00'), '/tpm/pcrs/sha256/0'],
    ['PCR value in uppercase hex', (d) => (d['tpm']['pcrs']['sha1']['7'] = 'AB'.repeat(20)), '/tpm/pcrs/sha1/7'],
    ['PCR index 24', (d) => (d['tpm']['pcrs']['sha256']['24'] = '00'.repeat(32)), '/tpm/pcrs/sha256/24'],
    ['PCR index with a leading zero', (d) => (d['tpm']['pcrs']['sha256']['07'] = '00'.repeat(32)), '/tpm/pcrs/sha256/07'],
    ['unknown bank', (d) => (d['tpm']['pcrs']['sm3_256'] = {}), '/tpm/pcrs/sm3_256'],
    ['ak with both forms', (d) => (d['tpm']['ak'] = { pem: 'x', public: 'AQID' }), '/tpm/ak'],
    ['ima with both forms', (d) => (d['ima'] = { ascii: '', binary: 'AQID' }), '/ima/binary'],
    ['ima binary with an unknown templateDigest', (d) => (d['ima'] = { binary: 'AQID', templateDigest: 'md5' }), '/ima/templateDigest'],
    ['no ak and no hardware', (d) => delete d['tpm']['ak'], '/tpm/ak'],
    ['hardware without hclReport', (d) => (d['hardware'] = { tdQuote: 'AQID' }), '/hardware/hclReport'],
    ['hardware certificates that are not PEM', (d) => (d['hardware'] = { hclReport: 'AQID', certificates: 'hello' }), '/hardware/certificates'],
    ['a number where base64 belongs', (d) => (d['eventLog'] = 5), '/eventLog'],
  ];
  for (const [name, mutate, path] of rejects) {
    it(`rejects ${name}: ERR_VTPM_BUNDLE at ${path}`, () => {
      expect(problem(docOf(mutate))).toEqual({ code: 'ERR_VTPM_BUNDLE', path });
    });
  }

  it('rejects duplicate keys and trailing garbage (strict JSON)', () => {
    const text = serializeVtpmBundle(sample());
    expect(problem(text.replace('"format"', '"format": "tee-verify/vtpm-bundle@1", "format"')).code).toBe('ERR_VTPM_BUNDLE');
    expect(problem(`${text}x`).code).toBe('ERR_VTPM_BUNDLE');
  });

  it('rejects a document above the size bound before parsing it', () => {
    const big = new Uint8Array(VTPM_BUNDLE_LIMITS.document + 1);
    expect(problem(big as unknown as string).code).toBe('ERR_VTPM_BUNDLE');
  });

  it('fuzz: byte mutations of a valid bundle either parse or fail with ERR_VTPM_BUNDLE, never another error', () => {
    const base = new TextEncoder().encode(serializeVtpmBundle(sample()));
    fc.assert(
      fc.property(fc.array(fc.tuple(fc.nat(base.length - 1), fc.integer({ min: 0, max: 255 })), { minLength: 1, maxLength: 8 }), fc.nat(base.length), (edits, cut) => {
        const bytes = base.slice(0, Math.max(1, cut));
        for (const [at, value] of edits) if (at < bytes.length) bytes[at] = value;
        try {
          parseVtpmBundle(bytes);
        } catch (err) {
          expect(err).toBeInstanceOf(TeeVerifyError);
          expect((err as TeeVerifyError).code).toBe('ERR_VTPM_BUNDLE');
        }
      }),
      { numRuns: 2000, seed: 9 },
    );
  });
});
