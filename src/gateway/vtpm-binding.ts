/**
 * The gateway's binding for the vTPM path (docs/gateway.md, "Binding, vTPM path"):
 *
 *   report_data = SHA-512( label ‖ nonce ‖ SHA-256(SPKI DER of the TLS key) ‖ SHA-256(AK TPMT_PUBLIC) )
 *   extraData   = SHA-256( report_data )                     (POST /v1/attestation, format "vtpm")
 *   extraData   = nonce                                       (POST /aTLS, the GENXT client's rule)
 *
 * label = the 34 ASCII bytes "tee-verify gateway vtpm binding v1" and one
 * NUL (35 bytes). The hardware report commits to the nonce, the TLS key and
 * the attestation key; the TPM quote, signed by that key, commits to all of
 * them through its extraData. extraData is 32 bytes: TPM2B_DATA holds at most
 * sizeof(TPMT_HA), which is 34 bytes on a TPM whose largest hash is SHA-256,
 * so the 64-byte report_data itself would not fit every TPM.
 */
import { createHash } from 'node:crypto';

import { NONCE_MAX_BYTES, NONCE_MIN_BYTES } from './binding.js';

/** "tee-verify gateway vtpm binding v1\0" (35 bytes). */
export const VTPM_BINDING_LABEL = Buffer.from('tee-verify gateway vtpm binding v1\0', 'ascii');

/** SHA-256 of the attestation key's TPMT_PUBLIC (without a TPM2B size prefix). */
export function akPublicSha256(akPublic: Uint8Array): Buffer {
  return createHash('sha256').update(akPublic).digest();
}

/** The 64 bytes of REPORTDATA that bind the nonce, the TLS key and the attestation key. */
export function vtpmBindingReportData(nonce: Uint8Array, spkiHash: Uint8Array, akHash: Uint8Array): Buffer {
  if (nonce.length < NONCE_MIN_BYTES || nonce.length > NONCE_MAX_BYTES) throw new RangeError(`nonce must be ${NONCE_MIN_BYTES} to ${NONCE_MAX_BYTES} bytes`);
  if (spkiHash.length !== 32) throw new RangeError('the SPKI hash must be 32 bytes');
  if (akHash.length !== 32) throw new RangeError('the AK hash must be 32 bytes');
  return createHash('sha512').update(VTPM_BINDING_LABEL).update(nonce).update(spkiHash).update(akHash).digest();
}

/** The TPM quote's qualifying data on the native endpoint: SHA-256 of the report data above. */
export function vtpmQuoteExtraData(reportData: Uint8Array): Buffer {
  if (reportData.length !== 64) throw new RangeError('report data must be 64 bytes');
  return createHash('sha256').update(reportData).digest();
}
