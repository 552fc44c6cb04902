/**
 * Signatures on certificates and CRLs, verified with node:crypto over the
 * exact `tbs` bytes. Only the three schemes the TEE PKIs use are accepted,
 * each tied to its key type, with parameters read from the certificate:
 *
 * - ecdsa-with-SHA256 by an EC P-256 key (Intel, checklist §2.2);
 * - ecdsa-with-SHA384 by an EC P-384 key;
 * - RSASSA-PSS with SHA-384, MGF1-SHA-384, salt 48, trailer 1 by an RSA key
 *   (AMD ARK / ASK / ASVK and what they sign, §4.3).
 *
 * Any other algorithm or PSS parameter set throws UNSUPPORTED
 * (ERR_UNSUPPORTED_SIGNATURE_ALGORITHM); a malformed ECDSA-Sig-Value throws
 * PARSE (ERR_BAD_SIGNATURE_ENCODING). `false` means only "well-formed, and
 * does not verify with this key".
 */
import { constants, verify } from 'node:crypto';

import { EvidenceParseError, TeeVerifyError, UnsupportedEvidenceError } from '../errors.js';
import { TAG, contextTag, decodeInteger, decodeOid, derError, explicitInner, parseDer, sequence, type DerNode } from './asn1.js';
import type { CertificateInfo, SignedObject } from './certificate.js';
import type { CrlInfo } from './crl.js';
import { keyObjectOf, type EcCurveName, type PublicKeyInfo } from './spki.js';

export const OID_ECDSA_SHA256 = '1.2.840.10045.4.3.2';
export const OID_ECDSA_SHA384 = '1.2.840.10045.4.3.3';
export const OID_RSASSA_PSS = '1.2.840.113549.1.1.10';
const OID_SHA384 = '2.16.840.1.101.3.4.2.2';
const OID_MGF1 = '1.2.840.113549.1.1.8';
const PSS_SALT_LENGTH = 48;

export type SignatureScheme =
  | { kind: 'ecdsa'; curve: EcCurveName; hash: 'sha256' | 'sha384' }
  | { kind: 'rsa-pss'; hash: 'sha384'; saltLength: 48 };

function unsupported(reason: string, details: Record<string, unknown>): UnsupportedEvidenceError {
  return new UnsupportedEvidenceError('ERR_UNSUPPORTED_SIGNATURE_ALGORITHM', `signature algorithm: ${reason}`, { details });
}

/** A HashAlgorithm AlgorithmIdentifier that must be SHA-384 (parameters absent or NULL, both occur). */
function expectSha384(node: DerNode | undefined, what: string): void {
  const [oid, params] = sequence(node, what, 1, 2);
  const hash = decodeOid(oid, what);
  if (hash !== OID_SHA384) throw unsupported(`${what} is ${hash}, only SHA-384 is accepted`, { [what]: hash });
  if (params !== undefined && params.tag !== TAG.NULL) throw derError(`${what}: parameters must be absent or NULL`);
}

/**
 * RSASSA-PSS-params (RFC 4055 §3.1). Every field is DEFAULT (SHA-1 based),
 * so each must be present with the SHA-384 profile; trailerField may be
 * given as 1 (AMD's certificates and CRLs encode it).
 */
function checkPssParameters(parameters: Uint8Array | undefined): void {
  if (parameters === undefined) throw unsupported('RSASSA-PSS without parameters means SHA-1', {});
  const fields = sequence(parseDer(parameters), 'RSASSA-PSS-params', 0, 4);
  const byTag = new Map<number, DerNode>();
  let last = -1;
  for (const f of fields) {
    const n = f.tag & 0x1f;
    if (f.tag !== contextTag(n, true) || n > 3 || n <= last) throw derError('RSASSA-PSS-params: unexpected field', f.offset);
    last = n;
    byTag.set(n, explicitInner(f, `RSASSA-PSS-params [${n}]`));
  }
  if (!byTag.has(0)) throw unsupported('RSASSA-PSS hash defaults to SHA-1', {});
  if (!byTag.has(1)) throw unsupported('RSASSA-PSS mask generation defaults to MGF1-SHA-1', {});
  expectSha384(byTag.get(0), 'hashAlgorithm');
  const [mgfOid, mgfHash] = sequence(byTag.get(1), 'maskGenAlgorithm', 2);
  const mgf = decodeOid(mgfOid, 'maskGenAlgorithm');
  if (mgf !== OID_MGF1) throw unsupported(`mask generation ${mgf} is not MGF1`, { maskGenAlgorithm: mgf });
  expectSha384(mgfHash, 'MGF1 hash');
  const salt = byTag.get(2);
  if (salt === undefined) throw unsupported('salt length 20 (DEFAULT)', { saltLength: 20 });
  const saltLength = decodeInteger(salt, 'saltLength');
  if (saltLength !== BigInt(PSS_SALT_LENGTH)) throw unsupported(`salt length ${saltLength}, expected 48`, { saltLength: Number(saltLength) });
  const trailer = byTag.get(3);
  if (trailer !== undefined && decodeInteger(trailer, 'trailerField') !== 1n) throw unsupported('trailerField other than 1', {});
}

/** The scheme named by a signed object's algorithm identifier, or UNSUPPORTED. */
export function signatureScheme(obj: Pick<SignedObject, 'signatureAlgorithm' | 'signatureAlgorithmParameters'>): SignatureScheme {
  const { signatureAlgorithm: oid, signatureAlgorithmParameters: params } = obj;
  if (oid === OID_ECDSA_SHA256 || oid === OID_ECDSA_SHA384) {
    // RFC 5758 §3.2: the parameters field MUST be absent.
    if (params !== undefined) throw derError('ECDSA signature algorithm with parameters');
    return oid === OID_ECDSA_SHA256 ? { kind: 'ecdsa', curve: 'P-256', hash: 'sha256' } : { kind: 'ecdsa', curve: 'P-384', hash: 'sha384' };
  }
  if (oid === OID_RSASSA_PSS) {
    checkPssParameters(params);
    return { kind: 'rsa-pss', hash: 'sha384', saltLength: PSS_SALT_LENGTH };
  }
  throw unsupported(`${oid} is not accepted`, { algorithm: oid });
}

/**
 * ECDSA-Sig-Value ::= SEQUENCE { r INTEGER, s INTEGER } in strict DER, as
 * fixed-size big-endian r || s; undefined when r or s is outside [1, 2^bits).
 */
function ecdsaSignatureToP1363(signature: Uint8Array, size: number): Uint8Array | undefined {
  let r: bigint;
  let s: bigint;
  try {
    const [rNode, sNode] = sequence(parseDer(signature), 'ECDSA-Sig-Value', 2);
    r = decodeInteger(rNode, 'r');
    s = decodeInteger(sNode, 's');
  } catch (cause) {
    if (cause instanceof TeeVerifyError && cause.code === 'ERR_BAD_DER') {
      throw new EvidenceParseError('ERR_BAD_SIGNATURE_ENCODING', 'ECDSA signature is not a DER ECDSA-Sig-Value', { cause });
    }
    throw cause;
  }
  const limit = 1n << BigInt(8 * size);
  if (r <= 0n || s <= 0n || r >= limit || s >= limit) return undefined;
  const hex = r.toString(16).padStart(2 * size, '0') + s.toString(16).padStart(2 * size, '0');
  return new Uint8Array(Buffer.from(hex, 'hex'));
}

/**
 * `obj`'s algorithm with other signed bytes and signature: the signature memo
 * checks its own private copies of an object's bytes (crypto/memo.ts).
 */
export function withSignedBytes(obj: SignedObject, tbs: Uint8Array, signature: Uint8Array): SignedObject {
  return { signatureAlgorithm: obj.signatureAlgorithm, signatureAlgorithmParameters: obj.signatureAlgorithmParameters, tbs, signature };
}

/** Verifies `obj.signature` over `obj.tbs` with `key` under the scheme the object names. */
export function verifySignedObject(obj: SignedObject, key: PublicKeyInfo): boolean {
  const scheme = signatureScheme(obj);
  const data = obj.tbs;
  if (scheme.kind === 'ecdsa') {
    if (key.kind !== 'ec' || key.curve !== scheme.curve) return false; // P-256 signs with SHA-256, P-384 with SHA-384
    const rs = ecdsaSignatureToP1363(obj.signature, scheme.curve === 'P-256' ? 32 : 48);
    if (rs === undefined) return false;
    return verify(scheme.hash, data, { key: keyObjectOf(key), dsaEncoding: 'ieee-p1363' }, rs);
  }
  if (key.kind !== 'rsa' || obj.signature.length !== Math.ceil(key.bits / 8)) return false;
  try {
    return verify(
      scheme.hash,
      data,
      { key: keyObjectOf(key), padding: constants.RSA_PKCS1_PSS_PADDING, saltLength: scheme.saltLength },
      obj.signature,
    );
  } catch {
    // OpenSSL throws for a signature representative >= the modulus: a non-verifying signature.
    return false;
  }
}

/**
 * Whether `issuerPublicKey` signed `cert` (exact TBSCertificate bytes). Used
 * for every chain link (T10, T11, T16, S07, S08, S10): call it even when a
 * name or key-id comparison already failed (V04).
 */
export function verifyCertificateSignature(cert: CertificateInfo, issuerPublicKey: PublicKeyInfo): boolean {
  return verifySignedObject(cert, issuerPublicKey);
}

/** Whether `issuerPublicKey` signed `crl` (exact TBSCertList bytes; T13, T14, S09). */
export function verifyCrlSignature(crl: CrlInfo, issuerPublicKey: PublicKeyInfo): boolean {
  return verifySignedObject(crl, issuerPublicKey);
}
