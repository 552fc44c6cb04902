/**
 * startKeyBroker: the HTTPS (or loopback HTTP) server in front of the store.
 * Routes: GET /version; /kbs/v1/keys/{id}/transfer (attestation); the admin
 * API (admin.ts). Bodies are capped (default 1 MiB, 413 beyond); transfer and
 * token requests are rate-limited per client IP (rate-limit.ts).
 */
import { createHmac } from 'node:crypto';
import { createServer as createHttpServer, type IncomingMessage, type Server, type ServerResponse } from 'node:http';
import { createServer as createHttpsServer } from 'node:https';
import { isIP } from 'node:net';
import type { AddressInfo } from 'node:net';

import { PRODUCTION_TRUST_ROOTS, type CollateralService, type TrustRoots } from '../index.js';
import { handleAdmin, UUID } from './admin.js';
import type { BrokerContext } from './context.js';
import { newToken } from './crypto.js';
import { KbsError } from './errors.js';
import { loadMasterKey, selfSignedTls } from './files.js';
import { RateLimiter, type RateLimitOptions } from './rate-limit.js';
import { KbsStore } from './store.js';
import { logRefusal, transferKey, type TransferRequest, type TransferTrace } from './transfer.js';

export const KBS_VERSION = '0.1.0';

export interface KeyBrokerOptions {
  /** SQLite database file (created on first start). */
  db: string;
  /** Default 127.0.0.1; port default 8443 (0 = any free port). */
  host?: string;
  port?: number;
  /** PEM certificate and key. Absent (and not plainHttp): a self-signed pair stored next to the database. */
  tls?: { cert: string; key: string };
  /** Plain HTTP: refused unless the host is a loopback address or forcePlainHttp is set. */
  plainHttp?: boolean;
  forcePlainHttp?: boolean;
  /** Default `<db>.master-key`; the environment variable TEE_KBS_MASTER_KEY wins. */
  masterKeyFile?: string;
  env?: NodeJS.ProcessEnv;
  /** Where collateral comes from (PCS / PCCS or an offline bundle). Required. */
  collateral: CollateralService;
  /** Default PRODUCTION_TRUST_ROOTS. Anything else is logged loudly. */
  trustRoots?: TrustRoots;
  /** Nonce lifetime; default 300 s. */
  nonceTtlSeconds?: number;
  /** Refuse transfers without a nonce (T42); default false (CNAP / loader clients send none). */
  requireNonce?: boolean;
  rateLimit?: RateLimitOptions;
  /** Default 1 MiB. */
  maxBodyBytes?: number;
  /** Secret accepted by POST /kbs/v1/token for a new admin token. */
  bootstrapSecret?: string;
  /** SQLite synchronous mode; default FULL. */
  synchronous?: 'FULL' | 'NORMAL';
  /** The clock; default the wall clock. */
  now?: () => Date;
  /** One line per event; default stderr. Never receives secrets except the first admin token. */
  log?: (line: string) => void;
}

export interface KeyBroker {
  url: string;
  /** The admin token created on the first start of an empty database (also logged once). */
  initialAdminToken?: string;
  close(): Promise<void>;
}

const isLoopback = (host: string): boolean => host === 'localhost' || host === '::1' || /^127\./.test(host);

class BodyTooLarge extends Error {}

function readBody(req: IncomingMessage, limit: number): Promise<Buffer> {
  return new Promise((resolve, reject) => {
    const declared = Number(req.headers['content-length'] ?? 0);
    if (declared > limit) return reject(new BodyTooLarge());
    const chunks: Buffer[] = [];
    let size = 0;
    req.on('data', (c: Buffer) => {
      size += c.length;
      if (size > limit) {
        req.removeAllListeners('data');
        req.resume();
        reject(new BodyTooLarge());
      } else chunks.push(c);
    });
    req.on('end', () => resolve(Buffer.concat(chunks)));
    req.on('error', reject);
  });
}

function send(res: ServerResponse, status: number, body: unknown, headers: Record<string, string> = {}, contentType = 'application/json'): void {
  const text = body === undefined ? '' : typeof body === 'string' ? body : JSON.stringify(body);
  res.writeHead(status, { ...(text ? { 'Content-Type': contentType } : {}), 'Cache-Control': 'no-store', ...headers });
  res.end(text);
}

function sendError(res: ServerResponse, err: KbsError): void {
  send(res, err.status, err.toJSON(), err.headers);
}

function checkContentType(req: IncomingMessage, body: Buffer): void {
  if (body.length === 0) return;
  const ct = (req.headers['content-type'] ?? '').split(';')[0]?.trim().toLowerCase();
  if (ct !== 'application/json') throw new KbsError('ERR_KBS_UNSUPPORTED_MEDIA_TYPE', 415, 'Content-Type must be application/json');
}

interface Runtime {
  ctx: BrokerContext;
  limiter: RateLimiter;
  maxBody: number;
  baseUrl: () => string;
  log: (line: string) => void;
}

function rateLimit(rt: Runtime, client: string): void {
  const wait = rt.limiter.take(client, Date.now());
  if (wait > 0) throw new KbsError('ERR_KBS_RATE_LIMITED', 429, 'too many requests from this client', { headers: { 'Retry-After': String(wait) } });
}

async function transfer(rt: Runtime, req: IncomingMessage, res: ServerResponse, keyId: string, client: string): Promise<void> {
  const header = req.headers['attestation-type'];
  const tr: TransferRequest = { keyId, attestationType: Array.isArray(header) ? header[0] : header, body: Buffer.alloc(0), client };
  const trace: TransferTrace = {};
  try {
    rateLimit(rt, client);
    tr.body = await readBody(req, rt.maxBody);
    checkContentType(req, tr.body);
    const answer = await transferKey(rt.ctx, tr, trace);
    send(res, answer.status, answer.body, answer.headers);
  } catch (e) {
    const err = e instanceof BodyTooLarge ? new KbsError('ERR_KBS_BODY_TOO_LARGE', 413, `the body exceeds ${rt.maxBody} bytes`) : toKbsError(e, rt);
    try {
      if (err.code !== 'ERR_KBS_RATE_LIMITED') logRefusal(rt.ctx, tr, trace, err);
    } catch (logErr) {
      rt.log(`tee-kbs: could not log a refusal: ${String(logErr)}`);
    }
    sendError(res, err);
  }
}

function toKbsError(e: unknown, rt: Runtime): KbsError {
  if (KbsError.is(e)) return e;
  rt.log(`tee-kbs: internal error: ${e instanceof Error ? (e.stack ?? e.message) : String(e)}`);
  return new KbsError('ERR_KBS_INTERNAL', 500, 'internal error');
}

async function route(rt: Runtime, req: IncomingMessage, res: ServerResponse): Promise<void> {
  const url = new URL(req.url ?? '/', 'http://x');
  const client = req.socket.remoteAddress ?? 'unknown';
  const method = req.method ?? 'GET';
  if (url.pathname === '/version' || url.pathname === '/kbs/v1/version') return send(res, 200, { name: 'tee-kbs', version: KBS_VERSION });
  const parts = url.pathname.split('/').filter((p) => p.length > 0);
  if (parts[0] !== 'kbs' || parts[1] !== 'v1') throw new KbsError('ERR_KBS_NOT_FOUND', 404, 'not found');
  const rest = parts.slice(2);
  if (rest[0] === 'keys' && rest[2] === 'transfer' && rest.length === 3 && method === 'POST') {
    const id = rest[1] as string;
    if (!UUID.test(id)) throw new KbsError('ERR_KBS_NOT_FOUND', 404, 'key ids are UUIDs');
    return transfer(rt, req, res, id.toLowerCase(), client);
  }
  if (rest[0] === 'token') rateLimit(rt, client);
  let body: Buffer;
  try {
    body = await readBody(req, rt.maxBody);
  } catch (e) {
    if (e instanceof BodyTooLarge) throw new KbsError('ERR_KBS_BODY_TOO_LARGE', 413, `the body exceeds ${rt.maxBody} bytes`);
    throw e;
  }
  checkContentType(req, body);
  const json = (): unknown => {
    try {
      return JSON.parse(body.toString('utf8'));
    } catch {
      throw new KbsError('ERR_KBS_BAD_REQUEST', 400, 'the body is not JSON');
    }
  };
  const authorization = req.headers['authorization'];
  const answer = handleAdmin(rt.ctx, { method, parts: rest.map((p, i) => (i === 1 ? p.toLowerCase() : p)), authorization, json, baseUrl: rt.baseUrl() });
  if (answer.text !== undefined) return send(res, answer.status, answer.text, {}, answer.contentType);
  send(res, answer.status, answer.body);
}

function firstStart(store: KbsStore, now: Date, log: (l: string) => void): string | undefined {
  if (store.tokenCount() > 0) return undefined;
  const token = newToken();
  store.addToken(token, 'first-start', now);
  log(`tee-kbs: first start: admin token (shown once, store it now): ${token}`);
  return token;
}

/** Starts a key broker; resolves once it listens. */
export async function startKeyBroker(options: KeyBrokerOptions): Promise<KeyBroker> {
  const log = options.log ?? ((l: string) => process.stderr.write(`${l}\n`));
  const host = options.host ?? '127.0.0.1';
  if (options.plainHttp && !isLoopback(host) && !options.forcePlainHttp) {
    throw new KbsError('ERR_KBS_BAD_REQUEST', 400, `plain HTTP is only allowed on loopback; ${host} is not (use TLS or force it explicitly)`);
  }
  if (!options.collateral) throw new KbsError('ERR_KBS_BAD_REQUEST', 400, 'a collateral service is required');
  const trustRoots = options.trustRoots ?? PRODUCTION_TRUST_ROOTS;
  if (trustRoots !== PRODUCTION_TRUST_ROOTS) {
    log(`tee-kbs: WARNING: NON-PRODUCTION TRUST ROOTS "${trustRoots.label}": evidence from test platforms will be trusted. Never use this in production.`);
  }
  const master = loadMasterKey(options.masterKeyFile ?? `${options.db}.master-key`, options.env ?? process.env);
  master.warnings.forEach((w) => log(`tee-kbs: WARNING: ${w}`));
  if (master.source === 'generated') log(`tee-kbs: generated a new master key in ${options.masterKeyFile ?? `${options.db}.master-key`} (mode 0600)`);
  const store = new KbsStore(options.db, master.key, options.synchronous ? { synchronous: options.synchronous } : {});
  const now = options.now ?? (() => new Date());
  checkMasterKey(store, master.key);
  const initialAdminToken = firstStart(store, now(), log);
  const ctx: BrokerContext = Object.freeze({
    store,
    masterKey: master.key,
    collateral: options.collateral,
    trustRoots,
    nonceTtlMs: (options.nonceTtlSeconds ?? 300) * 1000,
    requireNonce: options.requireNonce ?? false,
    now,
    bootstrapSecret: options.bootstrapSecret,
  });
  let baseUrl = '';
  const rt: Runtime = { ctx, limiter: new RateLimiter(options.rateLimit), maxBody: options.maxBodyBytes ?? 1024 * 1024, baseUrl: () => baseUrl, log };
  const handler = (req: IncomingMessage, res: ServerResponse): void => {
    route(rt, req, res).catch((e: unknown) => {
      if (!res.headersSent) sendError(res, toKbsError(e, rt));
      else res.destroy();
    });
  };
  let server: Server;
  if (options.plainHttp) server = createHttpServer(handler);
  else {
    const tls = options.tls ?? (await selfSignedTls(`${options.db}.tls-cert.pem`, `${options.db}.tls-key.pem`, [host === '0.0.0.0' || host === '::' ? 'localhost' : host, 'localhost']));
    server = createHttpsServer({ cert: tls.cert, key: tls.key, minVersion: 'TLSv1.2' }, handler);
  }
  server.keepAliveTimeout = 30_000;
  server.headersTimeout = 35_000;
  server.requestTimeout = 30_000;
  await new Promise<void>((resolve, reject) => {
    server.once('error', reject);
    server.listen(options.port ?? 8443, host, () => resolve());
  });
  const port = (server.address() as AddressInfo).port;
  baseUrl = `${options.plainHttp ? 'http' : 'https'}://${isIP(host) === 6 ? `[${host}]` : host}:${port}`;
  log(`tee-kbs: listening on ${baseUrl}`);
  return {
    url: baseUrl,
    ...(initialAdminToken ? { initialAdminToken } : {}),
    close: () =>
      new Promise<void>((resolve) => {
        server.close(() => {
          store.close();
          resolve();
        });
        server.closeAllConnections();
      }),
  };
}

/** A database opened with another master key fails at start, not at the first release. */
function checkMasterKey(store: KbsStore, master: Buffer): void {
  const check = createCheck(master);
  const stored = store.getMeta('master_key_check');
  if (stored === undefined) store.setMeta('master_key_check', check);
  else if (stored !== check) throw new KbsError('ERR_KBS_STORAGE', 500, 'the master key does not match this database');
}

const createCheck = (master: Buffer): string => createHmac('sha256', master).update('tee-kbs master key check').digest('hex');
