/**
 * Which collateral item a failed SEV-SNP check judged, and where that item
 * came from (review s11 changes-b #1). A certificate that travelled in the
 * evidence's own certificate table was sent by the TEE; one fetched from KDS,
 * a mirror, a bundle or a cache was not. A caller that must tell a verdict on
 * the TEE from a failure of its collateral source (the gateway client, before
 * it revokes a key) reads `details.collateralItem` and
 * `details.collateralOrigin` of the error instead of guessing from what the
 * answer carried.
 */
import { TeeVerifyError } from '../../errors.js';
import type { AmdCollateralInput } from './types.js';

/** The collateral items a check can judge; 'trustRoots' for the verifier's own pins (S07, S08). */
export type JudgedItem = 'signingCertificate' | 'certChain' | 'crl';

/** The origin recorded for a pinned ARK / ASK / ASVK: never the evidence, never a source. */
export const TRUST_ROOTS_ORIGIN = 'trust-roots';

/**
 * Records on `err` the item the failing check judged and its provenance origin
 * ("evidence", "network", "cache", "bundle", ...; "caller" when the caller
 * named none). S07 / S08 judge the pinned anchors whatever was supplied. The
 * error is returned for rethrowing; anything but a TeeVerifyError is untouched.
 */
export function attributed(err: unknown, item: JudgedItem | undefined, collateral: AmdCollateralInput): unknown {
  if (item === undefined || !(err instanceof TeeVerifyError)) return err;
  const pinned = err.check === 'S07' || err.check === 'S08';
  err.details['collateralItem'] = pinned ? 'trustRoots' : item;
  err.details['collateralOrigin'] = pinned ? TRUST_ROOTS_ORIGIN : (collateral.provenance?.[item]?.origin ?? 'caller');
  return err;
}
