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

/**
 * Review s10 (A1, found for the attestation service; the gateway had the same leak): the 503 named
 * the operator's PCCS URL with its password, taken from the library's message. The answer is now a
 * fixed text; the operator's log keeps the detail. (Since review s11 a URL with credentials is refused
 * when the client is made: test/collateral/review-s11-source-url.test.ts.)
 */
describe('POST /tdx_attest with an unreachable internal PCCS', () => {
  it('answers 503 without the PCCS URL; the log has it', async () => {
    const { createServer } = await import('node:net');
    const { HttpClient, IntelPcsClient } = await import('../../src/index.js');
    const pccs = createServer((s) => s.destroy());
    await new Promise<void>((r) => pccs.listen(0, '127.0.0.1', r));
    const port = (pccs.address() as { port: number }).port;
    const http = new HttpClient({ retries: 0 });
    const intel = new IntelPcsClient({ http, baseUrl: `http://127.0.0.1:${port}/internal-pccs` });
    const lines: string[] = [];
    const g = await startHarness({ log: (l: string) => lines.push(l), quoteVerifier: { collateral: new CollateralService({ intel, cache: null }), trustRoots: simulated.trustRoots } });
    try {
      const quote = Buffer.from((await simulated.getEvidence(new Uint8Array(64))).evidence);
      const r = await g.call('POST', '/tdx_attest', { body: JSON.stringify({ raw_quote_data: quote.toString('hex') }), token: null });
      expect(r.status).toBe(503);
      expect(r.json.error.code).toBe('ERR_GATEWAY_COLLATERAL_UNAVAILABLE');
      for (const secret of ['internal-pccs', String(port), '127.0.0.1']) expect(r.text).not.toContain(secret);
      const logged = lines.join('\n');
      expect(logged).toContain('internal-pccs');
    } finally {
      await g.close();
      await http.close();
      pccs.close();
    }
  });
});
