/**
 * Attestation keys: a TPMT_PUBLIC, a PEM or an RSA JWK (Azure's HCLAkPub) as a
 * node:crypto KeyObject, the key's TPM Name, and key equality by SPKI bytes.
 */
import { createHash, createPublicKey, type JsonWebKey, type KeyObject } from 'node:crypto';

import { vtpmFail } from './errors.js';
import { TpmAlg, type TpmHashName, type TpmPublic } from './types.js';

/** Hash banks we know: algorithm id, node:crypto name and digest size. */
export const TPM_HASHES: Record<TpmHashName, { alg: number; node: string; size: number }> = {
  sha1: { alg: TpmAlg.SHA1, node: 'sha1', size: 20 },
  sha256: { alg: TpmAlg.SHA256, node: 'sha256', size: 32 },
  sha384: { alg: TpmAlg.SHA384, node: 'sha384', size: 48 },
  sha512: { alg: TpmAlg.SHA512, node: 'sha512', size: 64 },
  sm3_256: { alg: TpmAlg.SM3_256, node: 'sm3', size: 32 },
};

export function hashNameOf(alg: number): TpmHashName | undefined {
  for (const [name, h] of Object.entries(TPM_HASHES)) if (h.alg === alg) return name as TpmHashName;
  return undefined;
}

/** TPM_ECC_CURVE ids we verify. */
export const TPM_ECC_CURVES: Record<number, 'P-256' | 'P-384'> = { 0x0003: 'P-256', 0x0004: 'P-384' };

/** TPMA_OBJECT bits (TPM 2.0 Part 2, 8.3). */
export const TPMA_OBJECT = {
  fixedTPM: 1 << 1,
  fixedParent: 1 << 4,
  sensitiveDataOrigin: 1 << 5,
  restricted: 1 << 16,
  decrypt: 1 << 17,
  sign: 1 << 18,
} as const;

/**
 * The bits an attestation key must have (0x50032): a restricted signing key
 * (only then is TPM_GENERATED_VALUE in what it signs a TPM's word), whose
 * private part the TPM generated (sensitiveDataOrigin) and can never leave it
 * (fixedTPM, fixedParent; TPM2_Import refuses both, so no imported key has
 * them). tpm2_createak, go-tpm-tools and the TCG AK templates set all five.
 */
export const AK_REQUIRED_ATTRIBUTES = TPMA_OBJECT.fixedTPM | TPMA_OBJECT.fixedParent | TPMA_OBJECT.sensitiveDataOrigin | TPMA_OBJECT.restricted | TPMA_OBJECT.sign;

/** Names of the TPMA_OBJECT bits of `mask` (for error details). */
export function tpmaObjectNames(mask: number): string[] {
  return (Object.entries(TPMA_OBJECT) as [string, number][]).filter(([, bit]) => (mask & bit) !== 0).map(([name]) => name);
}

/** An attestation key: always usable by node:crypto; its TPMT_PUBLIC when the evidence carries it. */
export interface AttestationKey {
  key: KeyObject;
  public?: TpmPublic;
  /** Where the key came from, for messages ("TPMT_PUBLIC", "PEM", "HCLAkPub"). */
  source: string;
}

const b64url = (b: Uint8Array): string => Buffer.from(b.buffer, b.byteOffset, b.byteLength).toString('base64url');

function stripLeadingZeros(b: Uint8Array): Uint8Array {
  let i = 0;
  while (i < b.length - 1 && b[i] === 0) i++;
  return b.subarray(i);
}

/** Big-endian bytes of an RSA public exponent (TPM: 0 means the default 65537). */
function exponentBytes(e: number): Uint8Array {
  const value = e === 0 ? 65537 : e;
  const out = new Uint8Array(4);
  new DataView(out.buffer).setUint32(0, value >>> 0);
  return stripLeadingZeros(out);
}

function leftPad(b: Uint8Array, size: number): Uint8Array {
  if (b.length > size) vtpmFail('ERR_VTPM_AK', `ECC coordinate of ${b.length} bytes is longer than the curve size ${size}`);
  const out = new Uint8Array(size);
  out.set(b, size - b.length);
  return out;
}

/** The KeyObject of a TPMT_PUBLIC (RSA or ECC P-256 / P-384). */
export function keyFromTpmPublic(pub: TpmPublic): AttestationKey {
  let jwk: JsonWebKey;
  if (pub.type === 'rsa' && pub.rsa) {
    jwk = { kty: 'RSA', n: b64url(stripLeadingZeros(pub.rsa.modulus)), e: b64url(exponentBytes(pub.rsa.exponent)) };
  } else if (pub.type === 'ecc' && pub.ecc) {
    const curve = TPM_ECC_CURVES[pub.ecc.curveId];
    if (curve === undefined) vtpmFail('ERR_VTPM_SCHEME', `ECC curve 0x${pub.ecc.curveId.toString(16)} is not verified (P-256 and P-384 are)`);
    const size = curve === 'P-256' ? 32 : 48;
    jwk = { kty: 'EC', crv: curve, x: b64url(leftPad(pub.ecc.x, size)), y: b64url(leftPad(pub.ecc.y, size)) };
  } else {
    vtpmFail('ERR_VTPM_AK', 'TPMT_PUBLIC without RSA or ECC parameters');
  }
  return { key: importJwk(jwk, 'TPMT_PUBLIC'), public: pub, source: 'TPMT_PUBLIC' };
}

function importJwk(jwk: JsonWebKey, source: string): KeyObject {
  try {
    return createPublicKey({ key: jwk, format: 'jwk' });
  } catch (err) {
    return vtpmFail('ERR_VTPM_AK', `${source}: not a usable public key (${(err as Error).message})`);
  }
}

/** An RSA or EC public JWK (only its public members are read). */
export function keyFromJwk(jwk: Record<string, unknown>, source: string): AttestationKey {
  const kty = jwk['kty'];
  let pub: JsonWebKey;
  if (kty === 'RSA' && typeof jwk['n'] === 'string' && typeof jwk['e'] === 'string') pub = { kty, n: jwk['n'], e: jwk['e'] };
  else if (kty === 'EC' && typeof jwk['crv'] === 'string' && typeof jwk['x'] === 'string' && typeof jwk['y'] === 'string') {
    pub = { kty, crv: jwk['crv'], x: jwk['x'], y: jwk['y'] };
  } else vtpmFail('ERR_VTPM_AK', `${source}: not an RSA or EC public JWK`);
  return { key: importJwk(pub, source), source };
}

/** A PEM public key (SPKI) or certificate. */
export function keyFromPem(pem: string, source = 'PEM'): AttestationKey {
  try {
    return { key: createPublicKey(pem), source };
  } catch (err) {
    return vtpmFail('ERR_VTPM_AK', `${source}: not a PEM public key (${(err as Error).message})`);
  }
}

/** The smallest RSA attestation key accepted (bits) and the only public exponent (TPM default, F4). */
export const AK_MIN_RSA_BITS = 2048;
export const AK_RSA_EXPONENT = 65537n;

/**
 * VT06: the attestation key is strong enough, whatever its source (TPMT_PUBLIC,
 * PEM, Azure's HCLAkPub JWK, the caller's pinned key): RSA of at least 2048
 * bits with exponent 65537, or EC on P-256 / P-384 (review s8, finding 2). A
 * TPM makes RSA AKs of 2048 bits or more with exponent 65537 (TPMT_PUBLIC
 * exponent 0); a 1024-bit key can be factored by a well-funded attacker, and
 * e = 3 invites signature-forgery bugs. Returns a label for the check record.
 */
export function checkAkStrength(ak: AttestationKey): string {
  const type = ak.key.asymmetricKeyType;
  const d = ak.key.asymmetricKeyDetails ?? {};
  if (type === 'rsa') {
    const bits = d.modulusLength ?? 0;
    if (bits < AK_MIN_RSA_BITS) vtpmFail('ERR_VTPM_SCHEME', `the ${ak.source} attestation key is RSA-${bits}: below ${AK_MIN_RSA_BITS} bits`, { keyBits: bits, minimum: AK_MIN_RSA_BITS });
    if (d.publicExponent !== AK_RSA_EXPONENT) {
      vtpmFail('ERR_VTPM_SCHEME', `the ${ak.source} attestation key has RSA public exponent ${String(d.publicExponent)}, not ${AK_RSA_EXPONENT}`, { exponent: String(d.publicExponent) });
    }
    return `RSA-${bits}`;
  }
  if (type === 'ec') {
    const curve = d.namedCurve === 'prime256v1' ? 'P-256' : d.namedCurve === 'secp384r1' ? 'P-384' : undefined;
    if (curve === undefined) vtpmFail('ERR_VTPM_SCHEME', `the ${ak.source} attestation key is on curve ${String(d.namedCurve)}, which is not verified (P-256 and P-384 are)`, { curve: String(d.namedCurve) });
    return `ECC ${curve}`;
  }
  return vtpmFail('ERR_VTPM_SCHEME', `the ${ak.source} attestation key is of type ${String(type)}, not RSA or EC`);
}

/** The TPM Name of a key: nameAlg ‖ H_nameAlg(TPMT_PUBLIC). */
export function tpmName(pub: TpmPublic): Uint8Array {
  const hash = hashNameOf(pub.nameAlg);
  if (hash === undefined || hash === 'sm3_256') vtpmFail('ERR_VTPM_SCHEME', `AK nameAlg 0x${pub.nameAlg.toString(16)} is not supported`);
  const digest = createHash(TPM_HASHES[hash].node).update(pub.bytes).digest();
  const out = new Uint8Array(2 + digest.length);
  new DataView(out.buffer).setUint16(0, pub.nameAlg);
  out.set(digest, 2);
  return out;
}

/** Same public key: equal SubjectPublicKeyInfo DER (RSA n/e or EC point, whatever the source format). */
export function sameKey(a: KeyObject, b: KeyObject): boolean {
  const da = a.export({ type: 'spki', format: 'der' });
  const db = b.export({ type: 'spki', format: 'der' });
  return da.length === db.length && da.equals(db);
}
