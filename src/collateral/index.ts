/** Collateral: sources, transport, cache, bundles. */
export { HttpClient, parseRetryAfter, type HttpClientOptions, type HttpResponse } from './http.js';
export { IntelPcsClient, INTEL_PCS_BASE_URL, INTEL_ROOT_CA_CRL_URL, type IntelPcsOptions } from './intel-pcs.js';
export { AmdKdsClient, AMD_KDS_BASE_URL, type AmdKdsOptions } from './amd-kds.js';
export { CollateralCache, defaultCacheDirectory, type CollateralCacheOptions, type PruneOptions, type PruneResult } from './cache.js';
export { ArtifactResolver, CollateralExpiredError, DEFAULT_FETCH_BUDGET, type ExplicitCollateral, type FetchBudget, type ProviderOptions, type Resolved } from './provider.js';
export { chainsToRoots } from './anchored.js';
export { CollateralService, collateralArtifacts, type CollateralServiceOptions, type IntelCollateral, type AmdCollateral, type EvidenceCollateral } from './service.js';
export { BundleSource, bundleVersions, exportBundle, importBundle, importDcapQvlCollateral, BUNDLE_FORMAT, BUNDLE_VERSION, type BundleVersions, type CollateralBundleJson, type ExportBundleOptions } from './bundle.js';
export { CollateralUnavailableError, UnknownPlatformError } from './errors.js';
export { isWithinWindow, needsRefresh, type CollateralArtifact, type ArtifactKind, type ValidityWindow } from './artifact.js';
export { artifactKey, vcekRequestOf, type TcbInfoRequest, type QeIdentityRequest, type VcekRequest, type IntelTee, type PckCa, type AmdProduct, type AmdKeyKind, type UpdateChannel } from './keys.js';
export type { IntelCollateralSource, AmdCollateralSource } from './source.js';
export { checkArtifactSignatures, checkChainLinks, chainOf, type SignatureCheck } from './signatures.js';
export { parseSignedJson, parseStrictJson } from './strict-json.js';
