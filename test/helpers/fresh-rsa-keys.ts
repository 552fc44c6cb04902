/**
 * Fresh RSA key pairs for tests that export them as JWKs.
 *
 * A key that a key-generation job made shares its lock with that job, and on Node 20 a JWK export
 * of such a key can deadlock the thread when V8 collects the job during the export
 * (src/crypto/ec-keys.ts, docs/decisions.md, session 8). EC keys avoid the job altogether; RSA has
 * no such path in node:crypto, so both halves are re-imported from DER: the keys returned have
 * locks of their own. The DER export does not take the lock, so the job's keys are never at risk.
 */
import { createPrivateKey, createPublicKey, generateKeyPairSync, type KeyObject } from 'node:crypto';

export function generateRsaKeyObjects(modulusLength: number, publicExponent = 0x10001): { privateKey: KeyObject; publicKey: KeyObject } {
  const made = generateKeyPairSync('rsa', { modulusLength, publicExponent });
  return {
    privateKey: createPrivateKey({ key: made.privateKey.export({ type: 'pkcs8', format: 'der' }), format: 'der', type: 'pkcs8' }),
    publicKey: createPublicKey({ key: made.publicKey.export({ type: 'spki', format: 'der' }), format: 'der', type: 'spki' }),
  };
}
