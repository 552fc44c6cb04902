/**
 * Review s12 (gateway), finding 7: a 405 must carry `Allow` (RFC 9110 §15.5.6). The admin API's did;
 * `/v1/attestation` with another method than POST did not. Every 405 of the gateway now names the
 * methods the resource allows.
 */
import { afterAll, beforeAll, describe, expect, it } from 'vitest';

import { startHarness, type Harness } from './helpers.js';

let h: Harness;
let admin: string;
beforeAll(async () => {
  h = await startHarness();
  admin = (await h.gateway.keys.createAdminToken('admin')).token;
});
afterAll(async () => h.close());

describe('Allow on every 405 (s12 finding 7)', () => {
  it.each(['GET', 'PUT', 'DELETE', 'PATCH', 'OPTIONS'])('%s /v1/attestation: 405 with Allow: POST', async (method) => {
    const r = await h.call(method, '/v1/attestation', { token: null });
    expect(r.status).toBe(405);
    expect(r.headers['allow']).toBe('POST');
    expect(r.json?.error?.code).toBe('ERR_GATEWAY_NOT_FOUND');
  });

  it.each([
    ['PUT', '/admin/v1/keys', 'GET, POST'],
    ['POST', '/admin/v1/keys/00000000-0000-4000-8000-000000000000', 'GET, DELETE'],
  ])('%s %s (admin API): 405 with Allow', async (method, path, allow) => {
    // A key must exist for the per-id route to reach the method check.
    const key = await h.gateway.keys.create('x');
    const r = await h.call(method, path.replace('00000000-0000-4000-8000-000000000000', key.id), { token: admin, body: '{}' });
    expect(r.status).toBe(405);
    expect(r.headers['allow']).toBe(allow);
  });
});
