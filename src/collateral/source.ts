/** The two source interfaces; network clients, bundles and test fakes implement them. */
import type { CollateralArtifact } from './artifact.js';
import type { AmdKeyKind, AmdProduct, PckCa, QeIdentityRequest, TcbInfoRequest, VcekRequest } from './keys.js';

export interface IntelCollateralSource {
  tcbInfo(request: TcbInfoRequest): Promise<CollateralArtifact>;
  qeIdentity(request: QeIdentityRequest): Promise<CollateralArtifact>;
  pckCrl(ca: PckCa): Promise<CollateralArtifact>;
  rootCaCrl(): Promise<CollateralArtifact>;
}

export interface AmdCollateralSource {
  vcek(request: VcekRequest): Promise<CollateralArtifact>;
  certChain(product: AmdProduct, key: AmdKeyKind): Promise<CollateralArtifact>;
  crl(product: AmdProduct, key: AmdKeyKind): Promise<CollateralArtifact>;
  /**
   * Optional, for sources that hold their artifacts in memory (bundles): the
   * artifact stored under exactly `key`, synchronously, or undefined. What the
   * matching fetch would resolve to; lets a service without a cache answer
   * without a promise (CollateralService.cachedFor).
   */
  stored?(key: string): CollateralArtifact | undefined;
}
