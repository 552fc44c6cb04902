/**
 * The Intel SGX PCK certificate extension, OID 1.2.840.113741.1.13.1
 * (checklist §2.3, T15; QVL PckCertificate.cpp). Its value is a SEQUENCE of
 * SEQUENCE { OID, value }:
 *
 *   .1 PPID                 OCTET STRING (16)
 *   .2 TCB                  SEQUENCE of exactly 18 { OID, value }:
 *        .2.1-.2.16 compNN SVN INTEGER 0..255, .2.17 PCESVN INTEGER 0..65535,
 *        .2.18 CPUSVN OCTET STRING (16)
 *   .3 PCE-ID               OCTET STRING (2)
 *   .4 FMSPC                OCTET STRING (6)
 *   .5 SGX Type             ENUMERATED 0 Standard | 1 Scalable | 2 ScalableWithIntegrity
 *   .6 PlatformInstanceID   OCTET STRING (16)          Platform CA only
 *   .7 Configuration        SEQUENCE of { OID, BOOLEAN }, .7.1 dynamicPlatform,
 *                           .7.2 cachedKeys, .7.3 smtEnabled   Platform CA only
 *
 * Exactly entries .1-.5 for a leaf of the Processor CA and .1-.7 for one of
 * the Platform CA; no duplicates, no unknown OIDs, exact sizes and types.
 * TCB matching uses the 16 SVNs and PCESVN from here, never CPUSVN.
 */
import { EvidenceParseError } from '../errors.js';
import {
  TAG,
  decodeBoolean,
  decodeOctetString,
  decodeOid,
  decodeSmallUnsigned,
  parseDer,
  rethrowDerAs,
  sequence,
  type DerNode,
} from './asn1.js';
import type { CertificateInfo } from './certificate.js';
import { seal, type Sealed } from './sealed.js';

export const SGX_EXTENSION_OID = '1.2.840.113741.1.13.1';
const SGX = SGX_EXTENSION_OID;

export type PckCaKind = 'platform' | 'processor';

/** Issuer CNs of Intel's PCK CAs (QVL X509Constants); tests may pass their own. */
export const INTEL_PCK_CA_NAMES: Readonly<Record<PckCaKind, string>> = Object.freeze({
  platform: 'Intel SGX PCK Platform CA',
  processor: 'Intel SGX PCK Processor CA',
});

export interface PckTcb {
  /** comp01..comp16 SVNs. */
  components: number[];
  pcesvn: number;
  /** 16 bytes; not used for TCB matching. */
  cpusvn: Uint8Array;
}

export interface PckSgxExtension {
  ppid: Uint8Array;
  tcb: PckTcb;
  /** 4 lowercase hex digits. */
  pceId: string;
  /** 12 lowercase hex digits. */
  fmspc: string;
  /** 0 Standard, 1 Scalable, 2 ScalableWithIntegrity. */
  sgxType: number;
  /** Platform CA leaves only. */
  platformInstanceId?: Uint8Array;
  /** Platform CA leaves only; each flag present only if the certificate carries it. */
  configuration?: { dynamicPlatform?: boolean; cachedKeys?: boolean; smtEnabled?: boolean };
}

function fail(reason: string, details: Record<string, unknown> = {}): never {
  throw new EvidenceParseError('ERR_BAD_EXTENSION', `SGX extension: ${reason}`, { check: 'T15', details: { reason, ...details } });
}

/**
 * Which PCK CA issued `cert`, by exact equality of the issuer CN (QVL matches
 * substrings; we do not). Throws ERR_BAD_EXTENSION (T15) when the issuer is
 * neither, since the SGX extension profile then is unknown.
 */
export function pckCaKind(cert: CertificateInfo, names: Readonly<Record<PckCaKind, string>> = INTEL_PCK_CA_NAMES): PckCaKind {
  const cn = cert.issuerAttributes.CN;
  if (cn !== undefined && cn === names.platform) return 'platform';
  if (cn !== undefined && cn === names.processor) return 'processor';
  return fail('issuer is neither the PCK Platform CA nor the PCK Processor CA', { issuer: cert.issuer });
}

/** Splits a SEQUENCE of SEQUENCE { OID, value } into a map, rejecting duplicates and OIDs outside `allowed`. */
function entries(node: DerNode | undefined, what: string, allowed: ReadonlySet<string>): Map<string, DerNode> {
  const out = new Map<string, DerNode>();
  for (const item of sequence(node, what, 0, Number.MAX_SAFE_INTEGER)) {
    const [oidNode, value] = sequence(item, `${what} entry`, 2);
    const oid = decodeOid(oidNode, `${what} entry OID`);
    if (!allowed.has(oid)) fail(`unknown entry ${oid} in ${what}`, { oid });
    if (out.has(oid)) fail(`duplicate entry ${oid} in ${what}`, { oid });
    out.set(oid, value as DerNode);
  }
  return out;
}

function octets(node: DerNode | undefined, what: string, size: number): Uint8Array {
  const bytes = decodeOctetString(node, what);
  if (bytes.length !== size) fail(`${what} is ${bytes.length} bytes, expected ${size}`, { field: what, size: bytes.length });
  // A copy: the decoded extension is memoised apart from the certificate's bytes (sealed.ts).
  return bytes.slice();
}

const range = (from: number, to: number): number[] => Array.from({ length: to - from + 1 }, (_, i) => from + i);
const TCB_OIDS = new Set(range(1, 18).map((i) => `${SGX}.2.${i}`));
const CONFIG_OIDS = new Set(range(1, 3).map((i) => `${SGX}.7.${i}`));
const TOP_OIDS = new Set(range(1, 7).map((i) => `${SGX}.${i}`));

function decodeTcb(node: DerNode | undefined): PckTcb {
  const map = entries(node, 'TCB', TCB_OIDS);
  if (map.size !== 18) fail(`TCB has ${map.size} entries, expected 18`, { count: map.size });
  return {
    components: range(1, 16).map((i) => decodeSmallUnsigned(map.get(`${SGX}.2.${i}`), `TCB comp${String(i).padStart(2, '0')} SVN`, 255)),
    pcesvn: decodeSmallUnsigned(map.get(`${SGX}.2.17`), 'PCESVN', 0xffff),
    cpusvn: octets(map.get(`${SGX}.2.18`), 'CPUSVN', 16),
  };
}

function decodeConfiguration(node: DerNode | undefined): NonNullable<PckSgxExtension['configuration']> {
  const map = entries(node, 'Configuration', CONFIG_OIDS);
  const out: NonNullable<PckSgxExtension['configuration']> = {};
  const flag = (i: number) => map.get(`${SGX}.7.${i}`);
  if (flag(1)) out.dynamicPlatform = decodeBoolean(flag(1), 'dynamicPlatform');
  if (flag(2)) out.cachedKeys = decodeBoolean(flag(2), 'cachedKeys');
  if (flag(3)) out.smtEnabled = decodeBoolean(flag(3), 'smtEnabled');
  return out;
}

function decodeValue(value: Uint8Array, caKind: PckCaKind): PckSgxExtension {
  const map = entries(parseDer(value), 'SGX extension', TOP_OIDS);
  const expected = caKind === 'platform' ? 7 : 5;
  for (const i of range(1, expected)) if (!map.has(`${SGX}.${i}`)) fail(`entry ${SGX}.${i} is missing`, { oid: `${SGX}.${i}` });
  if (map.size !== expected) fail(`${map.size} entries, expected ${expected} for a ${caKind} CA leaf`, { count: map.size, caKind });
  const hex = (b: Uint8Array) => Buffer.from(b).toString('hex');
  const out: PckSgxExtension = {
    ppid: octets(map.get(`${SGX}.1`), 'PPID', 16),
    tcb: decodeTcb(map.get(`${SGX}.2`)),
    pceId: hex(octets(map.get(`${SGX}.3`), 'PCE-ID', 2)),
    fmspc: hex(octets(map.get(`${SGX}.4`), 'FMSPC', 6)),
    sgxType: decodeSmallUnsigned(map.get(`${SGX}.5`), 'SGX Type', 2, TAG.ENUMERATED),
  };
  if (caKind === 'platform') {
    out.platformInstanceId = octets(map.get(`${SGX}.6`), 'PlatformInstanceID', 16);
    out.configuration = decodeConfiguration(map.get(`${SGX}.7`));
  }
  return out;
}

export interface SgxExtensionOptions {
  /** The issuing CA's kind; default derived from the issuer CN with pckCaKind (Intel's names). */
  caKind?: PckCaKind;
}

/**
 * T15: decodes the SGX extension of a PCK leaf. Throws EvidenceParseError
 * ERR_BAD_EXTENSION (check T15) when it is missing, not strict DER, or
 * deviates from the layout above in any way.
 */
export function parseIntelSgxExtension(cert: CertificateInfo, options: SgxExtensionOptions = {}): PckSgxExtension {
  // Parsed certificates are shared (parse cache), so each extension is decoded once per CA kind.
  // Only a sealed (frozen) certificate is memoised: a caller's own object may change later.
  const caKind = options.caKind ?? pckCaKind(cert);
  if (!Object.isFrozen(cert)) return decodeSgxExtension(cert, { caKind });
  let perCert = decoded.get(cert);
  if (!perCert) decoded.set(cert, (perCert = new Map()));
  let known = perCert.get(caKind);
  if (!known?.intact()) perCert.set(caKind, (known = seal(decodeSgxExtension(cert, { caKind }))));
  return known.value;
}

/** The decoded extension is shared with every later caller: sealed, and decoded again if changed. */
const decoded = new WeakMap<CertificateInfo, Map<string, Sealed<PckSgxExtension>>>();

function decodeSgxExtension(cert: CertificateInfo, options: SgxExtensionOptions): PckSgxExtension {
  const caKind = options.caKind ?? pckCaKind(cert);
  const matches = cert.extensions.filter((e) => e.oid === SGX);
  if (matches.length !== 1) fail(matches.length === 0 ? 'missing' : 'present more than once');
  const value = (matches[0] as { value: Uint8Array }).value;
  return rethrowDerAs('ERR_BAD_EXTENSION', 'T15', 'SGX extension', () => decodeValue(value, caKind));
}
