/**
 * X.509 CRLs (RFC 5280 §5), decoded from strict DER (or one strict PEM
 * "X509 CRL" block, as AMD KDS serves them). Revoked serials are canonical
 * integers (T14: a DER 0x00 sign byte never makes two serials differ), the
 * CRL Number and AKI are exposed for anti-rollback (X03) and issuer binding
 * (X04). Whether the CRL is current is the verifier's decision: dates are
 * decoded here, never compared with a clock.
 */
import { EvidenceParseError } from '../errors.js';
import {
  TAG,
  canonicalHex,
  contextTag,
  decodeInteger,
  decodeSmallUnsigned,
  decodeTime,
  derError,
  explicitInner,
  parseDer,
  sequence,
  type DerNode,
} from './asn1.js';
import { decodeAlgorithmIdentifier, decodeSignedEnvelope, MAX_SERIAL_OCTETS, type SignedObject } from './certificate.js';
import { OID_AUTHORITY_KEY_ID, OID_CRL_NUMBER, decodeAuthorityKeyId, decodeCrlNumber, decodeExtensions, findExtension, type RawExtension } from './extensions.js';
import { decodeName, type NameAttributes } from './name.js';
import { decodePemBlocks } from './pem.js';
import { ParseCache } from './parse-cache.js';

export interface CrlInfo extends SignedObject {
  /** The CRL DER (a view of the input, or of the decoded PEM). */
  der: Uint8Array;
  /** RFC 4514 form, as CertificateInfo.issuer. */
  issuer: string;
  issuerAttributes: NameAttributes;
  issuerDer: Uint8Array;
  thisUpdate: Date;
  /** Absent in the DER: callers must treat that as "never current" (X02). */
  nextUpdate: Date | undefined;
  crlNumber?: bigint;
  /** Lowercase hex of the AKI keyIdentifier. */
  authorityKeyId?: string;
  /** Canonical lowercase hex, as CertificateInfo.serialNumber. */
  revokedSerials: ReadonlySet<string>;
  /** Number of revokedCertificates entries (a serial listed twice counts twice). */
  revokedCount: number;
  /** OIDs of the critical extensions found on any revoked entry (certificateIssuer, ...), each once. */
  criticalEntryExtensionOids: string[];
  extensionOids: string[];
  extensions: RawExtension[];
}

const PEM_PREFIX = '-----BEGIN';

function isPem(bytes: Uint8Array): boolean {
  return Buffer.from(bytes.subarray(0, PEM_PREFIX.length)).toString('latin1') === PEM_PREFIX;
}

/** revokedCertificates: SEQUENCE OF SEQUENCE { userCertificate, revocationDate, crlEntryExtensions OPTIONAL } */
function decodeRevoked(node: DerNode): { serials: Set<string>; count: number; criticalEntryExtensions: Set<string>; hasEntryExtensions: boolean } {
  const entries = sequence(node, 'revokedCertificates', 1, Number.MAX_SAFE_INTEGER);
  const serials = new Set<string>();
  const criticalEntryExtensions = new Set<string>();
  let hasEntryExtensions = false;
  for (const entry of entries) {
    const [serial, date, entryExtensions] = sequence(entry, 'revoked certificate', 2, 3);
    const value = decodeInteger(serial, 'userCertificate', TAG.INTEGER, MAX_SERIAL_OCTETS);
    if (value < 0n) throw derError('revoked serial number is negative', serial?.offset);
    decodeTime(date, 'revocationDate');
    if (entryExtensions !== undefined) {
      hasEntryExtensions = true;
      for (const e of decodeExtensions(entryExtensions, 'crlEntryExtensions')) if (e.critical) criticalEntryExtensions.add(e.oid);
    }
    serials.add(canonicalHex(value));
  }
  return { serials, count: entries.length, criticalEntryExtensions, hasEntryExtensions };
}

/** TBSCertList ::= SEQUENCE { version OPTIONAL, signature, issuer, thisUpdate, nextUpdate OPTIONAL, revoked OPTIONAL, [0] crlExtensions OPTIONAL } */
function decodeTbsCertList(tbsNode: DerNode, outerAlgorithm: Uint8Array) {
  const fields = sequence(tbsNode, 'TBSCertList', 3, 7);
  let i = 0;
  const versioned = fields[0]?.tag === TAG.INTEGER;
  if (versioned) {
    // RFC 5280 §5.1.2.1: if present, version MUST be v2 (1).
    if (decodeSmallUnsigned(fields[i++], 'CRL version', 1) !== 1) throw derError('CRL version must be v2 when present');
  }
  const algorithm = decodeAlgorithmIdentifier(fields[i++], 'TBSCertList signature');
  if (Buffer.compare(algorithm.der, outerAlgorithm) !== 0) throw derError('TBSCertList signature algorithm differs from signatureAlgorithm');
  const issuer = decodeName(fields[i++], 'CRL issuer');
  const thisUpdate = decodeTime(fields[i++], 'thisUpdate');
  let nextUpdate: Date | undefined;
  if (fields[i]?.tag === TAG.UTC_TIME || fields[i]?.tag === TAG.GENERALIZED_TIME) nextUpdate = decodeTime(fields[i++], 'nextUpdate');
  let revoked = { serials: new Set<string>(), count: 0, criticalEntryExtensions: new Set<string>(), hasEntryExtensions: false };
  if (fields[i]?.tag === TAG.SEQUENCE) revoked = decodeRevoked(fields[i++] as DerNode);
  let extensions: RawExtension[] = [];
  if (fields[i]?.tag === contextTag(0, true)) extensions = decodeExtensions(explicitInner(fields[i++] as DerNode, 'crlExtensions'), 'crlExtensions');
  if (i !== fields.length) throw derError('TBSCertList: unexpected field', fields[i]?.offset);
  // RFC 5280 §5.1.2.1: a CRL with CRL or entry extensions MUST say v2 (a v1 CRL has none)
  if (!versioned && (extensions.length > 0 || revoked.hasEntryExtensions)) throw derError('CRL has extensions but no version (must be v2)', tbsNode.offset);
  return { issuer, thisUpdate, nextUpdate, revoked, extensions };
}

/**
 * The largest CRL input accepted (DER, or PEM, which is also held to
 * MAX_PEM_BYTES): 1 MiB. The largest real CRL of the shared vectors is 3355
 * bytes (an Intel PCK CRL of a dcap-qvl bundle); Intel's PCK CRLs grow with
 * revocations at about 40 bytes an entry, so this leaves room for some 25 000
 * revoked certificates, and bounds what a CRL can make the parse cache and the
 * signature memo hold (review s12 x509 finding 1).
 */
export const MAX_CRL_BYTES = 1024 * 1024;

/**
 * Decodes a CRL given as DER, or as exactly one PEM "X509 CRL" block. Throws
 * EvidenceParseError ERR_BAD_DER (ERR_BAD_PEM for bad PEM framing), also for
 * an input larger than MAX_CRL_BYTES, refused before it is copied or cached.
 */
export function parseCrl(derOrPem: Uint8Array): CrlInfo {
  if (!(derOrPem instanceof Uint8Array)) throw new EvidenceParseError('ERR_BAD_DER', 'CRL must be a Uint8Array');
  if (derOrPem.byteLength > MAX_CRL_BYTES) {
    const pem = isPem(derOrPem);
    throw new EvidenceParseError(pem ? 'ERR_BAD_PEM' : 'ERR_BAD_DER', `${pem ? 'PEM' : 'DER'}: CRL of ${derOrPem.byteLength} bytes is larger than ${MAX_CRL_BYTES}`, {
      details: { reason: 'CRL too large', length: derOrPem.byteLength, max: MAX_CRL_BYTES },
    });
  }
  return crls.get(derOrPem, decodeCrl);
}

/** 256 CRLs or 32 MiB as charged (about 3x each input, so a CRL of MAX_CRL_BYTES is still kept). */
export const crlParseCache = new ParseCache<CrlInfo>(256, 32 * 1024 * 1024);
const crls = crlParseCache;

function decodeCrl(derOrPem: Uint8Array): CrlInfo {
  let der = derOrPem;
  if (isPem(derOrPem)) {
    const blocks = decodePemBlocks(derOrPem, 'X509 CRL', undefined);
    if (blocks.length !== 1) throw new EvidenceParseError('ERR_BAD_PEM', `PEM: expected one X509 CRL block, found ${blocks.length}`);
    der = blocks[0] as Uint8Array;
  }
  const root = parseDer(der);
  const { tbsNode, algorithm, signature } = decodeSignedEnvelope(root, 'CertificateList');
  const tbs = decodeTbsCertList(tbsNode, algorithm.der);
  const info: CrlInfo = {
    der,
    issuer: tbs.issuer.text,
    issuerAttributes: tbs.issuer.attributes,
    issuerDer: tbs.issuer.der,
    thisUpdate: tbs.thisUpdate,
    nextUpdate: tbs.nextUpdate,
    revokedSerials: tbs.revoked.serials,
    revokedCount: tbs.revoked.count,
    criticalEntryExtensionOids: [...tbs.revoked.criticalEntryExtensions],
    extensionOids: tbs.extensions.map((e) => e.oid),
    extensions: tbs.extensions,
    signatureAlgorithm: algorithm.oid,
    signatureAlgorithmParameters: algorithm.parameters,
    tbs: tbsNode.der,
    signature,
  };
  const number = findExtension(tbs.extensions, OID_CRL_NUMBER);
  if (number) info.crlNumber = decodeCrlNumber(number.value);
  const aki = findExtension(tbs.extensions, OID_AUTHORITY_KEY_ID);
  const keyId = aki ? decodeAuthorityKeyId(aki.value) : undefined;
  if (keyId !== undefined) info.authorityKeyId = keyId;
  return info;
}
