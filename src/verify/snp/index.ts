/** SEV-SNP verification (checklist §4): docs/verification-snp.md. */
export { verifySnpReport } from './verify.js';
export { amdCollateralInput, amdCollateralFromCertTable } from './collateral.js';
export type { AmdCollateralInput, CollateralProvenance, SnpVerifyOptions } from './types.js';
export { compareVcekHwId, compareVcekTcb, type FieldMismatch, type MatchResult } from './vcek-match.js';
