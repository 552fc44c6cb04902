/**
 * Certificate helpers shared by the chain, CRL and leaf steps: parsing with
 * the checklist id of the step attached, validity at the one instant,
 * exact-DER pins, and memoised signature checks (content-digest keys, so a
 * platform's chain and CRL are verified once per process).
 */
import { EvidenceParseError, TeeVerifyError, UnsupportedEvidenceError } from '../../errors.js';
import { parseCertificate, parseCrl, type CertificateInfo, type CrlInfo, type PublicKeyInfo, type SignedObject } from '../../x509/index.js';
import { verifySignedObject, withSignedBytes } from '../../x509/signature.js';
import { fail, type VerificationErrorClass } from '../errors.js';
import type { SnpContext } from './context.js';

/** Re-throws a PARSE / UNSUPPORTED error with the id of the step that met it. */
export function withCheck<T>(check: string, what: string, fn: () => T): T {
  try {
    return fn();
  } catch (err) {
    if (!(err instanceof TeeVerifyError) || err.check === check) throw err;
    const options = { check, details: { ...err.details, ...(err.check ? { innerCheck: err.check } : {}) }, cause: err };
    if (err.errorClass === 'PARSE') throw new EvidenceParseError(err.code, `${check}: ${what}: ${err.message}`, options);
    if (err.errorClass === 'UNSUPPORTED') throw new UnsupportedEvidenceError(err.code, `${check}: ${what}: ${err.message}`, options);
    throw err;
  }
}

function expectBytes(value: unknown, check: string, what: string): asserts value is Uint8Array {
  if (!(value instanceof Uint8Array)) {
    throw new EvidenceParseError('ERR_BAD_DER', `${check}: ${what} must be DER bytes (Uint8Array)`, { check });
  }
}

export function parseCertificateFor(der: unknown, check: string, what: string): CertificateInfo {
  expectBytes(der, check, what);
  return withCheck(check, what, () => parseCertificate(der));
}

export function parseCrlFor(der: unknown, check: string): CrlInfo {
  expectBytes(der, check, 'CRL');
  return withCheck(check, 'CRL', () => parseCrl(der));
}

/**
 * Pinned anchors are parsed once per DER buffer. The buffer is the caller's (trust roots passed
 * in), so the parse is used only while the buffer still holds the bytes it was parsed from: a root
 * changed in place is parsed again (review, session 3), as S37 compares the current bytes.
 */
const pinnedCache = new WeakMap<Uint8Array, { copy: Buffer; cert: CertificateInfo }>();

export function parsePinned(der: Uint8Array, check: string, what: string): CertificateInfo {
  const hit = pinnedCache.get(der);
  if (hit !== undefined && hit.copy.equals(der)) return hit.cert;
  const cert = parseCertificateFor(der, check, what);
  pinnedCache.set(der, { copy: Buffer.from(der), cert });
  return cert;
}

export function sameBytes(a: Uint8Array, b: Uint8Array): boolean {
  return a.length === b.length && Buffer.compare(a, b) === 0;
}

/** X01: expired iff at > notAfter, not yet valid iff at < notBefore. */
export function checkValidity(cert: CertificateInfo, ctx: SnpContext, check: string, what: string): void {
  const t = ctx.at.getTime();
  const from = cert.notBefore.getTime();
  const to = cert.notAfter.getTime();
  if (!(from <= t)) fail('EXPIRED', check, `${what} is not valid before ${cert.notBefore.toISOString()}`, { notBefore: cert.notBefore.toISOString(), at: ctx.at.toISOString() });
  if (!(t <= to)) fail('EXPIRED', check, `${what} expired at ${cert.notAfter.toISOString()}`, { notAfter: cert.notAfter.toISOString(), at: ctx.at.toISOString() });
}

const EMPTY = new Uint8Array(0);
/** Algorithm OIDs as memo key bytes: a handful of distinct values, encoded once each. */
const oidBytes = new Map<string, Uint8Array>();
const MAX_OIDS = 64;

function utf8(s: string): Uint8Array {
  let bytes = oidBytes.get(s);
  if (bytes === undefined) {
    bytes = new Uint8Array(Buffer.from(s, 'utf8'));
    if (oidBytes.size < MAX_OIDS) oidBytes.set(s, bytes);
  }
  return bytes;
}

/**
 * Whether `issuerKey` signed `obj`, through the memo: the key covers the
 * signed bytes, the signature, the algorithm and the issuer's SPKI. An
 * algorithm outside the AMD profile fails with `errorClass` at `check`.
 */
export function verifySignatureMemo(
  ctx: SnpContext,
  obj: SignedObject,
  issuerKey: PublicKeyInfo,
  errorClass: VerificationErrorClass,
  check: string,
  what: string,
): boolean {
  const parts = [obj.tbs, obj.signature, utf8(obj.signatureAlgorithm), obj.signatureAlgorithmParameters ?? EMPTY, issuerKey.spki];
  try {
    return ctx.memo.verify('x509-signature', parts, ([tbs, signature]) => verifySignedObject(withSignedBytes(obj, tbs!, signature!), issuerKey));
  } catch (err) {
    if (err instanceof TeeVerifyError && (err.errorClass === 'UNSUPPORTED' || err.errorClass === 'PARSE')) {
      fail(errorClass, check, `${what}: signature algorithm or encoding outside the AMD profile (${err.code})`, { cause: err.code });
    }
    throw err;
  }
}
