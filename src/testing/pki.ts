/**
 * The synthetic test PKI: Intel-shaped (root -> PCK CA -> PCK, root -> TCB
 * Signing) and AMD-shaped (ARK -> ASK -> VCEK, ARK -> ASVK -> VLEK).
 * Deterministic from a seed: the same seed gives the same certificates,
 * fields and structure; only signature bytes vary (ECDSA nonces, PSS salts).
 * No clock is read: every validity date is a parameter. Never trusted in
 * production: the verifier pins Intel's and AMD's real roots.
 */
export { createIntelTestPki, defaultSgxValues, intelTestName } from './pki-intel.js';
export type { IntelTestPki, IntelTestPkiOptions, PckCaType } from './pki-intel.js';
export { createAmdTestPki } from './pki-amd.js';
export type { AmdCertRole, AmdTestPki, AmdTestPkiOptions } from './pki-amd.js';
export type { CertificateOverrides, TestCertificate, Validity } from './certificate.js';
export { sgxExtension, encodeSgxExtensionValue, SGX_EXTENSION_OID } from './sgx-extension.js';
export type { SgxExtensionValues, SgxTcbValues, SgxConfiguration } from './sgx-extension.js';
export { kdsExtensions, defaultKdsValues, KDS_OID_PREFIX } from './kds-extension.js';
export type { KdsExtensionValues } from './kds-extension.js';
export { encodeSnpTcb, defaultChipId, defaultSnpTcb } from './snp-tcb.js';
export type { SnpTcbValues, TestSnpProduct } from './snp-tcb.js';
export { loadAmdRsaKeys, defaultTestPkiDir, type AmdRsaKeys } from './rsa-keys.js';
export { deriveBytes, deriveEcKeyPair, deriveSerial, ecPublicKeyXY } from './seed.js';
export type { TestCurve, TestKeyPair } from './seed.js';
export {
  buildCertificate,
  derToPem,
  dnToString,
  basicConstraints,
  keyUsage,
  subjectKeyIdentifier,
  authorityKeyIdentifier,
  crlDistributionPoint,
} from './x509-builder.js';
export type { CertExtension, DistinguishedName, NameAttributeType, SignatureScheme } from './x509-builder.js';
