/**
 * Gateway errors. Server side: a GatewayError carries the HTTP status and is
 * answered as `{error: {code, message}}`. Client side: an AttestationRefusedError
 * says why the client refused the gateway before sending any request byte.
 */
const BRAND = Symbol.for('tee-verify.gateway.error');

export type GatewayErrorCode =
  | 'ERR_GATEWAY_BAD_REQUEST'
  | 'ERR_GATEWAY_UNAUTHORIZED'
  | 'ERR_GATEWAY_NOT_FOUND'
  | 'ERR_GATEWAY_TOO_LARGE'
  | 'ERR_GATEWAY_RATE_LIMITED'
  /** Too many failed admin-token attempts from this client (per instance): 429 with Retry-After, no lookup. */
  | 'ERR_GATEWAY_TOO_MANY_AUTH_FAILURES'
  | 'ERR_GATEWAY_EVIDENCE_PROVIDER'
  /** The evidence queue is full, or this client already waits in it: 503 with Retry-After (attestation.ts EvidenceQueue). */
  | 'ERR_GATEWAY_EVIDENCE_BUSY'
  /** /tdx_attest: the quote's collateral cannot be obtained now (retryable): 503 with Retry-After, never SUCCESS. */
  | 'ERR_GATEWAY_COLLATERAL_UNAVAILABLE'
  | 'ERR_GATEWAY_UPSTREAM'
  | 'ERR_GATEWAY_UPSTREAM_TIMEOUT'
  /** The database (API keys, admin tokens) cannot be reached now: 503 with Retry-After. */
  | 'ERR_GATEWAY_STORAGE_UNAVAILABLE'
  /** Another database failure while serving: 500. */
  | 'ERR_GATEWAY_STORAGE'
  /** Start-up refused: the configuration must change (exit status 78). */
  | 'ERR_GATEWAY_CONFIG'
  /** Start-up: the port could not be bound (listen.ts); exit 75 when a retry can succeed (EADDRINUSE), else 78. */
  | 'ERR_GATEWAY_LISTEN'
  /**
   * The client closed its connection before its request body was complete (review s10, G4). Never
   * answered (nobody is left to read it) and never logged: counted as
   * tee_gateway_client_aborts_total{stage="request"}. 499 after nginx's "client closed request".
   */
  | 'ERR_GATEWAY_CLIENT_ABORTED'
  | 'ERR_GATEWAY_INTERNAL';

export class GatewayError extends Error {
  readonly [BRAND] = true;
  constructor(
    readonly code: GatewayErrorCode,
    readonly status: number,
    message: string,
    readonly headers: Record<string, string> = {},
    options: { cause?: unknown } = {},
  ) {
    super(message, options.cause === undefined ? undefined : { cause: options.cause });
    this.name = 'GatewayError';
  }

  toJSON(): { error: { code: string; message: string } } {
    return { error: { code: this.code, message: this.message } };
  }
}

export type RefusalCode =
  /** The attestation exchange itself failed (TLS, HTTP status, malformed answer). */
  | 'ERR_ATTEST_EXCHANGE'
  /** verifyEvidence rejected the evidence (signature, chain, untrusted root, collateral). */
  | 'ERR_ATTEST_EVIDENCE'
  /** Collateral could not be obtained: retryable, never an acceptance. */
  | 'ERR_ATTEST_COLLATERAL_UNAVAILABLE'
  /** The evidence is bound to another nonce: replayed (T42 / S30). */
  | 'ERR_ATTEST_REPLAY'
  /** The evidence is not bound to the certificate presented on this TLS connection (T41 / S29). */
  | 'ERR_ATTEST_BINDING'
  /** The TD / guest is debuggable and the policy does not allow it (T34 / S21). */
  | 'ERR_ATTEST_DEBUG'
  /** Any other policy violation (measurements, TCB status, ...). */
  | 'ERR_ATTEST_POLICY'
  /** A later connection presented a TLS key that no attestation covers. */
  | 'ERR_ATTEST_PINNING'
  /** The vTPM evidence failed verification (quote, banks, boot event log or IMA replay; details.checks names the VT check). */
  | 'ERR_ATTEST_VTPM';

/**
 * The client refused the gateway; no request byte was sent (except by a request already in flight
 * when a verdict revoked its connection's key: `details.revokedKey`, and the request is cut off).
 */
export class AttestationRefusedError extends Error {
  readonly [BRAND] = true;
  constructor(
    readonly code: RefusalCode,
    message: string,
    readonly details: {
      checks?: string[];
      violations?: unknown[];
      cause?: unknown;
      /** A non-200 answer to the attestation request: its HTTP status and the gateway's own error code, when it sent one. */
      status?: number;
      serverCode?: string;
      /** With status 429 or 503: the answer's Retry-After, in ms, when it sent one (delta-seconds). */
      retryAfterMs?: number;
      /**
       * Nothing about the gateway's TEE was judged, and the same call may pass later (tee-verify chat
       * exits 3): 'timeout', the TLS handshake or the attestation exchange did not finish within
       * timeoutMs; 'closed', the server closed the connection before the attestation answer was
       * complete (or while the connection waited for it); 'key-changed', the request waited for a
       * connection presenting a key that a newly verified key replaced, and was not sent.
       */
      transient?: 'timeout' | 'closed' | 'key-changed';
      /** The request was cut off because a verdict revoked this key (SPKI SHA-256, hex); the verdict is `cause`. */
      revokedKey?: string;
      /** The refused evidence came in the TLS handshake's certificate (AttestedClientOptions.handshakeEvidence). */
      evidenceIn?: 'handshake';
    } = {},
  ) {
    super(message, details.cause === undefined ? undefined : { cause: details.cause });
    this.name = 'AttestationRefusedError';
  }

  static override [Symbol.hasInstance](v: unknown): boolean {
    return typeof v === 'object' && v !== null && (v as Record<symbol, unknown>)[BRAND] === true && (v as Error).name === 'AttestationRefusedError';
  }
}
