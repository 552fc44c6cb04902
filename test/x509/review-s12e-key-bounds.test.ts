/**
 * Review s12 change review (core) #1: spki.ts imported every parsed certificate's key into a cache
 * bounded by entry count only and keyed by the base64 of the SPKI, with no bound on the RSA
 * modulus: a hostile VCEK of the 64 KiB certificate cap carried a ~480 000-bit modulus, and each
 * distinct one left ~80 KB of key string and an imported OpenSSL key resident. Now an RSA modulus above 8192 bits is refused at parse
 * (ERR_UNSUPPORTED_KEY_TYPE; the real keys are RSA-4096), and the cache has a byte budget, counted
 * by its own accounting (keyObjectCacheUsage).
 *
 * (#2, the INTEGER bounds, is review-s12e-int-bounds.test.ts.)
 *
 * Every test here except the controls fails on the code before.
 */
import { randomFillSync } from 'node:crypto';
import { describe, expect, it } from 'vitest';

import { createAmdTestPki } from '../../src/testing/index.js';
import * as anchors from '../../src/verify/roots/anchors.js';
import { parseDer } from '../../src/x509/asn1.js';
import { parseCertificate } from '../../src/x509/index.js';
import * as spki from '../../src/x509/spki.js';
import { int, nul, oid, seq, tlv } from './helpers/der.js';
import { editTbs } from './helpers/rebuild.js';

type Usage = { entries: number; bytes: number; maxEntries: number; maxBytes: number };
// Read through the namespaces: on the code before these exports are missing and the tests fail, not the import.
const keyCacheUsage = (): Usage => (spki as unknown as { keyObjectCacheUsage(): Usage }).keyObjectCacheUsage();
const MAX_RSA_BITS = (spki as Record<string, unknown>)['MAX_RSA_MODULUS_BITS'] as number;

function codeOf(fn: () => unknown): string | undefined {
  try {
    fn();
  } catch (err) {
    return (err as { code?: string }).code;
  }
  return undefined;
}

/** An rsaEncryption SubjectPublicKeyInfo whose modulus INTEGER has `content` verbatim. */
function rsaSpki(content: Uint8Array): Uint8Array {
  const key = seq(tlv(0x02, content), int(65537));
  return seq(seq(oid('1.2.840.113549.1.1.1'), nul()), tlv(0x03, Uint8Array.of(0), key));
}

/** A random odd modulus of exactly `bits` bits, as minimal INTEGER content. */
function modulus(bits: number): Uint8Array {
  const bytes = Math.ceil(bits / 8);
  const m = randomFillSync(new Uint8Array(bytes));
  const top = bits - 8 * (bytes - 1); // bits used in the first byte, 1..8
  m[0] = (m[0]! & ((1 << top) - 1)) | (1 << (top - 1));
  m[bytes - 1]! |= 1;
  return m[0]! & 0x80 ? Uint8Array.of(0, ...m) : m;
}

const pki = createAmdTestPki({ seed: 's12e-keys', product: 'Milan', validity: { notBefore: new Date('2024-01-01T00:00:00Z'), notAfter: new Date('2030-01-01T00:00:00Z') } });
const vcek = pki.vcek.der;
/** The VCEK with its SPKI (TBS field 6: version, serial, signature, issuer, validity, subject, SPKI) replaced. */
const withKey = (key: Uint8Array): Uint8Array => editTbs(vcek, (f) => f.map((x, i) => (i === 6 ? key : x)));

describe('review s12e #1: RSA moduli are bounded at parse', () => {
  it('the finding\'s hostile VCEK (a ~480 000-bit modulus under the 64 KiB cap) is ERR_UNSUPPORTED_KEY_TYPE, and no key is cached', () => {
    const before = keyCacheUsage();
    const hostile = withKey(rsaSpki(modulus(479_999)));
    expect(hostile.length).toBeLessThan(64 * 1024);
    expect(codeOf(() => parseCertificate(hostile))).toBe('ERR_UNSUPPORTED_KEY_TYPE');
    expect(keyCacheUsage()).toEqual(before);
  });

  it('8192 bits parse (with and without the sign byte), 8193 bits do not', () => {
    expect(MAX_RSA_BITS).toBe(8192);
    const ok = parseCertificate(withKey(rsaSpki(modulus(8192))));
    expect(ok.publicKey).toMatchObject({ kind: 'rsa', bits: 8192 });
    expect(parseCertificate(withKey(rsaSpki(modulus(8191)))).publicKey).toMatchObject({ kind: 'rsa', bits: 8191 });
    expect(codeOf(() => parseCertificate(withKey(rsaSpki(modulus(8193)))))).toBe('ERR_UNSUPPORTED_KEY_TYPE');
    expect(codeOf(() => parseCertificate(withKey(rsaSpki(modulus(16_384)))))).toBe('ERR_UNSUPPORTED_KEY_TYPE');
  });

  it('control: the real AMD RSA-4096 ARK / ASK / ASVK (the pinned anchors) and the test PKI still parse', () => {
    const amd = Object.entries(anchors).filter(([name]) => name.startsWith('AMD_'));
    expect(amd.length).toBe(9);
    for (const [, a] of amd) expect(parseCertificate(new Uint8Array(Buffer.from(a.der, 'base64'))).publicKey).toMatchObject({ kind: 'rsa', bits: 4096 });
    expect(parseCertificate(pki.ark.der).publicKey.kind).toBe('rsa');
    expect(parseCertificate(pki.ask.der).publicKey.kind).toBe('rsa');
    expect(parseCertificate(vcek).publicKey).toMatchObject({ kind: 'ec', curve: 'P-384' });
  });
});

describe('review s12e #1: the imported-key cache has a byte budget', () => {
  it('distinct RSA-8192 keys never take the cache above its byte budget, and each is charged at least its SPKI', () => {
    const first = keyCacheUsage();
    expect(first.maxBytes).toBeGreaterThan(0);
    expect(first.maxBytes).toBeLessThanOrEqual(16 * 1024 * 1024);
    const spkiLength = rsaSpki(modulus(8192)).length;
    // Enough keys to pass the budget even if each were charged only its SPKI bytes.
    const count = Math.min(Math.ceil(first.maxBytes / spkiLength) + 50, first.maxEntries + 50);
    let peak = 0;
    for (let i = 0; i < count; i++) {
      const key = spki.decodePublicKey(parseDer(rsaSpki(modulus(8192))));
      expect(key).toMatchObject({ kind: 'rsa', bits: 8192 });
      const u = keyCacheUsage();
      peak = Math.max(peak, u.bytes);
      expect(u.bytes).toBeLessThanOrEqual(u.maxBytes);
      expect(u.entries).toBeLessThanOrEqual(u.maxEntries);
    }
    const after = keyCacheUsage();
    expect(after.entries).toBeLessThan(count); // some were evicted
    expect(after.bytes).toBeGreaterThanOrEqual(after.entries * spkiLength);
    expect(peak).toBeLessThanOrEqual(after.maxBytes);
  });

  it('a cached key is still the one of its SPKI (evicted keys are imported again)', () => {
    const a = rsaSpki(modulus(2048));
    const b = rsaSpki(modulus(2048));
    const ka = spki.keyObjectOf(spki.decodePublicKey(parseDer(a)));
    const kb = spki.keyObjectOf(spki.decodePublicKey(parseDer(b)));
    expect(Buffer.from(ka.export({ format: 'der', type: 'spki' })).equals(Buffer.from(a))).toBe(true);
    expect(Buffer.from(kb.export({ format: 'der', type: 'spki' })).equals(Buffer.from(b))).toBe(true);
  });
});
