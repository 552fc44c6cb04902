/**
 * Deterministic material derived from a seed string: EC private keys,
 * certificate serials and filler bytes. Everything is HMAC-SHA256(seed,
 * label), so the same seed and label always give the same value and two
 * labels never collide in practice. Never use this for real keys.
 */
import { createECDH, createHmac, createPrivateKey, createPublicKey, type KeyObject } from 'node:crypto';
import { ecPublicPoint } from '../crypto/ec-keys.js';

export type TestCurve = 'P-256' | 'P-384';

/** Group orders (SEC 2) used to reduce the derived scalar into [1, n-1]. */
const ORDER: Record<TestCurve, bigint> = {
  'P-256': 0xffffffff00000000ffffffffffffffffbce6faada7179e84f3b9cac2fc632551n,
  'P-384':
    0xffffffffffffffffffffffffffffffffffffffffffffffffc7634d81f4372ddf581a0db248b0a77aecec196accc52973n,
};
const OPENSSL_NAME: Record<TestCurve, string> = { 'P-256': 'prime256v1', 'P-384': 'secp384r1' };
const SCALAR_BYTES: Record<TestCurve, number> = { 'P-256': 32, 'P-384': 48 };

export interface TestKeyPair {
  curve: TestCurve | 'RSA';
  privateKey: KeyObject;
  publicKey: KeyObject;
}

/** `length` bytes of HMAC-SHA256(seed, label || counter) output. */
export function deriveBytes(seed: string, label: string, length: number): Uint8Array {
  const out = Buffer.alloc(length);
  for (let block = 0, at = 0; at < length; block++) {
    const digest = createHmac('sha256', seed).update(label).update(Uint8Array.of(block)).digest();
    at += digest.copy(out, at);
  }
  return new Uint8Array(out);
}

function toBigInt(bytes: Uint8Array): bigint {
  return bytes.length === 0 ? 0n : BigInt(`0x${Buffer.from(bytes).toString('hex')}`);
}

function toFixedBytes(value: bigint, length: number): Buffer {
  return Buffer.from(value.toString(16).padStart(length * 2, '0'), 'hex');
}

/**
 * An EC key pair whose private scalar is derived from (seed, label): 16 extra
 * bytes keep the modular reduction unbiased enough for test keys.
 */
export function deriveEcKeyPair(seed: string, label: string, curve: TestCurve): TestKeyPair {
  const n = ORDER[curve];
  const size = SCALAR_BYTES[curve];
  const wide = toBigInt(deriveBytes(seed, `ec-key:${curve}:${label}`, size + 16));
  const d = toFixedBytes((wide % (n - 1n)) + 1n, size);
  const ecdh = createECDH(OPENSSL_NAME[curve]);
  ecdh.setPrivateKey(d);
  const point = ecdh.getPublicKey(); // 0x04 || x || y
  const jwk = {
    kty: 'EC',
    crv: curve,
    d: d.toString('base64url'),
    x: point.subarray(1, 1 + size).toString('base64url'),
    y: point.subarray(1 + size).toString('base64url'),
  };
  const privateKey = createPrivateKey({ key: jwk, format: 'jwk' });
  return { curve, privateKey, publicKey: createPublicKey(privateKey) };
}

/**
 * A positive certificate serial of `length` bytes derived from (seed, label):
 * the top bit is cleared so DER needs no leading zero byte.
 */
export function deriveSerial(seed: string, label: string, length = 16): Uint8Array {
  const bytes = deriveBytes(seed, `serial:${label}`, length);
  bytes[0] = ((bytes[0] ?? 0) & 0x7f) | 0x01;
  return bytes;
}

/** Raw big-endian x || y of an EC public key (the form quotes carry). */
export function ecPublicKeyXY(key: KeyObject): Uint8Array {
  if (key.asymmetricKeyType !== 'ec') throw new TypeError('ecPublicKeyXY: not an EC key');
  return ecPublicPoint(key).subarray(1);
}
