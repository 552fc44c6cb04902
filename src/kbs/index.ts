/**
 * tee-verify/kbs: an attested key broker (docs/kbs.md). Keys leave only to a
 * TEE whose evidence verifies, meets the key's policy and binds the
 * requester's public key in REPORTDATA.
 */
export { startKeyBroker, KBS_VERSION, type KeyBrokerOptions, type KeyBroker } from './server.js';
export { KbsError, type KbsErrorCode, type FailedCheck } from './errors.js';
export { KbsStore, SCHEMA_VERSION, type KeyInfo, type LogEntry } from './store.js';
export { encryptContainer, decryptContainer, expectedReportData, parseRequesterKey, wrapForRequester, MIN_RSA_BITS } from './crypto.js';
export { loadMasterKey, MASTER_KEY_ENV } from './files.js';
export { RateLimiter, type RateLimitOptions } from './rate-limit.js';
export type { RefusalLogBounds } from './log-bounds.js';
export { parsePolicyDocument } from './policies.js';
export { upgradeIntegrity, type IntegrityUpgradeOptions, type IntegrityUpgradeResult } from './upgrade.js';
export { runKbsCli, exitCodeOf, KBS_SERVE_OPTIONS, KBS_ENV } from './cli.js';
export { StorageError, type StorageErrorCode } from '../storage/index.js';
