/**
 * AMD KDS extensions of VCEK / VLEK certificates, OIDs under
 * 1.3.6.1.4.1.3704.1 (checklist §4.3, S11), each its own X.509 extension:
 *
 *   .1 structVersion INTEGER      .2 productName IA5String
 *   .3.1 blSPL  .3.2 teeSPL  .3.3 snpSPL  .3.4-.3.7 spl_4..spl_7  .3.8 ucodeSPL
 *   .3.9 fmcSPL (Turin)           INTEGER each, 0..255 (one TCB byte)
 *   .4 hwID  raw chip-id bytes (KDS puts no OCTET STRING tag inside extnValue;
 *            go-sev-guest and virtee accept a wrapped form too, so do we)
 *   .5 cspId IA5String (VLEK)
 *
 * INTEGERs are parsed as canonical DER (a padded `02 02 00 05` is rejected;
 * never "the last byte", V27). blSPL, teeSPL, snpSPL and ucodeSPL are
 * required; which further set a product needs (S11: structVersion 0 vs 1,
 * spl_4 vs fmcSPL, hwID vs cspId by signing key) is the verifier's check.
 * Unknown OIDs under the prefix are rejected rather than ignored.
 */
import { EvidenceParseError } from '../errors.js';
import { TAG, decodeIa5String, decodeSmallUnsigned, parseDer, readTlv, rethrowDerAs } from './asn1.js';
import type { CertificateInfo } from './certificate.js';
import { seal, type Sealed } from './sealed.js';

export const KDS_OID_PREFIX = '1.3.6.1.4.1.3704.1';
const KDS = KDS_OID_PREFIX;

export interface AmdKdsExtension {
  structVersion?: number;
  productName?: string;
  blSPL: number;
  teeSPL: number;
  snpSPL: number;
  ucodeSPL: number;
  fmcSPL?: number;
  spl4?: number;
  spl5?: number;
  spl6?: number;
  spl7?: number;
  /** Raw chip id: 64 bytes (Milan, Genoa) or 8 bytes (Turin). */
  hwId?: Uint8Array;
  cspId?: string;
}

type IntegerField = 'structVersion' | 'blSPL' | 'teeSPL' | 'snpSPL' | 'ucodeSPL' | 'fmcSPL' | 'spl4' | 'spl5' | 'spl6' | 'spl7';

const INTEGERS: Record<string, IntegerField> = {
  [`${KDS}.1`]: 'structVersion',
  [`${KDS}.3.1`]: 'blSPL',
  [`${KDS}.3.2`]: 'teeSPL',
  [`${KDS}.3.3`]: 'snpSPL',
  [`${KDS}.3.4`]: 'spl4',
  [`${KDS}.3.5`]: 'spl5',
  [`${KDS}.3.6`]: 'spl6',
  [`${KDS}.3.7`]: 'spl7',
  [`${KDS}.3.8`]: 'ucodeSPL',
  [`${KDS}.3.9`]: 'fmcSPL',
};
const REQUIRED: readonly IntegerField[] = ['blSPL', 'teeSPL', 'snpSPL', 'ucodeSPL'];
const HWID_SIZES = new Set([64, 8]);

function fail(reason: string, details: Record<string, unknown> = {}): never {
  throw new EvidenceParseError('ERR_BAD_EXTENSION', `KDS extension: ${reason}`, { check: 'S11', details: { reason, ...details } });
}

/**
 * hwID as KDS issues it (raw) or wrapped in an OCTET STRING. A raw id can
 * itself start with 04 xx, so we unwrap only when the wrapper spans the whole
 * value and leaves a valid id size: a raw 64-byte id never looks like that.
 */
function decodeHwId(value: Uint8Array): Uint8Array {
  if (value[0] === TAG.OCTET_STRING && value.length >= 2) {
    try {
      const tlv = readTlv(value, 0);
      if (tlv.der.length === value.length && HWID_SIZES.has(tlv.content.length)) return tlv.content.slice();
    } catch {
      // not a wrapper: fall through to the raw form
    }
  }
  if (!HWID_SIZES.has(value.length)) fail(`hwID is ${value.length} bytes, expected 64 or 8`, { size: value.length });
  // A copy: the decoded extensions are memoised apart from the certificate's bytes (sealed.ts).
  return value.slice();
}

/**
 * S11: decodes every KDS extension of a VCEK / VLEK. Throws EvidenceParseError
 * ERR_BAD_EXTENSION (check S11) for a non-canonical or out-of-range INTEGER,
 * a duplicate or unknown OID under the prefix, a bad hwID size, both hwID and
 * cspId, or a missing blSPL / teeSPL / snpSPL / ucodeSPL.
 */
export function parseAmdKdsExtensions(cert: CertificateInfo): AmdKdsExtension {
  // Parsed certificates are shared (parse cache): decode a VCEK's extensions once.
  // Only a sealed (frozen) certificate is memoised: a caller's own object may change later.
  if (!Object.isFrozen(cert)) return decodeKdsExtensions(cert);
  let known = decodedKds.get(cert);
  if (!known?.intact()) decodedKds.set(cert, (known = seal(decodeKdsExtensions(cert))));
  return known.value;
}

/** The decoded extensions are shared with every later caller: sealed, and decoded again if changed. */
const decodedKds = new WeakMap<CertificateInfo, Sealed<AmdKdsExtension>>();

function decodeKdsExtensions(cert: CertificateInfo): AmdKdsExtension {
  const found: Partial<AmdKdsExtension> = {};
  const seen = new Set<string>();
  for (const ext of cert.extensions) {
    if (ext.oid !== KDS && !ext.oid.startsWith(`${KDS}.`)) continue;
    if (seen.has(ext.oid)) fail(`duplicate extension ${ext.oid}`, { oid: ext.oid });
    seen.add(ext.oid);
    const field = INTEGERS[ext.oid];
    rethrowDerAs('ERR_BAD_EXTENSION', 'S11', `KDS extension ${ext.oid}`, () => {
      if (field !== undefined) found[field] = decodeSmallUnsigned(parseDer(ext.value), field, 255);
      else if (ext.oid === `${KDS}.2`) found.productName = decodeIa5String(parseDer(ext.value), 'productName');
      else if (ext.oid === `${KDS}.5`) found.cspId = decodeIa5String(parseDer(ext.value), 'cspId');
      else if (ext.oid === `${KDS}.4`) found.hwId = decodeHwId(ext.value);
      else fail(`unknown extension ${ext.oid}`, { oid: ext.oid });
    });
  }
  for (const field of REQUIRED) if (found[field] === undefined) fail(`${field} is missing`, { field });
  if (found.hwId !== undefined && found.cspId !== undefined) fail('both hwID (VCEK) and cspId (VLEK) are present');
  return found as AmdKdsExtension;
}
