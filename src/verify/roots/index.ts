/**
 * Trust anchors. Production pins the exact DER of Intel's SGX Root CA and
 * AMD's ARK / ASK / ASVK per product (which pins the keys); tests and private
 * PKIs inject their own with the `trustRoots` option. A root is never trusted
 * by its name or because it travels with the evidence (T09, S07, S37).
 */
import { createHash } from 'node:crypto';

import { NativeAddonError } from '../../errors.js';
import type { SnpProduct } from '../../evidence/types.js';
import * as anchors from './anchors.js';

export interface AmdProductAnchors {
  ark: Uint8Array;
  ask: Uint8Array;
  asvk: Uint8Array;
}

export interface TrustRoots {
  /** DER of each acceptable Intel SGX Root CA (production: exactly one). */
  intelRootCas: readonly Uint8Array[];
  /** Per SEV-SNP product: the ARK and both intermediates (VCEK: ASK, VLEK: ASVK). */
  amd: Readonly<Partial<Record<SnpProduct, AmdProductAnchors>>>;
  /** A label shown in results, e.g. "production" or "test-pki". */
  label: string;
}

function decode(a: anchors.EmbeddedAnchor): Uint8Array {
  const der = new Uint8Array(Buffer.from(a.der, 'base64'));
  const digest = createHash('sha256').update(der).digest('hex');
  // A corrupted package must fail loudly, never verify against a wrong anchor.
  if (digest !== a.sha256) throw new NativeAddonError('ERR_INTERNAL', `embedded trust anchor ${a.name} does not match its pinned fingerprint`);
  return der;
}

/** The production anchors; fingerprints as in verifier-checklist §2.3 and §4.3. */
export const PRODUCTION_TRUST_ROOTS: TrustRoots = Object.freeze({
  label: 'production',
  intelRootCas: Object.freeze([decode(anchors.INTEL_SGX_ROOT_CA)]),
  amd: Object.freeze({
    Milan: Object.freeze({ ark: decode(anchors.AMD_MILAN_ARK), ask: decode(anchors.AMD_MILAN_ASK), asvk: decode(anchors.AMD_MILAN_ASVK) }),
    Genoa: Object.freeze({ ark: decode(anchors.AMD_GENOA_ARK), ask: decode(anchors.AMD_GENOA_ASK), asvk: decode(anchors.AMD_GENOA_ASVK) }),
    Turin: Object.freeze({ ark: decode(anchors.AMD_TURIN_ARK), ask: decode(anchors.AMD_TURIN_ASK), asvk: decode(anchors.AMD_TURIN_ASVK) }),
  }),
});

/** SHA-256 fingerprints of the production anchors, lowercase hex, for display and audit. */
export const PRODUCTION_FINGERPRINTS = Object.freeze({
  intelRootCa: anchors.INTEL_SGX_ROOT_CA.sha256,
  Milan: { ark: anchors.AMD_MILAN_ARK.sha256, ask: anchors.AMD_MILAN_ASK.sha256, asvk: anchors.AMD_MILAN_ASVK.sha256 },
  Genoa: { ark: anchors.AMD_GENOA_ARK.sha256, ask: anchors.AMD_GENOA_ASK.sha256, asvk: anchors.AMD_GENOA_ASVK.sha256 },
  Turin: { ark: anchors.AMD_TURIN_ARK.sha256, ask: anchors.AMD_TURIN_ASK.sha256, asvk: anchors.AMD_TURIN_ASVK.sha256 },
});

export function sameBytes(a: Uint8Array, b: Uint8Array): boolean {
  return a.length === b.length && Buffer.from(a.buffer, a.byteOffset, a.byteLength).equals(Buffer.from(b.buffer, b.byteOffset, b.byteLength));
}
