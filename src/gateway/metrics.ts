/** The failed-authentication limiters (src/net/auth-failures.ts): admin API tokens and API keys of proxied requests. */
export type AuthLimiter = 'admin' | 'api_key';

/** What a POST /tdx_attest call came to (tee_gateway_quote_verifications_total{result}). */
export type QuoteVerificationResult = 'success' | 'failed' | 'unavailable' | 'rate_limited';

/**
 * Where a request stood when its client closed the connection (tee_gateway_client_aborts_total{stage}):
 * `request` while its body was still arriving (any route), `waiting` a proxied request before the
 * upstream's response headers, `streaming` while the upstream's answer was relayed.
 */
export type ClientAbortStage = 'request' | 'waiting' | 'streaming';

/**
 * Why the gateway cut a proxied answer after its status went out (tee_gateway_upstream_cuts_total{reason}):
 * `short` the upstream's body ended (closed, reset or failed) before its Content-Length; `error` any other
 * upstream failure mid-body (a reset or a framing error of a chunked or close-delimited body); `idle` the
 * upstream was silent for upstreamIdleTimeoutMs; `too_large` the body passed maxResponseBytes; `client_stalled`
 * the client read nothing for upstreamIdleTimeoutMs while the upstream waited on it (paused). Not client aborts.
 */
export type UpstreamCutReason = 'error' | 'idle' | 'short' | 'too_large' | 'client_stalled';

/** Fixed upper bounds (seconds) of the proxied-request histograms: from a cached answer to a long chat stream. */
export const LATENCY_BUCKETS_SECONDS = [0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30, 60, 120, 300] as const;

/** A Prometheus histogram with fixed buckets: cumulative counts, sum and count. */
export class Histogram {
  readonly #counts = new Array<number>(LATENCY_BUCKETS_SECONDS.length).fill(0);
  sum = 0;
  count = 0;

  observe(seconds: number): void {
    if (!Number.isFinite(seconds) || seconds < 0) return;
    this.sum += seconds;
    this.count += 1;
    const i = LATENCY_BUCKETS_SECONDS.findIndex((b) => seconds <= b);
    if (i >= 0) this.#counts[i] = (this.#counts[i] as number) + 1;
  }

  render(name: string, help: string): string {
    let cumulative = 0;
    const rows = LATENCY_BUCKETS_SECONDS.map((b, i) => {
      cumulative += this.#counts[i] as number;
      return `${name}_bucket{le="${b}"} ${cumulative}`;
    });
    return `# HELP ${name} ${help}\n# TYPE ${name} histogram\n${rows.join('\n')}\n${name}_bucket{le="+Inf"} ${this.count}\n${name}_sum ${this.sum}\n${name}_count ${this.count}\n`;
  }
}

/** Gateway counters, exposed as Prometheus text on GET /metrics (no labels with user data). */
export class GatewayMetrics {
  attestations = 0;
  attestationsRateLimited = 0;
  attestationFailures = 0;
  proxied = new Map<string, number>();
  upstreamErrors = 0;
  upstreamTimeouts = 0;
  unauthorized = 0;
  tooLarge = 0;
  inFlight = 0;
  /** Requests answered 429 by each failed-authentication limiter (admin tokens, API keys). */
  readonly authRateLimited: Record<AuthLimiter, number> = { admin: 0, api_key: 0 };
  /** POST /tdx_attest outcomes (issue 8: verification failures). */
  readonly quoteVerifications: Record<QuoteVerificationResult, number> = { success: 0, failed: 0, unavailable: 0, rate_limited: 0 };
  /** Clients that hung up before their answer was complete (not upstream failures, review s10 G2). */
  readonly clientAborts: Record<ClientAbortStage, number> = { request: 0, waiting: 0, streaming: 0 };
  /** Proxied answers cut mid-stream by the upstream's doing or the response limit (review s10b, item 5). */
  readonly upstreamCuts: Record<UpstreamCutReason, number> = { error: 0, idle: 0, short: 0, too_large: 0, client_stalled: 0 };
  /** Proxied requests: until the upstream's response headers (time to first byte), and until the answer ended or was cut. */
  readonly upstreamFirstByte = new Histogram();
  readonly proxiedDuration = new Histogram();

  /**
   * `connectionsRefused`: connections closed at the per-client cap since start; `evidenceTurnTimeouts`:
   * evidence provider calls abandoned at the evidence queue's turn deadline (both read at scrape time).
   */
  constructor(
    readonly connectionsRefused: () => number = () => 0,
    readonly evidenceTurnTimeouts: () => number = () => 0,
  ) {}

  /** Counts a gateway error by its code. */
  countError(code: string): void {
    if (code === 'ERR_GATEWAY_RATE_LIMITED') this.attestationsRateLimited += 1;
    else if (code === 'ERR_GATEWAY_EVIDENCE_PROVIDER') this.attestationFailures += 1;
    else if (code === 'ERR_GATEWAY_UNAUTHORIZED') this.unauthorized += 1;
    else if (code === 'ERR_GATEWAY_TOO_LARGE') this.tooLarge += 1;
    else if (code === 'ERR_GATEWAY_UPSTREAM') this.upstreamErrors += 1;
    else if (code === 'ERR_GATEWAY_UPSTREAM_TIMEOUT') this.upstreamTimeouts += 1;
  }

  countAuthRateLimited(limiter: AuthLimiter): void {
    this.authRateLimited[limiter] += 1;
  }

  countQuoteVerification(result: QuoteVerificationResult): void {
    this.quoteVerifications[result] += 1;
  }

  countClientAbort(stage: ClientAbortStage): void {
    this.clientAborts[stage] += 1;
  }

  countUpstreamCut(reason: UpstreamCutReason): void {
    this.upstreamCuts[reason] += 1;
  }

  countProxied(status: number): void {
    const cls = `${Math.floor(status / 100)}xx`;
    this.proxied.set(cls, (this.proxied.get(cls) ?? 0) + 1);
  }

  render(): string {
    const line = (name: string, type: string, help: string, rows: [string, number][]): string =>
      `# HELP ${name} ${help}\n# TYPE ${name} ${type}\n${rows.map(([l, v]) => `${name}${l} ${v}`).join('\n')}\n`;
    return [
      line('tee_gateway_attestations_total', 'counter', 'Fresh evidence produced for attestation requests.', [['', this.attestations]]),
      line('tee_gateway_attestations_rate_limited_total', 'counter', 'Attestation and quote-verification requests answered 429.', [['', this.attestationsRateLimited]]),
      line('tee_gateway_attestation_failures_total', 'counter', 'Attestation requests the TEE could not serve.', [['', this.attestationFailures]]),
      line('tee_gateway_proxied_requests_total', 'counter', 'Requests proxied to the upstream, by upstream status class.', [...this.proxied].sort().map(([c, v]) => [`{class="${c}"}`, v])),
      line('tee_gateway_upstream_errors_total', 'counter', 'Upstream connection failures (502).', [['', this.upstreamErrors]]),
      line('tee_gateway_upstream_timeouts_total', 'counter', 'Upstream header timeouts (504).', [['', this.upstreamTimeouts]]),
      line('tee_gateway_upstream_cuts_total', 'counter', 'Proxied answers cut after their status was sent, by reason (error: the upstream failed mid-body; idle: silent past the idle timeout; short: ended before its Content-Length; too_large: over the response limit; client_stalled: the client read nothing past the idle timeout while the upstream waited on it). Not client aborts.',
        Object.entries(this.upstreamCuts).map(([r, v]) => [`{reason="${r}"}`, v])),
      line('tee_gateway_unauthorized_total', 'counter', 'Requests refused for a missing or bad API key.', [['', this.unauthorized]]),
      line('tee_gateway_auth_rate_limited_total', 'counter', 'Requests answered 429 because their client failed authentication too often, by limiter.',
        Object.entries(this.authRateLimited).map(([l, v]) => [`{limiter="${l}"}`, v])),
      line('tee_gateway_too_large_total', 'counter', 'Request bodies refused as too large (413).', [['', this.tooLarge]]),
      line('tee_gateway_client_aborts_total', 'counter', 'Requests whose client closed the connection before the answer was complete, by stage (request: body still arriving; waiting: before the upstream\'s headers; streaming: during the answer). Not upstream errors.',
        Object.entries(this.clientAborts).map(([s, v]) => [`{stage="${s}"}`, v])),
      line('tee_gateway_connections_refused_total', 'counter', 'Connections closed on accept because their client already held maxConnectionsPerClient (--max-connections-per-client).', [['', this.connectionsRefused()]]),
      line('tee_gateway_evidence_turn_timeouts_total', 'counter', 'Evidence provider calls abandoned at the evidence queue\'s turn deadline (evidenceTurnTimeoutMs): answered 503, the waiting requests refused.', [['', this.evidenceTurnTimeouts()]]),
      line('tee_gateway_proxied_in_flight', 'gauge', 'Proxied requests in flight.', [['', this.inFlight]]),
      line('tee_gateway_quote_verifications_total', 'counter', 'POST /tdx_attest calls, by result (success, failed, unavailable: 503 collateral, rate_limited: 429).',
        Object.entries(this.quoteVerifications).map(([r, v]) => [`{result="${r}"}`, v])),
      this.upstreamFirstByte.render('tee_gateway_upstream_first_byte_seconds', 'Proxied requests: seconds until the upstream\'s response headers.'),
      this.proxiedDuration.render('tee_gateway_proxied_request_duration_seconds', 'Proxied requests: seconds until the answer ended or was cut (streams included).'),
    ].join('');
  }
}
