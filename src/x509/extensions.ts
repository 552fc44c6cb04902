/**
 * X.509 v3 extensions (RFC 5280 §4.2) shared by certificates and CRLs: the
 * Extensions list itself and the few standard extensions verifiers use
 * (basicConstraints, keyUsage, key identifiers, CRL distribution points,
 * CRL number). TEE-specific extensions live in intel-extension.ts and
 * amd-extension.ts. Every decoded extension value must itself be strict DER.
 */
import {
  TAG,
  children,
  contextTag,
  decodeBitString,
  decodeBoolean,
  decodeIa5String,
  decodeInteger,
  decodeOctetString,
  decodeOid,
  derError,
  parseDer,
  sequence,
  type DerNode,
} from './asn1.js';

export interface RawExtension {
  oid: string;
  critical: boolean;
  /** extnValue content (a view): DER for every standard extension, raw bytes for AMD's hwID. */
  value: Uint8Array;
}

export const OID_BASIC_CONSTRAINTS = '2.5.29.19';
export const OID_KEY_USAGE = '2.5.29.15';
export const OID_SUBJECT_KEY_ID = '2.5.29.14';
export const OID_AUTHORITY_KEY_ID = '2.5.29.35';
export const OID_CRL_DISTRIBUTION_POINTS = '2.5.29.31';
export const OID_CRL_NUMBER = '2.5.29.20';

/** RFC 5280 §4.2.1.3 bit order. */
const KEY_USAGE_BITS = [
  'digitalSignature',
  'nonRepudiation',
  'keyEncipherment',
  'dataEncipherment',
  'keyAgreement',
  'keyCertSign',
  'cRLSign',
  'encipherOnly',
  'decipherOnly',
] as const;

export type KeyUsage = (typeof KEY_USAGE_BITS)[number];

/** Decodes an Extensions SEQUENCE; a repeated extension OID is malformed (RFC 5280 §4.2). */
export function decodeExtensions(node: DerNode | undefined, what: string): RawExtension[] {
  // Extensions ::= SEQUENCE SIZE (1..MAX) OF Extension
  const items = sequence(node, what, 1, Number.MAX_SAFE_INTEGER);
  const seen = new Set<string>();
  return items.map((item) => {
    const fields = sequence(item, 'Extension', 2, 3);
    const oid = decodeOid(fields[0], 'extnID');
    if (seen.has(oid)) throw derError(`${what}: extension ${oid} appears twice`, item.offset);
    seen.add(oid);
    let critical = false;
    if (fields.length === 3) {
      critical = decodeBoolean(fields[1], 'Extension critical');
      // DER (X.690 §11.5): a DEFAULT value is never encoded.
      if (!critical) throw derError(`extension ${oid}: critical FALSE must be omitted`, fields[1]?.offset);
    }
    const value = decodeOctetString(fields[fields.length - 1], 'extnValue');
    return { oid, critical, value };
  });
}

export function findExtension(extensions: readonly RawExtension[], oid: string): RawExtension | undefined {
  return extensions.find((e) => e.oid === oid);
}

export interface BasicConstraints {
  ca: boolean;
  pathLength?: number;
}

export function decodeBasicConstraints(value: Uint8Array): BasicConstraints {
  const fields = sequence(parseDer(value), 'basicConstraints', 0, 2);
  let i = 0;
  let ca = false;
  if (fields[i]?.tag === TAG.BOOLEAN) {
    ca = decodeBoolean(fields[i++], 'basicConstraints cA');
    if (!ca) throw derError('basicConstraints: cA FALSE must be omitted (DEFAULT)');
  }
  const out: BasicConstraints = { ca };
  if (i < fields.length) {
    const path = decodeInteger(fields[i++], 'basicConstraints pathLenConstraint');
    if (path < 0n || path > 255n) throw derError('basicConstraints: pathLenConstraint out of range');
    out.pathLength = Number(path);
  }
  if (i !== fields.length) throw derError('basicConstraints: unexpected fields');
  return out;
}

/** Names of the bits set. Trailing zero bits are tolerated: AMD's ASK encodes keyCertSign as 03 02 01 04. */
export function decodeKeyUsage(value: Uint8Array): KeyUsage[] {
  const { bytes, unusedBits } = decodeBitString(parseDer(value), 'keyUsage');
  const total = bytes.length * 8 - unusedBits;
  const out: KeyUsage[] = [];
  for (let bit = 0; bit < total; bit++) {
    if ((((bytes[bit >> 3] as number) >> (7 - (bit & 7))) & 1) === 0) continue;
    const name = KEY_USAGE_BITS[bit];
    if (name === undefined) throw derError(`keyUsage: unknown bit ${bit}`);
    out.push(name);
  }
  return out;
}

const hex = (b: Uint8Array): string => Buffer.from(b).toString('hex');

export function decodeSubjectKeyId(value: Uint8Array): string {
  const id = decodeOctetString(parseDer(value), 'subjectKeyIdentifier');
  if (id.length === 0) throw derError('subjectKeyIdentifier is empty'); // V04: empty ids must never compare equal
  return hex(id);
}

/** The keyIdentifier [0] of AuthorityKeyIdentifier, or undefined when only issuer/serial are given. */
export function decodeAuthorityKeyId(value: Uint8Array): string | undefined {
  const fields = sequence(parseDer(value), 'authorityKeyIdentifier', 0, 3);
  const keyId = fields.find((f) => f.tag === contextTag(0, false));
  let previous = -1;
  for (const f of fields) {
    if (f.tag !== contextTag(0, false) && f.tag !== contextTag(1, true) && f.tag !== contextTag(2, false)) {
      throw derError('authorityKeyIdentifier: unexpected field', f.offset);
    }
    // DER of a SEQUENCE of OPTIONAL fields: each at most once, in the order [0] [1] [2]
    const number = f.tag & 0x1f;
    if (number <= previous) throw derError('authorityKeyIdentifier: fields repeated or out of order', f.offset);
    previous = number;
  }
  if (keyId === undefined) return undefined;
  if (keyId.content.length === 0) throw derError('authorityKeyIdentifier keyIdentifier is empty');
  return hex(keyId.content);
}

/** Every uniformResourceIdentifier of every fullName distribution point, in order. */
export function decodeCrlDistributionPoints(value: Uint8Array): string[] {
  const urls: string[] = [];
  const points = sequence(parseDer(value), 'cRLDistributionPoints', 1, Number.MAX_SAFE_INTEGER);
  for (const point of points) {
    for (const field of sequence(point, 'DistributionPoint', 0, 3)) {
      if (field.tag !== contextTag(0, true)) continue; // reasons [1], cRLIssuer [2]
      for (const name of children(field)) {
        if (name.tag !== contextTag(0, true)) continue; // nameRelativeToCRLIssuer [1]
        for (const general of children(name)) {
          if (general.tag === contextTag(6, false)) urls.push(decodeIa5String(general, 'CRL distribution point URI', general.tag));
        }
      }
    }
  }
  return urls;
}

/** CRLNumber ::= INTEGER (0..MAX). */
export function decodeCrlNumber(value: Uint8Array): bigint {
  const n = decodeInteger(parseDer(value), 'cRLNumber');
  if (n < 0n) throw derError('cRLNumber is negative');
  return n;
}
