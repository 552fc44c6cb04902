/**
 * POST /v1/attestation {nonce}: fresh evidence whose REPORTDATA binds the
 * client's nonce to this gateway's TLS key (binding.ts). One evidence request
 * per call, never cached; a gateway-wide sliding window bounds the rate
 * (default 10 per second, clarifications.md), 429 with Retry-After beyond.
 * Within that bound each client has a share (default a quarter), so that one
 * peer cannot spend the whole budget and lock every other client out.
 */
import type { EvidenceProvider } from '../tee/index.js';
import { widerClientKeys } from '../net/client-key.js';
import { steadyClock, type LimiterClock } from '../net/steady-clock.js';
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

/** The default share of one client: a quarter of the instance's budget, at least 1. */
export const defaultClientShare = (perSecond: number): number => Math.max(1, Math.ceil(perSecond / 4));

/**
 * A sliding one-second window: at most `perSecond` grants in any 1000 ms
 * (a token bucket would allow twice that across a window boundary), and at
 * most `perClient` of them to one client key (src/net/client-key.ts). An IPv6
 * key's /56 and /48 get the same share as the /64 (whoever holds a /48 can
 * use a fresh /64 for every request). Memory: the grants in the window and a
 * count per key that holds one, so at most 3 × perSecond keys.
 */
export class EvidenceRateLimiter {
  readonly #grants: { at: number; keys: readonly string[] }[] = [];
  readonly #perKey = new Map<string, number>();
  readonly perClient: number;
  /** `clock`: milliseconds that never go back (src/net/steady-clock.ts); default performance.now(). */
  constructor(
    readonly perSecond: number,
    perClient?: number,
    readonly clock: LimiterClock = steadyClock(),
  ) {
    if (!Number.isInteger(perSecond) || perSecond < 1) throw new RangeError('attestationsPerSecond must be a positive integer');
    if (perClient !== undefined && (!Number.isInteger(perClient) || perClient < 1)) throw new RangeError('attestationsPerClient must be a positive integer');
    this.perClient = Math.min(perClient ?? defaultClientShare(perSecond), perSecond);
  }

  /**
   * 0 when granted, else whole seconds to wait (Retry-After). `client`: the caller's client key;
   * without one only the instance bound applies.
   */
  take(now = this.clock(), client?: string): number {
    while (this.#grants.length > 0 && (this.#grants[0] as { at: number }).at <= now - 1000) {
      for (const k of (this.#grants.shift() as { keys: readonly string[] }).keys) {
        const n = (this.#perKey.get(k) ?? 1) - 1;
        if (n > 0) this.#perKey.set(k, n);
        else this.#perKey.delete(k);
      }
    }
    const keys = client === undefined ? [] : [client, ...widerClientKeys(client)];
    const full = keys.filter((k) => (this.#perKey.get(k) ?? 0) >= this.perClient);
    if (this.#grants.length < this.perSecond && full.length === 0) {
      this.#grants.push({ at: now, keys });
      for (const k of keys) this.#perKey.set(k, (this.#perKey.get(k) ?? 0) + 1);
      return 0;
    }
    // Until the oldest grant that stands in the way leaves the window.
    const blocking = full.length === 0 ? this.#grants[0] : this.#grants.find((g) => g.keys.some((k) => full.includes(k)));
    return Math.max(1, Math.ceil(((blocking as { at: number }).at + 1000 - now) / 1000));
  }

  /**
   * A 429 GatewayError when `client` may not have fresh evidence now (each evidence route calls this
   * first; POST /tdx_attest has a limiter of its own, with its `message`).
   */
  takeOrRefuse(client: string | undefined, message = 'too many fresh attestations; retry later'): void {
    const wait = this.take(this.clock(), client);
    if (wait > 0) throw new GatewayError('ERR_GATEWAY_RATE_LIMITED', 429, message, { 'Retry-After': String(wait) });
  }
}

export interface AttestationContext {
  provider: EvidenceProvider;
  certificatePem: string;
  spkiHash: Buffer;
  limiter: EvidenceRateLimiter;
  /** Where a provider failure's detail goes (never to the client); default stderr. */
  log?: (line: string) => void;
}

/** Seconds a client waits before asking a busy TEE again (configfs-tsm EBUSY, a tpm2-tools deadline). */
export const PROVIDER_RETRY_AFTER_SECONDS = 1;

/**
 * An evidence provider's failure as the 503 the client sees. The evidence routes need no
 * credentials, and a provider's message can hold configfs paths or tpm2-tools stderr (review s7):
 * the answer says only which TEE part failed and the provider's stable code; the message goes to
 * the log. A retryable failure (ERR_TSM_UNAVAILABLE, or details.retryable) carries Retry-After.
 */
export function evidenceProviderFailure(ctx: AttestationContext, err: unknown, what = 'the TEE'): GatewayError {
  const raw = (err as { code?: unknown } | undefined)?.code;
  const code = typeof raw === 'string' && /^ERR_[A-Z0-9_]{1,60}$/.test(raw) ? raw : undefined;
  const details = (err as { details?: Record<string, unknown> } | undefined)?.details;
  const retryable = code === 'ERR_TSM_UNAVAILABLE' || details?.['retryable'] === true;
  const log = ctx.log ?? ((line: string) => process.stderr.write(`${line}\n`));
  log(`tee-gateway: evidence provider ${ctx.provider.name} failed${code ? ` (${code})` : ''}: ${err instanceof Error ? err.message : String(err)}`);
  const message = `${what} gave no evidence${code ? ` (${code})` : ''}${retryable ? '; retry later' : ''}`;
  return new GatewayError('ERR_GATEWAY_EVIDENCE_PROVIDER', 503, message, retryable ? { 'Retry-After': String(PROVIDER_RETRY_AFTER_SECONDS) } : {});
}

/** `client`: the caller's client key (routes.ts), for its share of the evidence rate. */
export async function answerAttestation(ctx: AttestationContext, body: Buffer, client?: string): Promise<AttestationAnswer> {
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
  ctx.limiter.takeOrRefuse(client);
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
    throw evidenceProviderFailure(ctx, err);
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
