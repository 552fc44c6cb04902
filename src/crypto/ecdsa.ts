/**
 * ECDSA verification through the addon (OpenSSL inside Node), and the
 * signature helpers the verification pipeline builds on. Signed bytes are
 * always views of the evidence buffer (never re-serialised).
 */
import { hash } from 'node:crypto';

import { EvidenceParseError, InvalidArgumentError, TeeVerifyError } from '../errors.js';
import { EcdsaStatus, native, type NativeKeyHandle } from '../native/index.js';
import type { SgxQuote, SnpReport, TdxQuote } from '../evidence/types.js';

export type EcdsaCurve = 'P-256' | 'P-384';

const BITS: Record<EcdsaCurve, 256 | 384> = { 'P-256': 256, 'P-384': 384 };
const SCALAR: Record<EcdsaCurve, number> = { 'P-256': 32, 'P-384': 48 };

function expectBytes(value: unknown, name: string): asserts value is Uint8Array {
  if (!(value instanceof Uint8Array)) throw new InvalidArgumentError('ERR_INVALID_ARGUMENT', `${name} must be a Uint8Array`);
}

function interpret(status: number): boolean {
  switch (status) {
    case EcdsaStatus.Valid:
      return true;
    case EcdsaStatus.Invalid:
      return false;
    case EcdsaStatus.BadKey:
      // Class PARSE as in src/x509/spki.ts: the key comes from evidence (a quote's attestation key), not from the caller.
      throw new EvidenceParseError('ERR_BAD_PUBLIC_KEY', 'public key is not a point on the curve');
    case EcdsaStatus.BadSignature:
      // r or s is 0 or >= n: no key could ever verify it, so it is a plain mismatch.
      return false;
    default:
      throw new TeeVerifyError('INTERNAL', 'ERR_INTERNAL', `ECDSA verification failed internally (${status})`);
  }
}

function checkSizes(curve: EcdsaCurve, keyXY: Uint8Array, signatureRS: Uint8Array): void {
  const n = SCALAR[curve];
  if (n === undefined) throw new InvalidArgumentError('ERR_INVALID_ARGUMENT', `unsupported curve ${String(curve)}`);
  if (keyXY.length !== 2 * n) {
    throw new EvidenceParseError('ERR_BAD_PUBLIC_KEY', `${curve} public key must be ${2 * n} bytes (x || y)`);
  }
  if (signatureRS.length !== 2 * n) {
    throw new EvidenceParseError('ERR_BAD_SIGNATURE_ENCODING', `${curve} signature must be ${2 * n} bytes (r || s)`);
  }
}

/**
 * Verifies a raw big-endian r || s signature over `message` (hashed with
 * SHA-256 for P-256, SHA-384 for P-384) with a raw x || y public key.
 * Returns false for a signature that does not verify, including r or s
 * outside [1, n-1]; throws ERR_BAD_PUBLIC_KEY (class PARSE, as for a
 * certificate's key) for a key of the wrong length or not on the curve.
 */
export function ecdsaVerify(curve: EcdsaCurve, keyXY: Uint8Array, message: Uint8Array, signatureRS: Uint8Array): boolean {
  expectBytes(keyXY, 'keyXY');
  expectBytes(message, 'message');
  expectBytes(signatureRS, 'signatureRS');
  checkSizes(curve, keyXY, signatureRS);
  return importedKey(curve, keyXY).verify(message, signatureRS);
}

/**
 * Imported keys by value. A VCEK, PCK or TCB-signing key signs many documents,
 * and importing a P-384 key costs about as much as a verification. Bounded;
 * the oldest import leaves first.
 */
const importedKeys = new Map<string, EcdsaPublicKey>();
const MAX_IMPORTED_KEYS = 1024;

function importedKey(curve: EcdsaCurve, keyXY: Uint8Array): EcdsaPublicKey {
  const id = curve + Buffer.from(keyXY.buffer, keyXY.byteOffset, keyXY.byteLength).toString('base64');
  let key = importedKeys.get(id);
  if (!key) {
    key = EcdsaPublicKey.import(curve, keyXY);
    if (importedKeys.size >= MAX_IMPORTED_KEYS) importedKeys.delete(importedKeys.keys().next().value as string);
    importedKeys.set(id, key);
  }
  return key;
}

/** A public key imported once and reused for many verifications. */
export class EcdsaPublicKey {
  readonly curve: EcdsaCurve;
  readonly #handle: NativeKeyHandle;

  private constructor(curve: EcdsaCurve, handle: NativeKeyHandle) {
    this.curve = curve;
    this.#handle = handle;
  }

  static import(curve: EcdsaCurve, keyXY: Uint8Array): EcdsaPublicKey {
    expectBytes(keyXY, 'keyXY');
    checkSizes(curve, keyXY, new Uint8Array(2 * SCALAR[curve]));
    const handle = native().ecdsaImportKey(BITS[curve], keyXY);
    if (typeof handle === 'number') {
      interpret(handle);
      throw new TeeVerifyError('INTERNAL', 'ERR_INTERNAL', 'key import returned no handle');
    }
    return new EcdsaPublicKey(curve, handle);
  }

  verify(message: Uint8Array, signatureRS: Uint8Array): boolean {
    expectBytes(message, 'message');
    expectBytes(signatureRS, 'signatureRS');
    if (signatureRS.length !== 2 * SCALAR[this.curve]) {
      throw new EvidenceParseError('ERR_BAD_SIGNATURE_ENCODING', `${this.curve} signature must be ${2 * SCALAR[this.curve]} bytes`);
    }
    return interpret(native().ecdsaVerifyWithKey(this.#handle, message, signatureRS));
  }
}

type IntelQuote = TdxQuote | SgxQuote;

/** The bytes the quote signature covers (§2.2): a view of the evidence. */
export function quoteSignedBytes(quote: IntelQuote): Uint8Array {
  return quote.bytes.subarray(quote.signedRange.offset, quote.signedRange.offset + quote.signedRange.length);
}

/** T26: the quote signature by the attestation key carried in the quote. */
export function verifyQuoteSignature(quote: IntelQuote): boolean {
  const sd = quote.signatureData;
  return ecdsaVerify('P-256', sd.attestationKey, quoteSignedBytes(quote), sd.quoteSignature);
}

/** T22: the QE report signature by the PCK leaf key (raw x || y, P-256). */
export function verifyQeReportSignature(quote: IntelQuote, pckPublicKeyXY: Uint8Array): boolean {
  const sd = quote.signatureData;
  return ecdsaVerify('P-256', pckPublicKeyXY, sd.qeReportBytes, sd.qeReportSignature);
}

/**
 * T23: QE REPORTDATA[0:32] = SHA-256(attestation key || QE auth data) and
 * REPORTDATA[32:64] all zero (stricter than QVL, as go-tdx-guest).
 */
export function verifyQeReportDataBinding(quote: IntelQuote): boolean {
  const sd = quote.signatureData;
  // One-shot hash of the concatenation: cheaper than a Hash object per quote.
  const input = new Uint8Array(sd.attestationKey.length + sd.qeAuthData.length);
  input.set(sd.attestationKey);
  input.set(sd.qeAuthData, sd.attestationKey.length);
  const digest = hash('sha256', input, 'buffer');
  const rd = sd.qeReport.reportData;
  let diff = 0;
  for (let i = 0; i < 32; i++) diff |= (rd[i] ?? 0) ^ (digest[i] ?? 0);
  for (let i = 32; i < 64; i++) diff |= rd[i] ?? 0;
  return diff === 0;
}

/**
 * SNP R and S are 72-byte little-endian fields whose top 24 bytes are zero
 * (checked by the parser); this returns the 96-byte big-endian r || s.
 */
export function snpSignatureToRS(report: SnpReport): Uint8Array {
  const out = new Uint8Array(96);
  for (let i = 0; i < 48; i++) {
    out[47 - i] = report.signature.r[i] ?? 0;
    out[95 - i] = report.signature.s[i] ?? 0;
  }
  return out;
}

/** S12: the report signature over the raw bytes [0, 0x2A0) with the VCEK / VLEK key (x || y, P-384). */
export function verifySnpReportSignature(report: SnpReport, publicKeyXY: Uint8Array): boolean {
  const signed = report.bytes.subarray(report.signedRange.offset, report.signedRange.offset + report.signedRange.length);
  return ecdsaVerify('P-384', publicKeyXY, signed, snpSignatureToRS(report));
}
