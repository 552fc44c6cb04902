/** tee-verify/gateway: the attested chat gateway and its client. */
export { startGateway, type Gateway, type GatewayOptions } from './server.js';
export { AttestedClient, attestedFetch, type AttestedClientOptions } from './client.js';
export { verifyAttestationAnswer, type GatewayVerification, type VerifyAnswerOptions } from './verify.js';
export { BINDING_LABEL, NONCE_MIN_BYTES, NONCE_MAX_BYTES, bindingReportData, parseNonce, spkiSha256 } from './binding.js';
export { GatewayError, AttestationRefusedError, type GatewayErrorCode, type RefusalCode } from './errors.js';
export { ApiKeyStore, type ApiKeyInfo } from './store.js';
export { EvidenceRateLimiter, type AttestationAnswer } from './attestation.js';
export { startChatUpstream, replyWords, type ChatUpstream } from './chat-upstream.js';
export { cubeAnswer, cubeJson, cubeSnpAnswer, cubeTdxAnswer, snpAttestationMessage, tdxQuoteV4Message, type CubeAnswer } from './cube.js';
export { VTPM_BINDING_LABEL, akPublicSha256, vtpmBindingReportData, vtpmQuoteExtraData } from './vtpm-binding.js';
export { attestAtls, verifyAtlsAnswer, ATLS_PATH, type AtlsClientOptions } from './atls.js';
export type { VtpmClientOptions, VtpmVerificationSummary } from './vtpm-verify.js';
