/**
 * Section D (T22–T26, T43): the QE report and the quote signature. The QE
 * report is signed by the PCK leaf (T22) and binds the attestation key (T23);
 * it must be Intel's QE per the QE identity (T24), not a debug enclave (T43),
 * at a known QE TCB level (T25); and the attestation key signs the quote
 * (T26). A revoked QE level does not stop here: T26 still runs and the
 * revocation is rejected with the other statuses at T33 (V03).
 */
import { verifyQeReportDataBinding, quoteSignedBytes } from '../../crypto/ecdsa.js';
import type { SgxQuote, TdxQuote } from '../../evidence/types.js';
import type { CertificateInfo } from '../../x509/index.js';
import { fail } from '../errors.js';
import { maskedEqual, sameBytes, toHex } from './bytes.js';
import { passed, relaxed, type VerifyContext } from './context.js';
import type { IsvTcbLevel, QeIdentity } from './model.js';
import { p256RawKeySigned, p256SignedBy } from './signatures.js';

/** SGX ATTRIBUTES.flags bit 1 (DEBUG), in byte 0 of the 16 attribute bytes. */
const ATTRIBUTE_DEBUG = 0x02;

/** T22: the QE report is signed by the PCK leaf key. */
export function checkQeReportSignature(ctx: VerifyContext, quote: TdxQuote | SgxQuote, leaf: CertificateInfo): void {
  const sd = quote.signatureData;
  if (!p256SignedBy(ctx, sd.qeReportBytes, sd.qeReportSignature, leaf.publicKey)) fail('SIG_QE_REPORT', 'T22', 'QE report signature does not verify with the PCK leaf key'); // T22
  passed(ctx, 'T22', 'QE report signed by the PCK leaf key');
}

/** T23: QE REPORTDATA = SHA-256(attestation key ‖ QE auth data) ‖ 32 zero bytes. */
export function checkQeBinding(ctx: VerifyContext, quote: TdxQuote | SgxQuote): void {
  if (!verifyQeReportDataBinding(quote)) fail('QE_BINDING', 'T23', 'QE REPORTDATA does not bind the attestation key and QE auth data'); // T23
  passed(ctx, 'T23', 'QE REPORTDATA = SHA-256(attestation key || QE auth data) || 32 zero bytes');
}

/** The 4 bytes of a MISCSELECT hex value as a big-endian u32. */
function u32be(b: Uint8Array): number {
  return (((b[0] ?? 0) << 24) | ((b[1] ?? 0) << 16) | ((b[2] ?? 0) << 8) | (b[3] ?? 0)) >>> 0;
}

/** T24: the QE report matches the QE identity (masked MISCSELECT and ATTRIBUTES, MRSIGNER, ISVPRODID). */
export function checkQeIdentity(ctx: VerifyContext, quote: TdxQuote | SgxQuote, identity: QeIdentity | undefined): void {
  if (identity === undefined) {
    relaxed(ctx, 'T24', 'no QE identity (relaxation skipQeIdentity): the QE is not compared with Intel\'s QE identity');
    return;
  }
  const qe = quote.signatureData.qeReport;
  // MISCSELECT: QVL compares the report's u32 with the identity's hex read as a big-endian u32.
  // T24 [EnclaveReportVerifier]
  const misc = u32be(identity.miscselect);
  const miscMask = u32be(identity.miscselectMask);
  if (((qe.miscSelect & miscMask) >>> 0) !== misc) fail('QE_IDENTITY', 'T24', 'QE MISCSELECT does not match the QE identity under its mask');
  if (!maskedEqual(qe.attributes, identity.attributesMask, identity.attributes)) fail('QE_IDENTITY', 'T24', 'QE ATTRIBUTES do not match the QE identity under its mask');
  if (!sameBytes(qe.mrSigner, identity.mrsigner)) fail('QE_IDENTITY', 'T24', `QE MRSIGNER ${toHex(qe.mrSigner)} is not the QE identity's`);
  if (qe.isvProdId !== identity.isvprodid) fail('QE_IDENTITY', 'T24', `QE ISVPRODID ${qe.isvProdId} is not ${identity.isvprodid}`);
  passed(ctx, 'T24', `QE is ${identity.id}: MRSIGNER, ISVPRODID ${qe.isvProdId}, masked MISCSELECT and ATTRIBUTES match`);
}

/** T43: the QE is not a debug enclave, whatever the identity's mask says. */
export function checkQeNotDebug(ctx: VerifyContext, quote: TdxQuote | SgxQuote): void {
  if (((quote.signatureData.qeReport.attributes[0] ?? 0) & ATTRIBUTE_DEBUG) !== 0) fail('QE_IDENTITY', 'T43', 'the QE is a debug enclave (ATTRIBUTES.DEBUG set)'); // T43
  passed(ctx, 'T43', 'QE ATTRIBUTES.DEBUG is clear');
}

export interface QeLevelMatch {
  level: IsvTcbLevel | undefined;
  /** True when skipQeIdentity applied: the status is assumed UpToDate. */
  assumed: boolean;
}

/** T25: the first QE level (highest isvsvn first) with isvsvn <= the QE's ISVSVN. */
export function matchQeLevel(ctx: VerifyContext, quote: TdxQuote | SgxQuote, identity: QeIdentity | undefined): QeLevelMatch {
  if (identity === undefined) {
    relaxed(ctx, 'T25', 'no QE identity (relaxation skipQeIdentity): QE TCB status assumed UpToDate');
    return { level: undefined, assumed: true };
  }
  const isvsvn = quote.signatureData.qeReport.isvSvn;
  const level = identity.tcbLevels.find((l) => l.isvsvn <= isvsvn); // T25: levels sorted by isvsvn, highest first
  if (level === undefined) fail('TCB_UNSUPPORTED', 'T25', `no QE TCB level for QE ISVSVN ${isvsvn}`, { isvsvn });
  passed(ctx, 'T25', `QE ISVSVN ${isvsvn} matches QE TCB level ${level.isvsvn} (${level.status}${level.status === 'Revoked' ? ', rejected at T33 after T26' : ''})`);
  return { level, assumed: false };
}

/** T26: the attestation key is a P-256 point and signs the quote's signed range (§2.2). */
export function checkQuoteSignature(ctx: VerifyContext, quote: TdxQuote | SgxQuote): void {
  const sd = quote.signatureData;
  const signed = quoteSignedBytes(quote);
  if (!p256RawKeySigned(sd.attestationKey, signed, sd.quoteSignature)) fail('SIG_QUOTE', 'T26', 'quote signature does not verify with the attestation key'); // T26
  passed(ctx, 'T26', `quote signature by the attestation key over [0, ${signed.length}) verifies`);
}
