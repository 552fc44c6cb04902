/**
 * SubjectPublicKeyInfo: the two key kinds the TEE PKIs use. Intel: EC P-256
 * everywhere; AMD: RSA-4096 ARK / ASK / ASVK and EC P-384 VCEK / VLEK
 * (checklist §2.3, §4.3). Anything else is UNSUPPORTED. Keys are imported
 * into node:crypto once, which also proves an EC point lies on its curve.
 */
import { createPublicKey, hash, type KeyObject } from 'node:crypto';

import { EvidenceParseError, UnsupportedEvidenceError } from '../errors.js';
import { TAG, decodeInteger, decodeOctetAlignedBitString, decodeOid, derError, parseDer, sequence, type DerNode } from './asn1.js';

export type EcCurveName = 'P-256' | 'P-384';

export type PublicKeyInfo =
  | {
      kind: 'ec';
      curve: EcCurveName;
      /** Raw big-endian x || y (no 0x04 prefix), the form the ECDSA helpers take. */
      xy: Uint8Array;
      /** The SubjectPublicKeyInfo DER. */
      spki: Uint8Array;
    }
  | {
      kind: 'rsa';
      /** Modulus length in bits. */
      bits: number;
      spki: Uint8Array;
    };

export const OID_EC_PUBLIC_KEY = '1.2.840.10045.2.1';
export const OID_RSA_ENCRYPTION = '1.2.840.113549.1.1.1';
export const OID_RSASSA_PSS = '1.2.840.113549.1.1.10';
const CURVES: Record<string, { name: EcCurveName; size: number }> = {
  '1.2.840.10045.3.1.7': { name: 'P-256', size: 32 },
  '1.3.132.0.34': { name: 'P-384', size: 48 },
};

/**
 * Imported keys by SPKI content: the same intermediate, root or PCK key shows
 * up in every quote of a platform, and importing it costs more than parsing
 * the whole certificate. Every parsed certificate's key goes in (at parse
 * time, before any trust decision), so the cache is bounded twice, oldest
 * first: by entries and by the bytes they hold (review s12 change review core
 * #1: a count alone let 4096 hostile RSA keys of up to 60 KB stay resident,
 * with their base64 as the key). Entries are keyed by the SHA-256 of the SPKI
 * and keep a private copy of it, compared byte for byte before a hit is
 * served. An entry is charged twice its SPKI (the copy, and the key OpenSSL
 * holds) plus a fixed overhead; with RSA moduli capped at
 * MAX_RSA_MODULUS_BITS an SPKI is at most ~1.1 KB.
 */
interface KeyEntry {
  spki: Buffer;
  key: KeyObject;
  weight: number;
}
const keyObjects = new Map<string, KeyEntry>();
let keyObjectBytes = 0;
const MAX_CACHED_KEYS = 4096;
const MAX_CACHED_KEY_BYTES = 4 * 1024 * 1024;
/** Charged per entry for the digest key, the Map slot, the KeyObject and OpenSSL's own structures. */
const KEY_ENTRY_OVERHEAD = 1024;

/** Entries and bytes the imported-key cache holds now, against its limits (bytes as charged). */
export function keyObjectCacheUsage(): { entries: number; bytes: number; maxEntries: number; maxBytes: number } {
  return { entries: keyObjects.size, bytes: keyObjectBytes, maxEntries: MAX_CACHED_KEYS, maxBytes: MAX_CACHED_KEY_BYTES };
}

function importSpki(spki: Uint8Array): KeyObject {
  try {
    return createPublicKey({ key: Buffer.from(spki.buffer, spki.byteOffset, spki.byteLength), format: 'der', type: 'spki' });
  } catch (cause) {
    throw new EvidenceParseError('ERR_BAD_PUBLIC_KEY', 'public key is not valid (EC point not on the curve, or bad RSA key)', { cause });
  }
}

/** The node:crypto key of a decoded public key, imported once per distinct SPKI (while it stays cached). */
export function keyObjectOf(key: PublicKeyInfo): KeyObject {
  const id = hash('sha256', key.spki, 'base64');
  const hit = keyObjects.get(id);
  if (hit !== undefined && hit.spki.equals(key.spki)) return hit.key;
  const object = importSpki(key.spki);
  if (hit !== undefined) {
    keyObjects.delete(id);
    keyObjectBytes -= hit.weight;
  }
  const weight = 2 * key.spki.byteLength + KEY_ENTRY_OVERHEAD;
  if (weight > MAX_CACHED_KEY_BYTES / 8) return object; // never, with the modulus cap; not kept if it were
  keyObjects.set(id, { spki: Buffer.from(key.spki), key: object, weight });
  keyObjectBytes += weight;
  for (const [oldId, old] of keyObjects) {
    if (keyObjectBytes <= MAX_CACHED_KEY_BYTES && keyObjects.size <= MAX_CACHED_KEYS) break;
    keyObjects.delete(oldId);
    keyObjectBytes -= old.weight;
  }
  return object;
}

function decodeEcKey(params: DerNode | undefined, point: Uint8Array, spki: Uint8Array): PublicKeyInfo {
  if (params === undefined || params.tag !== TAG.OID) throw derError('EC key without a named curve');
  const curveOid = decodeOid(params, 'EC named curve');
  const curve = CURVES[curveOid];
  if (curve === undefined) {
    throw new UnsupportedEvidenceError('ERR_UNSUPPORTED_KEY_TYPE', `EC curve ${curveOid} is not supported (P-256, P-384 only)`, {
      details: { curve: curveOid },
    });
  }
  // Uncompressed points only: compressed or hybrid forms never occur in these PKIs.
  if (point.length !== 1 + 2 * curve.size || point[0] !== 0x04) throw derError(`${curve.name} key is not an uncompressed point`);
  return { kind: 'ec', curve: curve.name, xy: point.subarray(1), spki };
}

/**
 * The largest RSA modulus accepted. The TEE PKIs use RSA-4096 (AMD ARK / ASK /
 * ASVK); 8192 leaves room. A larger key in a certificate is refused at parse
 * (review s12 change review core #1: under the 64 KiB certificate cap a
 * hostile VCEK carried a ~480 000-bit modulus, costly to decode and to keep).
 */
export const MAX_RSA_MODULUS_BITS = 8192;

function tooLargeRsa(bits: number): UnsupportedEvidenceError {
  return new UnsupportedEvidenceError('ERR_UNSUPPORTED_KEY_TYPE', `RSA modulus of ${bits} bits is not supported (at most ${MAX_RSA_MODULUS_BITS})`, {
    details: { bits, maxBits: MAX_RSA_MODULUS_BITS },
  });
}

function decodeRsaKey(oid: string, params: DerNode | undefined, keyBytes: Uint8Array, spki: Uint8Array): PublicKeyInfo {
  if (oid === OID_RSA_ENCRYPTION && (params === undefined || params.tag !== TAG.NULL)) throw derError('rsaEncryption key parameters must be NULL');
  const [modulus, exponent] = sequence(parseDer(keyBytes), 'RSAPublicKey', 2);
  // Refused by length before it is decoded: a minimal positive modulus of at most 8192 bits has at most 1025 octets.
  const c = modulus?.tag === TAG.INTEGER ? modulus.content : undefined;
  if (c !== undefined && c.length > MAX_RSA_MODULUS_BITS / 8 + 1) {
    const lead = c[0] === 0 ? 1 : 0; // the sign byte; the next octet is then non-zero (minimal DER)
    throw tooLargeRsa(8 * (c.length - lead) - (Math.clz32(c[lead] as number) - 24));
  }
  const n = decodeInteger(modulus, 'RSA modulus');
  const e = decodeInteger(exponent, 'RSA exponent');
  if (n <= 0n || e <= 0n) throw derError('RSA modulus and exponent must be positive');
  const bits = n.toString(2).length;
  if (bits > MAX_RSA_MODULUS_BITS) throw tooLargeRsa(bits);
  return { kind: 'rsa', bits, spki };
}

/** Decodes a SubjectPublicKeyInfo node and checks the key with node:crypto. */
export function decodePublicKey(node: DerNode | undefined): PublicKeyInfo {
  const [algorithm, subjectPublicKey] = sequence(node, 'SubjectPublicKeyInfo', 2);
  const [algOid, params, ...extra] = sequence(algorithm, 'public key algorithm', 1, 2);
  if (extra.length > 0) throw derError('public key algorithm with extra fields');
  const oid = decodeOid(algOid, 'public key algorithm');
  const keyBytes = decodeOctetAlignedBitString(subjectPublicKey, 'subjectPublicKey');
  const spki = (node as DerNode).der;
  let info: PublicKeyInfo;
  if (oid === OID_EC_PUBLIC_KEY) info = decodeEcKey(params, keyBytes, spki);
  else if (oid === OID_RSA_ENCRYPTION || oid === OID_RSASSA_PSS) info = decodeRsaKey(oid, params, keyBytes, spki);
  else {
    throw new UnsupportedEvidenceError('ERR_UNSUPPORTED_KEY_TYPE', `public key algorithm ${oid} is not supported`, { details: { algorithm: oid } });
  }
  keyObjectOf(info); // throws for an EC point off the curve
  return info;
}
