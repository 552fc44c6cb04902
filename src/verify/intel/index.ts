/** The Intel DCAP verifier: TDX quotes v4 / v5 and SGX quotes v3 (docs/verification-intel.md). */
export { verifyIntelQuote, type IntelCollateralInput } from './verify.js';
export type { IntelVerifyOptions } from './context.js';
