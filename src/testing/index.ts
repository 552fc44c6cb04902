/**
 * tee-verify/testing: the synthetic test PKI and evidence builders. For
 * tests and vector generation only; nothing here is trusted by the verifier.
 */
export * from './pki.js';
export * from './builders.js';
export {
  createSyntheticIntelPlatform,
  buildTestCrl,
  signCollateralJson,
  defaultTcbInfo,
  defaultQeIdentity,
  intelArtifact,
  intelDate,
  DEFAULT_PLATFORM_SEED,
} from './intel-collateral.js';
export type {
  SyntheticIntelPlatform,
  SyntheticIntelPlatformOptions,
  SyntheticQuoteOverrides,
  SignedJsonOverrides,
  CrlOverrides,
  TestCrlOptions,
  TcbInfoValues,
  QeIdentityValues,
  ArtifactOptions,
  JsonObject,
  SignedJsonMember,
} from './intel-collateral.js';
export { generateBootEventLog, generateImaList } from './vtpm-logs.js';
export type { BootLogOptions, GeneratedBootLog, GeneratedExtend, ImaListOptions, GeneratedImaList, GeneratedImaFile, GeneratedImaTemplate } from './vtpm-logs.js';
export { AK_OBJECT_ATTRIBUTES, buildAkPublic, buildTpmsAttest, quotePcrDigest, signTpmsAttest, tpmNameOf, type AttestFields, type QuoteSelection } from './tpm-builders.js';
export { SimulatedTpm, type SimulatedBank, type SimulatedQuote, type SimulatedTpmOptions } from './tpm-simulator.js';
