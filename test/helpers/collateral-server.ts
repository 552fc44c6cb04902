/**
 * A real HTTP server on 127.0.0.1 that serves recorded real collateral from
 * the shared vectors at the real Intel PCS / PCCS and AMD KDS paths, with the
 * real headers (issuer chains URL-encoded in headers, as Intel serves them).
 * Faults (status codes, Retry-After, hangs, truncated or wrong bodies) are
 * injected per path. Every request is counted.
 */
import { createServer, type IncomingMessage, type Server, type ServerResponse } from 'node:http';
import type { AddressInfo, Socket } from 'node:net';

export interface Record {
  /** Path without query, e.g. /tdx/certification/v4/tcb */
  path: string;
  /** Query parameters that must match (case-insensitive values); others are ignored. */
  query?: { [name: string]: string };
  body: Uint8Array;
  headers?: { [name: string]: string };
}

export type Fault =
  | { kind: 'status'; status: number; retryAfter?: string; times?: number }
  | { kind: 'hang'; times?: number }
  | { kind: 'truncate'; times?: number }
  | { kind: 'html'; times?: number }
  | { kind: 'delay'; ms: number; times?: number };

export class CollateralServer {
  readonly records: Record[] = [];
  /** Requests per path (without query). */
  readonly hits = new Map<string, number>();
  readonly faults = new Map<string, Fault>();
  /** Requests being answered right now, and the most seen at once. */
  active = 0;
  peakActive = 0;
  #server: Server;
  #sockets = new Set<Socket>();
  url = '';

  private constructor() {
    this.#server = createServer((req, res) => this.#handle(req, res));
    this.#server.on('connection', (s) => {
      this.#sockets.add(s);
      s.on('close', () => this.#sockets.delete(s));
    });
  }

  static async start(records: Record[] = []): Promise<CollateralServer> {
    const s = new CollateralServer();
    s.records.push(...records);
    await new Promise<void>((resolve) => s.#server.listen(0, '127.0.0.1', resolve));
    s.url = `http://127.0.0.1:${(s.#server.address() as AddressInfo).port}`;
    return s;
  }

  get totalHits(): number {
    let n = 0;
    for (const v of this.hits.values()) n += v;
    return n;
  }

  async close(): Promise<void> {
    for (const s of this.#sockets) s.destroy();
    await new Promise<void>((resolve) => this.#server.close(() => resolve()));
  }

  #find(url: URL): Record | undefined {
    return this.records.find((r) => {
      if (r.path !== url.pathname) return false;
      for (const [k, v] of Object.entries(r.query ?? {})) {
        if ((url.searchParams.get(k) ?? '').toLowerCase() !== v.toLowerCase()) return false;
      }
      return true;
    });
  }

  #handle(req: IncomingMessage, res: ServerResponse): void {
    const url = new URL(req.url ?? '/', this.url);
    this.hits.set(url.pathname, (this.hits.get(url.pathname) ?? 0) + 1);
    this.active++;
    this.peakActive = Math.max(this.peakActive, this.active);
    res.on('close', () => this.active--);
    const fault = this.faults.get(url.pathname);
    if (fault) {
      if (fault.times !== undefined) {
        fault.times--;
        if (fault.times <= 0) this.faults.delete(url.pathname);
      }
      if (fault.kind === 'delay') {
        setTimeout(() => this.#answer(url, res), fault.ms);
        return;
      }
      if (this.#applyFault(fault, res)) return;
    }
    this.#answer(url, res);
  }

  #answer(url: URL, res: ServerResponse): void {
    const record = this.#find(url);
    if (!record) {
      res.writeHead(404, { 'content-type': 'text/plain' });
      res.end('not found');
      return;
    }
    res.writeHead(200, { 'content-length': String(record.body.length), ...(record.headers ?? {}) });
    res.end(Buffer.from(record.body));
  }

  /** Returns true when the fault fully answered the request. */
  #applyFault(fault: Fault, res: ServerResponse): boolean {
    switch (fault.kind) {
      case 'status':
        res.writeHead(fault.status, fault.retryAfter ? { 'retry-after': fault.retryAfter } : {});
        res.end(`status ${fault.status}`);
        return true;
      case 'hang':
        return true; // never answer; the client's timeout must fire
      case 'truncate':
        res.writeHead(200, { 'content-length': '5000', 'content-type': 'application/octet-stream' });
        res.write(Buffer.alloc(100, 0x30));
        setTimeout(() => res.destroy(), 10);
        return true;
      case 'delay':
        return false;
      case 'html': {
        const body = '<html><body><h1>502 Bad Gateway</h1></body></html>';
        res.writeHead(200, { 'content-type': 'text/html', 'content-length': String(body.length) });
        res.end(body);
        return true;
      }
    }
  }
}
