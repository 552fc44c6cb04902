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

/**
 * Node's codes for a broker certificate that does not verify: OpenSSL's X509_V_ERR names, as
 * `tls` reports them, and the host name check. Retrying cannot change the answer, and each
 * attempt would ask the TEE for fresh evidence for a server we cannot authenticate (review, session 6
 * round 2), so these end the request at once: ERR_KBS_HTTP with `details.reason: "tls-certificate"`
 * and Node's code in `details.tlsError` (the code stays ERR_KBS_HTTP, as for the deadline, so
 * callers that map it keep working; `tee-model load` exits 2 for this reason, a configuration
 * error (--ca-cert), not an outage: src/model/cli.ts).
 */
const CERTIFICATE_ERRORS: ReadonlySet<string> = new Set([
  'UNABLE_TO_GET_ISSUER_CERT',
  'UNABLE_TO_GET_ISSUER_CERT_LOCALLY',
  'UNABLE_TO_VERIFY_LEAF_SIGNATURE',
  'UNABLE_TO_DECRYPT_CERT_SIGNATURE',
  'UNABLE_TO_DECODE_ISSUER_PUBLIC_KEY',
  'UNABLE_TO_GET_CRL',
  'CERT_SIGNATURE_FAILURE',
  'CERT_NOT_YET_VALID',
  'CERT_HAS_EXPIRED',
  'CERT_REVOKED',
  'CERT_UNTRUSTED',
  'CERT_REJECTED',
  'CERT_CHAIN_TOO_LONG',
  'ERROR_IN_CERT_NOT_BEFORE_FIELD',
  'ERROR_IN_CERT_NOT_AFTER_FIELD',
  'DEPTH_ZERO_SELF_SIGNED_CERT',
  'SELF_SIGNED_CERT_IN_CHAIN',
  'INVALID_CA',
  'INVALID_PURPOSE',
  'PATH_LENGTH_EXCEEDED',
  'HOSTNAME_MISMATCH',
  'ERR_TLS_CERT_ALTNAME_INVALID',
]);

/** The final ERR_KBS_HTTP (reason tls-certificate) for a socket error that says the broker's certificate does not verify; else `e` itself. */
export function certificateFailure(e: unknown, url: URL): unknown {
  const code = (e as NodeJS.ErrnoException | undefined)?.code;
  if (typeof code !== 'string' || !CERTIFICATE_ERRORS.has(code)) return e;
  return new KeyBrokerClientError('ERR_KBS_HTTP', `the key broker ${url.origin} presented a TLS certificate that does not verify (${code}: ${(e as Error).message}); not retried: check --ca-cert (option ca) or the broker's certificate`, {
    cause: e,
    details: { url: url.origin, reason: 'tls-certificate', tlsError: code },
  });
}

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
        // Explicit: Node's default follows NODE_TLS_REJECT_UNAUTHORIZED, and "0" there would hand the TEE's
        // evidence and key request to any server on the path (review s7). No option turns this off.
        ...(isHttps ? { rejectUnauthorized: true } : {}),
        ...(isHttps && o.ca !== undefined ? { ca: o.ca } : {}),
      },
      (res) => {
        const chunks: Buffer[] = [];
        let size = 0;
        res.on('data', (c: Buffer) => {
          size += c.length;
          if (size > max) {
            req.destroy(new KeyBrokerClientError('ERR_KBS_RESPONSE', `the key broker ${url.origin} sent an answer of more than ${max} bytes`, { details: { url: url.origin } }));
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
    req.on('error', (e) => reject(certificateFailure(e, url)));
    req.end(body);
  });
}
