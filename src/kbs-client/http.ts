/** A minimal JSON-over-HTTP(S) POST with an optional private CA, a timeout and a response size cap. */
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

export function postJson(url: URL, body: Buffer, o: PostOptions): Promise<HttpResponse> {
  const max = o.maxResponseBytes ?? 1024 * 1024;
  try {
    checkBrokerTransport(url, o.allowInsecureHttp);
  } catch (e) {
    return Promise.reject(e);
  }
  const isHttps = url.protocol === 'https:';
  const mod = isHttps ? https : http;
  return new Promise((resolve, reject) => {
    const req = mod.request(
      url,
      {
        method: 'POST',
        headers: { ...o.headers, 'Content-Length': String(body.length) },
        timeout: o.timeoutMs,
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
    req.on('timeout', () => req.destroy(new Error(`no answer from ${url.origin} within ${o.timeoutMs} ms`)));
    req.on('error', reject);
    req.end(body);
  });
}
