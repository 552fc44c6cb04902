/**
 * Distinguished names. The string form follows RFC 4514 (last RDN first,
 * "," between RDNs, "+" inside a multi-valued RDN, no spaces, special
 * characters escaped), so it is stable and matches what OpenSSL's
 * `-nameopt RFC2253` and Python's `rfc4514_string()` print. Verifiers compare
 * DNs exactly (T10, T11, S08, S10: never CN substrings as QVL does); the raw
 * DER is kept as well for byte-exact issuer/subject chaining.
 */
import { TAG, children, decodeOid, derError, expectTag, sequence, type DerNode } from './asn1.js';

/** The attributes verifiers look at, present only when the name holds exactly one of them. */
export interface NameAttributes {
  CN?: string;
  O?: string;
  OU?: string;
  L?: string;
  ST?: string;
  C?: string;
}

export interface DecodedName {
  /** RFC 4514 string, e.g. "C=US,ST=CA,L=Santa Clara,O=Intel Corporation,CN=Intel SGX Root CA". */
  text: string;
  attributes: NameAttributes;
  /** The Name's DER (a view of the certificate). */
  der: Uint8Array;
}

/** RFC 4514 §3 short names (plus the two we meet in Intel / AMD names). */
const SHORT_NAMES: Record<string, string> = {
  '2.5.4.3': 'CN',
  '2.5.4.6': 'C',
  '2.5.4.7': 'L',
  '2.5.4.8': 'ST',
  '2.5.4.9': 'STREET',
  '2.5.4.10': 'O',
  '2.5.4.11': 'OU',
  '0.9.2342.19200300.100.1.1': 'UID',
  '0.9.2342.19200300.100.1.25': 'DC',
};

const TRACKED = new Set<keyof NameAttributes>(['CN', 'O', 'OU', 'L', 'ST', 'C']);
const PRINTABLE = /^[A-Za-z0-9 '()+,\-./:=?]*$/;

function decodeUtf8(bytes: Uint8Array, offset: number): string {
  try {
    return new TextDecoder('utf-8', { fatal: true }).decode(bytes);
  } catch (cause) {
    throw derError('UTF8String is not valid UTF-8', offset, cause);
  }
}

function decodeUtf16be(bytes: Uint8Array, offset: number): string {
  if (bytes.length % 2 !== 0) throw derError('BMPString of odd length', offset);
  let out = '';
  for (let i = 0; i < bytes.length; i += 2) out += String.fromCharCode(((bytes[i] as number) << 8) | (bytes[i + 1] as number));
  return out;
}

/** The string value of a directory string, or undefined for a non-string value. */
function directoryString(node: DerNode): string | undefined {
  const c = node.content;
  switch (node.tag) {
    case TAG.UTF8_STRING:
      return decodeUtf8(c, node.offset);
    case TAG.PRINTABLE_STRING: {
      const text = Buffer.from(c).toString('latin1');
      if (!PRINTABLE.test(text)) throw derError('PrintableString with a character outside its set', node.offset);
      return text;
    }
    case TAG.IA5_STRING:
    case TAG.TELETEX_STRING: {
      if (c.some((b) => b > 0x7f)) throw derError('non-ASCII byte in an IA5String / TeletexString', node.offset);
      return Buffer.from(c).toString('latin1');
    }
    case TAG.BMP_STRING:
      return decodeUtf16be(c, node.offset);
    default:
      return undefined;
  }
}

/** RFC 4514 §2.4 escaping of an attribute value. */
function escapeValue(value: string): string {
  let out = '';
  for (let i = 0; i < value.length; i++) {
    const ch = value[i] as string;
    const last = i === value.length - 1;
    if ('"+,;<>\\'.includes(ch) || (i === 0 && (ch === ' ' || ch === '#')) || (last && ch === ' ')) out += `\\${ch}`;
    else if (ch === '\0') out += '\\00';
    else out += ch;
  }
  return out;
}

const hex = (b: Uint8Array): string => Buffer.from(b).toString('hex');

/** Decodes a Name (SEQUENCE OF RelativeDistinguishedName). */
export function decodeName(node: DerNode | undefined, what: string): DecodedName {
  const rdns = children(expectTag(node, TAG.SEQUENCE, what));
  const counts = new Map<string, number>();
  const values = new Map<string, string>();
  const rendered: string[] = [];
  for (const rdn of rdns) {
    const atvs = children(expectTag(rdn, TAG.SET, `${what} RDN`));
    if (atvs.length === 0) throw derError(`${what}: empty RDN`, rdn.offset);
    const parts: string[] = [];
    for (const atv of atvs) {
      const [typeNode, valueNode] = sequence(atv, `${what} attribute`, 2);
      const oid = decodeOid(typeNode, `${what} attribute type`);
      const short = SHORT_NAMES[oid];
      const text = short === undefined ? undefined : directoryString(valueNode as DerNode);
      // RFC 4514 §2.4: dotted types and non-string values are written as #hex of the DER value.
      parts.push(short !== undefined && text !== undefined ? `${short}=${escapeValue(text)}` : `${oid}=#${hex((valueNode as DerNode).der)}`);
      if (short !== undefined && text !== undefined) {
        counts.set(short, (counts.get(short) ?? 0) + 1);
        values.set(short, text);
      }
    }
    rendered.push(parts.join('+'));
  }
  const attributes: NameAttributes = {};
  for (const key of TRACKED) {
    // A type that occurs twice is left out: "CN === x" must not depend on which one we picked.
    if (counts.get(key) === 1) attributes[key] = values.get(key) as string;
  }
  return { text: rendered.reverse().join(','), attributes, der: (node as DerNode).der };
}
