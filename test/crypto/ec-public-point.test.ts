/**
 * ecPublicPoint reads an EC key's point from its SPKI DER, so the test-PKI
 * builders never export a caller's key as a JWK (the Node 20 key-generation
 * job deadlock, src/crypto/ec-keys.ts). It must give the same bytes the JWK's
 * x and y give.
 */
import { createPrivateKey, createPublicKey, generateKeyPairSync } from 'node:crypto';
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

  it('refuses keys that are not P-256 or P-384', () => {
    expect(() => ecPublicPoint(generateKeyPairSync('ed25519').publicKey)).toThrow(TypeError);
    expect(() => ecPublicPoint(generateKeyPairSync('ec', { namedCurve: 'secp256k1' }).publicKey)).toThrow(TypeError);
    expect(() => ecPublicKeyXY(generateKeyPairSync('rsa', { modulusLength: 1024 }).publicKey)).toThrow(TypeError);
  });
});
