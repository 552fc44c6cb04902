/**
 * X.509 for the TEE PKIs: strict PEM and DER, certificates, CRLs, their
 * signatures, and the Intel SGX / AMD KDS extensions. Pure functions of the
 * bytes given: no clock, no I/O, no trust decisions (those are the verifier's).
 */
export { splitPemCertificates, splitPckCertChain } from './pem.js';
export { parseCertificate, type CertificateInfo, type SignedObject } from './certificate.js';
export type { PublicKeyInfo, EcCurveName } from './spki.js';
export type { BasicConstraints, KeyUsage, RawExtension } from './extensions.js';
export type { NameAttributes } from './name.js';
export { parseCrl, type CrlInfo } from './crl.js';
export { keyUsageAllows, unprocessedCriticalCrlExtensions, unprocessedCriticalExtensions, PROCESSED_CERTIFICATE_EXTENSIONS, PROCESSED_CRL_EXTENSIONS } from './critical.js';
export { verifyCertificateSignature, verifyCrlSignature, signatureScheme, type SignatureScheme } from './signature.js';
export {
  parseIntelSgxExtension,
  pckCaKind,
  INTEL_PCK_CA_NAMES,
  SGX_EXTENSION_OID,
  type PckSgxExtension,
  type PckTcb,
  type PckCaKind,
  type SgxExtensionOptions,
} from './intel-extension.js';
export { parseAmdKdsExtensions, KDS_OID_PREFIX, type AmdKdsExtension } from './amd-extension.js';
export { sha256Hex } from './digest.js';
