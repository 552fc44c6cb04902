/** What the gauges show, read at scrape time (the limiter's own numbers). */
export type LoadGauges = () => { running: number; waiting: number; /** Connections closed at the per-client cap, since start. */ connectionsRefused?: number };

/** Counters of the attestation service, as Prometheus text on GET /metrics (labels from fixed sets only). */
export class ServiceMetrics {
  /** route label ("verify", "trustee", "jwks", ...) and status → count. */
  readonly requests = new Map<string, number>();
  /** Appraisals by outcome: ok, policy (ok false), rejected (typed error). */
  readonly appraisals = new Map<'ok' | 'policy' | 'rejected', number>();
  /** Rejections by error code (a code is a fixed identifier, never user data). */
  readonly rejections = new Map<string, number>();
  appraisalSeconds = 0;
  appraisalCount = 0;

  constructor(readonly gauges: LoadGauges = () => ({ running: 0, waiting: 0 })) {}

  countRequest(route: string, status: number): void {
    const key = `{route="${route}",status="${status}"}`;
    this.requests.set(key, (this.requests.get(key) ?? 0) + 1);
  }

  countAppraisal(outcome: 'ok' | 'policy' | 'rejected', seconds: number, code?: string): void {
    this.appraisals.set(outcome, (this.appraisals.get(outcome) ?? 0) + 1);
    if (code !== undefined && /^[A-Z0-9_]{1,64}$/.test(code)) this.rejections.set(code, (this.rejections.get(code) ?? 0) + 1);
    this.appraisalSeconds += seconds;
    this.appraisalCount += 1;
  }

  render(): string {
    const block = (name: string, type: string, help: string, rows: [string, number][]): string =>
      `# HELP ${name} ${help}\n# TYPE ${name} ${type}\n${rows.map(([l, v]) => `${name}${l} ${v}`).join('\n')}${rows.length ? '\n' : ''}`;
    const { running, waiting, connectionsRefused = 0 } = this.gauges();
    return [
      block('tee_verify_as_requests_total', 'counter', 'HTTP requests by route and status.', [...this.requests].sort()),
      block('tee_verify_as_appraisals_total', 'counter', 'Appraisals by outcome (ok, policy = not met, rejected = typed error).', [...this.appraisals].sort().map(([k, v]) => [`{outcome="${k}"}`, v])),
      block('tee_verify_as_rejections_total', 'counter', 'Rejected appraisals by error code.', [...this.rejections].sort().map(([k, v]) => [`{code="${k}"}`, v])),
      block('tee_verify_as_appraisal_seconds', 'summary', 'Time spent in appraisals (verification, policy, signing).', [
        ['_sum', this.appraisalSeconds],
        ['_count', this.appraisalCount],
      ]),
      block('tee_verify_as_in_flight', 'gauge', 'Appraisals running.', [['', running]]),
      block('tee_verify_as_queued', 'gauge', 'Appraisals waiting for a slot.', [['', waiting]]),
      block('tee_verify_as_connections_refused_total', 'counter', 'Connections closed on accept because their client already held maxConnectionsPerClient.', [['', connectionsRefused]]),
    ].join('');
  }
}
