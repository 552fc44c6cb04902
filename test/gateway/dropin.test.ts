/**
 * Drop-in endpoints (protocols.md §8, §10.4) and /metrics: the patched
 * open-webui's quote route, the cc-zoo /tdx_attest verifier with correct
 * (not inverted) results, Cube's POST /attestation, Prometheus counters.
 */
import { randomBytes } from 'node:crypto';

import { afterAll, beforeAll, describe, expect, it } from 'vitest';

import { bindingReportData, spkiSha256 } from '../../src/gateway/index.js';
import { BundleSource, CollateralService, parseEvidence, verifyEvidence, type TdxQuote } from '../../src/index.js';
import { ollamaChat, simulated, startHarness, type Harness } from './helpers.js';

const verifierCollateral = (): CollateralService => new CollateralService({ intel: new BundleSource([...simulated.collateral]), cache: null });

let h: Harness;
beforeAll(async () => {
  h = await startHarness({ cubeAttestation: true, quoteVerifier: { collateral: verifierCollateral(), trustRoots: simulated.trustRoots } });
});
afterAll(async () => h?.close());

const reportDataOf = (quote: Buffer): Buffer => Buffer.from((parseEvidence(quote) as TdxQuote).body.reportData);

describe('GET /api/v1/tee/quote (patched open-webui)', () => {
  it('answers {quote: hex, quote_parse, timestamp, id, status} with no-cache headers; REPORTDATA binds the TLS key', async () => {
    const r = await h.call('GET', '/api/v1/tee/quote', { token: null });
    expect(r.status).toBe(200);
    expect(Object.keys(r.json).sort()).toEqual(['id', 'quote', 'quote_parse', 'status', 'timestamp']);
    expect(r.json.status).toBe(true);
    expect(r.json.quote_parse).toBe('reserved');
    expect(r.headers['cache-control']).toBe('no-cache, no-store, must-revalidate');
    expect(r.headers['pragma']).toBe('no-cache');
    const spki = spkiSha256(h.gateway.certificatePem);
    expect(reportDataOf(Buffer.from(r.json.quote, 'hex')).equals(bindingReportData(Buffer.alloc(32), spki))).toBe(true);
  });

  it('with ?nonce= (URL-safe base64) the nonce is bound', async () => {
    const nonce = randomBytes(32);
    const r = await h.call('GET', `/api/v1/tee/quote?nonce=${nonce.toString('base64url')}`, { token: null });
    expect(reportDataOf(Buffer.from(r.json.quote, 'hex')).equals(bindingReportData(nonce, spkiSha256(h.gateway.certificatePem)))).toBe(true);
  });
});

describe('POST /tdx_attest (cc-zoo), with correct results', () => {
  it('a valid quote is SUCCESS; a tampered one FAILED (its signature, T26); not hex is 400 ERR_GATEWAY_BAD_REQUEST', async () => {
    const good = Buffer.from((await simulated.getEvidence(new Uint8Array(64))).evidence);
    const ok = await h.call('POST', '/tdx_attest', { body: JSON.stringify({ raw_quote_data: good.toString('hex') }), token: null });
    expect(ok.json.attestation_result).toBe('SUCCESS');
    expect(Number.isInteger(ok.json.timestamp)).toBe(true);
    const bad = Buffer.from(good);
    bad[300] = (bad[300] ?? 0) ^ 0xff;
    const failed = await h.call('POST', '/tdx_attest', { body: JSON.stringify({ raw_quote_data: bad.toString('hex') }), token: null });
    expect(failed.status).toBe(200);
    // cc-zoo's answer shape has no field for a reason: exactly the two fields, and FAILED.
    expect(Object.keys(failed.json).sort()).toEqual(['attestation_result', 'timestamp']);
    expect(failed.json.attestation_result).toBe('FAILED');
    // The reason it failed, from the verifier with the gateway's collateral: byte 300 is in the signed TD report (T26).
    await expect(verifyEvidence(new Uint8Array(bad), { collateral: verifierCollateral(), trustRoots: simulated.trustRoots })).rejects.toMatchObject({ code: 'ERR_SIG_QUOTE', check: 'T26' });
    const notHex = await h.call('POST', '/tdx_attest', { body: JSON.stringify({ raw_quote_data: 'xyz' }), token: null });
    expect(notHex.status).toBe(400);
    expect(notHex.json.error.code).toBe('ERR_GATEWAY_BAD_REQUEST');
  });
});

describe('POST /attestation (Cube agent)', () => {
  it('raw quote bytes; report_data used raw, zero-padded to 64 bytes', async () => {
    const rd = randomBytes(20);
    const res = await fetchRaw('/attestation', JSON.stringify({ report_data: rd.toString('base64'), nonce: randomBytes(8).toString('base64'), to_json: false }));
    expect(res.type).toBe('application/octet-stream');
    expect(reportDataOf(res.body).equals(Buffer.concat([rd, Buffer.alloc(44)]))).toBe(true);
  });

  it('report_data over 64 bytes is 400', async () => {
    const r = await h.call('POST', '/attestation', { body: JSON.stringify({ report_data: randomBytes(65).toString('base64') }), token: null });
    expect(r.status).toBe(400);
    expect(r.json.code).toBe('ERR_GATEWAY_BAD_REQUEST'); // Cube's error shape: {error: message, code}
  });
});

describe('/metrics', () => {
  it('Prometheus text with attestation, proxy and refusal counters', async () => {
    await h.call('POST', '/api/chat', { body: ollamaChat('m', false) });
    await h.call('POST', '/api/chat', { body: ollamaChat('m', false), token: 'tgw_bad' });
    const r = await h.call('GET', '/metrics', { token: null });
    expect(r.status).toBe(200);
    expect(String(r.headers['content-type'])).toContain('text/plain');
    expect(r.text).toMatch(/^# TYPE tee_gateway_attestations_total counter$/m);
    expect(r.text).toMatch(/^tee_gateway_attestations_total [1-9]\d*$/m);
    expect(r.text).toMatch(/^tee_gateway_proxied_requests_total\{class="2xx"\} [1-9]\d*$/m);
    expect(r.text).toMatch(/^tee_gateway_unauthorized_total [1-9]\d*$/m);
  });

  it('latency histograms of proxied requests and drop-in verifications by result (issue 8; review s8 D3)', async () => {
    const metric = async (): Promise<string> => (await h.call('GET', '/metrics', { token: null })).text;
    const value = (text: string, series: string): number => {
      const m = new RegExp(`^${series.replace(/[{}"+.]/g, (c) => `\\${c}`)} (\\S+)$`, 'm').exec(text);
      if (!m) throw new Error(`no ${series} in /metrics`);
      return Number(m[1]);
    };
    const before = await metric();
    await h.call('POST', '/api/chat', { body: ollamaChat('m', false) });
    const good = Buffer.from((await simulated.getEvidence(new Uint8Array(64))).evidence);
    const bad = Buffer.from(good);
    bad[300] = (bad[300] ?? 0) ^ 0xff;
    for (const q of [good, bad, bad]) await h.call('POST', '/tdx_attest', { body: JSON.stringify({ raw_quote_data: q.toString('hex') }), token: null });
    const after = await metric();
    expect(after).toMatch(/^# TYPE tee_gateway_upstream_first_byte_seconds histogram$/m);
    expect(after).toMatch(/^# TYPE tee_gateway_proxied_request_duration_seconds histogram$/m);
    for (const name of ['tee_gateway_upstream_first_byte_seconds', 'tee_gateway_proxied_request_duration_seconds']) {
      expect(value(after, `${name}_count`) - value(before, `${name}_count`)).toBe(1);
      expect(value(after, `${name}_bucket{le="+Inf"}`)).toBe(value(after, `${name}_count`));
      expect(value(after, `${name}_bucket{le="300"}`)).toBe(value(after, `${name}_count`)); // a local upstream answers within the last fixed bucket
      expect(value(after, `${name}_sum`)).toBeGreaterThan(0);
    }
    const verifications = (text: string, result: string): number => value(text, `tee_gateway_quote_verifications_total{result="${result}"}`);
    expect(verifications(after, 'success') - verifications(before, 'success')).toBe(1);
    expect(verifications(after, 'failed') - verifications(before, 'failed')).toBe(2);
    expect(verifications(after, 'unavailable')).toBe(0);
  });
});

async function fetchRaw(path: string, body: string): Promise<{ type: string; body: Buffer }> {
  const { request } = await import('undici');
  const res = await request(`${h.gateway.url}${path}`, { method: 'POST', dispatcher: h.insecure, headers: { 'content-type': 'application/json' }, body });
  return { type: String(res.headers['content-type']), body: Buffer.from(await res.body.arrayBuffer()) };
}
