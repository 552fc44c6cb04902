/**
 * Cube's POST /attestation answers errors as Cube's agent does (protocols.md §8.2):
 * `{"error": "<message>"}`, which its Go clients decode as a string, with the stable code beside it
 * as `"code"`. The gateway's other routes keep `{"error": {code, message}}`.
 */
import { randomBytes } from 'node:crypto';

import { afterAll, beforeAll, describe, expect, it } from 'vitest';

import type { EvidenceProvider } from '../../src/tee/index.js';
import { startHarness, type Harness } from './helpers.js';

/** A Go client's view: the body decodes into struct{ Error string; Code string } with nothing else in it. */
function expectCubeError(r: { status: number; text: string; json: any; headers: Record<string, unknown> }, status: number, code: string): string {
  expect(r.status, r.text).toBe(status);
  expect(String(r.headers['content-type'])).toBe('application/json');
  expect(Object.keys(r.json).sort()).toEqual(['code', 'error']);
  expect(typeof r.json.error).toBe('string');
  expect(r.json.error.length).toBeGreaterThan(0);
  expect(r.json.code).toBe(code);
  return r.json.error as string;
}

const failing: EvidenceProvider = { name: 'failing', getEvidence: async () => Promise.reject(new Error('the TEE is busy')) };

let on: Harness;
let off: Harness;
let broken: Harness;
beforeAll(async () => {
  on = await startHarness({ cubeAttestation: true });
  off = await startHarness({});
  broken = await startHarness({ cubeAttestation: true, provider: failing });
});
afterAll(async () => {
  await on?.close();
  await off?.close();
  await broken?.close();
});

describe('POST /attestation errors in Cube\'s shape', () => {
  it('bad requests are 400 {"error": "<message>", "code": "ERR_GATEWAY_BAD_REQUEST"}', async () => {
    const over = await on.call('POST', '/attestation', { token: null, body: JSON.stringify({ report_data: randomBytes(65).toString('base64') }) });
    expect(expectCubeError(over, 400, 'ERR_GATEWAY_BAD_REQUEST')).toMatch(/report_data/);
    expectCubeError(await on.call('POST', '/attestation', { token: null, body: 'not json' }), 400, 'ERR_GATEWAY_BAD_REQUEST');
    expectCubeError(await on.call('POST', '/attestation', { token: null, body: JSON.stringify({ to_json: 'yes' }) }), 400, 'ERR_GATEWAY_BAD_REQUEST');
  });

  it('a body over the limit is 413 in the same shape', async () => {
    const r = await on.call('POST', '/attestation', { token: null, body: JSON.stringify({ report_data: 'A'.repeat(8000) }) });
    expectCubeError(r, 413, 'ERR_GATEWAY_TOO_LARGE');
  });

  it('the endpoint switched off is 404 in the same shape, naming --cube-attestation', async () => {
    const r = await off.call('POST', '/attestation', { token: null, body: JSON.stringify({ report_data: Buffer.alloc(64, 1).toString('base64') }) });
    expect(expectCubeError(r, 404, 'ERR_GATEWAY_NOT_FOUND')).toMatch(/--cube-attestation/);
  });

  it('a TEE failure is 503 ERR_GATEWAY_EVIDENCE_PROVIDER in the same shape', async () => {
    const r = await broken.call('POST', '/attestation', { token: null, body: '{}' });
    // The provider's own text stays in the log (review s7: unauthenticated clients get a generic message).
    expect(expectCubeError(r, 503, 'ERR_GATEWAY_EVIDENCE_PROVIDER')).toMatch(/gave no evidence/);
  });

  it('other routes keep {"error": {code, message}}', async () => {
    const cube = await on.call('POST', '/attestation', { token: null, body: '[1]' });
    expectCubeError(cube, 400, 'ERR_GATEWAY_BAD_REQUEST');
    const own = await on.call('POST', '/v1/attestation', { token: null, body: '[1]' });
    expect(own.status).toBe(400);
    expect(own.json.error.code).toBe('ERR_GATEWAY_BAD_REQUEST');
    expect(typeof own.json.error.message).toBe('string');
  });
});
