/**
 * CORS on the unauthenticated drop-in routes browsers call (protocols.md §8.1: cc-zoo's
 * /tdx_attest answers CORS `*`; the open-webui page fetches /api/v1/tee/quote), and none on the
 * API-key routes: their preflight still meets the API-key check.
 */
import { afterAll, beforeAll, describe, expect, it } from 'vitest';

import { BundleSource, CollateralService } from '../../src/index.js';
import { ollamaChat, simulated, startHarness, type Harness } from './helpers.js';

const ORIGIN = 'http://chat-ui.example';
const preflightHeaders = (method: string, headers: string): Record<string, string> => ({ origin: ORIGIN, 'access-control-request-method': method, 'access-control-request-headers': headers });

let h: Harness;
beforeAll(async () => {
  h = await startHarness({ quoteVerifier: { collateral: new CollateralService({ intel: new BundleSource([...simulated.collateral]), cache: null }), trustRoots: simulated.trustRoots } });
});
afterAll(async () => h?.close());

describe('CORS * on the drop-in routes only', () => {
  it('OPTIONS /tdx_attest preflight is 204 with origin *, POST and content-type allowed; the same preflight to a proxied route meets the API-key check (401, no CORS)', async () => {
    const r = await h.call('OPTIONS', '/tdx_attest', { token: null, headers: preflightHeaders('POST', 'content-type') });
    expect(r.status).toBe(204);
    expect(r.headers['access-control-allow-origin']).toBe('*');
    expect(String(r.headers['access-control-allow-methods'])).toMatch(/\bPOST\b/);
    expect(String(r.headers['access-control-allow-headers']).toLowerCase()).toMatch(/\bcontent-type\b/);
    expect(r.headers['www-authenticate']).toBeUndefined();

    const proxied = await h.call('OPTIONS', '/v1/chat/completions', { token: null, headers: preflightHeaders('POST', 'authorization, content-type') });
    expect(proxied.status).toBe(401);
    expect(proxied.headers['access-control-allow-origin']).toBeUndefined();
    expect(proxied.headers['access-control-allow-methods']).toBeUndefined();
    const admin = await h.call('OPTIONS', '/admin/keys', { token: null, headers: preflightHeaders('GET', 'authorization') });
    expect(admin.headers['access-control-allow-origin']).toBeUndefined();
  });

  it('OPTIONS /api/v1/tee/quote preflight allows GET with Authorization (open-webui sends its own token)', async () => {
    const r = await h.call('OPTIONS', '/api/v1/tee/quote', { token: null, headers: preflightHeaders('GET', 'authorization') });
    expect(r.status).toBe(204);
    expect(r.headers['access-control-allow-origin']).toBe('*');
    expect(String(r.headers['access-control-allow-methods'])).toMatch(/\bGET\b/);
    expect(String(r.headers['access-control-allow-headers']).toLowerCase()).toMatch(/\bauthorization\b/);
  });

  it('OPTIONS without Origin is a plain 204 with Allow', async () => {
    const r = await h.call('OPTIONS', '/tdx_attest', { token: null });
    expect(r.status).toBe(204);
    expect(r.headers['allow']).toBe('POST, OPTIONS');
    expect(r.headers['access-control-allow-origin']).toBeUndefined();
  });

  it('POST /tdx_attest answers carry Access-Control-Allow-Origin, refusals (400) too', async () => {
    const quote = Buffer.from((await simulated.getEvidence(new Uint8Array(64))).evidence);
    const ok = await h.call('POST', '/tdx_attest', { token: null, headers: { origin: ORIGIN }, body: JSON.stringify({ raw_quote_data: quote.toString('hex') }) });
    expect(ok.status).toBe(200);
    expect(ok.json.attestation_result).toBe('SUCCESS');
    expect(ok.headers['access-control-allow-origin']).toBe('*');
    const bad = await h.call('POST', '/tdx_attest', { token: null, headers: { origin: ORIGIN }, body: JSON.stringify({ raw_quote_data: 'xyz' }) });
    expect(bad.status).toBe(400);
    expect(bad.headers['access-control-allow-origin']).toBe('*');
  });

  it('the same page gets no Access-Control-Allow-Origin from the API-key routes, /v1/attestation or /health', async () => {
    const tdx = await h.call('POST', '/tdx_attest', { token: null, headers: { origin: ORIGIN }, body: '{}' });
    expect(tdx.headers['access-control-allow-origin']).toBe('*');
    const chat = await h.call('POST', '/api/chat', { headers: { origin: ORIGIN }, body: ollamaChat('hello', false) });
    expect(chat.status).toBe(200);
    expect(chat.headers['access-control-allow-origin']).toBeUndefined();
    const attestation = await h.call('POST', '/v1/attestation', { token: null, headers: { origin: ORIGIN }, body: JSON.stringify({ nonce: Buffer.alloc(32, 7).toString('base64') }) });
    expect(attestation.status).toBe(200);
    expect(attestation.headers['access-control-allow-origin']).toBeUndefined();
    const health = await h.call('GET', '/health', { token: null, headers: { origin: ORIGIN } });
    expect(health.headers['access-control-allow-origin']).toBeUndefined();
  });

  it('GET /api/v1/tee/quote answers carry Access-Control-Allow-Origin', async () => {
    const r = await h.call('GET', '/api/v1/tee/quote', { token: null, headers: { origin: ORIGIN, authorization: 'Bearer openwebui-token' } });
    expect(r.status).toBe(200);
    expect(r.json.status).toBe(true);
    expect(r.headers['access-control-allow-origin']).toBe('*');
  });
});
