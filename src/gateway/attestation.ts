/**
 * POST /v1/attestation {nonce}: fresh evidence whose REPORTDATA binds the
 * client's nonce to this gateway's TLS key (binding.ts). One evidence request
 * per call, never cached; a gateway-wide sliding window bounds the rate
 * (default 10 per second, clarifications.md), 429 with Retry-After beyond.
 * Within that bound each client has a share (default a quarter), so that one
 * peer cannot spend the whole budget and lock every other client out. Then the
 * evidence queue (EvidenceQueue) bounds the requests in flight and waiting, and
 * drops a waiting request whose client has gone.
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

/** Evidence requests one gateway has the provider work on at once (evidenceInFlight); default 1. */
export const DEFAULT_EVIDENCE_IN_FLIGHT = 1;
/** Evidence requests that may wait for their turn, all clients together (evidenceQueue); default 8. */
export const DEFAULT_EVIDENCE_QUEUE = 8;
/** Retry-After (seconds) of the 503 answered when the evidence queue is full or the client already waits. */
export const EVIDENCE_BUSY_RETRY_AFTER_SECONDS = 1;
/**
 * A turn's deadline (evidenceTurnTimeoutMs): past it the provider call is abandoned, its place freed;
 * default 60 s, above the TDX driver's 30 s quote wait and the 30 s tpm2-tools deadline (+1 s settle).
 */
export const DEFAULT_EVIDENCE_TURN_TIMEOUT_MS = 60_000;

export interface EvidenceQueueOptions {
  /** A turn's deadline in milliseconds (1 to 2^31 - 1); default DEFAULT_EVIDENCE_TURN_TIMEOUT_MS. */
  turnTimeoutMs?: number;
  /** Called when a turn passed its deadline (the gateway logs a WARNING; the queue counts it in turnsTimedOut). */
  onTurnTimeout?: (timeoutMs: number) => void;
}

/** Reasons of a provider refusal that say the TEE (its vTPM) does not answer now: a call past its deadline, or the TpmGate's fail-fast refusal. */
const UNRESPONSIVE_REASONS: ReadonlySet<unknown> = new Set(['timeout', 'tpm-unresponsive']);

/**
 * Whether a turn's failure says the provider does not answer now (src/tee/tpm-gate.ts: a TPM call past
 * its deadline, or "tpm-unresponsive"): ERR_TSM_UNAVAILABLE with such a details.reason, on the error or
 * its causes (evidenceProviderFailure's GatewayError has the provider error as its cause).
 */
export function isProviderUnresponsive(err: unknown): boolean {
  let e: unknown = err;
  for (let depth = 0; depth < 4 && typeof e === 'object' && e !== null; depth += 1) {
    const { code, details } = e as { code?: unknown; details?: { reason?: unknown } };
    if (code === 'ERR_TSM_UNAVAILABLE' && UNRESPONSIVE_REASONS.has(details?.reason)) return true;
    e = (e as { cause?: unknown }).cause;
  }
  return false;
}

/** The same answer again, for another request (a GatewayError is one response's error). */
const sameAnswer = (e: GatewayError): GatewayError => new GatewayError(e.code, e.status, e.message, { ...e.headers });

interface EvidenceWaiter {
  keys: readonly string[];
  signal: AbortSignal | undefined;
  grant: () => void;
  drop: () => void;
  refuse: (err: GatewayError) => void;
}

/** A request whose client left while it waited for its turn: no report is made for it, nothing is answered. */
const goneWhileWaiting = (): GatewayError =>
  new GatewayError('ERR_GATEWAY_CLIENT_ABORTED', 499, 'the client closed the connection while its evidence request waited for its turn');

/**
 * The bound on evidence work in flight and waiting (s16 red team, providers finding 1). The rate
 * limiter bounds how many evidence requests START per second, not how many wait: configfs-tsm makes
 * one report at a time (the kernel's tsm_rwsem and the TDX driver's quote lock), so when a report took
 * longer than 1/rate the requests piled up for as long as a burst lasted, and every one got its report
 * even when its client had long gone, while an honest client waited behind all of them.
 *
 * Now at most `inFlight` requests are at the provider at once and at most `maxWaiting` wait, first
 * come first served; of those waiting, at most one per client (its client key, and for an IPv6 key its
 * /56 and /48 as a whole, as the rate shares count a client: src/net/client-key.ts). Beyond either
 * bound the request is refused at once: 503 ERR_GATEWAY_EVIDENCE_BUSY with Retry-After (the TEE is
 * busy, as a configfs-tsm EBUSY is answered). A waiting request whose client closed its connection is
 * dropped (its `signal` aborted): it leaves the queue, its turn goes to the next, and no report is made
 * for it. So an honest request that is admitted is served after at most inFlight + maxWaiting reports.
 * Memory: the waiting requests and one count per key of each.
 *
 * No queue behind a provider that does not answer (s16 change review of the providers fixes, #1 and #4;
 * the queue used to hand a hung vTPM one waiting request after another, each trying the TPM for a whole
 * deadline, so the n-th waited n deadlines, which src/tee/tpm-gate.ts exists to prevent, and a provider
 * call that never settled held the only place for ever):
 * - a turn has a deadline (`turnTimeoutMs`, default 60 s): past it its request is answered 503
 *   ERR_GATEWAY_EVIDENCE_PROVIDER (retryable), its place is freed although the provider call may still
 *   run (it is abandoned; its result is dropped), `onTurnTimeout` is called and turnsTimedOut counts it;
 * - a turn that passed its deadline, or ended with the provider saying it does not answer
 *   (isProviderUnresponsive: ERR_TSM_UNAVAILABLE, reason "timeout" or "tpm-unresponsive"), refuses
 *   every waiting request at once with the same answer, and marks the provider unresponsive: while
 *   marked, a new request is refused at once with that answer while a turn runs; with none running one
 *   request is let through to try again, and the first turn that ends otherwise (served, or any other
 *   failure: the provider answered) clears the mark. As TpmGate does, one level up.
 */
export class EvidenceQueue {
  #running = 0;
  readonly #waiting: EvidenceWaiter[] = [];
  readonly #waitingPerKey = new Map<string, number>();
  /** The answer while the provider does not answer (see above), else undefined. */
  #unresponsive: GatewayError | undefined;
  readonly #onTurnTimeout: ((timeoutMs: number) => void) | undefined;
  readonly turnTimeoutMs: number;
  /** Turns that passed their deadline since start (tee_gateway_evidence_turn_timeouts_total). */
  turnsTimedOut = 0;

  constructor(
    readonly inFlight = DEFAULT_EVIDENCE_IN_FLIGHT,
    readonly maxWaiting = DEFAULT_EVIDENCE_QUEUE,
    o: EvidenceQueueOptions = {},
  ) {
    if (!Number.isSafeInteger(inFlight) || inFlight < 1) throw new RangeError('evidenceInFlight must be a positive integer');
    if (!Number.isSafeInteger(maxWaiting) || maxWaiting < 0) throw new RangeError('evidenceQueue must be an integer, 0 or more');
    const turnTimeoutMs = o.turnTimeoutMs ?? DEFAULT_EVIDENCE_TURN_TIMEOUT_MS;
    if (!Number.isSafeInteger(turnTimeoutMs) || turnTimeoutMs < 1 || turnTimeoutMs > 2 ** 31 - 1) {
      throw new RangeError('evidenceTurnTimeoutMs must be a whole number of milliseconds from 1 to 2147483647');
    }
    this.turnTimeoutMs = turnTimeoutMs;
    this.#onTurnTimeout = o.onTurnTimeout;
  }

  /** Requests at the provider now. */
  get running(): number {
    return this.#running;
  }

  /** Requests waiting for their turn now. */
  get waiting(): number {
    return this.#waiting.length;
  }

  /**
   * `work` (the provider call) once it is this request's turn. `client`: the caller's client key, for
   * the one-waiting-per-client rule (without one only the queue bound applies). `signal`: aborted when
   * the client is gone; a request still waiting then rejects with ERR_GATEWAY_CLIENT_ABORTED and `work`
   * never runs. Refusals are synchronous with the call (nothing is awaited before admission).
   */
  async run<T>(client: string | undefined, signal: AbortSignal | undefined, work: () => Promise<T>): Promise<T> {
    if (signal?.aborted) throw goneWhileWaiting();
    // The provider does not answer and is being tried again: refused at once, not one deadline later.
    if (this.#unresponsive && this.#running > 0) throw sameAnswer(this.#unresponsive);
    if (this.#running < this.inFlight && this.#waiting.length === 0) {
      this.#running += 1;
    } else {
      const keys = client === undefined ? [] : [client, ...widerClientKeys(client)];
      const retry = { 'Retry-After': String(EVIDENCE_BUSY_RETRY_AFTER_SECONDS) };
      if (this.#waiting.length >= this.maxWaiting) {
        throw new GatewayError('ERR_GATEWAY_EVIDENCE_BUSY', 503, `the TEE is busy (${this.#waiting.length} evidence requests are waiting); retry later`, retry);
      }
      if (keys.some((k) => (this.#waitingPerKey.get(k) ?? 0) > 0)) {
        throw new GatewayError('ERR_GATEWAY_EVIDENCE_BUSY', 503, 'the TEE is busy and this client already has an evidence request waiting; retry later', retry);
      }
      await new Promise<void>((resolve, reject) => {
        const onAbort = (): void => {
          const i = this.#waiting.indexOf(waiter);
          if (i < 0) return; // its turn came first: it runs (or is dropped there)
          this.#waiting.splice(i, 1);
          this.#forget(waiter);
          reject(goneWhileWaiting());
        };
        const waiter: EvidenceWaiter = {
          keys,
          signal,
          grant: () => {
            signal?.removeEventListener('abort', onAbort);
            resolve();
          },
          drop: () => {
            signal?.removeEventListener('abort', onAbort);
            reject(goneWhileWaiting());
          },
          refuse: (err) => {
            signal?.removeEventListener('abort', onAbort);
            reject(err);
          },
        };
        this.#waiting.push(waiter);
        for (const k of keys) this.#waitingPerKey.set(k, (this.#waitingPerKey.get(k) ?? 0) + 1);
        signal?.addEventListener('abort', onAbort, { once: true });
      });
      // The turn was handed over (#running counts this request); the client may have gone since.
      if (signal?.aborted) {
        this.#release();
        throw goneWhileWaiting();
      }
    }
    return this.#turn(work);
  }

  /** One turn: `work` until it settles or the deadline passes, then the place goes to the next request. */
  async #turn<T>(work: () => Promise<T>): Promise<T> {
    let timer: NodeJS.Timeout | undefined;
    let timedOut = false;
    const deadline = new Promise<never>((_resolve, reject) => {
      timer = setTimeout(() => {
        timedOut = true;
        reject(this.#turnTimedOut());
      }, this.turnTimeoutMs);
    });
    const call = new Promise<T>((resolve) => resolve(work())); // work starts now; a synchronous throw rejects
    call.catch(() => {}); // an abandoned call's late failure has nobody to tell
    try {
      const value = await Promise.race([call, deadline]);
      this.#unresponsive = undefined;
      return value;
    } catch (err) {
      if (timedOut || isProviderUnresponsive(err)) this.#markUnresponsive(err);
      else this.#unresponsive = undefined; // the provider answered, if with an error
      throw err;
    } finally {
      clearTimeout(timer);
      this.#release();
    }
  }

  #turnTimedOut(): GatewayError {
    this.turnsTimedOut += 1;
    try {
      this.#onTurnTimeout?.(this.turnTimeoutMs);
    } catch {
      // a logger's failure does not keep the place
    }
    return new GatewayError('ERR_GATEWAY_EVIDENCE_PROVIDER', 503, `the TEE gave no evidence within ${this.turnTimeoutMs} ms; retry later`, {
      'Retry-After': String(PROVIDER_RETRY_AFTER_SECONDS),
    });
  }

  /** The provider does not answer: every waiting request gets the turn's answer now instead of a deadline each. */
  #markUnresponsive(err: unknown): void {
    const answer =
      err instanceof GatewayError
        ? err
        : new GatewayError('ERR_GATEWAY_EVIDENCE_PROVIDER', 503, 'the TEE gave no evidence (ERR_TSM_UNAVAILABLE); retry later', { 'Retry-After': String(PROVIDER_RETRY_AFTER_SECONDS) });
    this.#unresponsive = answer;
    for (const w of this.#waiting.splice(0)) {
      this.#forget(w);
      w.refuse(sameAnswer(answer));
    }
  }

  #forget(w: EvidenceWaiter): void {
    for (const k of w.keys) {
      const n = (this.#waitingPerKey.get(k) ?? 1) - 1;
      if (n > 0) this.#waitingPerKey.set(k, n);
      else this.#waitingPerKey.delete(k);
    }
  }

  /** A turn ends: the next waiting requests whose clients are still there get it, in order of arrival. */
  #release(): void {
    this.#running -= 1;
    while (this.#running < this.inFlight && this.#waiting.length > 0) {
      const next = this.#waiting.shift() as EvidenceWaiter;
      this.#forget(next);
      if (next.signal?.aborted) {
        next.drop();
        continue;
      }
      this.#running += 1;
      next.grant();
    }
  }
}

/**
 * The provider call `work` under the context's evidence queue (EvidenceQueue), after the rate limiter
 * granted the request; without a queue (a context built by hand) it runs at once.
 */
export function evidenceTurn<T>(ctx: AttestationContext, client: string | undefined, signal: AbortSignal | undefined, work: () => Promise<T>): Promise<T> {
  if (!ctx.queue) return work();
  return ctx.queue.run(client, signal, work);
}

export interface AttestationContext {
  provider: EvidenceProvider;
  certificatePem: string;
  spkiHash: Buffer;
  limiter: EvidenceRateLimiter;
  /** The bound on evidence work in flight and waiting (startGateway always sets one). */
  queue?: EvidenceQueue;
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
  // The provider's error as the cause (never answered): the evidence queue reads its reason (isProviderUnresponsive).
  return new GatewayError('ERR_GATEWAY_EVIDENCE_PROVIDER', 503, message, retryable ? { 'Retry-After': String(PROVIDER_RETRY_AFTER_SECONDS) } : {}, { cause: err });
}

/**
 * `client`: the caller's client key (routes.ts), for its share of the evidence rate and its place in
 * the evidence queue. `signal`: aborted when the client has gone (routes.ts): a request still waiting
 * for its turn is then dropped without a report.
 */
export async function answerAttestation(ctx: AttestationContext, body: Buffer, client?: string, signal?: AbortSignal): Promise<AttestationAnswer> {
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
    const { hardware, part } = await evidenceTurn(ctx, client, signal, () => vtpmAnswerPart(ctx, vtpmProvider, nonce));
    return {
      evidence: Buffer.from(hardware.evidence).toString('base64'),
      tee: hardware.tee,
      ...(hardware.auxblob ? { auxblob: Buffer.from(hardware.auxblob).toString('base64') } : {}),
      certificate: leafCertificatePem(ctx.certificatePem),
      ...part,
    };
  }
  const reportData = bindingReportData(nonce, ctx.spkiHash);
  const ev = await evidenceTurn(ctx, client, signal, async () => {
    try {
      return await ctx.provider.getEvidence(new Uint8Array(reportData));
    } catch (err) {
      throw evidenceProviderFailure(ctx, err);
    }
  });
  return {
    evidence: Buffer.from(ev.evidence).toString('base64'),
    tee: ev.tee,
    ...(ev.auxblob ? { auxblob: Buffer.from(ev.auxblob).toString('base64') } : {}),
    certificate: leafCertificatePem(ctx.certificatePem),
    reportDataPreimage: { label: BINDING_LABEL.toString('base64'), nonce: nonce.toString('base64'), spkiSha256: ctx.spkiHash.toString('hex') },
    ...(format === undefined ? {} : { format: 'plain' as const }),
  };
}
