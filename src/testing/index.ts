/**
 * tee-verify/testing: the synthetic test PKI and evidence builders. For
 * tests and vector generation only; nothing here is trusted by the verifier.
 */
export * from './pki.js';
export * from './builders.js';
