/**
 * The gateway side of the vTPM path. With a vTPM-capable provider
 * (src/tee/vtpm-types.ts) and a request `{"nonce", "format": "vtpm"}`,
 * POST /v1/attestation answers the plain answer's members plus the vTPM
 * bundle, with the vTPM binding (vtpm-binding.ts):
 *
 *   hardware REPORTDATA = SHA-512(vtpm label ‖ nonce ‖ SHA-256(SPKI) ‖ SHA-256(AK TPMT_PUBLIC))
 *   TPM quote extraData = SHA-256(REPORTDATA)
 *
 * A request without `format` gets the plain answer whatever the provider
 * (old clients keep working); `format: "vtpm"` on a gateway without a vTPM
 * gets the plain answer too (its `format` member says "plain"), and the client
 * decides whether that satisfies its policy.
 */
import { serializeVtpmBundle } from '../vtpm/bundle.js';
import { isVtpmProvider, type VtpmEvidence, type VtpmEvidenceProvider } from '../tee/vtpm-types.js';
import { evidenceProviderFailure, type AttestationContext } from './attestation.js';
import { akPublicSha256, VTPM_BINDING_LABEL, vtpmBindingReportData, vtpmQuoteExtraData } from './vtpm-binding.js';

export interface VtpmAnswerPart {
  format: 'vtpm';
  reportDataPreimage: { label: string; nonce: string; spkiSha256: string; akSha256: string };
  /** The tee-verify/vtpm-bundle@1 document (TPM-only: the hardware evidence is `evidence`). */
  vtpm: Record<string, unknown>;
}

/** Which value the TPM quote's extraData carries. */
export type ExtraDataRule = 'report-data-sha256' | 'nonce';

export function vtpmProviderOf(ctx: AttestationContext): VtpmEvidenceProvider | undefined {
  return isVtpmProvider(ctx.provider) ? ctx.provider : undefined;
}

/** Fresh hardware evidence and TPM quote for `nonce`, bound as above. */
export async function vtpmEvidenceFor(
  ctx: AttestationContext,
  provider: VtpmEvidenceProvider,
  nonce: Buffer,
  rule: ExtraDataRule,
): Promise<{ evidence: VtpmEvidence; reportData: Buffer; akSha256: Buffer }> {
  try {
    const akSha256 = akPublicSha256(await provider.attestationKeyPublic());
    const reportData = vtpmBindingReportData(nonce, ctx.spkiHash, akSha256);
    const extraData = rule === 'nonce' ? nonce : vtpmQuoteExtraData(reportData);
    const evidence = await provider.getVtpmEvidence({ reportData: new Uint8Array(reportData), extraData: new Uint8Array(extraData) });
    return { evidence, reportData, akSha256 };
  } catch (err) {
    throw evidenceProviderFailure(ctx, err, 'the TEE or its vTPM');
  }
}

export async function vtpmAnswerPart(ctx: AttestationContext, provider: VtpmEvidenceProvider, nonce: Buffer): Promise<{ hardware: VtpmEvidence['hardware']; part: VtpmAnswerPart }> {
  const { evidence, akSha256 } = await vtpmEvidenceFor(ctx, provider, nonce, 'report-data-sha256');
  return {
    hardware: evidence.hardware,
    part: {
      format: 'vtpm',
      reportDataPreimage: { label: VTPM_BINDING_LABEL.toString('base64'), nonce: nonce.toString('base64'), spkiSha256: ctx.spkiHash.toString('hex'), akSha256: akSha256.toString('hex') },
      vtpm: JSON.parse(serializeVtpmBundle(evidence.bundle)) as Record<string, unknown>,
    },
  };
}
