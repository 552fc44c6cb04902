/**
 * A nonce request is one without Attestation-Type and without a quote: ITA does not read the body
 * without that header (protocols.md §4.2), so a client posting `{}` (or fields but no quote) gets a
 * nonce, not 400 "quote is required". Every bound on the body stays: its size, Content-Type, a JSON
 * object of known fields, no passport token.
 */
import { randomBytes } from 'node:crypto';

import { afterAll, beforeAll, describe, expect, it } from 'vitest';

import { newClient, registerKey, startHarness, transferBody, transferPath, unwrap, type Client, type Harness } from './helpers.js';

let h: Harness;
let keyId: string;
let client: Client;
const material = randomBytes(32);
const MAX_BODY = 64 * 1024;

beforeAll(async () => {
  h = await startHarness({ maxBodyBytes: MAX_BODY });
  keyId = await registerKey(h, material);
  client = newClient();
}, 60_000);
afterAll(async () => h?.close());

/** POST without Attestation-Type; `raw` is sent as is with Content-Type application/json. */
const noHeader = (raw: string, headers: Record<string, string> = {}) => h.call('POST', transferPath(keyId), { raw, token: null, headers });

function expectNonce(r: { status: number; json: any; text: string; headers: Record<string, unknown> }): void {
  expect(r.status, r.text).toBe(200);
  expect(Object.keys(r.json).sort()).toEqual(['iat', 'signature', 'val']);
  expect(Buffer.from(r.json.val, 'base64')).toHaveLength(32);
  expect(r.headers['attestation-type']).toBe('TDX');
}

describe('nonce request with a JSON body and no Attestation-Type', () => {
  it('{} gives a nonce, and that nonce releases the key once', async () => {
    const n = await noHeader('{}');
    expectNonce(n);
    const r = await h.call('POST', transferPath(keyId), { body: transferBody(h, client, { nonce: n.json }), headers: { 'attestation-type': 'TDX' }, token: null });
    expect(r.status, r.text).toBe(200);
    expect(unwrap(client, r.json).equals(material)).toBe(true);
    const again = await h.call('POST', transferPath(keyId), { body: transferBody(h, client, { nonce: n.json }), headers: { 'attestation-type': 'TDX' }, token: null });
    expect(again.status).toBe(401);
    expect(again.json.code).toBe('ERR_KBS_NONCE');
  });

  it('known fields without a quote (user_data, "quote": null) give a nonce too; each answer is a new nonce', async () => {
    const a = await noHeader(JSON.stringify({ user_data: client.spkiDer.toString('base64') }));
    expectNonce(a);
    const b = await noHeader('{"quote": null}');
    expectNonce(b);
    expect(a.json.val).not.toBe(b.json.val);
  });

  it('the body bounds stay: not an object, unknown fields, a passport token, the size limit and Content-Type are refused; a quote without the header is not a nonce request', async () => {
    // Answered with a nonce first, so this test fails where `{}` is not a nonce request.
    expectNonce(await noHeader('{}'));
    for (const raw of ['[]', 'null', 'not json', '{"nonce_please": true}', '{"attestation_token": "eyJ"}']) {
      const r = await noHeader(raw);
      expect(r.status, raw).toBe(400);
      expect(r.json.code, raw).toBe('ERR_KBS_BAD_REQUEST');
      expect(r.json).not.toHaveProperty('val');
    }
    const big = await noHeader(JSON.stringify({ user_data: 'A'.repeat(MAX_BODY) }));
    expect(big.status).toBe(413);
    expect(big.json.code).toBe('ERR_KBS_BODY_TOO_LARGE');
    const text = await noHeader('{}', { 'content-type': 'text/plain' });
    expect(text.status).toBe(415);
    const quote = await noHeader(JSON.stringify(transferBody(h, client)));
    expect(quote.status).toBe(401);
    expect(quote.json.code).toBe('ERR_KBS_ATTESTATION_TYPE');
    expect(quote.json).not.toHaveProperty('wrapped_key');
  });
});
