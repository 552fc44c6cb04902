/** tee-verify/attestation-service: an HTTP(S) verification service answering with results and signed EAR JWTs. */
export { startAttestationService, type AttestationService, type AttestationServiceOptions } from './server.js';
export { appraise, type Appraisal, type AppraiseContext } from './appraise.js';
export { parseRequest, parseJsonBody, NONCE_MIN_BYTES, NONCE_MAX_BYTES, type AppraisalRequest, type ExpectedBinding, type PolicyChoice } from './requests.js';
export { PolicySet, type PolicyInput } from './policies.js';
export { TokenSigner, type Jwk } from './signer.js';
export { AttestationServiceError, type AttestationServiceErrorCode, type ServiceErrorBody } from './errors.js';
export { canonicalJson } from './encoding.js';
