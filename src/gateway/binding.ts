/**
 * The gateway's channel binding (docs/gateway.md, "Binding"):
 *
 *   report_data = SHA-512( label ‖ nonce ‖ SHA-256(SubjectPublicKeyInfo DER of the TLS certificate) )
 *
 * label = the 30 ASCII bytes "tee-verify gateway binding v1" followed by one
 * NUL byte (domain separation from every other use of REPORTDATA); nonce =
 * the client's 16 to 64 random bytes; the SPKI hash is 32 bytes. The result
 * is exactly the 64 bytes of TDX REPORTDATA / SNP REPORT_DATA.
 */
import { X509Certificate, hash } from 'node:crypto';

import { AttestationRefusedError, GatewayError } from './errors.js';
import { readPresentedCertificate } from './handshake-evidence.js';

/** "tee-verify gateway binding v1\0" as bytes (30 bytes). */
export const BINDING_LABEL = Buffer.from('tee-verify gateway binding v1\0', 'ascii');
export const NONCE_MIN_BYTES = 16;
export const NONCE_MAX_BYTES = 64;

const STD_BASE64 = /^(?:[A-Za-z0-9+/]{4})*(?:[A-Za-z0-9+/]{2}==|[A-Za-z0-9+/]{3}=)?$/;

/** Decodes and checks a client nonce (canonical standard base64, 16 to 64 bytes). */
export function parseNonce(value: unknown): Buffer {
  // Canonical only (review s8 D4): nonzero pad bits would give one nonce several spellings.
  if (typeof value !== 'string' || !STD_BASE64.test(value) || Buffer.from(value, 'base64').toString('base64') !== value) throw new GatewayError('ERR_GATEWAY_BAD_REQUEST', 400, '"nonce" must be standard base64');
  const nonce = Buffer.from(value, 'base64');
  if (nonce.length < NONCE_MIN_BYTES || nonce.length > NONCE_MAX_BYTES) {
    throw new GatewayError('ERR_GATEWAY_BAD_REQUEST', 400, `"nonce" must be ${NONCE_MIN_BYTES} to ${NONCE_MAX_BYTES} bytes`);
  }
  return nonce;
}

/**
 * SHA-256 of the certificate's SubjectPublicKeyInfo: PEM text (the operator's own certificate, or a
 * certificate an answer names), or DER bytes (what a TLS peer presented).
 *
 * DER is read strictly by our own walker (handshake-evidence.ts) and the SPKI's bytes are hashed as
 * they stand, never through `new X509Certificate(der)`: Node's constructor tries PEM first and finds
 * a "-----BEGIN CERTIFICATE-----" line anywhere in the bytes, so DER that carries another
 * certificate's PEM (in any extension) parsed as THAT certificate, and a relay presenting its own key
 * passed the binding with the genuine gateway's (s17 finding). Bytes that are not a strictly
 * DER-encoded X.509 v3 certificate are refused (ERR_ATTEST_PINNING).
 */
export function spkiSha256(certificate: Uint8Array | string): Buffer {
  if (typeof certificate === 'string') {
    const spki = new X509Certificate(certificate).publicKey.export({ type: 'spki', format: 'der' });
    return hash('sha256', spki, 'buffer');
  }
  return hash('sha256', strictSpki(certificate), 'buffer');
}

/** The SubjectPublicKeyInfo bytes of a strictly DER-encoded X.509 v3 certificate (a span of `der`). */
export function strictSpki(der: Uint8Array): Uint8Array {
  const read = readPresentedCertificate(der);
  if (!read) throw new AttestationRefusedError('ERR_ATTEST_PINNING', 'the presented certificate is not a strictly DER-encoded X.509 v3 certificate');
  return read.spki;
}

/** The 64 bytes of REPORTDATA that bind `nonce` to the TLS key whose SPKI hashes to `spkiHash`. */
export function bindingReportData(nonce: Uint8Array, spkiHash: Uint8Array): Buffer {
  if (nonce.length < NONCE_MIN_BYTES || nonce.length > NONCE_MAX_BYTES) throw new RangeError(`nonce must be ${NONCE_MIN_BYTES} to ${NONCE_MAX_BYTES} bytes`);
  if (spkiHash.length !== 32) throw new RangeError('the SPKI hash must be 32 bytes');
  // One-shot digest of the 30 + n + 32 bytes: no Hash object per connection.
  return hash('sha512', Buffer.concat([BINDING_LABEL, nonce, spkiHash]), 'buffer');
}
