/**
 * SubjectPublicKeyInfo: the two key kinds the TEE PKIs use. Intel: EC P-256
 * everywhere; AMD: RSA-4096 ARK / ASK / ASVK and EC P-384 VCEK / VLEK
 * (checklist §2.3, §4.3). Anything else is UNSUPPORTED. Keys are imported
 * into node:crypto once, which also proves an EC point lies on its curve.
 */
import { createPublicKey, type KeyObject } from 'node:crypto';

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
 * the whole certificate. Bounded; the oldest import leaves first.
 */
const keyObjects = new Map<string, KeyObject>();
const MAX_CACHED_KEYS = 4096;

function importSpki(spki: Uint8Array): KeyObject {
  try {
    return createPublicKey({ key: Buffer.from(spki.buffer, spki.byteOffset, spki.byteLength), format: 'der', type: 'spki' });
  } catch (cause) {
    throw new EvidenceParseError('ERR_BAD_PUBLIC_KEY', 'public key is not valid (EC point not on the curve, or bad RSA key)', { cause });
  }
}

/** The node:crypto key of a decoded public key, imported once per distinct SPKI. */
export function keyObjectOf(key: PublicKeyInfo): KeyObject {
  const id = Buffer.from(key.spki.buffer, key.spki.byteOffset, key.spki.byteLength).toString('base64');
  let object = keyObjects.get(id);
  if (object === undefined) {
    object = importSpki(key.spki);
    if (keyObjects.size >= MAX_CACHED_KEYS) keyObjects.delete(keyObjects.keys().next().value as string);
    keyObjects.set(id, object);
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

function decodeRsaKey(oid: string, params: DerNode | undefined, keyBytes: Uint8Array, spki: Uint8Array): PublicKeyInfo {
  if (oid === OID_RSA_ENCRYPTION && (params === undefined || params.tag !== TAG.NULL)) throw derError('rsaEncryption key parameters must be NULL');
  const [modulus, exponent] = sequence(parseDer(keyBytes), 'RSAPublicKey', 2);
  const n = decodeInteger(modulus, 'RSA modulus');
  const e = decodeInteger(exponent, 'RSA exponent');
  if (n <= 0n || e <= 0n) throw derError('RSA modulus and exponent must be positive');
  return { kind: 'rsa', bits: n.toString(2).length, spki };
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
