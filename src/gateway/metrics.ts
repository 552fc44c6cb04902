/** The failed-authentication limiters (src/net/auth-failures.ts): admin API tokens and API keys of proxied requests. */
export type AuthLimiter = 'admin' | 'api_key';

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

  countProxied(status: number): void {
    const cls = `${Math.floor(status / 100)}xx`;
    this.proxied.set(cls, (this.proxied.get(cls) ?? 0) + 1);
  }

  render(): string {
    const line = (name: string, type: string, help: string, rows: [string, number][]): string =>
      `# HELP ${name} ${help}\n# TYPE ${name} ${type}\n${rows.map(([l, v]) => `${name}${l} ${v}`).join('\n')}\n`;
    return [
      line('tee_gateway_attestations_total', 'counter', 'Fresh evidence produced for attestation requests.', [['', this.attestations]]),
      line('tee_gateway_attestations_rate_limited_total', 'counter', 'Attestation requests answered 429.', [['', this.attestationsRateLimited]]),
      line('tee_gateway_attestation_failures_total', 'counter', 'Attestation requests the TEE could not serve.', [['', this.attestationFailures]]),
      line('tee_gateway_proxied_requests_total', 'counter', 'Requests proxied to the upstream, by upstream status class.', [...this.proxied].sort().map(([c, v]) => [`{class="${c}"}`, v])),
      line('tee_gateway_upstream_errors_total', 'counter', 'Upstream connection failures (502).', [['', this.upstreamErrors]]),
      line('tee_gateway_upstream_timeouts_total', 'counter', 'Upstream header timeouts (504).', [['', this.upstreamTimeouts]]),
      line('tee_gateway_unauthorized_total', 'counter', 'Requests refused for a missing or bad API key.', [['', this.unauthorized]]),
      line('tee_gateway_auth_rate_limited_total', 'counter', 'Requests answered 429 because their client failed authentication too often, by limiter.',
        Object.entries(this.authRateLimited).map(([l, v]) => [`{limiter="${l}"}`, v])),
      line('tee_gateway_too_large_total', 'counter', 'Request bodies refused as too large (413).', [['', this.tooLarge]]),
      line('tee_gateway_proxied_in_flight', 'gauge', 'Proxied requests in flight.', [['', this.inFlight]]),
    ].join('');
  }
}
