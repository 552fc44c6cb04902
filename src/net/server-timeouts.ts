/**
 * Bounds on how long an HTTPS server waits for a client (gateway and key
 * broker). Without them a client that sends its TLS handshake, request head or
 * body one byte every few seconds (slowloris) holds a socket forever.
 *
 *   handshake  the TLS handshake must complete within headersTimeoutMs (a total, not an idle timer)
 *   headers    the request head must be complete headersTimeoutMs after its first byte
 *              (or after the handshake, on a new connection)
 *   request    the whole request, body included, within requestTimeoutMs
 *   keep-alive an idle connection between requests is closed after keepAliveTimeoutMs
 *
 * Only the receipt of the request is bounded: once it is complete, the
 * answer may stream for as long as it needs (a long chat answer). A client
 * cut while sending gets 408 (or a bare close when the answer had begun).
 * Node checks its open requests periodically, so the cut comes up to one check
 * interval after the bound; the interval scales with the bound.
 */
export interface ServerTimeouts {
  /** Default 20 000 ms. */
  headersTimeoutMs?: number;
  /** Default 60 000 ms; not below headersTimeoutMs. */
  requestTimeoutMs?: number;
  /** Default 30 000 ms. */
  keepAliveTimeoutMs?: number;
}

export const DEFAULT_SERVER_TIMEOUTS = { headersTimeoutMs: 20_000, requestTimeoutMs: 60_000, keepAliveTimeoutMs: 30_000 } as const;

/** The createServer options these bounds become (node:https). */
export interface ServerTimeoutOptions {
  handshakeTimeout: number;
  headersTimeout: number;
  requestTimeout: number;
  keepAliveTimeout: number;
  connectionsCheckingInterval: number;
}

/**
 * Validated bounds as server options; `refuse` makes the caller's typed
 * configuration error. Every bound is a positive finite number of
 * milliseconds: turning one off is not offered.
 */
export function serverTimeoutOptions(given: ServerTimeouts, refuse: (message: string) => Error): ServerTimeoutOptions {
  const bound = (name: keyof ServerTimeouts): number => {
    const v = given[name] ?? DEFAULT_SERVER_TIMEOUTS[name];
    if (typeof v !== 'number' || !Number.isFinite(v) || v < 1) throw refuse(`${name} must be a positive number of milliseconds`);
    return Math.floor(v);
  };
  const headers = bound('headersTimeoutMs');
  const request = bound('requestTimeoutMs');
  const keepAlive = bound('keepAliveTimeoutMs');
  if (headers > request) throw refuse(`headersTimeoutMs (${headers}) must not exceed requestTimeoutMs (${request})`);
  return {
    handshakeTimeout: headers,
    headersTimeout: headers,
    requestTimeout: request,
    keepAliveTimeout: keepAlive,
    // Node's default check runs every 30 s whatever the bound; a quarter of the bound keeps the overshoot small.
    connectionsCheckingInterval: Math.min(30_000, Math.max(25, Math.floor(headers / 4))),
  };
}
