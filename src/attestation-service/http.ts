/**
 * HTTP plumbing: a bounded body reader, JSON / text answers, and CORS.
 *
 * CORS: only origins listed in the options are echoed (exact match on the
 * serialised origin, e.g. "https://chat.example"); `*` must be listed
 * explicitly to allow any. A preflight (OPTIONS with
 * Access-Control-Request-Method) from a listed origin gets 204 with the
 * allowed methods and headers; from any other origin 403 without CORS
 * headers. Simple requests from an unlisted origin are answered without CORS
 * headers, so the browser withholds the answer from that page.
 */
import type { IncomingMessage, ServerResponse } from 'node:http';

import { AttestationServiceError } from './errors.js';

/**
 * POST bodies must be declared JSON: `application/json`, parameters (`; charset=utf-8`) allowed, as
 * open-webui's browser code (axios with an object body) and every client of protocols.md send it.
 * Anything else is 415 before the body is read, so a form post or text/plain (a CORS "simple"
 * request, which skips the preflight) is never appraised.
 */
export function requireJsonContentType(req: IncomingMessage): void {
  const type = (req.headers['content-type'] ?? '').split(';')[0]!.trim().toLowerCase();
  if (type === 'application/json') return;
  req.resume(); // read and dropped so the answer can be delivered
  throw new AttestationServiceError('ERR_AS_UNSUPPORTED_MEDIA_TYPE', 415, `the body must be application/json${type ? `, not ${JSON.stringify(type.slice(0, 100))}` : ' (no Content-Type was sent)'}`);
}

export function readBody(req: IncomingMessage, limit: number): Promise<Buffer> {
  const declared = Number(req.headers['content-length']);
  if (Number.isFinite(declared) && declared > limit) {
    req.resume();
    return Promise.reject(new AttestationServiceError('ERR_AS_TOO_LARGE', 413, `the body exceeds ${limit} bytes`));
  }
  return new Promise((resolve, reject) => {
    const chunks: Buffer[] = [];
    let n = 0;
    let over = false;
    req.on('data', (c: Buffer) => {
      if (over) return;
      n += c.length;
      if (n > limit) {
        over = true;
        chunks.length = 0;
        reject(new AttestationServiceError('ERR_AS_TOO_LARGE', 413, `the body exceeds ${limit} bytes`));
        return; // the rest is read and dropped so the answer can be delivered
      }
      chunks.push(c);
    });
    req.on('end', () => {
      if (!over) resolve(Buffer.concat(chunks));
    });
    req.on('error', reject);
  });
}

const bigintSafe = (_k: string, v: unknown): unknown => (typeof v === 'bigint' ? v.toString() : v);

export function send(res: ServerResponse, status: number, type: string, body: string, headers: Record<string, string> = {}): void {
  if (res.headersSent) {
    res.destroy();
    return;
  }
  res.writeHead(status, { 'content-type': type, 'content-length': String(Buffer.byteLength(body)), 'cache-control': 'no-store', ...headers });
  res.end(body);
}

export function sendJson(res: ServerResponse, status: number, body: unknown, headers: Record<string, string> = {}): void {
  send(res, status, 'application/json', JSON.stringify(body, bigintSafe), headers);
}

export class CorsPolicy {
  readonly #origins: Set<string>;
  readonly #any: boolean;

  constructor(origins: readonly string[] = []) {
    for (const o of origins) {
      if (o !== '*' && !/^https?:\/\/[^/\s]+$/.test(o)) throw new RangeError(`CORS origin ${JSON.stringify(o)} must be "*" or scheme://host[:port] without a path`);
    }
    this.#any = origins.includes('*');
    this.#origins = new Set(origins.filter((o) => o !== '*'));
  }

  /** The Access-Control-Allow-Origin value for this request's Origin, or undefined. */
  allowed(origin: string | undefined): string | undefined {
    if (origin === undefined) return undefined;
    if (this.#origins.has(origin)) return origin;
    return this.#any ? '*' : undefined;
  }

  /** Headers for an actual (non-preflight) answer; Vary: Origin always, since the answer depends on it. */
  headers(origin: string | undefined): Record<string, string> {
    const allow = this.allowed(origin);
    return allow === undefined ? { vary: 'Origin' } : { 'access-control-allow-origin': allow, vary: 'Origin' };
  }

  preflight(req: IncomingMessage, res: ServerResponse): void {
    const origin = req.headers.origin;
    const allow = this.allowed(origin);
    if (allow === undefined) {
      sendJson(res, 403, new AttestationServiceError('ERR_AS_ORIGIN_NOT_ALLOWED', 403, `origin ${JSON.stringify(String(origin).slice(0, 200))} is not allowed`).toJSON(), { vary: 'Origin' });
      return;
    }
    res.writeHead(204, {
      'access-control-allow-origin': allow,
      'access-control-allow-methods': 'GET, POST, OPTIONS',
      'access-control-allow-headers': 'content-type, authorization',
      'access-control-max-age': '600',
      vary: 'Origin',
      'content-length': '0',
    });
    res.end();
  }
}
