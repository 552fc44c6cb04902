/**
 * ecPublicPoint reads an EC key's point from its SPKI DER, so the test-PKI
 * builders never export a caller's key as a JWK (the Node 20 key-generation
 * job deadlock, src/crypto/ec-keys.ts). It must give the same bytes the JWK's
 * x and y give.
 */
import { ECDH, createPrivateKey, createPublicKey, generateKeyPairSync } from 'node:crypto';
import { describe, expect, it } from 'vitest';

import { ecPublicPoint, generateEcJwkPair, type EcCurve } from '../../src/crypto/ec-keys.js';
import { ecPublicKeyXY } from '../../src/testing/seed.js';
import { keyIdentifier } from '../../src/testing/x509-builder.js';
import { createHash } from 'node:crypto';

describe('ecPublicPoint', () => {
  for (const curve of ['P-256', 'P-384'] as EcCurve[]) {
    it(`${curve}: 0x04 ‖ x ‖ y of the public and of the private key`, () => {
      for (let i = 0; i < 20; i++) {
        const { privateJwk, publicJwk } = generateEcJwkPair(curve);
        const expected = Buffer.concat([Buffer.of(4), Buffer.from(publicJwk.x!, 'base64url'), Buffer.from(publicJwk.y!, 'base64url')]);
        const pub = createPublicKey({ key: publicJwk, format: 'jwk' });
        expect(Buffer.from(ecPublicPoint(pub))).toEqual(expected);
        expect(Buffer.from(ecPublicPoint(createPrivateKey({ key: privateJwk, format: 'jwk' })))).toEqual(expected);
        expect(Buffer.from(ecPublicKeyXY(pub))).toEqual(expected.subarray(1));
        expect(Buffer.from(keyIdentifier(pub))).toEqual(createHash('sha1').update(expected).digest());
      }
    });
  }

  for (const [curve, name, size] of [['P-256', 'prime256v1', 32], ['P-384', 'secp384r1', 48]] as const) {
    it(`${curve}: a key imported from a compressed point (Node exports it compressed) gives the uncompressed point`, () => {
      // An SPKI with the compressed point, built from the uncompressed one's DER: same algorithm identifier.
      for (let i = 0; i < 200; i++) {
        const { publicJwk } = generateEcJwkPair(curve);
        const full = Buffer.concat([Buffer.of(4), Buffer.from(publicJwk.x!, 'base64url'), Buffer.from(publicJwk.y!, 'base64url')]);
        const compressed = ECDH.convertKey(full, name, undefined, undefined, 'compressed') as Buffer;
        const spkiFull = createPublicKey({ key: publicJwk, format: 'jwk' }).export({ type: 'spki', format: 'der' });
        const algorithm = spkiFull.subarray(2, spkiFull.length - (3 + full.length));
        const bits = Buffer.concat([Buffer.of(0x03, compressed.length + 1, 0x00), compressed]);
        const body = Buffer.concat([algorithm, bits]);
        const spki = Buffer.concat([Buffer.of(0x30, body.length), body]);
        const key = createPublicKey({ key: spki, format: 'der', type: 'spki' });
        expect(key.export({ type: 'spki', format: 'der' }).length).toBe(spki.length); // exported compressed, as the review found
        expect(Buffer.from(ecPublicPoint(key))).toEqual(full);
        expect(full.length).toBe(1 + 2 * size);
      }
    });
  }

  it('refuses keys that are not P-256 or P-384', () => {
    expect(() => ecPublicPoint(generateKeyPairSync('ed25519').publicKey)).toThrow(TypeError);
    expect(() => ecPublicPoint(generateKeyPairSync('ec', { namedCurve: 'secp256k1' }).publicKey)).toThrow(TypeError);
    expect(() => ecPublicKeyXY(generateKeyPairSync('rsa', { modulusLength: 1024 }).publicKey)).toThrow(TypeError);
  });
});
