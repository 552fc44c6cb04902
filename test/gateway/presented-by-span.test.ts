/**
 * verify.ts presentedCertificateBySpan: the client's fast path for a certificate that is new on every
 * connection (evidence in the handshake). It may answer only when the SPKI span the strict DER reader
 * located is a canonical SPKI encoding (the decoded key's own SPKI export equals it) of exactly the key
 * OpenSSL verified the handshake with; its answer must then equal the slow path's (SHA-256 of the peer
 * key's SPKI export). Anything else: undefined, never a throw.
 */
import { createHash, createPublicKey, generateKeyPairSync, sign, X509Certificate, type KeyObject } from 'node:crypto';

import { describe, expect, it } from 'vitest';

import { presentedCertificateBySpan } from '../../src/gateway/verify.js';
import { bitString, explicit, integer, nullValue, objectIdentifier, sequence, set, tlv, utf8String } from '../../src/testing/der.js';

const spkiOf = (key: KeyObject): Buffer => key.export({ type: 'spki', format: 'der' });
const sha256 = (b: Uint8Array): Buffer => createHash('sha256').update(b).digest();

/** Deterministic PRNG (mulberry32). */
function prng(seed: number): () => number {
  let a = seed >>> 0;
  return () => {
    a = (a + 0x6d2b79f5) >>> 0;
    let t = a;
    t = Math.imul(t ^ (t >>> 15), t | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  };
}

/** Stand-in certificate bytes: the function hashes them and checks nothing else about them. */
const certFor = (tag: string): Uint8Array => new Uint8Array(Buffer.from(`certificate ${tag} `.repeat(20)));

/** The function's answer, asserted to be the slow path's for `peerKey` (SHA-256 of its SPKI export). */
function expectAnswer(der: Uint8Array, span: Uint8Array, peerKey: KeyObject, label: string): void {
  const got = presentedCertificateBySpan(der, span, peerKey);
  expect(got, label).toBeDefined();
  const want = sha256(spkiOf(peerKey));
  expect(got!.spkiSha256.equals(want), label).toBe(true);
  expect(got!.spkiSha256Hex, label).toBe(want.toString('hex'));
  expect(got!.certificateSha256, label).toBe(sha256(der).toString('hex'));
  expect(got!.der, label).toBe(der);
}

/** undefined, and no throw. */
function expectNone(der: Uint8Array, span: Uint8Array, peerKey: KeyObject, label: string): void {
  let got: ReturnType<typeof presentedCertificateBySpan>;
  expect(() => {
    got = presentedCertificateBySpan(der, span, peerKey);
  }, label).not.toThrow();
  expect(got!, label).toBeUndefined();
}

const KEYS = {
  'P-256': () => generateKeyPairSync('ec', { namedCurve: 'P-256' }),
  'P-384': () => generateKeyPairSync('ec', { namedCurve: 'P-384' }),
  'P-521': () => generateKeyPairSync('ec', { namedCurve: 'P-521' }),
  Ed25519: () => generateKeyPairSync('ed25519'),
  'RSA 2048': () => generateKeyPairSync('rsa', { modulusLength: 2048 }),
} as const;
type KeyType = keyof typeof KEYS;
const TYPES = Object.keys(KEYS) as KeyType[];

describe('presentedCertificateBySpan', () => {
  const keys = Object.fromEntries(TYPES.map((t) => [t, KEYS[t]()])) as Record<KeyType, { publicKey: KeyObject; privateKey: KeyObject }>;
  const others = Object.fromEntries(TYPES.map((t) => [t, KEYS[t]()])) as Record<KeyType, { publicKey: KeyObject; privateKey: KeyObject }>;

  it('the same key: the SHA-256 of its SPKI export and of the certificate DER (5 key types; a span inside a larger buffer)', () => {
    for (const t of TYPES) {
      const k = keys[t].publicKey;
      const span = spkiOf(k);
      const der = certFor(t);
      expectAnswer(der, span, k, t);
      expectAnswer(der, span, k, `${t} again (cached)`);
      // A KeyObject of the same key made separately (as OpenSSL's peer certificate gives one per connection).
      expectAnswer(der, span, createPublicKey({ key: spkiOf(k), format: 'der', type: 'spki' }), `${t} other KeyObject`);
      // The span is a subarray of the certificate in real use: offset and length are honoured.
      const big = Buffer.concat([Buffer.alloc(13, 0x30), span, Buffer.alloc(9, 0x02)]);
      expectAnswer(der, new Uint8Array(big.buffer, big.byteOffset + 13, span.length), k, `${t} subarray`);
      expectNone(der, new Uint8Array(big.buffer, big.byteOffset + 13, span.length + 1), k, `${t} subarray one byte longer`);
    }
  });

  it('another key of the same type, another curve, RSA against EC: undefined', () => {
    for (const t of TYPES) {
      const span = spkiOf(keys[t].publicKey);
      expectNone(certFor(t), span, others[t].publicKey, `${t} vs another ${t}`);
      for (const u of TYPES) if (u !== t) expectNone(certFor(t), span, keys[u].publicKey, `${t} span vs ${u} key`);
      // The answer for the right key is still there after the wrong ones (the cache holds the span's key, not a verdict).
      expectAnswer(certFor(t), span, keys[t].publicKey, `${t} after the refusals`);
    }
  });

  it('non-canonical spans that OpenSSL decodes to the very key: undefined', () => {
    const ec = keys['P-256'].publicKey;
    const s = spkiOf(ec);
    expect(s[1]).toBe(0x59);
    const rsa = keys['RSA 2048'].publicKey;
    const jwk = rsa.export({ format: 'jwk' });
    const n = Buffer.from(jwk.n as string, 'base64url');
    const e = Buffer.from(jwk.e as string, 'base64url');
    const rsaSpki = (alg: Uint8Array, modulus: Buffer): Uint8Array => sequence(alg, bitString(sequence(tlv(0x02, modulus), tlv(0x02, e))));
    const rsaAlg = sequence(objectIdentifier('1.2.840.113549.1.1.1'), nullValue());
    // The hand-built canonical one is the export (so the variants below differ only in what they say).
    expect(Buffer.from(rsaSpki(rsaAlg, Buffer.concat([Buffer.of(0), n]))).equals(spkiOf(rsa))).toBe(true);
    const cases: [string, Uint8Array, KeyObject][] = [
      ['long-form length 81 59', Buffer.concat([Buffer.of(0x30, 0x81, 0x59), s.subarray(2)]), ec],
      ['indefinite length', Buffer.concat([Buffer.of(0x30, 0x80), s.subarray(2), Buffer.of(0, 0)]), ec],
      ['a trailing byte', Buffer.concat([s, Buffer.of(0)]), ec],
      ['RSA modulus with a superfluous 00', rsaSpki(rsaAlg, Buffer.concat([Buffer.of(0, 0), n])), rsa],
      ['RSA AlgorithmIdentifier without NULL', rsaSpki(sequence(objectIdentifier('1.2.840.113549.1.1.1')), Buffer.concat([Buffer.of(0), n])), rsa],
    ];
    for (const [label, span, key] of cases) {
      // The test means something: OpenSSL takes these bytes as exactly this key, in another encoding.
      const decoded = createPublicKey({ key: Buffer.from(span), format: 'der', type: 'spki' });
      expect(decoded.equals(key), label).toBe(true);
      expect(spkiOf(decoded).equals(Buffer.from(span)), label).toBe(false);
      expectNone(certFor(label), span, key, label);
      expectNone(certFor(label), span, key, `${label} (cached)`);
    }
  });

  it('a compressed EC point: canonical for the key OpenSSL decodes from it, so the answer equals exporting the peer certificate key', () => {
    // OpenSSL 3 keeps the point form of a decoded EC key: a certificate with a compressed point yields a
    // peer key that exports compressed, so this span is that key's own encoding and the fast path and the
    // slow path (peer key export) agree. Checked with a real X509Certificate over a hand-built certificate.
    const k = generateKeyPairSync('ec', { namedCurve: 'P-256' });
    const s = spkiOf(k.publicKey);
    const compressed = sequence(
      sequence(objectIdentifier('1.2.840.10045.2.1'), objectIdentifier('1.2.840.10045.3.1.7')),
      bitString(Buffer.concat([Buffer.of((s[90]! & 1) === 1 ? 3 : 2), s.subarray(27, 59)])),
    );
    const alg = sequence(objectIdentifier('1.2.840.10045.4.3.2'));
    const name = sequence(set(sequence(objectIdentifier('2.5.4.3'), utf8String('compressed point'))));
    const validity = sequence(tlv(0x17, Buffer.from('200101000000Z')), tlv(0x17, Buffer.from('400101000000Z')));
    const tbs = sequence(explicit(0, integer(2)), integer(7), alg, name, validity, name, compressed);
    const der = sequence(tbs, alg, bitString(sign('sha256', tbs, k.privateKey)));
    const peer = new X509Certificate(Buffer.from(der));
    expect(peer.verify(k.publicKey)).toBe(true);
    expect(peer.publicKey.equals(k.publicKey)).toBe(true);
    expect(spkiOf(peer.publicKey).equals(Buffer.from(compressed))).toBe(true);
    expectAnswer(der, compressed, peer.publicKey, 'compressed span, the certificate key');
    // With a KeyObject of the same point held uncompressed the function still answers (KeyObject.equals
    // compares the point), with the SHA-256 of the span: not what exporting that KeyObject gives. A real
    // peer key comes from the same certificate, so this does not arise in the client.
    const other = presentedCertificateBySpan(der, compressed, k.publicKey);
    expect(other?.spkiSha256.equals(sha256(compressed))).toBe(true);
    expect(other?.spkiSha256.equals(sha256(s))).toBe(false);
  });

  it('garbage spans (empty, truncated, random bytes, corrupted): undefined, never a throw', () => {
    const k = keys['P-256'].publicKey;
    const ed = keys.Ed25519.publicKey;
    const s = spkiOf(k);
    const der = certFor('garbage');
    expectNone(der, new Uint8Array(0), k, 'empty');
    expectNone(der, new Uint8Array(new ArrayBuffer(16), 16, 0), k, 'empty at the end of a buffer');
    for (let i = 0; i < s.length; i++) expectNone(der, s.subarray(0, i), k, `truncated to ${i}`);
    for (let i = 1; i < s.length; i++) expectNone(der, s.subarray(i), k, `without its first ${i} bytes`);
    const rnd = prng(17);
    for (let i = 0; i < 100; i++) {
      const len = i < 50 ? Math.floor(rnd() * 200) : s.length;
      const bytes = Uint8Array.from({ length: len }, () => Math.floor(rnd() * 256));
      if (i >= 75) bytes[0] = 0x30; // starts like a SEQUENCE
      expectNone(der, bytes, i % 2 === 0 ? k : ed, `random ${i}`);
    }
    // One byte changed anywhere: another encoding, another key, or no key.
    for (let i = 0; i < s.length; i++) {
      const c = Buffer.from(s);
      c[i]! ^= 0x01;
      expectNone(der, c, k, `byte ${i} flipped`);
    }
    // The right span still answers after all of that.
    expectAnswer(der, s, k, 'after the garbage');
  });

  it('many distinct spans: the answers stay right after the cache has turned over (200 keys, twice)', () => {
    const pairs = Array.from({ length: 200 }, () => generateKeyPairSync('ec', { namedCurve: 'P-256' }).publicKey);
    const spans = pairs.map(spkiOf);
    for (let i = 0; i < pairs.length; i++) {
      expectAnswer(certFor(`k${i}`), spans[i]!, pairs[i]!, `key ${i}`);
      if (i > 0) expectNone(certFor(`k${i}`), spans[i]!, pairs[i - 1]!, `span ${i} vs key ${i - 1}`);
    }
    // The first spans were evicted long ago: decoded again, same answers, same refusals.
    for (let i = 0; i < pairs.length; i++) {
      expectAnswer(certFor(`k${i}`), spans[i]!, pairs[i]!, `key ${i}, second round`);
      expectNone(certFor(`k${i}`), spans[i]!, pairs[(i + 1) % pairs.length]!, `span ${i} vs key ${i + 1}, second round`);
    }
    expectAnswer(certFor('first'), spans[0]!, pairs[0]!, 'the first key again');
    expectNone(certFor('first'), spans[0]!, pairs[199]!, 'the first span, the last key');
    expectNone(certFor('last'), spans[199]!, pairs[0]!, 'the last span, the first key');
  });
});
