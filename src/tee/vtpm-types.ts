/**
 * Evidence providers with a vTPM (docs/vtpm.md, "The gateway"): besides the
 * hardware evidence of an EvidenceProvider, a TPM quote by an attestation key
 * (AK) over the selected PCRs, the boot event log and the IMA list, packaged
 * as a tee-verify/vtpm-bundle@1 without `hardware` member (the hardware
 * evidence travels next to it and binds the AK through its report data).
 *
 * The AK is fixed for the provider's lifetime and known before any request,
 * because the report data given to the hardware must commit to it.
 */
import type { VtpmBundle } from '../vtpm/bundle.js';
import type { EvidenceProvider, TeeEvidence } from './types.js';

export interface VtpmRequest {
  /** The 64 bytes of REPORTDATA for the hardware evidence. */
  reportData: Uint8Array;
  /** The TPM quote's qualifying data (TPM2B_DATA: 1 to 64 bytes; 32 or fewer fit every TPM). */
  extraData: Uint8Array;
}

export interface VtpmEvidence {
  hardware: TeeEvidence;
  /** TPM-only bundle: tpm.ak.public = this provider's AK, one or more quotes with extraData, the PCR values, the logs. */
  bundle: VtpmBundle;
}

export interface VtpmEvidenceProvider extends EvidenceProvider {
  /** Marks the capability (a structural check would also accept unrelated objects). */
  readonly vtpm: true;
  /** TPMT_PUBLIC of the attestation key (no size prefix). */
  attestationKeyPublic(): Promise<Uint8Array>;
  getVtpmEvidence(request: VtpmRequest): Promise<VtpmEvidence>;
}

export function isVtpmProvider(p: EvidenceProvider | undefined): p is VtpmEvidenceProvider {
  return p !== undefined && (p as Partial<VtpmEvidenceProvider>).vtpm === true && typeof (p as Partial<VtpmEvidenceProvider>).getVtpmEvidence === 'function';
}
