/**
 * Drop-in endpoints for existing clients (protocols.md §8, §10.4). They keep
 * those clients' shapes but not their weaknesses where that is possible:
 *
 * - GET /api/v1/tee/quote (patched open-webui): `{quote: hex, quote_parse:
 *   "reserved", timestamp, id, status: true}` with no-cache headers. The
 *   original's REPORTDATA is all zeros; here it is the gateway binding with an
 *   optional `?nonce=` (standard or URL-safe base64, 16 to 64 bytes; a space
 *   is read as "+") and,
 *   without one, 32 zero bytes: still bound to the TLS key, but replayable.
 * - POST /tdx_attest {raw_quote_data: hex} → {attestation_result:
 *   "SUCCESS"|"FAILED", timestamp: unix seconds}: SUCCESS only when
 *   verifyEvidence passes and the configured policy (default: UpToDate TCB,
 *   no debug) is met. The cc-zoo service this replaces inverted that logic.
 *   TDX quotes only (anything else is FAILED unverified), a per-client rate.
 * - POST /attestation {report_data?, nonce?, to_json?} (Cube agent, cube.ts):
 *   report_data is used raw, zero-padded to 64 bytes (Cube's rule: no binding
 *   to this TLS key, no freshness unless the client puts a nonce there).
 *   SEV-SNP: protobuf sevsnp.Attestation (report + VCEK/ASK/ARK), with to_json
 *   its proto3 JSON mapping; TDX: the raw quote, with to_json go-tdx-guest's
 *   QuoteV4 as proto3 JSON (cube-tdx.ts; v4 quotes only, as Cube).
 */
import { randomUUID } from 'node:crypto';

import { CollateralUnavailableError, defaultPolicy, evaluatePolicy, parseEvidence, verifyEvidence, type CollateralService, type Evidence, type Policy, type TrustRoots } from '../index.js';
import { REPORT_DATA_SIZE, type EvidenceProvider, type TeeEvidence } from '../tee/index.js';
import { bindingReportData, parseNonce } from './binding.js';
import type { CubeAnswer } from './cube-answer.js';
import { cubeSnpAnswer } from './cube.js';
import { cubeTdxAnswer } from './cube-tdx.js';
import { GatewayError } from './errors.js';
import { evidenceProviderFailure, evidenceTurn, type AttestationContext, type EvidenceRateLimiter } from './attestation.js';

export interface QuoteVerifierOptions {
  collateral: CollateralService;
  /** Default: production roots. */
  trustRoots?: TrustRoots;
  /** Default: defaultPolicy('tdx'). */
  policy?: Policy;
}

type Tee = TeeEvidence['tee'];

/** The TEE of each provider that produced evidence in this process (a provider's TEE never changes). */
const learnedTees = new WeakMap<object, Tee>();

/**
 * Providers whose last "which TEE?" question failed (the TEE not up yet) and whose TEE is still
 * unknown: the quote route asks them again only after it took a slot of the evidence rate (review
 * s14, finding 3: every call created and removed a configfs-tsm instance before the limiter, so
 * calls refused with 429 still cost that work). Cleared when a question succeeds.
 */
const detectionFailed = new WeakSet<object>();

/**
 * The question a call asks under its slot after a failed one (detectionFailed), while in flight: the
 * calls that arrive meanwhile wait for its answer without a slot, and take their own only when the TEE
 * may still be TDX (s14 change review, R2: each took a slot before joining the shared question, so an
 * SEV-SNP TEE that came up spent a slot per call of a burst, and /v1/attestation got 429s).
 */
const questionUnderSlot = new WeakMap<object, Promise<Tee | undefined>>();

/** The TEE a provider declares: its own `tee` (the simulated TEE), else its hardware's (a vTPM provider). */
function declaredTee(p: unknown, depth = 0): Tee | undefined {
  if (typeof p !== 'object' || p === null || depth > 4) return undefined;
  const tee = (p as { tee?: unknown }).tee;
  if (tee === 'tdx' || tee === 'snp') return tee;
  return declaredTee((p as { hardware?: unknown }).hardware, depth + 1);
}

/** The provider's TEE when known without asking it: declared, or seen in evidence it produced (learnTee). */
export function knownTee(provider: EvidenceProvider): Tee | undefined {
  return declaredTee(provider) ?? learnedTees.get(provider);
}

/** A provider's way to tell its TEE without a report (ConfigfsTsmProvider.detectTee), its own or its hardware part's. */
function detectorOf(p: unknown, depth = 0): (() => Promise<unknown>) | undefined {
  if (typeof p !== 'object' || p === null || depth > 4) return undefined;
  const detect = (p as { detectTee?: unknown }).detectTee;
  if (typeof detect === 'function') return () => (detect as () => Promise<unknown>).call(p);
  return detectorOf((p as { hardware?: unknown }).hardware, depth + 1);
}

/**
 * The provider's TEE before any report: known (knownTee), else asked of a provider that can tell without
 * a report (configfs-tsm's `provider` attribute; it asks once and shares the question between concurrent
 * callers). Undefined when it cannot tell, or the question failed (the caller then asks the TEE, under
 * the limiter, as before).
 */
async function teeBeforeReport(provider: EvidenceProvider): Promise<Tee | undefined> {
  const known = knownTee(provider);
  if (known !== undefined) return known;
  const detect = detectorOf(provider);
  if (!detect) return undefined;
  let tee: unknown;
  try {
    tee = await detect();
  } catch {
    detectionFailed.add(provider);
    return undefined;
  }
  detectionFailed.delete(provider);
  learnTee(provider, tee);
  return knownTee(provider);
}

/** Remembers the TEE of evidence `provider` produced (routes.ts calls it for /v1/attestation too). */
export function learnTee(provider: EvidenceProvider, tee: unknown): void {
  if (tee === 'tdx' || tee === 'snp') learnedTees.set(provider, tee);
}

/**
 * `client`: the caller's client key (routes.ts), for its share of the evidence rate and its place in the
 * evidence queue (attestation.ts); `signal`: aborted when the client has gone (a waiting request is then
 * dropped without a report). TDX only: on a gateway whose TEE is known to be another, 404 before the limiter and the TEE (review
 * s12, finding 2: every call spent a slot of the evidence rate and a report, then answered 404).
 * configfs-tsm declares none: its `provider` attribute tells, without a report, asked once for all
 * calls (s12 change review, finding 2: calls that arrived together before the first evidence came back
 * each spent a slot and a report). A provider that cannot tell is asked once; its evidence tells.
 * While that question fails (the TEE not up yet), it is asked again only under a slot of the evidence
 * rate, so calls the limiter refuses touch no configfs-tsm (review s14, finding 3); one call asks it
 * under its slot, the calls that arrive meanwhile wait for that answer and take a slot only when it is
 * not another TEE (s14 change review, R2: one slot for a burst's 404s, not one each).
 */
export async function openWebUiQuote(ctx: AttestationContext, query: URLSearchParams, client?: string, signal?: AbortSignal): Promise<Record<string, unknown>> {
  const askUnderLimiter = detectionFailed.has(ctx.provider) && knownTee(ctx.provider) === undefined;
  if (!askUnderLimiter) {
    const known = await teeBeforeReport(ctx.provider);
    if (known !== undefined && known !== 'tdx') throw tdxOnly();
  }
  // A raw "+" in the query (`?nonce=${btoa(…)}`) arrives as a space (form decoding), and a space is
  // never base64: it is read back as "+" (review s8 D5).
  const raw = query.get('nonce')?.replace(/ /g, '+') ?? null;
  const nonce = raw === null ? Buffer.alloc(32) : parseNonce(raw.replace(/-/g, '+').replace(/_/g, '/').padEnd(Math.ceil(raw.length / 4) * 4, '='));
  if (!askUnderLimiter) ctx.limiter.takeOrRefuse(client);
  else {
    const pending = questionUnderSlot.get(ctx.provider);
    if (pending) {
      // Another call holds a slot for the question: its answer, with no slot of this call's; a slot
      // only for a TDX (or still unknown) TEE, which this call then asks for a report.
      const known = await pending;
      if (known !== undefined && known !== 'tdx') throw tdxOnly();
      ctx.limiter.takeOrRefuse(client);
    } else {
      ctx.limiter.takeOrRefuse(client);
      // The slot is spent by now: an SEV-SNP answer is the 404 it always was, once for the burst, and then known.
      const question = teeBeforeReport(ctx.provider);
      questionUnderSlot.set(ctx.provider, question);
      let known: Tee | undefined;
      try {
        known = await question;
      } finally {
        if (questionUnderSlot.get(ctx.provider) === question) questionUnderSlot.delete(ctx.provider);
      }
      if (known !== undefined && known !== 'tdx') throw tdxOnly();
    }
  }
  // Under the evidence queue (attestation.ts, EvidenceQueue; s16 red team, providers finding 1).
  const ev = await evidenceTurn(ctx, client, signal, async () => {
    try {
      return await ctx.provider.getEvidence(new Uint8Array(bindingReportData(nonce, ctx.spkiHash)));
    } catch (err) {
      // A busy TEE is a 503 the page can retry, not a 500 (review s7).
      throw evidenceProviderFailure(ctx, err);
    }
  });
  learnTee(ctx.provider, ev.tee);
  if (ev.tee !== 'tdx') throw tdxOnly();
  return { quote: Buffer.from(ev.evidence).toString('hex'), quote_parse: 'reserved', timestamp: new Date().toISOString(), id: randomUUID(), status: true };
}

const tdxOnly = (): GatewayError => new GatewayError('ERR_GATEWAY_NOT_FOUND', 404, 'GET /api/v1/tee/quote serves TDX quotes only');

function jsonObject(body: Buffer): Record<string, unknown> {
  let doc: unknown;
  try {
    doc = JSON.parse(body.toString('utf8'));
  } catch {
    throw new GatewayError('ERR_GATEWAY_BAD_REQUEST', 400, 'the body is not JSON');
  }
  if (typeof doc !== 'object' || doc === null || Array.isArray(doc)) throw new GatewayError('ERR_GATEWAY_BAD_REQUEST', 400, 'the body must be a JSON object');
  return doc as Record<string, unknown>;
}

/**
 * POST /tdx_attest. `limiter` (routes.ts) bounds verifications per client before any work; anything
 * that does not parse as a TDX quote is FAILED before verifyEvidence, so an SEV-SNP report (whose
 * VCEK would be fetched from AMD KDS) or an SGX quote costs no collateral fetch (review s8 D1).
 */
export async function tdxAttest(
  verifier: QuoteVerifierOptions | undefined,
  body: Buffer,
  now: Date,
  gate?: { limiter: EvidenceRateLimiter; client?: string | undefined },
): Promise<{ attestation_result: 'SUCCESS' | 'FAILED'; timestamp: number }> {
  if (!verifier) throw new GatewayError('ERR_GATEWAY_NOT_FOUND', 404, 'this gateway has no quote verifier configured');
  const hex = jsonObject(body)['raw_quote_data'];
  if (typeof hex !== 'string' || hex.length === 0 || hex.length % 2 !== 0 || !/^[0-9a-fA-F]+$/.test(hex)) throw new GatewayError('ERR_GATEWAY_BAD_REQUEST', 400, '"raw_quote_data" must be a hex string');
  gate?.limiter.takeOrRefuse(gate.client, 'too many quote verifications; retry later');
  const timestamp = Math.floor(now.getTime() / 1000);
  const failed = { attestation_result: 'FAILED' as const, timestamp };
  let quote: Evidence;
  try {
    quote = parseEvidence(new Uint8Array(Buffer.from(hex, 'hex')));
  } catch {
    return failed;
  }
  if (quote.kind !== 'tdx') return failed; // this route verifies TDX quotes only: nothing else may reach a collateral source
  try {
    const result = await verifyEvidence(quote, { collateral: verifier.collateral, at: now, ...(verifier.trustRoots ? { trustRoots: verifier.trustRoots } : {}) });
    const ok = result.tee === 'tdx' && evaluatePolicy(result, verifier.policy ?? defaultPolicy('tdx'), { now }).ok;
    return ok ? { attestation_result: 'SUCCESS', timestamp } : failed;
  } catch (err) {
    // Not knowing is not a verdict: a retryable collateral outage is a 503 the caller can retry, not FAILED.
    // The library's message names the PCS / PCCS URL, with any password in it: never answered (review
    // s10 A1, as in the attestation service); routes.ts logs it with passwords masked.
    if (err instanceof CollateralUnavailableError) throw new GatewayError('ERR_GATEWAY_COLLATERAL_UNAVAILABLE', 503, `collateral for this quote cannot be obtained now; retry later`, { 'retry-after': '5' }, { cause: err });
    return failed;
  }
}

const STD_B64 = /^(?:[A-Za-z0-9+/]{4})*(?:[A-Za-z0-9+/]{2}==|[A-Za-z0-9+/]{3}=)?$/;

/** Cube's limits (agent/endpoint/endpoint.go): report_data ≤ 64 bytes, nonce (vTPM) ≤ 32 bytes. */
const CUBE_NONCE_SIZE = 32;

/** A canonical standard, padded base64 field of at most `max` bytes; absent or null is empty, as in Cube's Go decoder. */
function cubeBase64(o: Record<string, unknown>, name: string, max: number): Buffer {
  const v = o[name] ?? '';
  // Canonical only (review s8 D4): Cube's Go clients write it so; nonzero pad bits are another spelling.
  if (typeof v !== 'string' || !STD_B64.test(v) || Buffer.from(v, 'base64').toString('base64') !== v) throw new GatewayError('ERR_GATEWAY_BAD_REQUEST', 400, `"${name}" must be standard base64`);
  const raw = Buffer.from(v, 'base64');
  if (raw.length > max) throw new GatewayError('ERR_GATEWAY_BAD_REQUEST', 400, `"${name}" is at most ${max} bytes`);
  return raw;
}

/**
 * Cube's POST /attestation. The nonce is checked as Cube checks it but only
 * its vTPM modes use it, which this gateway does not offer. `client` / `signal` as openWebUiQuote's.
 */
export async function cubeAttestationAnswer(ctx: AttestationContext, body: Buffer, client?: string, signal?: AbortSignal): Promise<CubeAnswer> {
  const o = jsonObject(body);
  const raw = cubeBase64(o, 'report_data', REPORT_DATA_SIZE);
  cubeBase64(o, 'nonce', CUBE_NONCE_SIZE);
  const toJson = o['to_json'] ?? false;
  if (typeof toJson !== 'boolean') throw new GatewayError('ERR_GATEWAY_BAD_REQUEST', 400, '"to_json" must be a boolean');
  ctx.limiter.takeOrRefuse(client);
  const reportData = new Uint8Array(REPORT_DATA_SIZE);
  reportData.set(raw);
  const ev = await evidenceTurn(ctx, client, signal, async () => {
    try {
      return await ctx.provider.getEvidence(reportData);
    } catch (err) {
      throw evidenceProviderFailure(ctx, err);
    }
  });
  learnTee(ctx.provider, ev.tee);
  return ev.tee === 'snp' ? cubeSnpAnswer(ev, toJson) : cubeTdxAnswer(ev, toJson);
}
