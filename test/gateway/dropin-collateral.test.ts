/**
 * POST /tdx_attest when the quote's collateral cannot be obtained: not knowing is
 * not a verdict, so the answer is a retryable 503 with the gateway's code, never
 * SUCCESS and not a FAILED the caller would take as final.
 */
import { afterAll, beforeAll, describe, expect, it } from 'vitest';

import { BundleSource, CollateralService } from '../../src/index.js';
import { simulated, startHarness, type Harness } from './helpers.js';

let h: Harness;
beforeAll(async () => {
  // A verifier whose collateral source holds nothing: every quote's collateral is missing.
  h = await startHarness({ quoteVerifier: { collateral: new CollateralService({ intel: new BundleSource([]), cache: null }), trustRoots: simulated.trustRoots } });
});
afterAll(async () => h?.close());

describe('POST /tdx_attest without collateral', () => {
  it('is 503 ERR_GATEWAY_COLLATERAL_UNAVAILABLE with Retry-After, not FAILED or SUCCESS', async () => {
    const quote = Buffer.from((await simulated.getEvidence(new Uint8Array(64))).evidence);
    const r = await h.call('POST', '/tdx_attest', { body: JSON.stringify({ raw_quote_data: quote.toString('hex') }), token: null });
    expect(r.status).toBe(503);
    expect(r.headers['retry-after']).toBe('5');
    expect(r.json.error.code).toBe('ERR_GATEWAY_COLLATERAL_UNAVAILABLE');
    expect(r.json.attestation_result).toBeUndefined();
  });
});
