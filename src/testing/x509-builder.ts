/**
 * Builds X.509 v3 certificates byte by byte for the synthetic test PKI, so
 * tests control every field (serial 0 as KDS uses it, exact DN order, raw
 * extension values) and signing is synchronous (node:crypto). Not a general
 * certificate authority: only what the Intel- and AMD-shaped chains need.
 */
import { constants, createHash, sign, type KeyObject } from 'node:crypto';

import { ecPublicPoint } from '../crypto/ec-keys.js';
import * as der from './der.js';

export type NameAttributeType = 'CN' | 'O' | 'OU' | 'L' | 'ST' | 'C';

/** A distinguished name in encoding order, e.g. [['CN', 'x'], ['O', 'y']]. */
export type DistinguishedName = ReadonlyArray<readonly [NameAttributeType, string]>;

/** One extension; `value` is the content of extnValue (the bytes inside the OCTET STRING). */
export interface CertExtension {
  oid: string;
  critical: boolean;
  value: Uint8Array;
}

export type SignatureScheme = 'ecdsa-sha256' | 'ecdsa-sha384' | 'rsa-pss-sha384';

export interface CertificateTemplate {
  /** Unsigned big-endian serial; [0x00] gives serial 0 (as AMD KDS VCEKs). */
  serial: Uint8Array;
  issuer: DistinguishedName;
  subject: DistinguishedName;
  notBefore: Date;
  notAfter: Date;
  publicKey: KeyObject;
  extensions: readonly CertExtension[];
  signingKey: KeyObject;
  signature: SignatureScheme;
  /** Flip one bit of the signature (for chain negative tests). Default false. */
  corruptSignature?: boolean;
}

const ATTRIBUTE_OID: Record<NameAttributeType, string> = {
  CN: '2.5.4.3',
  C: '2.5.4.6',
  L: '2.5.4.7',
  ST: '2.5.4.8',
  O: '2.5.4.10',
  OU: '2.5.4.11',
};

export const OID = {
  subjectKeyIdentifier: '2.5.29.14',
  keyUsage: '2.5.29.15',
  basicConstraints: '2.5.29.19',
  crlDistributionPoints: '2.5.29.31',
  authorityKeyIdentifier: '2.5.29.35',
  ecdsaWithSha256: '1.2.840.10045.4.3.2',
  ecdsaWithSha384: '1.2.840.10045.4.3.3',
  rsassaPss: '1.2.840.113549.1.1.10',
  mgf1: '1.2.840.113549.1.1.8',
  sha384: '2.16.840.1.101.3.4.2.2',
} as const;

export function encodeName(dn: DistinguishedName): Uint8Array {
  return der.sequence(
    ...dn.map(([type, value]) =>
      der.set(
        der.sequence(
          der.objectIdentifier(ATTRIBUTE_OID[type]),
          // RFC 5280: countryName is a PrintableString; the rest UTF8String.
          type === 'C' ? der.printableString(value) : der.utf8String(value),
        ),
      ),
    ),
  );
}

/** "CN=a, O=b" in the order given (for display and comparisons in tests). */
export function dnToString(dn: DistinguishedName): string {
  return dn.map(([type, value]) => `${type}=${value}`).join(', ');
}

/** AlgorithmIdentifier for the signature; RSASSA-PSS carries AMD's parameters. */
export function signatureAlgorithm(scheme: SignatureScheme): Uint8Array {
  if (scheme === 'ecdsa-sha256') return der.sequence(der.objectIdentifier(OID.ecdsaWithSha256));
  if (scheme === 'ecdsa-sha384') return der.sequence(der.objectIdentifier(OID.ecdsaWithSha384));
  const sha384 = der.sequence(der.objectIdentifier(OID.sha384), der.nullValue());
  const params = der.sequence(
    der.explicit(0, sha384),
    der.explicit(1, der.sequence(der.objectIdentifier(OID.mgf1), sha384)),
    der.explicit(2, der.integer(48)),
  );
  return der.sequence(der.objectIdentifier(OID.rsassaPss), params);
}

export function encodeExtension(ext: CertExtension): Uint8Array {
  const parts = [der.objectIdentifier(ext.oid)];
  if (ext.critical) parts.push(der.boolean(true)); // DER omits the DEFAULT FALSE
  parts.push(der.octetString(ext.value));
  return der.sequence(...parts);
}

export function tbsCertificate(t: CertificateTemplate): Uint8Array {
  const spki = new Uint8Array(t.publicKey.export({ type: 'spki', format: 'der' }));
  const fields = [
    der.explicit(0, der.integer(2)), // v3
    der.integer(t.serial),
    signatureAlgorithm(t.signature),
    encodeName(t.issuer),
    der.sequence(der.time(t.notBefore), der.time(t.notAfter)),
    encodeName(t.subject),
    spki,
  ];
  if (t.extensions.length > 0) fields.push(der.explicit(3, der.sequence(...t.extensions.map(encodeExtension))));
  return der.sequence(...fields);
}

function signTbs(tbs: Uint8Array, t: CertificateTemplate): Uint8Array {
  if (t.signature === 'rsa-pss-sha384') {
    return new Uint8Array(
      sign('sha384', tbs, { key: t.signingKey, padding: constants.RSA_PKCS1_PSS_PADDING, saltLength: 48 }),
    );
  }
  // DER ECDSA signatures vary in length with r and s. Re-signing until both
  // take their longest form (1 try in 4 on average) keeps every certificate,
  // and so every PEM chain and quote, the same size for a seed, run after run.
  const hash = t.signature === 'ecdsa-sha256' ? 'sha256' : 'sha384';
  const curve = t.signingKey.asymmetricKeyDetails?.namedCurve;
  const longest = curve === 'prime256v1' ? 72 : curve === 'secp384r1' ? 104 : 0;
  for (let attempt = 0; ; attempt++) {
    const signature = new Uint8Array(sign(hash, tbs, { key: t.signingKey, dsaEncoding: 'der' }));
    if (signature.length === longest || longest === 0 || attempt >= 256) return signature;
  }
}

/** DER of a signed certificate. */
export function buildCertificate(t: CertificateTemplate): Uint8Array {
  const tbs = tbsCertificate(t);
  const signature = signTbs(tbs, t);
  if (t.corruptSignature) signature[signature.length - 1] = (signature[signature.length - 1] ?? 0) ^ 0x01;
  return der.sequence(tbs, signatureAlgorithm(t.signature), der.bitString(signature));
}

export function derToPem(bytes: Uint8Array, label = 'CERTIFICATE'): string {
  const lines = Buffer.from(bytes).toString('base64').match(/.{1,64}/g) ?? [];
  return `-----BEGIN ${label}-----\n${lines.join('\n')}\n-----END ${label}-----\n`;
}

// ---- Standard extensions (RFC 5280) ----

/** The subjectPublicKey bits (EC point or PKCS#1 RSAPublicKey), for key identifiers. */
function subjectPublicKeyBits(key: KeyObject): Uint8Array {
  if (key.asymmetricKeyType === 'rsa' || key.asymmetricKeyType === 'rsa-pss') {
    return new Uint8Array(key.export({ type: 'pkcs1', format: 'der' }));
  }
  return ecPublicPoint(key);
}

/** RFC 5280 §4.2.1.2 method 1: SHA-1 of the subjectPublicKey bits. */
export function keyIdentifier(key: KeyObject): Uint8Array {
  return new Uint8Array(createHash('sha1').update(subjectPublicKeyBits(key)).digest());
}

export function subjectKeyIdentifier(key: KeyObject): CertExtension {
  return { oid: OID.subjectKeyIdentifier, critical: false, value: der.octetString(keyIdentifier(key)) };
}

export function authorityKeyIdentifier(issuerKey: KeyObject): CertExtension {
  return {
    oid: OID.authorityKeyIdentifier,
    critical: false,
    value: der.sequence(der.implicitPrimitive(0, keyIdentifier(issuerKey))),
  };
}

export function basicConstraints(ca: boolean, pathLength?: number): CertExtension {
  const items: Uint8Array[] = [];
  if (ca) items.push(der.boolean(true));
  if (ca && pathLength !== undefined) items.push(der.integer(pathLength));
  return { oid: OID.basicConstraints, critical: true, value: der.sequence(...items) };
}

export type KeyUsageBit = 'digitalSignature' | 'nonRepudiation' | 'keyEncipherment' | 'dataEncipherment' | 'keyAgreement' | 'keyCertSign' | 'cRLSign';
const KEY_USAGE_BIT: Record<KeyUsageBit, number> = {
  digitalSignature: 0,
  nonRepudiation: 1,
  keyEncipherment: 2,
  dataEncipherment: 3,
  keyAgreement: 4,
  keyCertSign: 5,
  cRLSign: 6,
};

/** keyUsage as a DER BIT STRING with trailing zero bits removed. */
export function keyUsage(bits: readonly KeyUsageBit[]): CertExtension {
  let value = 0;
  for (const b of bits) value |= 0x80 >> KEY_USAGE_BIT[b];
  let unused = 0;
  while (unused < 7 && value !== 0 && ((value >> unused) & 1) === 0) unused++;
  return { oid: OID.keyUsage, critical: true, value: der.bitString(Uint8Array.of(value), unused) };
}

/** CRL distribution point with one full-name URI. */
export function crlDistributionPoint(uri: string): CertExtension {
  const uriName = der.implicitPrimitive(6, new Uint8Array(Buffer.from(uri, 'latin1')));
  const distributionPointName = der.explicit(0, der.explicit(0, uriName));
  return { oid: OID.crlDistributionPoints, critical: false, value: der.sequence(der.sequence(distributionPointName)) };
}
