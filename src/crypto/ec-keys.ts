/**
 * EC key pairs made without Node's key-generation jobs.
 *
 * On Node 20 a finished key-generation job keeps a reference to the key it made, and its
 * destructor takes that key's lock. Exporting the key as a JWK holds the same lock while it
 * allocates; if V8 collects the job during that allocation, the thread waits on itself forever
 * (seen in CI: a test worker stuck in ~KeyGenJob<EcKeyGenTraits> inside
 * KeyObjectHandle::ExportJWK). `generateKeyPair(Sync)` and `subtle.generateKey` all run such a
 * job. ECDH key generation does not: the pair is built from its scalar and point and imported as
 * a JWK, so the key has a lock of its own that no job shares.
 */
import { ECDH, createECDH, createPrivateKey, createPublicKey, webcrypto, type JsonWebKey, type KeyObject } from 'node:crypto';

export type EcCurve = 'P-256' | 'P-384';

const OPENSSL_NAME: Record<EcCurve, string> = { 'P-256': 'prime256v1', 'P-384': 'secp384r1' };
const SIZE: Record<EcCurve, number> = { 'P-256': 32, 'P-384': 48 };

/** The curve of an OpenSSL or JOSE name, or undefined for any other. */
export function ecCurveOf(name: string): EcCurve | undefined {
  if (name === 'P-256' || name === 'prime256v1') return 'P-256';
  if (name === 'P-384' || name === 'secp384r1') return 'P-384';
  return undefined;
}

const b64u = (b: Buffer): string => b.toString('base64url');

/** A fresh key pair as JWKs (the private one holds `d`). */
export function generateEcJwkPair(curve: EcCurve): { privateJwk: JsonWebKey; publicJwk: JsonWebKey } {
  const ecdh = createECDH(OPENSSL_NAME[curve]);
  ecdh.generateKeys();
  const size = SIZE[curve];
  const point = ecdh.getPublicKey(); // 0x04 ‖ x ‖ y
  const scalar = ecdh.getPrivateKey();
  const d = Buffer.concat([Buffer.alloc(size - scalar.length), scalar]); // getPrivateKey drops leading zeros
  const publicJwk: JsonWebKey = { kty: 'EC', crv: curve, x: b64u(point.subarray(1, 1 + size)), y: b64u(point.subarray(1 + size)) };
  return { privateJwk: { ...publicJwk, d: b64u(d) }, publicJwk };
}

/** A fresh key pair as KeyObjects. */
export function generateEcKeyObjects(curve: EcCurve): { privateKey: KeyObject; publicKey: KeyObject } {
  const { privateJwk, publicJwk } = generateEcJwkPair(curve);
  return { privateKey: createPrivateKey({ key: privateJwk, format: 'jwk' }), publicKey: createPublicKey({ key: publicJwk, format: 'jwk' }) };
}

/** A fresh ECDSA key pair as Web Crypto keys (extractable), for certificate builders that take them. */
export async function generateEcdsaCryptoKeys(curve: EcCurve): Promise<webcrypto.CryptoKeyPair> {
  const { privateJwk, publicJwk } = generateEcJwkPair(curve);
  const alg = { name: 'ECDSA', namedCurve: curve };
  const [privateKey, publicKey] = await Promise.all([
    webcrypto.subtle.importKey('jwk', privateJwk as webcrypto.JsonWebKey, alg, true, ['sign']),
    webcrypto.subtle.importKey('jwk', publicJwk as webcrypto.JsonWebKey, alg, true, ['verify']),
  ]);
  return { privateKey, publicKey };
}

/**
 * The uncompressed point (0x04 ‖ x ‖ y) of an EC public or private key, read
 * from its SPKI DER: a DER export takes no lock the key shares with a
 * key-generation job, a JWK export does (above), and callers may hand in keys
 * made by such jobs. Node exports a key imported from a compressed point in
 * compressed form; that point is decompressed here.
 */
export function ecPublicPoint(key: KeyObject): Uint8Array {
  const curve = ecCurveOf(key.asymmetricKeyDetails?.namedCurve ?? '');
  if (key.asymmetricKeyType !== 'ec' || curve === undefined) throw new TypeError('not a P-256 or P-384 key');
  const spki = (key.type === 'public' ? key : createPublicKey(key)).export({ type: 'spki', format: 'der' });
  const point = subjectPublicKeyOf(spki);
  const size = SIZE[curve];
  if (point.length === 1 + 2 * size && point[0] === 0x04) return new Uint8Array(point);
  if (point.length === 1 + size && (point[0] === 0x02 || point[0] === 0x03)) {
    return new Uint8Array(ECDH.convertKey(point, OPENSSL_NAME[curve], undefined, undefined, 'uncompressed') as Buffer);
  }
  throw new TypeError('the key is not exported as an EC point of its curve');
}

/** The BIT STRING contents (without the unused-bits byte) of an SPKI: SEQUENCE { AlgorithmIdentifier, BIT STRING }. */
function subjectPublicKeyOf(spki: Buffer): Buffer {
  const header = (at: number, tag: number): { start: number; end: number } => {
    if (spki[at] !== tag) throw new TypeError('not an SPKI');
    let length = spki[at + 1] ?? 0;
    let start = at + 2;
    if (length & 0x80) {
      const n = length & 0x7f;
      if (n < 1 || n > 2) throw new TypeError('not an SPKI');
      length = spki.readUIntBE(start, n);
      start += n;
    }
    if (start + length > spki.length) throw new TypeError('not an SPKI');
    return { start, end: start + length };
  };
  const outer = header(0, 0x30);
  const algorithm = header(outer.start, 0x30);
  const bits = header(algorithm.end, 0x03);
  if (bits.end !== outer.end || spki[bits.start] !== 0x00) throw new TypeError('not an SPKI');
  return spki.subarray(bits.start + 1, bits.end);
}
