/**
 * RFC 5280 §4.2, §5.2, §5.3: a certificate or CRL carrying a critical
 * extension that its verifier does not process must be rejected. Ignoring one
 * could accept what the issuer restricted: name or policy constraints on a CA,
 * a CRL that covers only part of the certificates (issuing distribution
 * point) or only changes since a base CRL (delta CRL indicator), an entry
 * that revokes a certificate of another issuer (certificateIssuer).
 *
 * The chain checks of this project process basicConstraints and keyUsage in
 * certificates, and the CRL Number and authority key identifier in CRLs; no
 * CRL entry extension is processed, so any critical one rejects its CRL.
 * Intel's and AMD's real chains mark only basicConstraints and keyUsage
 * critical, and their CRLs carry no critical extension.
 */
import type { CrlInfo } from './crl.js';
import { OID_AUTHORITY_KEY_ID, OID_BASIC_CONSTRAINTS, OID_CRL_NUMBER, OID_KEY_USAGE, type KeyUsage, type RawExtension } from './extensions.js';

export const PROCESSED_CERTIFICATE_EXTENSIONS: ReadonlySet<string> = new Set([OID_BASIC_CONSTRAINTS, OID_KEY_USAGE]);
export const PROCESSED_CRL_EXTENSIONS: ReadonlySet<string> = new Set([OID_CRL_NUMBER, OID_AUTHORITY_KEY_ID]);

const NONE: readonly string[] = Object.freeze([]);

/** OIDs of the critical extensions outside `processed`, in order (a shared empty list when there are none). */
export function unprocessedCriticalExtensions(extensions: readonly RawExtension[], processed: ReadonlySet<string> = PROCESSED_CERTIFICATE_EXTENSIONS): readonly string[] {
  let out: string[] | undefined;
  for (const e of extensions) if (e.critical && !processed.has(e.oid)) (out ??= []).push(e.oid);
  return out ?? NONE;
}

/** Critical CRL-level extensions we do not process, then critical entry extensions (none is processed). */
export function unprocessedCriticalCrlExtensions(crl: Pick<CrlInfo, 'extensions' | 'criticalEntryExtensionOids'>): { crl: readonly string[]; entries: readonly string[] } {
  return { crl: unprocessedCriticalExtensions(crl.extensions, PROCESSED_CRL_EXTENSIONS), entries: crl.criticalEntryExtensionOids };
}

/**
 * Whether the key may be used for `usage`: a certificate without keyUsage
 * places no restriction (RFC 5280 §4.2.1.3); with it, the bit must be set.
 */
export function keyUsageAllows(cert: { keyUsage?: readonly KeyUsage[] }, usage: KeyUsage): boolean {
  return cert.keyUsage === undefined || cert.keyUsage.includes(usage);
}
