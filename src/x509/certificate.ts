/**
 * X.509 certificates (RFC 5280 §4.1), decoded from strict DER. Nothing here
 * decides trust: chains, dates against `now`, profiles and pins are the
 * verifier's. What this guarantees is that the fields it returns are the
 * ones the signature covers: `tbs` is the exact TBSCertificate byte span of
 * the input (never a re-encoding), and the inner signature algorithm must
 * equal the outer one byte for byte (RFC 5280 §4.1.1.2).
 */
import { EvidenceParseError } from '../errors.js';
import {
  TAG,
  canonicalHex,
  contextTag,
  decodeInteger,
  decodeOctetAlignedBitString,
  decodeOid,
  decodeSmallUnsigned,
  decodeTime,
  derError,
  explicitInner,
  parseDer,
  sequence,
  type DerNode,
} from './asn1.js';
import {
  OID_AUTHORITY_KEY_ID,
  OID_BASIC_CONSTRAINTS,
  OID_CRL_DISTRIBUTION_POINTS,
  OID_KEY_USAGE,
  OID_SUBJECT_KEY_ID,
  decodeAuthorityKeyId,
  decodeBasicConstraints,
  decodeCrlDistributionPoints,
  decodeExtensions,
  decodeKeyUsage,
  decodeSubjectKeyId,
  findExtension,
  type BasicConstraints,
  type KeyUsage,
  type RawExtension,
} from './extensions.js';
import { decodeName, type NameAttributes } from './name.js';
import { ParseCache } from './parse-cache.js';
import { decodePublicKey, type PublicKeyInfo } from './spki.js';

/** Common to certificates and CRLs: what a signature check needs. */
export interface SignedObject {
  /** Signature algorithm OID (outer AlgorithmIdentifier). */
  signatureAlgorithm: string;
  /** DER of the algorithm parameters, when present (RSASSA-PSS-params). */
  signatureAlgorithmParameters: Uint8Array | undefined;
  /** The exact signed bytes (TBSCertificate / TBSCertList TLV), a view of the input. */
  tbs: Uint8Array;
  /** signatureValue BIT STRING content: DER ECDSA-Sig-Value or the raw RSA signature. */
  signature: Uint8Array;
}

export interface CertificateInfo extends SignedObject {
  /** The certificate DER (a view of the input). */
  der: Uint8Array;
  /** RFC 4514 form, last RDN first: "C=US,ST=CA,L=Santa Clara,O=Intel Corporation,CN=Intel SGX Root CA". */
  subject: string;
  subjectAttributes: NameAttributes;
  /** The subject Name DER, for byte-exact chaining. */
  subjectDer: Uint8Array;
  issuer: string;
  issuerAttributes: NameAttributes;
  issuerDer: Uint8Array;
  /** Canonical lowercase hex, no leading zeros; "0" for zero (KDS VCEKs have serial 0, checklist §4.3). */
  serialNumber: string;
  notBefore: Date;
  notAfter: Date;
  /** 1, 2 or 3. */
  version: number;
  publicKey: PublicKeyInfo;
  basicConstraints?: BasicConstraints;
  keyUsage?: KeyUsage[];
  /** Lowercase hex. */
  subjectKeyId?: string;
  /** Lowercase hex of the keyIdentifier. */
  authorityKeyId?: string;
  crlDistributionPoints: string[];
  /** Every extension OID, in certificate order. */
  extensionOids: string[];
  /** Every extension with its critical flag and raw value, in certificate order. */
  extensions: RawExtension[];
}

export interface AlgorithmIdentifier {
  oid: string;
  parameters: Uint8Array | undefined;
  der: Uint8Array;
}

export function decodeAlgorithmIdentifier(node: DerNode | undefined, what: string): AlgorithmIdentifier {
  const [oid, params] = sequence(node, what, 1, 2);
  return { oid: decodeOid(oid, what), parameters: params?.der, der: (node as DerNode).der };
}

/** Certificate ::= SEQUENCE { tbsCertificate, signatureAlgorithm, signatureValue BIT STRING } */
export function decodeSignedEnvelope(root: DerNode, what: string): { tbsNode: DerNode; algorithm: AlgorithmIdentifier; signature: Uint8Array } {
  const [tbsNode, algNode, sigNode] = sequence(root, what, 3);
  if (tbsNode?.tag !== TAG.SEQUENCE) throw derError(`${what}: the signed part is not a SEQUENCE`);
  return {
    tbsNode,
    algorithm: decodeAlgorithmIdentifier(algNode, `${what} signatureAlgorithm`),
    signature: decodeOctetAlignedBitString(sigNode, `${what} signatureValue`),
  };
}

function sameBytes(a: Uint8Array, b: Uint8Array): boolean {
  return a.length === b.length && a.every((v, i) => v === b[i]);
}

/** Reads the optional [0] EXPLICIT version; v1 must be absent in DER. */
function readVersion(fields: DerNode[]): { version: number; next: number } {
  const first = fields[0];
  if (first?.tag !== contextTag(0, true)) return { version: 1, next: 0 };
  const v = decodeSmallUnsigned(explicitInner(first, 'version'), 'version', 2);
  if (v === 0) throw derError('version v1 must be omitted (DEFAULT)');
  return { version: v + 1, next: 1 };
}

/**
 * The longest serialNumber content accepted. RFC 5280 §4.1.2.2 allows 20
 * octets; real chains carry 21 (20 octets and a sign byte: Intel's SGX PCK
 * Platform CA, whose serial has its top bit set), and some CAs more, so the
 * bound is lenient. It bounds the work and the memory of a hostile serial
 * (review s12 change review core #2).
 */
export const MAX_SERIAL_OCTETS = 32;

function serialHex(node: DerNode | undefined): string {
  const serial = decodeInteger(node, 'serialNumber', TAG.INTEGER, MAX_SERIAL_OCTETS);
  if (serial < 0n) throw derError('serialNumber is negative'); // RFC 5280 §4.1.2.2; 0 is allowed for AMD VCEKs
  return canonicalHex(serial);
}

interface StandardExtensions {
  basicConstraints?: BasicConstraints;
  keyUsage?: KeyUsage[];
  subjectKeyId?: string;
  authorityKeyId?: string;
  crlDistributionPoints: string[];
}

function decodeStandardExtensions(extensions: RawExtension[]): StandardExtensions {
  const out: StandardExtensions = { crlDistributionPoints: [] };
  const bc = findExtension(extensions, OID_BASIC_CONSTRAINTS);
  if (bc) out.basicConstraints = decodeBasicConstraints(bc.value);
  const ku = findExtension(extensions, OID_KEY_USAGE);
  if (ku) out.keyUsage = decodeKeyUsage(ku.value);
  const ski = findExtension(extensions, OID_SUBJECT_KEY_ID);
  if (ski) out.subjectKeyId = decodeSubjectKeyId(ski.value);
  const aki = findExtension(extensions, OID_AUTHORITY_KEY_ID);
  const akiValue = aki ? decodeAuthorityKeyId(aki.value) : undefined;
  if (akiValue !== undefined) out.authorityKeyId = akiValue;
  const dp = findExtension(extensions, OID_CRL_DISTRIBUTION_POINTS);
  if (dp) out.crlDistributionPoints = decodeCrlDistributionPoints(dp.value);
  return out;
}

/** TBSCertificate fields after the version. */
function decodeTbs(tbsNode: DerNode, outer: AlgorithmIdentifier) {
  const fields = sequence(tbsNode, 'TBSCertificate', 6, 10);
  const { version, next } = readVersion(fields);
  const [serial, sigAlg, issuer, validity, subject, spki, ...optional] = fields.slice(next);
  const inner = decodeAlgorithmIdentifier(sigAlg, 'TBSCertificate signature');
  if (!sameBytes(inner.der, outer.der)) throw derError('TBSCertificate signature algorithm differs from signatureAlgorithm');
  const [notBefore, notAfter] = sequence(validity, 'Validity', 2);
  let extensions: RawExtension[] = [];
  let lastTag = 0;
  for (const field of optional) {
    // issuerUniqueID [1], subjectUniqueID [2] (v2+), extensions [3] (v3), each at most once and in order.
    const n = field.tag & 0x1f;
    if ((field.tag & 0xc0) !== 0x80 || n < 1 || n > 3 || n <= lastTag) throw derError('TBSCertificate: unexpected field', field.offset);
    lastTag = n;
    if (version < 2 || (n === 3 && version < 3)) throw derError(`TBSCertificate: field [${n}] not allowed in v${version}`, field.offset);
    if (n === 3) extensions = decodeExtensions(explicitInner(field, 'extensions'), 'extensions');
  }
  return {
    version,
    serialNumber: serialHex(serial),
    issuer: decodeName(issuer, 'issuer'),
    subject: decodeName(subject, 'subject'),
    notBefore: decodeTime(notBefore, 'notBefore'),
    notAfter: decodeTime(notAfter, 'notAfter'),
    publicKey: decodePublicKey(spki),
    extensions,
  };
}

/**
 * The largest certificate DER accepted: 64 KiB. Real TEE certificates are under
 * 2 KiB (the largest of the shared vectors, an AMD VLEK, is 1683 bytes; Intel
 * PCK certificates about 1.2 KiB), so this is 40 times that, and it bounds what
 * hostile evidence can make the parse cache and the signature memo hold (review
 * s12 x509 finding 1).
 */
export const MAX_CERTIFICATE_BYTES = 64 * 1024;

/**
 * Decodes a DER certificate. Throws EvidenceParseError ERR_BAD_DER for
 * anything that is not strict DER of the RFC 5280 structure (trailing bytes
 * included) or is larger than MAX_CERTIFICATE_BYTES (refused before it is
 * copied or cached), ERR_BAD_PUBLIC_KEY for an EC point off its curve, and
 * UnsupportedEvidenceError ERR_UNSUPPORTED_KEY_TYPE for keys other than EC
 * P-256 / P-384 and RSA. Validity dates are decoded, never compared with a clock.
 */
export function parseCertificate(der: Uint8Array): CertificateInfo {
  if (!(der instanceof Uint8Array)) throw new EvidenceParseError('ERR_BAD_DER', 'certificate must be a Uint8Array');
  if (der.byteLength > MAX_CERTIFICATE_BYTES) {
    throw new EvidenceParseError('ERR_BAD_DER', `DER: certificate of ${der.byteLength} bytes is larger than ${MAX_CERTIFICATE_BYTES}`, {
      details: { reason: 'certificate too large', length: der.byteLength, max: MAX_CERTIFICATE_BYTES },
    });
  }
  return certificates.get(der, decodeCertificate);
}

/** 4096 certificates or 32 MiB as charged (about 3x each input): every real certificate of 4096 platforms fits both. */
export const certificateParseCache = new ParseCache<CertificateInfo>(4096, 32 * 1024 * 1024);
const certificates = certificateParseCache;

function decodeCertificate(der: Uint8Array): CertificateInfo {
  const root = parseDer(der);
  const { tbsNode, algorithm, signature } = decodeSignedEnvelope(root, 'Certificate');
  const tbs = decodeTbs(tbsNode, algorithm);
  return {
    der,
    subject: tbs.subject.text,
    subjectAttributes: tbs.subject.attributes,
    subjectDer: tbs.subject.der,
    issuer: tbs.issuer.text,
    issuerAttributes: tbs.issuer.attributes,
    issuerDer: tbs.issuer.der,
    serialNumber: tbs.serialNumber,
    notBefore: tbs.notBefore,
    notAfter: tbs.notAfter,
    version: tbs.version,
    signatureAlgorithm: algorithm.oid,
    signatureAlgorithmParameters: algorithm.parameters,
    publicKey: tbs.publicKey,
    ...decodeStandardExtensions(tbs.extensions),
    extensionOids: tbs.extensions.map((e) => e.oid),
    extensions: tbs.extensions,
    tbs: tbsNode.der,
    signature,
  };
}
