/**
 * Key broker errors: a stable string code, the HTTP status it answers with,
 * the checklist id of the rule that refused (when one did) and the failed
 * checks. Never carries key material.
 */
const BRAND = Symbol.for('tee-verify.kbs-error');

export type KbsErrorCode =
  | 'ERR_KBS_BAD_REQUEST'
  | 'ERR_KBS_BODY_TOO_LARGE'
  | 'ERR_KBS_UNSUPPORTED_MEDIA_TYPE'
  | 'ERR_KBS_NOT_FOUND'
  | 'ERR_KBS_UNAUTHORIZED'
  | 'ERR_KBS_RATE_LIMITED'
  /** Too many failed admin logins (token or bootstrap secret) from this client, per instance: 429, no lookup. */
  | 'ERR_KBS_TOO_MANY_AUTH_FAILURES'
  | 'ERR_KBS_USER_DATA'
  | 'ERR_KBS_ATTESTATION_TYPE'
  | 'ERR_KBS_EVIDENCE'
  | 'ERR_KBS_DEBUG'
  /** A SEV-SNP report from a VMPL other than 0 that the key's policy does not list (S24). */
  | 'ERR_KBS_VMPL'
  | 'ERR_KBS_POLICY'
  | 'ERR_KBS_BINDING'
  | 'ERR_KBS_NONCE'
  | 'ERR_KBS_WINDOW'
  | 'ERR_KBS_COLLATERAL_UNAVAILABLE'
  | 'ERR_KBS_POLICY_INVALID'
  /**
   * A key-transfer policy that pins no measurement, without allowUnpinnedMeasurement (X07), or an
   * SEV-SNP one without a REPORTED_TCB minimum for each product, without allowNoTcbMinimums (S17,
   * review s10): 400 at intake, 403 at transfer.
   */
  | 'ERR_KBS_POLICY_UNPINNED'
  | 'ERR_KBS_POLICY_IN_USE'
  | 'ERR_KBS_STORAGE'
  /**
   * A stored row fails its integrity check (review s7): a policy or admin-token row whose MAC does not
   * match, a key whose sealed material does not open for its id, version and policy. Written outside
   * the broker (the MACs need the master key): 500, nothing released, a log line.
   */
  | 'ERR_KBS_INTEGRITY'
  /**
   * Start-up only (exit 78): the row-integrity migration finds rows without a MAC (a database from
   * before review s7, or one whose integrity columns were removed). The broker never trusts them on
   * its own; the operator checks them and runs `tee-kbs admin upgrade-integrity` (second review s7).
   */
  | 'ERR_KBS_UPGRADE_REQUIRED'
  /** Revoking the last intact, unexpired admin token would leave the admin API without one (409). */
  | 'ERR_KBS_LAST_TOKEN'
  /** An admin token minting or revoking a token that outlives it or holds scopes it lacks (403). */
  | 'ERR_KBS_TOKEN_AUTHORITY'
  /** The admin token lacks the scope the request needs (read, keys, policies, tokens; review s9): 403. */
  | 'ERR_KBS_TOKEN_SCOPE'
  /** An HTTP/1.0 request for an answer that needs HTTP/1.1 (the streamed log export: chunks and a trailer): 505. */
  | 'ERR_KBS_HTTP_VERSION'
  | 'ERR_KBS_STORAGE_UNAVAILABLE'
  | 'ERR_KBS_CONFIG'
  /**
   * Start-up only: the broker could not bind --listen (review s10, L1; src/net/listen.ts). The errno is the
   * `cause`: exit 75 for EADDRINUSE / EAI_AGAIN (retry later), 78 for any other (EACCES, EADDRNOTAVAIL, ...).
   */
  | 'ERR_KBS_LISTEN'
  | 'ERR_KBS_SHUTTING_DOWN'
  /**
   * PostgreSQL, while serving: this instance's clock is further from the database server's than maxClockSkewSeconds /
   * --max-clock-skew (compared every minute and with /health's ping): /health and every /kbs/v1 request answer 503 until
   * it is back within the bound (s16 change review #3).
   */
  | 'ERR_KBS_CLOCK_SKEW'
  | 'ERR_KBS_INTERNAL';

export interface FailedCheck {
  check?: string;
  code?: string;
  class?: string;
  path?: string;
  message: string;
}

export interface KbsErrorOptions {
  check?: string;
  failedChecks?: FailedCheck[];
  cause?: unknown;
  headers?: Record<string, string>;
  /** Internal details for the broker's log and the attestation row, never the answer (e.g. a collateral URL). */
  detail?: string;
}

export class KbsError extends Error {
  readonly code: KbsErrorCode;
  readonly status: number;
  readonly check: string | undefined;
  readonly failedChecks: FailedCheck[];
  readonly headers: Record<string, string>;
  readonly detail: string | undefined;

  constructor(code: KbsErrorCode, status: number, message: string, options: KbsErrorOptions = {}) {
    super(message, options.cause === undefined ? undefined : { cause: options.cause });
    this.name = 'KbsError';
    this.code = code;
    this.status = status;
    this.check = options.check;
    this.failedChecks = options.failedChecks ?? (options.check ? [{ check: options.check, code, message }] : []);
    this.headers = options.headers ?? {};
    this.detail = options.detail;
    Object.defineProperty(this, BRAND, { value: true });
  }

  static is(e: unknown): e is KbsError {
    return typeof e === 'object' && e !== null && (e as Record<symbol, unknown>)[BRAND] === true;
  }

  /** The JSON body of a refusal: ITA's `error` text plus code and failed checks. */
  toJSON(): { error: string; code: KbsErrorCode; checks: FailedCheck[] } {
    return { error: this.message, code: this.code, checks: this.failedChecks };
  }
}
