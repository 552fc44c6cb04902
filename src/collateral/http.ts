/**
 * HTTP transport for collateral on undici: one injectable dispatcher,
 * header/body timeouts, an overall deadline per attempt, a response-size cap,
 * retries with exponential backoff and jitter that honour Retry-After on 429
 * and 503, and a bound on concurrent requests per host. Responses are
 * returned as bytes; shape checks belong to the sources.
 */
import type { Dispatcher } from 'undici';

import { InvalidArgumentError } from '../errors.js';
import { CollateralUnavailableError } from './errors.js';
import { printableUrl } from './source-url.js';

export interface HttpClientOptions {
  /** undici dispatcher (proxy, custom TLS, tests); default: an Agent with `connectTimeoutMs`. */
  dispatcher?: Dispatcher;
  /** Default 10 s; used only when no dispatcher is given. */
  connectTimeoutMs?: number;
  /** Time to receive the response headers; default 15 s. */
  headersTimeoutMs?: number;
  /** Idle time allowed between body chunks; default 15 s. */
  bodyTimeoutMs?: number;
  /**
   * Overall deadline of one attempt, from sending the request to the last
   * body byte; default 30 s. The header and body timeouts are idle timeouts:
   * a server dripping a byte now and then would pass them forever.
   */
  attemptTimeoutMs?: number;
  /** Largest body accepted; default 4 MiB (a PCK CRL is about 2 KB, a TCB info about 10 KB). */
  maxBodyBytes?: number;
  /** Retries after the first attempt; default 3. */
  retries?: number;
  /** First backoff delay; doubled per attempt, with full jitter; default 500 ms. */
  baseDelayMs?: number;
  /** Cap of one backoff delay; default 30 s. */
  maxDelayMs?: number;
  /** Longest Retry-After honoured; longer ones fail at once (KDS may ask for minutes). Default 60 s. */
  maxRetryAfterMs?: number;
  /** Concurrent requests per host; default 4. */
  maxConcurrentPerHost?: number;
  /** Injected for tests: wait, randomness and the wall clock used only for HTTP-date Retry-After. */
  sleep?: (ms: number) => Promise<void>;
  random?: () => number;
  wallClock?: () => number;
}

export interface HttpResponse {
  url: string;
  status: number;
  /** Lower-case header names; repeated headers joined with ", ". */
  headers: Record<string, string>;
  body: Uint8Array;
  attempts: number;
}

const RETRYABLE_STATUS = new Set([429, 500, 502, 503, 504]);

/**
 * Bytes of a non-2xx body read before the connection is dropped: the body is
 * never used, and the status alone classifies the answer (review s8 #5: a
 * 5 MiB 503 page became the final ERR_COLLATERAL_TOO_LARGE). Small error
 * pages are read to the end, so the connection can be reused.
 */
const ERROR_BODY_PREFIX_BYTES = 4096;

/**
 * Certificate verification failures of the TLS handshake (OpenSSL's verify
 * results as Node names them, and the host-name check): the same server
 * answers the same way on the next attempt, so they are not retried (X15).
 */
const TLS_VERIFY_CODES = new Set([
  'UNABLE_TO_GET_ISSUER_CERT',
  'UNABLE_TO_GET_ISSUER_CERT_LOCALLY',
  'UNABLE_TO_VERIFY_LEAF_SIGNATURE',
  'UNABLE_TO_DECRYPT_CERT_SIGNATURE',
  'UNABLE_TO_DECODE_ISSUER_PUBLIC_KEY',
  'CERT_SIGNATURE_FAILURE',
  'CERT_NOT_YET_VALID',
  'CERT_HAS_EXPIRED',
  'ERROR_IN_CERT_NOT_BEFORE_FIELD',
  'ERROR_IN_CERT_NOT_AFTER_FIELD',
  'DEPTH_ZERO_SELF_SIGNED_CERT',
  'SELF_SIGNED_CERT_IN_CHAIN',
  'CERT_CHAIN_TOO_LONG',
  'CERT_REVOKED',
  'INVALID_CA',
  'PATH_LENGTH_EXCEEDED',
  'INVALID_PURPOSE',
  'CERT_UNTRUSTED',
  'CERT_REJECTED',
  'HOSTNAME_MISMATCH',
  'ERR_TLS_CERT_ALTNAME_INVALID',
]);

function tlsVerifyCode(err: unknown): string | undefined {
  for (let e = err, depth = 0; e instanceof Error && depth < 4; e = e.cause, depth++) {
    const code = (e as { code?: unknown }).code;
    if (typeof code === 'string' && TLS_VERIFY_CODES.has(code)) return code;
  }
  return undefined;
}

type FailureCode = 'ERR_COLLATERAL_UNAVAILABLE' | 'ERR_COLLATERAL_NOT_FOUND' | 'ERR_COLLATERAL_HTTP_STATUS' | 'ERR_COLLATERAL_TOO_LARGE' | 'ERR_COLLATERAL_TLS';

/** One attempt's outcome: a response, or an error and whether another attempt may help (never exposed). */
interface Outcome {
  response?: HttpResponse;
  error?: CollateralUnavailableError;
  transient?: boolean;
  retryAfterMs?: number;
}

/**
 * A counting semaphore: at most `limit` holders at once. A release hands its
 * slot straight to the first waiter (the count never drops in between), so a
 * caller arriving while the waiter wakes cannot slip past the limit.
 */
export class Semaphore {
  private active = 0;
  private readonly waiting: (() => void)[] = [];
  constructor(private readonly limit: number) {}

  get holders(): number {
    return this.active;
  }

  async acquire(): Promise<() => void> {
    if (this.active < this.limit) this.active++;
    else await new Promise<void>((resolve) => this.waiting.push(resolve)); // the releaser's slot passes to us
    let released = false;
    return () => {
      if (released) return;
      released = true;
      const next = this.waiting.shift();
      if (next) next();
      else this.active--;
    };
  }
}

function positive(name: string, value: number | undefined, fallback: number): number {
  if (value === undefined) return fallback;
  if (!Number.isFinite(value) || value < 0) throw new InvalidArgumentError('ERR_INVALID_ARGUMENT', `${name} must be a non-negative number`);
  return value;
}

/** IMF-fixdate (RFC 9110 §5.6.7), e.g. "Sun, 06 Nov 1994 08:49:37 GMT". */
const IMF_FIXDATE = /^(?:Mon|Tue|Wed|Thu|Fri|Sat|Sun), \d{2} (?:Jan|Feb|Mar|Apr|May|Jun|Jul|Aug|Sep|Oct|Nov|Dec) \d{4} \d{2}:\d{2}:\d{2} GMT$/;

/**
 * Parses Retry-After as delay-seconds (digits only) or an IMF-fixdate;
 * undefined when absent or anything else, and the caller backs off as for no
 * header (review s8 #5: Date.parse took "-1" and "1.5" for dates in the past,
 * a retry at once). A date must name a real instant: one Date.parse rolls
 * over (31 Jun) or whose weekday is wrong is refused.
 */
export function parseRetryAfter(value: string | undefined, wallClockMs: number): number | undefined {
  if (!value) return undefined;
  const trimmed = value.trim();
  if (/^\d+$/.test(trimmed)) return Number(trimmed) * 1000;
  if (!IMF_FIXDATE.test(trimmed)) return undefined;
  const date = Date.parse(trimmed);
  if (Number.isNaN(date) || new Date(date).toUTCString() !== trimmed) return undefined;
  return Math.max(0, date - wallClockMs);
}

/**
 * Reads at most ERROR_BODY_PREFIX_BYTES of an error body, then drops the
 * rest (destroying the stream closes the connection); failures are ignored.
 * The attempt's deadline aborts a body that stalls.
 */
async function discardBody(body: Dispatcher.ResponseData['body']): Promise<void> {
  body.on('error', () => {}); // errors after destroy() are expected, not unhandled
  let read = 0;
  try {
    for await (const chunk of body) {
      read += (chunk as Buffer).length;
      if (read >= ERROR_BODY_PREFIX_BYTES) break; // leaving the loop destroys the stream
    }
  } catch {
    // a broken error body changes nothing: the status decided
  }
  if (!body.destroyed) body.destroy();
}

function flattenHeaders(raw: Record<string, string | string[] | undefined>): Record<string, string> {
  const out: Record<string, string> = {};
  for (const [k, v] of Object.entries(raw)) if (v !== undefined) out[k.toLowerCase()] = Array.isArray(v) ? v.join(', ') : v;
  return out;
}

/**
 * undici is loaded on the first request, not at import: a verification served
 * from the cache or a bundle never pays its load time (about 100 ms of a cold
 * one-shot CLI run).
 */
let undici: Promise<typeof import('undici')> | undefined;
function loadUndici(): Promise<typeof import('undici')> {
  undici ??= import('undici');
  return undici;
}

export class HttpClient {
  #dispatcher: Dispatcher | undefined;
  readonly #ownsDispatcher: boolean;
  readonly #opts: Required<Omit<HttpClientOptions, 'dispatcher'>>;
  readonly #hosts = new Map<string, Semaphore>();

  constructor(options: HttpClientOptions = {}) {
    this.#opts = Object.freeze({
      connectTimeoutMs: positive('connectTimeoutMs', options.connectTimeoutMs, 10_000),
      headersTimeoutMs: positive('headersTimeoutMs', options.headersTimeoutMs, 15_000),
      bodyTimeoutMs: positive('bodyTimeoutMs', options.bodyTimeoutMs, 15_000),
      attemptTimeoutMs: positive('attemptTimeoutMs', options.attemptTimeoutMs, 30_000),
      maxBodyBytes: positive('maxBodyBytes', options.maxBodyBytes, 4 * 1024 * 1024),
      retries: positive('retries', options.retries, 3),
      baseDelayMs: positive('baseDelayMs', options.baseDelayMs, 500),
      maxDelayMs: positive('maxDelayMs', options.maxDelayMs, 30_000),
      maxRetryAfterMs: positive('maxRetryAfterMs', options.maxRetryAfterMs, 60_000),
      maxConcurrentPerHost: Math.max(1, positive('maxConcurrentPerHost', options.maxConcurrentPerHost, 4)),
      sleep: options.sleep ?? ((ms: number) => new Promise<void>((resolve) => setTimeout(resolve, ms))),
      random: options.random ?? Math.random,
      wallClock: options.wallClock ?? Date.now,
    });
    this.#ownsDispatcher = options.dispatcher === undefined;
    this.#dispatcher = options.dispatcher;
  }

  async #dispatcherReady(): Promise<Dispatcher> {
    if (!this.#dispatcher) {
      const { Agent } = await loadUndici();
      this.#dispatcher ??= new Agent({ connect: { timeout: this.#opts.connectTimeoutMs } });
    }
    return this.#dispatcher;
  }

  /** Closes the dispatcher if this client created it. */
  async close(): Promise<void> {
    if (this.#ownsDispatcher && this.#dispatcher) await this.#dispatcher.close();
  }

  /**
   * GETs `url`. Resolves with any 2xx response; throws CollateralUnavailableError
   * for 404 (ERR_COLLATERAL_NOT_FOUND), other 4xx (ERR_COLLATERAL_HTTP_STATUS),
   * and for network errors, timeouts and 429/5xx once retries are exhausted.
   */
  async get(url: string, headers: Record<string, string> = {}): Promise<HttpResponse> {
    const host = new URL(url).host;
    let gate = this.#hosts.get(host);
    if (!gate) this.#hosts.set(host, (gate = new Semaphore(this.#opts.maxConcurrentPerHost)));
    for (let attempt = 1; ; attempt++) {
      const release = await gate.acquire();
      let outcome: Outcome;
      try {
        outcome = await this.#attempt(url, headers, attempt);
      } finally {
        release();
      }
      if (outcome.response) return outcome.response;
      const error = outcome.error!;
      if (!outcome.transient || attempt > this.#opts.retries) throw error;
      const delay = this.#delay(attempt, outcome.retryAfterMs);
      if (delay === undefined) throw error;
      await this.#opts.sleep(delay);
    }
  }

  #delay(attempt: number, retryAfterMs: number | undefined): number | undefined {
    if (retryAfterMs !== undefined) return retryAfterMs > this.#opts.maxRetryAfterMs ? undefined : retryAfterMs;
    const ceiling = Math.min(this.#opts.maxDelayMs, this.#opts.baseDelayMs * 2 ** (attempt - 1));
    return Math.floor(this.#opts.random() * ceiling); // full jitter
  }

  async #attempt(url: string, headers: Record<string, string>, attempt: number): Promise<Outcome> {
    const fail = (code: FailureCode, message: string, status: number | undefined, transient: boolean, cause?: unknown, retryAfterMs?: number): Outcome => ({
      // The URL as printed never carries userinfo or a secret parameter (source-url.ts).
      error: new CollateralUnavailableError(code, `${message}: GET ${printableUrl(url)}`, { url: printableUrl(url), ...(status === undefined ? {} : { status }), attempts: attempt }, cause),
      transient,
      ...(retryAfterMs === undefined ? {} : { retryAfterMs }),
    });
    // The deadline covers headers and body: it aborts the request and the body stream alike.
    const deadline = new AbortController();
    const timer = setTimeout(() => deadline.abort(), this.#opts.attemptTimeoutMs);
    const late = () => deadline.signal.aborted;
    const overDeadline = () => fail('ERR_COLLATERAL_UNAVAILABLE', `no complete answer within ${this.#opts.attemptTimeoutMs} ms`, undefined, true);
    try {
      let res: Dispatcher.ResponseData;
      try {
        const { request } = await loadUndici();
        res = await request(url, {
          method: 'GET',
          headers,
          dispatcher: await this.#dispatcherReady(),
          headersTimeout: this.#opts.headersTimeoutMs,
          bodyTimeout: this.#opts.bodyTimeoutMs,
          signal: deadline.signal,
        });
      } catch (err) {
        if (late()) return overDeadline();
        const tls = tlsVerifyCode(err);
        if (tls !== undefined) return fail('ERR_COLLATERAL_TLS', `TLS certificate verification failed (${tls})`, undefined, false, err);
        return fail('ERR_COLLATERAL_UNAVAILABLE', `request failed (${(err as Error).message})`, undefined, true, err);
      }
      const status = res.statusCode;
      const responseHeaders = flattenHeaders(res.headers as Record<string, string | string[] | undefined>);
      if (status < 200 || status >= 300) {
        // Classified by status alone: the body is not used, whatever its size or fate.
        await discardBody(res.body);
        if (status === 404) return fail('ERR_COLLATERAL_NOT_FOUND', 'not found (404)', status, false);
        if (RETRYABLE_STATUS.has(status)) {
          const retryAfterMs = status === 429 || status === 503 ? parseRetryAfter(responseHeaders['retry-after'], this.#opts.wallClock()) : undefined;
          return fail('ERR_COLLATERAL_UNAVAILABLE', `server answered ${status}`, status, true, undefined, retryAfterMs);
        }
        return fail('ERR_COLLATERAL_HTTP_STATUS', `server answered ${status}`, status, false);
      }
      let body: Uint8Array;
      try {
        body = await this.#readBody(res.body, responseHeaders);
      } catch (err) {
        if (err instanceof CollateralUnavailableError) return fail('ERR_COLLATERAL_TOO_LARGE', err.message, status, false);
        if (late()) return overDeadline();
        return fail('ERR_COLLATERAL_UNAVAILABLE', `response body failed (${(err as Error).message})`, status, true, err);
      }
      return { response: { url, status, headers: responseHeaders, body, attempts: attempt } };
    } finally {
      clearTimeout(timer);
    }
  }

  async #readBody(body: Dispatcher.ResponseData['body'], headers: Record<string, string>): Promise<Uint8Array> {
    const max = this.#opts.maxBodyBytes;
    const declared = Number(headers['content-length']);
    body.on('error', () => {}); // errors after destroy() below are expected, not unhandled
    if (Number.isFinite(declared) && declared > max) {
      body.destroy();
      throw new CollateralUnavailableError('ERR_COLLATERAL_TOO_LARGE', `declared body of ${declared} bytes exceeds ${max}`);
    }
    const chunks: Buffer[] = [];
    let total = 0;
    for await (const chunk of body) {
      total += (chunk as Buffer).length;
      if (total > max) {
        body.destroy();
        throw new CollateralUnavailableError('ERR_COLLATERAL_TOO_LARGE', `body exceeds ${max} bytes`);
      }
      chunks.push(chunk as Buffer);
    }
    return new Uint8Array(Buffer.concat(chunks, total));
  }
}
