/**
 * EC key pairs without Node's key-generation jobs (src/crypto/ec-keys.ts): a job's destructor
 * takes the key's lock, and a JWK export of that key holds it while allocating, so collecting
 * the job mid-export deadlocked a CI test worker on Node 20. These keys are ordinary keys.
 */
import { sign, verify, webcrypto } from 'node:crypto';

import { describe, expect, it } from 'vitest';

import { ecCurveOf, generateEcdsaCryptoKeys, generateEcJwkPair, generateEcKeyObjects } from '../../src/crypto/ec-keys.js';

describe('job-free EC key pairs', () => {
  it.each(['P-256', 'P-384'] as const)('%s: KeyObjects sign and verify, fixed-size coordinates and scalar, fresh each time', (curve) => {
    const size = curve === 'P-256' ? 32 : 48;
    const { privateKey, publicKey } = generateEcKeyObjects(curve);
    expect(privateKey.asymmetricKeyDetails?.namedCurve).toBe(curve === 'P-256' ? 'prime256v1' : 'secp384r1');
    const message = Buffer.from('tee-verify');
    const signature = sign(curve === 'P-256' ? 'sha256' : 'sha384', message, privateKey);
    expect(verify(curve === 'P-256' ? 'sha256' : 'sha384', message, publicKey, signature)).toBe(true);
    expect(verify(curve === 'P-256' ? 'sha256' : 'sha384', Buffer.from('other'), publicKey, signature)).toBe(false);
    for (let i = 0; i < 50; i++) {
      const { privateJwk } = generateEcJwkPair(curve);
      for (const k of ['x', 'y', 'd'] as const) expect(Buffer.from(privateJwk[k] as string, 'base64url')).toHaveLength(size);
    }
    expect(generateEcJwkPair(curve).privateJwk.d).not.toBe(generateEcJwkPair(curve).privateJwk.d);
  });

  it('Web Crypto keys: the private key signs, the public key verifies, both export', async () => {
    const { privateKey, publicKey } = await generateEcdsaCryptoKeys('P-256');
    const alg = { name: 'ECDSA', hash: 'SHA-256' };
    const data = new TextEncoder().encode('gateway');
    const signature = await webcrypto.subtle.sign(alg, privateKey, data);
    expect(await webcrypto.subtle.verify(alg, publicKey, signature, data)).toBe(true);
    expect((await webcrypto.subtle.exportKey('jwk', publicKey)).crv).toBe('P-256');
    expect(Buffer.from(await webcrypto.subtle.exportKey('pkcs8', privateKey)).length).toBeGreaterThan(32);
  });

  it('curve names', () => {
    expect([ecCurveOf('prime256v1'), ecCurveOf('P-384'), ecCurveOf('secp256k1')]).toEqual(['P-256', 'P-384', undefined]);
  });
});
