/**
 * A minimal JSON-over-HTTP(S) POST with an optional private CA, one deadline
 * for the whole exchange and a response size cap. The deadline is not a
 * socket idle timeout: a broker (or anyone on the path) trickling a byte now
 * and then would reset an idle timer forever and hang the model loader
 * (review s6).
 */
import * as http from 'node:http';
import * as https from 'node:https';
import { KeyBrokerClientError } from '../model/errors.js';

export interface HttpResponse {
  status: number;
  headers: http.IncomingHttpHeaders;
  body: Buffer;
}

export interface PostOptions {
  headers: Record<string, string>;
  /** PEM certificate(s) trusted for the broker's TLS certificate (instead of the system store). */
  ca?: string | Buffer;
  /** Deadline for the whole request, from the call to the last byte of the answer (ms, > 0). */
  timeoutMs: number;
  maxResponseBytes?: number;
  /** Plain http:// is refused unless set (the caller reports it as a warning). */
  allowInsecureHttp?: boolean;
}

/**
 * https: always; http: only when explicitly allowed. Over plain HTTP anyone on
 * the path can answer as the broker, and the loader would decrypt with
 * whatever key such an answer carries.
 */
export function checkBrokerTransport(url: URL, allowInsecureHttp: boolean | undefined): void {
  if (url.protocol === 'https:') return;
  if (url.protocol === 'http:') {
    if (allowInsecureHttp) return;
    throw new KeyBrokerClientError('ERR_KBS_INSECURE_TRANSPORT', `refusing the plain-HTTP key broker ${url.origin}: use https:// (or allow http explicitly: --allow-insecure-http / allowInsecureHttp)`, {
      details: { url: url.origin },
    });
  }
  throw new KeyBrokerClientError('ERR_KBS_ARGUMENT', `unsupported URL scheme ${url.protocol}`);
}

/** ERR_KBS_ARGUMENT unless `timeoutMs` is a positive number of milliseconds setTimeout can hold. */
export function checkTimeoutMs(timeoutMs: unknown): void {
  if (typeof timeoutMs !== 'number' || !Number.isFinite(timeoutMs) || timeoutMs <= 0 || timeoutMs > MAX_TIMEOUT_MS) {
    throw new KeyBrokerClientError('ERR_KBS_ARGUMENT', `timeoutMs must be a number of milliseconds in (0, ${MAX_TIMEOUT_MS}]`, { details: { timeoutMs: String(timeoutMs) } });
  }
}

/** Node's timers hold at most 2^31 - 1 ms; beyond, they fire at once. */
const MAX_TIMEOUT_MS = 2 ** 31 - 1;

/** The deadline passed: the request is destroyed with this (a network failure, retried like one). */
export function isDeadlineError(e: unknown): boolean {
  return e instanceof KeyBrokerClientError && e.code === 'ERR_KBS_HTTP' && e.details['reason'] === 'timeout';
}

export function postJson(url: URL, body: Buffer, o: PostOptions): Promise<HttpResponse> {
  const max = o.maxResponseBytes ?? 1024 * 1024;
  try {
    checkBrokerTransport(url, o.allowInsecureHttp);
    checkTimeoutMs(o?.timeoutMs);
  } catch (e) {
    return Promise.reject(e);
  }
  const isHttps = url.protocol === 'https:';
  const mod = isHttps ? https : http;
  return new Promise((resolve, reject) => {
    let deadline: NodeJS.Timeout | undefined;
    const settle = <T>(fn: (v: T) => void) => (v: T): void => {
      clearTimeout(deadline);
      fn(v);
    };
    resolve = settle(resolve);
    reject = settle(reject);
    const req = mod.request(
      url,
      {
        method: 'POST',
        headers: { ...o.headers, 'Content-Length': String(body.length) },
        ...(isHttps && o.ca !== undefined ? { ca: o.ca } : {}),
      },
      (res) => {
        const chunks: Buffer[] = [];
        let size = 0;
        res.on('data', (c: Buffer) => {
          size += c.length;
          if (size > max) {
            req.destroy(new KeyBrokerClientError('ERR_KBS_RESPONSE', `broker response exceeds ${max} bytes`));
            return;
          }
          chunks.push(c);
        });
        res.on('end', () => resolve({ status: res.statusCode ?? 0, headers: res.headers, body: Buffer.concat(chunks) }));
        res.on('error', reject);
      },
    );
    deadline = setTimeout(() => {
      const e = new KeyBrokerClientError('ERR_KBS_HTTP', `no complete answer from ${url.origin} within ${o.timeoutMs} ms`, { details: { url: url.origin, reason: 'timeout', timeoutMs: o.timeoutMs } });
      req.destroy(e);
      reject(e); // also when the answer had already begun (res, not req, would report it)
    }, o.timeoutMs);
    req.on('error', reject);
    req.end(body);
  });
}
