/**
 * tee-verify/model: the confidential-ai-loader encrypted model container
 * (protocols.md §1.3), evidence providers (configfs-tsm, simulated TEE) and
 * the key broker transfer client. See docs/model.md.
 */
export {
  HEADER_SIZE,
  IV_LENGTH,
  TAG_LENGTH,
  KEY_LENGTH,
  KEY_LENGTHS,
  MAX_DATA_LEN,
  MAX_PLAINTEXT_SIZE,
  encodeHeader,
  parseHeader,
  sealBuffer,
  openBuffer,
  type ContainerHeader,
} from './container.js';
export { encryptFile, decryptFile, type FileResult } from './file.js';
export {
  encryptDirectory,
  decryptDirectory,
  checkDirectoryListing,
  checkOutputDirectory,
  readEncryptionConfig,
  CONFIG_FILE,
  ENCRYPTED_SUFFIX,
  type EncryptionConfig,
  type EncryptDirectoryOptions,
  type DirectoryResult,
  type DirectoryListing,
} from './directory.js';
export { resolveTrustedBroker, type TrustedBrokerConfig, type ResolvedBroker } from './trusted-broker.js';
export { configBrokerFields, type ConfigBrokerFields } from './config-broker.js';
export { generateModelKey, decodeModelKey } from './keys.js';
export { readModelKeyFile } from './key-file.js';
export { installInterruptCleanup } from './interrupt-cleanup.js';
export { ModelError, ModelFormatError, EvidenceProviderError, KeyBrokerClientError, isModelError, type ModelErrorCode } from './errors.js';
export {
  ConfigfsTsmProvider,
  SimulatedTeeProvider,
  DEFAULT_TSM_ROOT,
  SIMULATED_TEE_SEED,
  REPORT_DATA_SIZE,
  nodeTsmFs,
  type ConfigfsTsmOptions,
  type SimulatedTeeOptions,
  type SimulatedTeeState,
  type TsmFs,
  type EvidenceProvider,
  type TeeEvidence,
} from '../tee/index.js';
export { requestKey, transferReportData, transferUrlOf, userDataOf, USER_DATA_FORMS, type UserDataForm, brokerRefOf, checkBrokerTransport, type BrokerRef, type KeyTransferOptions, type KeyTransferResult, type BrokerNonce, type BrokerCheck } from '../kbs-client/index.js';
