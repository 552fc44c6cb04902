/**
 * The HTTP admin API for gateway API keys, under /admin/v1 (the approach of
 * the key broker's admin API, src/kbs/admin.ts: bearer admin tokens stored as
 * SHA-256 only, JSON answers, typed errors):
 *
 *   GET    /admin/v1/keys        {keys: [{id, name, createdAt, revokedAt}]}
 *   POST   /admin/v1/keys {name} 201 {id, name, createdAt, revokedAt: null, token}   (the token once)
 *   GET    /admin/v1/keys/{id}   {id, name, createdAt, revokedAt}
 *   DELETE /admin/v1/keys/{id}   {id, name, createdAt, revokedAt}   (revocation is immediate; idempotent)
 *
 * Admin tokens ("tgwa_…") are created with `tee-gateway admin-tokens create`
 * on the database; an API key is never an admin token. Keys and tokens live in
 * the shared database (store.ts), so a key created through one instance works
 * on every instance, and a revocation is seen by all of them at once. Every /admin/ path
 * belongs to the gateway and is never proxied.
 *
 * Failed admin-token attempts are counted per client (src/net/auth-failures.ts,
 * keyed by src/net/client-key.ts): past the limit the answer is 429 with
 * Retry-After before any lookup, whatever the token, until the client's oldest
 * counted failure leaves the window. Per instance.
 */
import type { AuthFailureLimiter } from '../net/auth-failures.js';
import { GatewayError } from './errors.js';
import { nameProblem, type ApiKeyStore } from './store.js';

export const ADMIN_PREFIX = '/admin/';

export interface AdminRequest {
  method: string;
  /** The path without the query. */
  path: string;
  authorization: string | undefined;
  /** Whom failed attempts are counted against: clientKey(peer address); default "unknown". */
  client?: string;
  /**
   * The failure limiter's reading of its clock, in ms: monotonic (src/net/steady-clock.ts; the server
   * passes its limiter clock); default performance.now(). Never the wall clock (review s8 D2).
   */
  limiterNowMs?: number;
  /** The body, read on demand (bounded by the caller). */
  body: () => Promise<Buffer>;
}

export interface AdminAnswer {
  status: number;
  body: unknown;
}

const ID = /^[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$/i;

const notFound = (what = 'no such admin resource'): GatewayError => new GatewayError('ERR_GATEWAY_NOT_FOUND', 404, what);
const notAllowed = (allowed: string): GatewayError => new GatewayError('ERR_GATEWAY_NOT_FOUND', 405, `allowed: ${allowed}`, { Allow: allowed });
const badRequest = (m: string): GatewayError => new GatewayError('ERR_GATEWAY_BAD_REQUEST', 400, m);

/** Looked up in the database on every request: a token revoked on any instance is refused here at once. */
async function requireAdmin(store: ApiKeyStore, authorization: string | undefined): Promise<void> {
  // The scheme in any case, then one or more spaces (RFC 9110 §11.1; review s12, finding 6); the token exactly.
  const m = /^[Bb][Ee][Aa][Rr][Ee][Rr] +(tgwa_[A-Za-z0-9_-]{43})$/.exec(authorization ?? '');
  if (!m || !(await store.authenticateAdmin(m[1] as string))) {
    throw new GatewayError('ERR_GATEWAY_UNAUTHORIZED', 401, 'a valid admin token is required (Authorization: Bearer tgwa_…)', { 'WWW-Authenticate': 'Bearer realm="tee-gateway admin"' });
  }
}

async function nameOf(body: Buffer): Promise<string> {
  let doc: unknown;
  try {
    doc = JSON.parse(body.toString('utf8'));
  } catch {
    throw badRequest('the body is not JSON');
  }
  if (typeof doc !== 'object' || doc === null || Array.isArray(doc)) throw badRequest('the body must be a JSON object {"name"}');
  const unknown = Object.keys(doc).filter((k) => k !== 'name');
  if (unknown.length) throw badRequest(`unknown field(s): ${unknown.join(', ')}`);
  const name = (doc as Record<string, unknown>)['name'];
  const problem = nameProblem(name);
  if (problem) throw badRequest(`"name" ${problem}`);
  return name as string;
}

/** requireAdmin, unless this client failed too often: then 429 without a lookup. Every 401 counts as a failure. */
async function requireAdminLimited(store: ApiKeyStore, r: AdminRequest, failures: AuthFailureLimiter | undefined, nowMs: number): Promise<void> {
  const client = r.client ?? 'unknown';
  const wait = failures?.retryAfter(client, nowMs) ?? 0;
  if (wait > 0) {
    throw new GatewayError('ERR_GATEWAY_TOO_MANY_AUTH_FAILURES', 429, `too many failed admin-token attempts from this client; retry in ${wait} s`, { 'Retry-After': String(wait) });
  }
  try {
    await requireAdmin(store, r.authorization);
  } catch (e) {
    if (e instanceof GatewayError && e.code === 'ERR_GATEWAY_UNAUTHORIZED') failures?.fail(client, nowMs);
    throw e;
  }
}

/** Routes one /admin/ request; throws GatewayError for every refusal. `failures`: the server's failed-login limiter. */
export async function handleAdmin(store: ApiKeyStore, r: AdminRequest, now: () => Date = () => new Date(), failures?: AuthFailureLimiter): Promise<AdminAnswer> {
  const parts = r.path.slice(ADMIN_PREFIX.length).split('/');
  if (parts[0] !== 'v1' || parts[1] !== 'keys' || parts.length > 3 || parts[2] === '') throw notFound();
  // Authentication before anything else, so an unauthenticated caller learns nothing about ids.
  await requireAdminLimited(store, r, failures, r.limiterNowMs ?? performance.now());
  const id = parts[2];
  if (id === undefined) {
    if (r.method === 'GET') return { status: 200, body: { keys: await store.list() } };
    if (r.method === 'POST') {
      const created = await store.create(await nameOf(await r.body()), now());
      return { status: 201, body: created };
    }
    throw notAllowed('GET, POST');
  }
  if (!ID.test(id)) throw notFound('no such API key');
  const key = await store.get(id);
  if (!key) throw notFound('no such API key');
  if (r.method === 'GET') return { status: 200, body: key };
  if (r.method === 'DELETE') {
    await store.revoke(id, now());
    return { status: 200, body: await store.get(id) };
  }
  throw notAllowed('GET, DELETE');
}
