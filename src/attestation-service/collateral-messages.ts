/**
 * What a service tells a remote client about a collateral failure: a fixed text per code. The
 * library's own messages name the PCS / PCCS / KDS URL it asked (an internal host, a path, a
 * password in the userinfo): ERR_COLLATERAL_UNKNOWN_PLATFORM wraps the KDS 404 with the full VCEK
 * URL, and any SEV-SNP report with a made-up CHIP_ID triggers it before a signature is checked
 * (review s10 A1). Every error of a COLLATERAL_* class is therefore answered with the text below,
 * its code and checklist id kept; the library's message goes to the operator's log only, every URL
 * in it with its password masked (redactUrlsIn). Used by the attestation service and the key broker.
 */
import type { ErrorClass, TeeVerifyError } from '../errors.js';
import { redactUrl } from '../storage/postgres.js';

/** The error classes whose library messages are never answered (checklist §1.3). */
export const COLLATERAL_CLASSES: ReadonlySet<ErrorClass> = new Set<ErrorClass>(['COLLATERAL_UNAVAILABLE', 'COLLATERAL_FORMAT', 'COLLATERAL_SIG', 'COLLATERAL_MISMATCH']);

/** The answer to every COLLATERAL_UNAVAILABLE code without a text of its own (review s8). */
export const COLLATERAL_UNAVAILABLE_MESSAGE = 'the collateral for this evidence could not be obtained at the moment; retry later';

/** Fixed answers by code (docs/attestation-service.md, "Collateral errors"). */
export const COLLATERAL_MESSAGES: Readonly<Record<string, string>> = {
  // COLLATERAL_UNAVAILABLE: retryable, never a verdict
  ERR_COLLATERAL_UNAVAILABLE: COLLATERAL_UNAVAILABLE_MESSAGE,
  ERR_COLLATERAL_NOT_FOUND: 'the collateral source has no document this evidence needs at the moment; retry later',
  ERR_COLLATERAL_HTTP_STATUS: 'the collateral source refused a request for this evidence; retry later',
  ERR_COLLATERAL_TOO_LARGE: 'the collateral source answered with a document above the size limit; retry later',
  ERR_COLLATERAL_MISSING: 'the service has no source for a collateral document this evidence needs; retry later',
  ERR_COLLATERAL_TLS: "the collateral source's TLS certificate did not verify; retry later",
  ERR_QE_IDENTITY_LAGGING: 'the collateral source serves a QE identity older than its TCB info; retry later',
  // COLLATERAL_FORMAT, COLLATERAL_SIG, COLLATERAL_MISMATCH: the evidence is rejected
  ERR_COLLATERAL_FORMAT: 'a collateral document for this evidence is malformed',
  ERR_COLLATERAL_SIG: "a collateral document's signature or signing chain does not verify",
  ERR_COLLATERAL_MISMATCH: 'the collateral does not match the evidence',
  ERR_COLLATERAL_UNKNOWN_PLATFORM: 'the issuer has no VCEK for the chip ID and TCB this report names: the evidence cannot be verified',
};

/** For a code of these classes that the table does not list yet. */
const BY_CLASS: Readonly<Partial<Record<ErrorClass, string>>> = {
  COLLATERAL_UNAVAILABLE: COLLATERAL_UNAVAILABLE_MESSAGE,
  COLLATERAL_FORMAT: COLLATERAL_MESSAGES['ERR_COLLATERAL_FORMAT'],
  COLLATERAL_SIG: COLLATERAL_MESSAGES['ERR_COLLATERAL_SIG'],
  COLLATERAL_MISMATCH: COLLATERAL_MESSAGES['ERR_COLLATERAL_MISMATCH'],
};

/** The fixed answer for an error of a COLLATERAL_* class; undefined for any other class. */
export function collateralAnswer(err: Pick<TeeVerifyError, 'code' | 'errorClass'>): string | undefined {
  if (!COLLATERAL_CLASSES.has(err.errorClass)) return undefined;
  return COLLATERAL_MESSAGES[err.code] ?? BY_CLASS[err.errorClass];
}

const URL_IN_TEXT = /\b[a-z][a-z0-9+.-]*:\/\/[^\s"'<>]+/gi;

/** Every URL in `text` with its credentials masked (storage's redactUrl), for log lines. */
export function redactUrlsIn(text: string): string {
  return text.replace(URL_IN_TEXT, (url) => redactUrl(url));
}

/** Every URL in `text` replaced by "<url>": for the few library messages that are answered as they are. */
export function withoutUrls(text: string): string {
  return text.replace(URL_IN_TEXT, '<url>');
}
