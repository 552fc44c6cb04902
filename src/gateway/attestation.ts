/**
 * POST /v1/attestation {nonce}: fresh evidence whose REPORTDATA binds the
 * client's nonce to this gateway's TLS key (binding.ts). One evidence request
 * per call, never cached; a gateway-wide sliding window bounds the rate
 * (default 10 per second, clarifications.md), 429 with Retry-After beyond.
 */
import type { EvidenceProvider } from '../tee/index.js';
import { BINDING_LABEL, bindingReportData, parseNonce } from './binding.js';
import { GatewayError } from './errors.js';
import { leafCertificatePem } from './tls.js';
import { vtpmAnswerPart, vtpmProviderOf } from './vtpm-attestation.js';

export interface AttestationAnswer {
  evidence: string;
  tee: 'tdx' | 'snp';
  auxblob?: string;
  certificate: string;
  reportDataPreimage: { label: string; nonce: string; spkiSha256: string; akSha256?: string };
  /** Present when the request named a format: "vtpm" (with `vtpm`) or "plain" (this gateway has no vTPM). */
  format?: 'vtpm' | 'plain';
  /** The vTPM bundle (tee-verify/vtpm-bundle@1, TPM-only), on the vTPM path (vtpm-attestation.ts). */
  vtpm?: Record<string, unknown>;
}

/**
 * A sliding one-second window: at most `perSecond` grants in any 1000 ms
 * (a token bucket would allow twice that across a window boundary).
 */
export class EvidenceRateLimiter {
  readonly #grants: number[] = [];
  readonly #max: number;
  constructor(readonly perSecond: number) {
    if (!Number.isInteger(perSecond) || perSecond < 1) throw new RangeError('attestationsPerSecond must be a positive integer');
    this.#max = perSecond;
  }

  /** 0 when granted, else whole seconds to wait (Retry-After). */
  take(now = Date.now()): number {
    while (this.#grants.length > 0 && (this.#grants[0] as number) <= now - 1000) this.#grants.shift();
    if (this.#grants.length < this.#max) {
      this.#grants.push(now);
      return 0;
    }
    return Math.max(1, Math.ceil(((this.#grants[0] as number) + 1000 - now) / 1000));
  }
}

export interface AttestationContext {
  provider: EvidenceProvider;
  certificatePem: string;
  spkiHash: Buffer;
  limiter: EvidenceRateLimiter;
}

export async function answerAttestation(ctx: AttestationContext, body: Buffer): Promise<AttestationAnswer> {
  let doc: unknown;
  try {
    doc = JSON.parse(body.toString('utf8'));
  } catch {
    throw new GatewayError('ERR_GATEWAY_BAD_REQUEST', 400, 'the body is not JSON');
  }
  if (typeof doc !== 'object' || doc === null || Array.isArray(doc)) throw new GatewayError('ERR_GATEWAY_BAD_REQUEST', 400, 'the body must be a JSON object {nonce}');
  const nonce = parseNonce((doc as Record<string, unknown>)['nonce']);
  const format = (doc as Record<string, unknown>)['format'];
  if (format !== undefined && format !== 'vtpm' && format !== 'plain') throw new GatewayError('ERR_GATEWAY_BAD_REQUEST', 400, '"format" must be "vtpm" or "plain" when given');
  const wait = ctx.limiter.take();
  if (wait > 0) throw new GatewayError('ERR_GATEWAY_RATE_LIMITED', 429, 'too many fresh attestations; retry later', { 'Retry-After': String(wait) });
  const vtpmProvider = format === 'vtpm' ? vtpmProviderOf(ctx) : undefined;
  if (vtpmProvider) {
    const { hardware, part } = await vtpmAnswerPart(ctx, vtpmProvider, nonce);
    return {
      evidence: Buffer.from(hardware.evidence).toString('base64'),
      tee: hardware.tee,
      ...(hardware.auxblob ? { auxblob: Buffer.from(hardware.auxblob).toString('base64') } : {}),
      certificate: leafCertificatePem(ctx.certificatePem),
      ...part,
    };
  }
  const reportData = bindingReportData(nonce, ctx.spkiHash);
  let ev;
  try {
    ev = await ctx.provider.getEvidence(new Uint8Array(reportData));
  } catch (err) {
    throw new GatewayError('ERR_GATEWAY_EVIDENCE_PROVIDER', 503, `the TEE gave no evidence: ${(err as Error).message}`);
  }
  return {
    evidence: Buffer.from(ev.evidence).toString('base64'),
    tee: ev.tee,
    ...(ev.auxblob ? { auxblob: Buffer.from(ev.auxblob).toString('base64') } : {}),
    certificate: leafCertificatePem(ctx.certificatePem),
    reportDataPreimage: { label: BINDING_LABEL.toString('base64'), nonce: nonce.toString('base64'), spkiSha256: ctx.spkiHash.toString('hex') },
    ...(format === undefined ? {} : { format: 'plain' as const }),
  };
}
