/**
 * TPM 2.0 structures through the bounded native parser: every shared
 * tpm-quote vector (quote, signature, attestation key) parses to the values
 * its manifest entry states, the signature verifies with node:crypto over the
 * returned `signed` span, and malformed structures give the exact typed code.
 */
import { createHash, createPublicKey, verify as nodeVerify } from 'node:crypto';
import { describe, expect, it } from 'vitest';

import { generateEcKeyObjects } from '../../src/crypto/ec-keys.js';
import { parseTpmPublic, parseTpmQuote, parseTpmSignature } from '../../src/vtpm/parse.js';
import { TpmAlg } from '../../src/vtpm/types.js';
import { catchError, expectError } from '../helpers/expect-error.js';
import { HAVE_VECTORS, loadManifest, readVectorFile, type ManifestEntry } from '../helpers/vectors.js';

const hex = (b: Uint8Array) => Buffer.from(b).toString('hex');
const bytes = (...parts: (number[] | Uint8Array)[]) => new Uint8Array(Buffer.concat(parts.map((p) => Buffer.from(p))));
const u16 = (v: number) => [(v >>> 8) & 0xff, v & 0xff];
const u32 = (v: number) => [(v >>> 24) & 0xff, (v >>> 16) & 0xff, (v >>> 8) & 0xff, v & 0xff];
const tpm2b = (b: Uint8Array | number[]) => bytes(u16(b.length), b);

interface AttestChecks {
  bytes: number;
  magic: string;
  type: string;
  qualified_signer: string;
  extra_data: string;
  clock: string;
  reset_count: number;
  restart_count: number;
  safe: number;
  firmware_version: string;
  pcr_select: { bank: string; pcrs: number[] }[];
  pcr_digest: string;
}
interface AkChecks {
  type: string;
  key_bits: number;
  exponent: number;
  name_alg: string;
  object_attributes: string;
  scheme: string;
  scheme_hash: string;
  tpmt_public_bytes: number;
  name: string;
}
interface SigChecks {
  bytes: number;
  sig_alg: string;
  hash: string;
  sig_bytes: number;
}

const quoteEntries = (): ManifestEntry[] => loadManifest().filter((e) => e.kind === 'tpm-quote');
const file = (rel: string) => new Uint8Array(readVectorFile(rel));

/** PKCS#1 RSA public key as node:crypto KeyObject, from the parsed modulus and exponent. */
function rsaKey(modulus: Uint8Array, exponent: number) {
  const e = Buffer.from(exponent.toString(16).padStart(6, '0'), 'hex');
  return createPublicKey({ key: { kty: 'RSA', n: Buffer.from(modulus).toString('base64url'), e: e.toString('base64url') }, format: 'jwk' });
}

describe.skipIf(!HAVE_VECTORS)('shared tpm-quote vectors', () => {
  it('the manifest lists the four real quotes', () => {
    expect(quoteEntries().map((e) => e.id).sort()).toEqual([
      'go-attestation/windows_gcp_shielded_vm-quote',
      'go-tpm-tools/gce-cos-85-nonce9009-quote-sha1',
      'go-tpm-tools/gce-cos-85-nonce9009-quote-sha256',
      'go-tpm-tools/gce-cos-85-nonce9009-quote-sha384',
    ]);
  });

  for (const entry of quoteEntries()) {
    describe(entry.id, () => {
      const a = entry.checks['attest'] as AttestChecks;
      const k = entry.checks['ak_public'] as AkChecks;
      const s = entry.checks['signature'] as SigChecks;

      it('TPMS_ATTEST fields equal the manifest', () => {
        const input = file(entry.file);
        const q = parseTpmQuote(input);
        expect(input.length).toBe(a.bytes);
        expect(q.signed).toEqual(input);
        expect(`0x${q.magic.toString(16)}`).toBe(a.magic);
        expect(q.type).toBe(Number.parseInt(a.type, 16));
        expect(hex(q.qualifiedSigner)).toBe(a.qualified_signer);
        expect(hex(q.extraData)).toBe(a.extra_data);
        expect(hex(q.extraData)).toBe(entry.expected.nonce);
        expect(q.clock).toBe(BigInt(a.clock));
        expect(q.resetCount).toBe(a.reset_count);
        expect(q.restartCount).toBe(a.restart_count);
        expect(q.safe).toBe(a.safe === 1);
        expect(`0x${q.firmwareVersion.toString(16).padStart(16, '0')}`).toBe(a.firmware_version);
        expect(q.pcrSelections.map((p) => ({ bank: p.hash, pcrs: p.pcrs }))).toEqual(a.pcr_select);
        expect(hex(q.pcrDigest)).toBe(a.pcr_digest);
        // Views into one private copy of the input (review s8, finding 2), not field copies.
        expect(q.extraData.buffer).toBe(q.signed.buffer);
        expect(q.signed.buffer).not.toBe(input.buffer);
      });

      it('TPMT_PUBLIC of the attestation key equals the manifest, and its Name', () => {
        const input = file(entry.collateral['ak_public']!);
        const p = parseTpmPublic(input);
        expect(p.type).toBe(k.type.toLowerCase());
        expect(p.rsa?.keyBits).toBe(k.key_bits);
        expect(p.rsa?.exponent).toBe(k.exponent);
        expect(p.rsa?.modulus.length).toBe(k.key_bits / 8);
        expect(p.nameAlg).toBe(TpmAlg.SHA256);
        expect(k.name_alg).toBe('sha256');
        expect(`0x${p.objectAttributes.toString(16).padStart(8, '0')}`).toBe(k.object_attributes);
        expect(p.schemeAlg).toBe(TpmAlg.RSASSA);
        expect(k.scheme).toBe('RSASSA');
        expect(p.schemeHashAlg).toBe(k.scheme_hash === 'sha1' ? TpmAlg.SHA1 : TpmAlg.SHA256);
        expect(p.bytes.length).toBe(k.tpmt_public_bytes);
        const name = hex(bytes(u16(p.nameAlg), createHash('sha256').update(p.bytes).digest()));
        expect(name).toBe(k.name);
        // The same key as TPM2B_PUBLIC: `bytes` excludes the size prefix.
        const sized = parseTpmPublic(tpm2b(input), { sized: true });
        expect(hex(sized.bytes)).toBe(hex(input));
        expect(sized.bytes.byteOffset).toBe(2);
      });

      it('TPMT_SIGNATURE equals the manifest and verifies over `signed` with the AK', () => {
        const sigBytes = file(entry.collateral['signature']!);
        const sig = parseTpmSignature(sigBytes);
        expect(sigBytes.length).toBe(s.bytes);
        expect(sig.scheme).toBe('rsassa');
        expect(s.sig_alg).toBe('RSASSA-PKCS1-v1_5');
        expect(sig.hash).toBe(s.hash);
        expect(sig.rsaSignature?.length).toBe(s.sig_bytes);
        expect(sig.ecdsaR).toBeUndefined();
        const ak = parseTpmPublic(file(entry.collateral['ak_public']!));
        const key = rsaKey(ak.rsa!.modulus, ak.rsa!.exponent);
        const quote = parseTpmQuote(file(entry.file));
        expect(nodeVerify(sig.hash!, quote.signed, key, sig.rsaSignature!)).toBe(true);
        const tampered = Uint8Array.from(quote.signed);
        tampered[tampered.length - 1]! ^= 1;
        expect(nodeVerify(sig.hash!, tampered, key, sig.rsaSignature!)).toBe(false);
      });

      it('every proper prefix of the quote, signature and key is ERR_TPM_TRUNCATED', () => {
        const cases: [Uint8Array, (b: Uint8Array) => unknown][] = [
          [file(entry.file), parseTpmQuote],
          [file(entry.collateral['signature']!), parseTpmSignature],
          [file(entry.collateral['ak_public']!), (b) => parseTpmPublic(b)],
          [tpm2b(file(entry.collateral['ak_public']!)), (b) => parseTpmPublic(b, { sized: true })],
        ];
        for (const [full, parse] of cases) {
          for (let cut = 0; cut < full.length; cut++) {
            const err = catchError(() => parse(full.subarray(0, cut)));
            expect({ cut, code: err.code, errorClass: err.errorClass }).toEqual({ cut, code: 'ERR_TPM_TRUNCATED', errorClass: 'PARSE' });
            expect(err.offset).toBeLessThanOrEqual(cut);
          }
        }
      });

      it('a trailing byte, even zero, is ERR_TPM_TRAILING_DATA at the end of the structure', () => {
        for (const extra of [0, 0x41]) {
          const q = file(entry.file);
          expectError(() => parseTpmQuote(bytes(q, [extra])), { code: 'ERR_TPM_TRAILING_DATA', offset: q.length });
          const sg = file(entry.collateral['signature']!);
          expectError(() => parseTpmSignature(bytes(sg, [extra])), { code: 'ERR_TPM_TRAILING_DATA', offset: sg.length });
          const pk = file(entry.collateral['ak_public']!);
          expectError(() => parseTpmPublic(bytes(pk, [extra])), { code: 'ERR_TPM_TRAILING_DATA', offset: pk.length });
          expectError(() => parseTpmPublic(bytes(tpm2b(pk), [extra]), { sized: true }), {
            code: 'ERR_TPM_TRAILING_DATA',
            offset: pk.length + 2,
          });
        }
      });
    });
  }
});

/** A TPMS_ATTEST quote built field by field, so each negative changes one thing. */
function quote(o: {
  magic?: number;
  type?: number;
  signer?: Uint8Array;
  extra?: Uint8Array;
  safe?: number;
  selections?: number[][];
  count?: number;
  digest?: Uint8Array;
} = {}): Uint8Array {
  const selections = o.selections ?? [[...u16(TpmAlg.SHA256), 3, 0xff, 0x04, 0x00]];
  return bytes(
    u32(o.magic ?? 0xff544347),
    u16(o.type ?? 0x8018),
    tpm2b(o.signer ?? new Uint8Array(34)),
    tpm2b(o.extra ?? Uint8Array.of(1, 2, 3, 4)),
    [0, 0, 0, 0, 0, 0, 0x12, 0x34], // clock
    u32(7), // resetCount
    u32(9), // restartCount
    [o.safe ?? 1],
    [0x20, 0x16, 0x05, 0x11, 0x00, 0x16, 0x28, 0x00], // firmwareVersion
    u32(o.count ?? selections.length),
    ...selections,
    tpm2b(o.digest ?? new Uint8Array(32).fill(0xaa)),
  );
}

describe('TPMS_ATTEST (synthetic)', () => {
  it('decodes every field of a generated quote', () => {
    const q = parseTpmQuote(quote({ selections: [[...u16(TpmAlg.SHA1), 3, 0x01, 0x80, 0x00], [...u16(TpmAlg.SHA256), 4, 0, 0, 0, 0x80]] }));
    expect(q.clock).toBe(0x1234n);
    expect([q.resetCount, q.restartCount, q.safe]).toEqual([7, 9, true]);
    expect(q.firmwareVersion).toBe(0x2016051100162800n);
    expect(hex(q.extraData)).toBe('01020304');
    expect(q.pcrSelections).toEqual([
      { hashAlg: TpmAlg.SHA1, hash: 'sha1', pcrs: [0, 15] },
      { hashAlg: TpmAlg.SHA256, hash: 'sha256', pcrs: [31] },
    ]);
  });

  it('keeps an unknown bank with hash undefined, empty selections and empty extraData', () => {
    const q = parseTpmQuote(quote({ selections: [[0x12, 0x34, 0]], extra: new Uint8Array(0) }));
    expect(q.pcrSelections).toEqual([{ hashAlg: 0x1234, hash: undefined, pcrs: [] }]);
    expect(q.extraData.length).toBe(0);
  });

  it('bad magic: ERR_TPM_BAD_MAGIC at 0', () => {
    expectError(() => parseTpmQuote(quote({ magic: 0xff544348 })), { code: 'ERR_TPM_BAD_MAGIC', errorClass: 'PARSE', offset: 0 });
  });

  it('an attestation that is not a quote: ERR_TPM_UNSUPPORTED_ATTEST_TYPE (UNSUPPORTED) at 4', () => {
    for (const type of [0x8017, 0x801a, 0x8014, 0x0000]) {
      expectError(() => parseTpmQuote(quote({ type })), { code: 'ERR_TPM_UNSUPPORTED_ATTEST_TYPE', errorClass: 'UNSUPPORTED', offset: 4 });
    }
  });

  it('size and count bounds: ERR_TPM_BAD_SIZE at the size field', () => {
    expectError(() => parseTpmQuote(quote({ extra: new Uint8Array(65) })), { code: 'ERR_TPM_BAD_SIZE', offset: 6 + 2 + 34 });
    expect(parseTpmQuote(quote({ extra: new Uint8Array(64) })).extraData.length).toBe(64);
    expectError(() => parseTpmQuote(quote({ signer: new Uint8Array(67) })), { code: 'ERR_TPM_BAD_SIZE', offset: 6 });
    expectError(() => parseTpmQuote(quote({ digest: new Uint8Array(65) })), { code: 'ERR_TPM_BAD_SIZE' });
    const countAt = 6 + 36 + 6 + 17 + 8;
    expectError(() => parseTpmQuote(quote({ count: 17 })), { code: 'ERR_TPM_BAD_SIZE', offset: countAt });
    expectError(() => parseTpmQuote(quote({ count: 0xffffffff })), { code: 'ERR_TPM_BAD_SIZE', offset: countAt });
    expectError(() => parseTpmQuote(quote({ selections: [[...u16(TpmAlg.SHA256), 5, 0, 0, 0, 0, 0]] })), {
      code: 'ERR_TPM_BAD_SIZE',
      offset: countAt + 4 + 2,
    });
  });

  it('a count larger than the selections present is truncation, not a huge read', () => {
    const full = quote({ count: 16 });
    const noDigest = full.subarray(0, full.length - 34);
    expectError(() => parseTpmQuote(noDigest), { code: 'ERR_TPM_TRUNCATED', offset: noDigest.length });
    // With the digest present, its bytes are read as the next selection and fail its bound.
    expectError(() => parseTpmQuote(full), { code: 'ERR_TPM_BAD_SIZE' });
  });

  it('forbidden values: safe not 0/1, one bank twice: ERR_TPM_BAD_VALUE', () => {
    expectError(() => parseTpmQuote(quote({ safe: 2 })), { code: 'ERR_TPM_BAD_VALUE', offset: 6 + 36 + 6 + 16 });
    const twice = [...u16(TpmAlg.SHA256), 3, 1, 0, 0];
    expectError(() => parseTpmQuote(quote({ selections: [twice, twice] })), { code: 'ERR_TPM_BAD_VALUE', offset: 6 + 36 + 6 + 17 + 8 + 4 + 6 });
  });

  it('input above the 4096-byte cap: ERR_INPUT_TOO_LARGE before any parsing', () => {
    expectError(() => parseTpmQuote(new Uint8Array(4097)), { code: 'ERR_INPUT_TOO_LARGE', offset: 4096 });
    expectError(() => parseTpmSignature(new Uint8Array(4097)), { code: 'ERR_INPUT_TOO_LARGE' });
    expectError(() => parseTpmPublic(new Uint8Array(4097)), { code: 'ERR_INPUT_TOO_LARGE' });
  });

  it('a non-Uint8Array argument is ERR_INVALID_ARGUMENT', () => {
    expectError(() => parseTpmQuote('ff544347' as unknown as Uint8Array), { code: 'ERR_INVALID_ARGUMENT', errorClass: 'ARGUMENT' });
  });
});

describe('TPMT_SIGNATURE (synthetic)', () => {
  it('ECDSA: r and s as encoded (shorter than the curve size allowed)', () => {
    const sig = parseTpmSignature(bytes(u16(TpmAlg.ECDSA), u16(TpmAlg.SHA256), tpm2b([1, 2, 3]), tpm2b(new Uint8Array(32).fill(9))));
    expect(sig.scheme).toBe('ecdsa');
    expect(sig.hash).toBe('sha256');
    expect(hex(sig.ecdsaR!)).toBe('010203');
    expect(sig.ecdsaS!.length).toBe(32);
    expect(sig.rsaSignature).toBeUndefined();
  });

  it('RSAPSS is its own scheme', () => {
    const sig = parseTpmSignature(bytes(u16(TpmAlg.RSAPSS), u16(TpmAlg.SHA384), tpm2b(new Uint8Array(256))));
    expect([sig.scheme, sig.hash, sig.rsaSignature!.length]).toEqual(['rsapss', 'sha384', 256]);
  });

  it('any other algorithm is ERR_TPM_UNSUPPORTED_SIG_ALG (UNSUPPORTED) at 0', () => {
    // NULL, HMAC, ECDAA, SM2, ECSCHNORR, an unassigned value
    for (const alg of [0x0010, 0x0005, 0x001a, 0x001b, 0x001c, 0x7777]) {
      expectError(() => parseTpmSignature(bytes(u16(alg), u16(TpmAlg.SHA256), tpm2b(new Uint8Array(32)))), {
        code: 'ERR_TPM_UNSUPPORTED_SIG_ALG',
        errorClass: 'UNSUPPORTED',
        offset: 0,
      });
    }
  });

  it('hash TPM_ALG_NULL is ERR_TPM_BAD_VALUE; empty or oversized signatures are ERR_TPM_BAD_SIZE', () => {
    expectError(() => parseTpmSignature(bytes(u16(TpmAlg.RSASSA), u16(TpmAlg.NULL), tpm2b(new Uint8Array(256)))), { code: 'ERR_TPM_BAD_VALUE', offset: 2 });
    expectError(() => parseTpmSignature(bytes(u16(TpmAlg.RSASSA), u16(TpmAlg.SHA256), tpm2b([]))), { code: 'ERR_TPM_BAD_SIZE', offset: 4 });
    expectError(() => parseTpmSignature(bytes(u16(TpmAlg.RSASSA), u16(TpmAlg.SHA256), tpm2b(new Uint8Array(513)))), { code: 'ERR_TPM_BAD_SIZE', offset: 4 });
    expectError(() => parseTpmSignature(bytes(u16(TpmAlg.ECDSA), u16(TpmAlg.SHA256), tpm2b([1]), tpm2b(new Uint8Array(129)))), { code: 'ERR_TPM_BAD_SIZE', offset: 7 });
  });
});

/** TPMT_PUBLIC of an ECC P-256 signing key (the layout Part 2 gives). */
function eccPublic(x: Uint8Array, y: Uint8Array, scheme: number[] = [...u16(TpmAlg.ECDSA), ...u16(TpmAlg.SHA256)]): Uint8Array {
  return bytes(u16(TpmAlg.ECC), u16(TpmAlg.SHA256), u32(0x00050072), tpm2b([]), u16(TpmAlg.NULL), scheme, u16(0x0003), u16(TpmAlg.NULL), tpm2b(x), tpm2b(y));
}

function rsaPublic(o: { bits?: number; modulus?: number; scheme?: number[]; symmetric?: number[]; exponent?: number } = {}): Uint8Array {
  const bits = o.bits ?? 2048;
  return bytes(
    u16(TpmAlg.RSA),
    u16(TpmAlg.SHA256),
    u32(0x00030072),
    tpm2b(new Uint8Array(32).fill(0x83)),
    o.symmetric ?? u16(TpmAlg.NULL),
    o.scheme ?? [...u16(TpmAlg.RSASSA), ...u16(TpmAlg.SHA256)],
    u16(bits),
    u32(o.exponent ?? 0),
    tpm2b(new Uint8Array(o.modulus ?? bits / 8).fill(0xc5)),
  );
}

describe('TPMT_PUBLIC (synthetic)', () => {
  it('an ECC P-256 key made by node:crypto round-trips its point', () => {
    const { publicKey } = generateEcKeyObjects('P-256'); // no key-generation job before a JWK export
    const jwk = publicKey.export({ format: 'jwk' });
    const x = new Uint8Array(Buffer.from(jwk.x!, 'base64url'));
    const y = new Uint8Array(Buffer.from(jwk.y!, 'base64url'));
    const area = eccPublic(x, y);
    const p = parseTpmPublic(area);
    expect(p.type).toBe('ecc');
    expect(p.ecc?.curveId).toBe(3);
    expect(hex(p.ecc!.x)).toBe(hex(x));
    expect(hex(p.ecc!.y)).toBe(hex(y));
    expect([p.schemeAlg, p.schemeHashAlg]).toEqual([TpmAlg.ECDSA, TpmAlg.SHA256]);
    expect(p.bytes.length).toBe(area.length);
    expect(p.authPolicy.length).toBe(0);
  });

  it('scheme NULL (any scheme) reports NULL / NULL; an explicit exponent is kept', () => {
    const p = parseTpmPublic(rsaPublic({ scheme: u16(TpmAlg.NULL), exponent: 3 }));
    expect([p.schemeAlg, p.schemeHashAlg, p.rsa?.exponent]).toEqual([TpmAlg.NULL, TpmAlg.NULL, 3]);
    expect(p.authPolicy.length).toBe(32);
  });

  it('a restricted decryption key with AES-128-CFB symmetric parameters parses', () => {
    const p = parseTpmPublic(rsaPublic({ symmetric: [...u16(0x0006), ...u16(128), ...u16(0x0043)], scheme: u16(TpmAlg.NULL) }));
    expect(p.rsa?.keyBits).toBe(2048);
  });

  it('keyed-hash / symmetric objects are ERR_TPM_UNSUPPORTED_KEY_TYPE (UNSUPPORTED)', () => {
    for (const type of [0x0008, 0x0025, 0x1234]) {
      const area = rsaPublic();
      area.set(u16(type), 0);
      expectError(() => parseTpmPublic(area), { code: 'ERR_TPM_UNSUPPORTED_KEY_TYPE', errorClass: 'UNSUPPORTED', offset: 0 });
    }
  });

  it('decryption schemes, unknown symmetric algorithms: ERR_TPM_UNSUPPORTED_SCHEME', () => {
    expectError(() => parseTpmPublic(rsaPublic({ scheme: [...u16(0x0017), ...u16(TpmAlg.SHA256)] })), { code: 'ERR_TPM_UNSUPPORTED_SCHEME', errorClass: 'UNSUPPORTED' });
    expectError(() => parseTpmPublic(rsaPublic({ scheme: u16(0x0015) })), { code: 'ERR_TPM_UNSUPPORTED_SCHEME' });
    expectError(() => parseTpmPublic(rsaPublic({ scheme: [...u16(TpmAlg.ECDSA), ...u16(TpmAlg.SHA256)] })), { code: 'ERR_TPM_UNSUPPORTED_SCHEME' });
    expectError(() => parseTpmPublic(eccPublic(Uint8Array.of(1), Uint8Array.of(2), [...u16(TpmAlg.RSASSA), ...u16(TpmAlg.SHA256)])), { code: 'ERR_TPM_UNSUPPORTED_SCHEME' });
    expectError(() => parseTpmPublic(rsaPublic({ symmetric: [...u16(0x000a), ...u16(TpmAlg.SHA256)] })), { code: 'ERR_TPM_UNSUPPORTED_SCHEME', offset: 2 + 2 + 4 + 34 });
  });

  it('RSA key size: bits outside 1024/2048/3072/4096 are ERR_TPM_BAD_VALUE, a modulus of another length ERR_TPM_BAD_SIZE', () => {
    expectError(() => parseTpmPublic(rsaPublic({ bits: 2047, modulus: 256 })), { code: 'ERR_TPM_BAD_VALUE' });
    expectError(() => parseTpmPublic(rsaPublic({ modulus: 255 })), { code: 'ERR_TPM_BAD_SIZE' });
    expectError(() => parseTpmPublic(rsaPublic({ modulus: 0 })), { code: 'ERR_TPM_BAD_SIZE' });
    expect(parseTpmPublic(rsaPublic({ bits: 4096, modulus: 512 })).rsa?.modulus.length).toBe(512);
  });

  it('a signing scheme with hash NULL is ERR_TPM_BAD_VALUE', () => {
    expectError(() => parseTpmPublic(rsaPublic({ scheme: [...u16(TpmAlg.RSASSA), ...u16(TpmAlg.NULL)] })), { code: 'ERR_TPM_BAD_VALUE' });
  });

  it('TPM2B_PUBLIC: a size field beyond the input is truncation, one short of the content ERR_TPM_BAD_SIZE', () => {
    const area = rsaPublic();
    expectError(() => parseTpmPublic(bytes(u16(area.length + 1), area), { sized: true }), { code: 'ERR_TPM_TRUNCATED', offset: 0 });
    expectError(() => parseTpmPublic(bytes(u16(area.length - 1), area), { sized: true }), { code: 'ERR_TPM_BAD_SIZE', offset: 0 });
    expectError(() => parseTpmPublic(bytes(u16(area.length + 1), area, [0]), { sized: true }), { code: 'ERR_TPM_BAD_SIZE', offset: 0 });
  });
});
