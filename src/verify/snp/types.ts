/** Inputs of the SEV-SNP verifier (checklist §4.3, §4.4). */
import type { SignatureMemo } from '../../crypto/memo.js';
import type { SnpProduct } from '../../evidence/types.js';
import type { VerifyOptions } from '../types.js';

/** Where one collateral item came from, for the result's collateral identity. */
export interface CollateralProvenance {
  /** Artifact key, e.g. "amd/crl/Milan/vcek". Default: derived from the item. */
  key?: string;
  /** e.g. "network", "cache", "bundle", "evidence". Default "caller". */
  origin?: string;
}

/**
 * AMD collateral as plain bytes. Only the signing certificate is required:
 * the chain above it is always the pinned ARK and ASK / ASVK of the report's
 * product (S07, S08); a supplied chain must equal those pins byte for byte
 * (S37). The CRL is required unless the caller opts into `skipCrl` (S09).
 */
export interface AmdCollateralInput {
  /** VCEK or VLEK, DER. */
  signingCertificate: Uint8Array;
  /**
   * [ASK or ASVK, ARK] DER (KDS cert_chain or the extended-report table), or
   * just [ASK or ASVK]. Optional: the pinned anchors suffice.
   */
  certChain?: Uint8Array[];
  /** The ARK-signed CRL for that intermediate, DER (one PEM "X509 CRL" block is accepted too). */
  crl?: Uint8Array;
  /** What the collateral was fetched for; checked against the report when given. */
  for?: { product: SnpProduct; signingKey: 'vcek' | 'vlek' };
  provenance?: { signingCertificate?: CollateralProvenance; certChain?: CollateralProvenance; crl?: CollateralProvenance };
  /** Warnings from fetching (e.g. a grace period in use); copied into the result. */
  warnings?: string[];
}

export interface SnpVerifyOptions extends VerifyOptions {
  /** Memo for certificate and CRL signatures (content-digest keys). Default: the process-wide memo. */
  memo?: SignatureMemo;
  /**
   * Report versions accepted; replaces the default [2, 3, 4, 5] (S03). A v2
   * report (no CPUID) verifies only when 2 is allowed and the caller named the
   * product (S06); its result then carries a warning saying so.
   */
  allowedVersions?: number[];
  /** Products accepted (S06). Default: every product with pinned anchors (Milan, Genoa, Turin). */
  allowedProducts?: SnpProduct[];
  /**
   * Accept a VCEK-signed report whose CHIP_ID is masked (MASK_CHIP_KEY) or
   * all zero (S14). Off by default; the result then carries a warning and the
   * report is not bound to a chip.
   */
  allowMaskedChipId?: boolean;
}
