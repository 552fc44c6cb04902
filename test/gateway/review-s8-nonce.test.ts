/**
 * Review s8, findings D4 and D5: nonces are canonical base64, and the open-webui quote route reads a
 * raw "+" in its query string as "+".
 *
 * D4: "AAAAAAAAAAAAAAAAAAAAAP==" decodes to the same 16 zero bytes as "…AA==" (the last character's
 * low bits are padding). Every route that takes a client's base64 nonce or report data refuses the
 * non-canonical spelling with 400, so one value has one spelling.
 * D5: `?nonce=${btoa(...)}` puts a raw "+" into the query string, which form decoding turns into a
 * space; a space is never base64, so it is read back as "+".
 */
import { randomBytes } from 'node:crypto';

import { afterAll, beforeAll, describe, expect, it } from 'vitest';

import { bindingReportData, spkiSha256 } from '../../src/gateway/index.js';
import { parseEvidence, type TdxQuote } from '../../src/index.js';
import { SimulatedVtpmProvider } from '../../src/tee/index.js';
import { simulated, startHarness, type Harness } from './helpers.js';

const CANONICAL = 'AAAAAAAAAAAAAAAAAAAAAA==';
const PAD_BITS_SET = 'AAAAAAAAAAAAAAAAAAAAAP=='; // the same 16 bytes, the last character's padding bits not zero
const CANONICAL_20 = Buffer.alloc(20, 7).toString('base64'); // "BwcH…Bwc=": 20 bytes, one "=" of padding
const PAD_BITS_SET_20 = `${CANONICAL_20.slice(0, -2)}d=`; // "c" → "d": only the padding bit differs

let h: Harness;
let vtpm: Harness;
beforeAll(async () => {
  h = await startHarness({ cubeAttestation: true });
  vtpm = await startHarness({ provider: new SimulatedVtpmProvider({ hardware: simulated }) });
});
afterAll(async () => {
  await h?.close();
  await vtpm?.close();
});

describe('canonical base64 only (D4)', () => {
  it('the two spellings decode to the same bytes (the premise)', () => {
    expect(Buffer.from(PAD_BITS_SET, 'base64').equals(Buffer.from(CANONICAL, 'base64'))).toBe(true);
    expect(Buffer.from(PAD_BITS_SET_20, 'base64').equals(Buffer.from(CANONICAL_20, 'base64'))).toBe(true);
  });

  it('POST /v1/attestation: the canonical nonce is 200, the other spelling 400', async () => {
    const ok = await h.call('POST', '/v1/attestation', { body: JSON.stringify({ nonce: CANONICAL }), token: null });
    expect(ok.status).toBe(200);
    const refused = await h.call('POST', '/v1/attestation', { body: JSON.stringify({ nonce: PAD_BITS_SET }), token: null });
    expect(refused.status).toBe(400);
    expect(refused.json.error.code).toBe('ERR_GATEWAY_BAD_REQUEST');
  });

  it('GET /api/v1/tee/quote: the non-canonical nonce is 400 (standard and URL-safe spellings)', async () => {
    for (const n of [encodeURIComponent(PAD_BITS_SET), PAD_BITS_SET.replace(/=+$/, '')]) {
      const r = await h.call('GET', `/api/v1/tee/quote?nonce=${n}`, { token: null });
      expect(r.status).toBe(400);
    }
    expect((await h.call('GET', `/api/v1/tee/quote?nonce=${encodeURIComponent(CANONICAL)}`, { token: null })).status).toBe(200);
  });

  it('POST /aTLS: the non-canonical nonce is 400', async () => {
    const refused = await vtpm.call('POST', '/aTLS', { body: JSON.stringify({ nonce: PAD_BITS_SET }), token: null });
    expect(refused.status).toBe(400);
    expect(refused.json.error.code).toBe('ERR_GATEWAY_BAD_REQUEST');
    expect((await vtpm.call('POST', '/aTLS', { body: JSON.stringify({ nonce: CANONICAL }), token: null })).status).toBe(200);
  });

  it("Cube's POST /attestation: non-canonical report_data or nonce is 400", async () => {
    for (const body of [{ report_data: PAD_BITS_SET_20 }, { report_data: CANONICAL_20, nonce: PAD_BITS_SET }]) {
      const r = await h.call('POST', '/attestation', { body: JSON.stringify(body), token: null });
      expect(r.status).toBe(400);
      expect(r.json.code).toBe('ERR_GATEWAY_BAD_REQUEST');
    }
    expect((await h.call('POST', '/attestation', { body: JSON.stringify({ report_data: CANONICAL_20, nonce: CANONICAL }), token: null })).status).toBe(200);
  });
});

describe('GET /api/v1/tee/quote with a raw "+" in the query (D5)', () => {
  it('?nonce=<standard base64 with "+", not percent-encoded> binds that nonce', async () => {
    const nonce = Buffer.alloc(32, 0xfb); // "+/v7…": both "+" and "/"
    const std = nonce.toString('base64');
    expect(std).toContain('+');
    const r = await h.call('GET', `/api/v1/tee/quote?nonce=${std}`, { token: null });
    expect(r.status).toBe(200);
    const reportData = Buffer.from((parseEvidence(Buffer.from(r.json.quote, 'hex')) as TdxQuote).body.reportData);
    expect(reportData.equals(bindingReportData(nonce, spkiSha256(h.gateway.certificatePem)))).toBe(true);
  });

  it('a nonce with other characters that are not base64 is still 400', async () => {
    const r = await h.call('GET', `/api/v1/tee/quote?nonce=${encodeURIComponent(`${randomBytes(24).toString('base64').slice(0, -1)}!`)}`, { token: null });
    expect(r.status).toBe(400);
  });
});
