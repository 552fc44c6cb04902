/**
 * Signature checks of the Intel path, memoised by content digest (the
 * clarifications' batch rule): certificate links, CRLs, signed collateral
 * JSON and the QE report recur across every quote of a platform, so each is
 * verified once per process. Scheme names match src/collateral/signatures.ts,
 * so the collateral layer and the verifier share memo entries. A check that
 * throws (unsupported algorithm, malformed signature, key off the curve)
 * counts as "does not verify": every caller fails closed on false.
 */
import { ecdsaVerify } from '../../crypto/ecdsa.js';
import { TeeVerifyError } from '../../errors.js';
import {
  type CertificateInfo,
  type CrlInfo,
  type PublicKeyInfo,
} from '../../x509/index.js';
import { verifySignedObject, withSignedBytes } from '../../x509/signature.js';
import type { VerifyContext } from './context.js';

/** X08: a check that cannot be completed is a check that failed. */
function safely(check: () => boolean): boolean {
  try {
    return check();
  } catch (err) {
    if (err instanceof TeeVerifyError) return false;
    throw err;
  }
}

/** Whether `issuer` signed `cert` (exact TBSCertificate). */
export function certificateSignedBy(ctx: VerifyContext, cert: CertificateInfo, issuer: CertificateInfo): boolean {
  return ctx.memo.verify('x509-cert', [cert.tbs, cert.signature, issuer.publicKey.spki], ([tbs, signature]) =>
    safely(() => verifySignedObject(withSignedBytes(cert, tbs!, signature!), issuer.publicKey)),
  );
}

/** Whether `issuer` signed `crl` (exact TBSCertList). */
export function crlSignedBy(ctx: VerifyContext, crl: CrlInfo, issuer: CertificateInfo): boolean {
  return ctx.memo.verify('x509-crl', [crl.tbs, crl.signature, issuer.publicKey.spki], ([tbs, signature]) =>
    safely(() => verifySignedObject(withSignedBytes(crl, tbs!, signature!), issuer.publicKey)),
  );
}

/** Raw r || s ECDSA P-256 / SHA-256 over `message` by an EC P-256 key. */
export function p256SignedBy(ctx: VerifyContext, message: Uint8Array, signatureRS: Uint8Array, key: PublicKeyInfo): boolean {
  if (key.kind !== 'ec' || key.curve !== 'P-256') return false;
  return ctx.memo.verify('ecdsa-p256', [message, signatureRS, key.xy], ([m, sig, xy]) => safely(() => ecdsaVerify('P-256', xy!, m!, sig!)));
}

/** T26 helper: the quote signature is unique per quote, so it is not memoised. */
export function p256RawKeySigned(keyXY: Uint8Array, message: Uint8Array, signatureRS: Uint8Array): boolean {
  return safely(() => ecdsaVerify('P-256', keyXY, message, signatureRS));
}
