/**
 * `tee-verify/vtpm`: confidential VMs that attest through a virtual TPM.
 * Bounded parsers (native), TPM quote verification, Azure HCL evidence,
 * boot event log and IMA replay, reference lists, the evidence bundle and
 * its acquisition inside a CVM (docs/vtpm.md, docs/vtpm-reference.md).
 */
export * from './types.js';
export { parseTpmQuote, parseTpmSignature, parseTpmPublic, parseHclReport, parseTcgEventLog, parseImaBinaryList } from './parse.js';
export { parseImaBinaryFrame, IMA_FRAME, type ImaListFrame } from './parse-ima.js';
export { parseImaAsciiList, type ImaAsciiOptions } from './ima-ascii.js';
export { VtpmVerificationError, type VtpmErrorCode } from './errors.js';
export { verifyTpmQuotes, pcrBanksFrom, MIN_FRESH_NONCE_BYTES, type QuoteEvidence, type QuoteVerifyOptions, type QuoteClaims, type TpmQuotesResult, type PcrBanks } from './quote.js';
export { parseRuntimeData, verifyAzureHardware, type AzureRuntimeData } from './azure.js';
export { VTPM_BUNDLE_FORMAT, VTPM_BUNDLE_LIMITS, checkVtpmBundle, looksLikeVtpmBundle, parseVtpmBundle, serializeVtpmBundle, type VtpmBundle } from './bundle.js';
export { verifyVtpmEvidence, type VtpmVerifyOptions, type VtpmVerificationResult, type VtpmAppraisal, type VtpmReplayClaims } from './verify.js';
export { acquireVtpmEvidence, DEFAULT_EVENT_LOG_PATH, DEFAULT_IMA_PATH, type AcquireOptions, type AcquiredEvidence } from './acquire.js';
export { replayEventLog, checkEventLogAgainstPcrs, eventLogMismatches, type EventLogReplay } from './replay-eventlog.js';
export { replayImaList, replayImaAscii, replayImaFrame, checkImaAgainstPcrs, checkImaTemplateDigests, checkBootAggregate, imaMismatches, type ImaReplay, type ImaReplayOptions, type ImaBankRule } from './ima-replay.js';
export { extractBootComponents, type BootComponents } from './boot-components.js';
export { loadReferenceList, type ReferenceList, type ReferenceProblem } from './reference.js';
export { comparePcrs, pcrValuesFromHex, pcrValuesToHex, type PcrValues, type ReplayBank, type PcrMismatch } from './pcrs.js';
