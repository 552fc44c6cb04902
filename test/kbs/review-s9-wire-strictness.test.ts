/**
 * Review s9 K3: the transfer body's nested `nonce` object took any extra field, and `event_log` was
 * allowed but never read, so a number, an object or non-base64 text passed and the key was released.
 * Now: only val / iat / signature inside `nonce`; `event_log` is canonical standard base64 of at most
 * EVENT_LOG_MAX_BYTES (ITA decodes it as []byte), not evaluated, and a release that had one says so.
 */
import { randomBytes } from 'node:crypto';

import { afterAll, beforeAll, describe, expect, it } from 'vitest';

import { EVENT_LOG_MAX_BYTES } from '../../src/kbs/transfer.js';
import { newClient, registerKey, startHarness, transferBody, transferPath, unwrap, type Harness } from './helpers.js';

describe('key broker: strict nonce object and event_log (review s9 K3)', () => {
  let h: Harness;
  let keyId: string;
  const material = randomBytes(32);

  beforeAll(async () => {
    h = await startHarness();
    keyId = await registerKey(h, material);
  }, 60_000);
  afterAll(async () => h?.close());

  const nonce = async (): Promise<{ val: string; iat: string; signature: string }> => {
    const r = await h.call('POST', transferPath(keyId), { token: null });
    expect(r.status).toBe(200);
    return r.json;
  };
  const released = async (): Promise<number> => {
    const s = await h.storage();
    return Number((await s.get<{ n: number }>("SELECT COUNT(*) AS n FROM attestation_log WHERE decision = 'released'"))?.n);
  };
  const send = (body: Record<string, unknown>) => h.call('POST', transferPath(keyId), { body, headers: { 'attestation-type': 'TDX' }, token: null });

  it.each<[string, (b: Record<string, unknown>, n: Record<string, string>) => void]>([
    ['nonce with an extra field', (b, n) => void (b['nonce'] = { ...n, extra: 'x'.repeat(1000) })],
    ['event_log = 12345', (b) => void (b['event_log'] = 12345)],
    ['event_log = {"a":[1,2]}', (b) => void (b['event_log'] = { a: [1, 2] })],
    ['event_log = "not base64!!"', (b) => void (b['event_log'] = 'not base64!!')],
    ['event_log in non-canonical base64', (b) => void (b['event_log'] = 'QR==')],
  ])('%s: 400 ERR_KBS_BAD_REQUEST, nothing released', async (_label, mutate) => {
    const before = await released();
    const client = newClient();
    const n = await nonce();
    const body = transferBody(h, client, { nonce: n });
    mutate(body, n);
    const r = await send(body);
    expect({ status: r.status, code: r.json?.code }).toEqual({ status: 400, code: 'ERR_KBS_BAD_REQUEST' });
    expect(r.json).not.toHaveProperty('wrapped_key');
    expect(await released()).toBe(before);
  });

  it('names the extra nonce field in the answer', async () => {
    const r = await send({ ...transferBody(h, newClient(), { nonce: await nonce() }), nonce: { ...(await nonce()), ttl: 1 } });
    expect(r.status).toBe(400);
    expect(r.json.error).toContain('"nonce": ttl');
  });

  it(`an event_log over ${EVENT_LOG_MAX_BYTES} bytes is 400; one within the bound releases, with a warning in the row`, async () => {
    const big = await send({ ...transferBody(h, newClient(), { nonce: await nonce() }), event_log: Buffer.alloc(EVENT_LOG_MAX_BYTES + 1, 1).toString('base64') });
    expect({ status: big.status, code: big.json?.code }).toEqual({ status: 400, code: 'ERR_KBS_BAD_REQUEST' });

    const client = newClient();
    const ok = await send({ ...transferBody(h, client, { nonce: await nonce() }), event_log: Buffer.alloc(1000, 7).toString('base64') });
    expect(ok.status, ok.text).toBe(200);
    expect(unwrap(client, ok.json).equals(material)).toBe(true);
    const s = await h.storage();
    const row = await s.get<{ warnings: string }>("SELECT warnings FROM attestation_log WHERE decision = 'released' ORDER BY seq DESC LIMIT 1");
    expect(JSON.parse(row!.warnings)).toContain('event_log: 1000 byte(s) sent and not evaluated (RTMRs are judged as the quote states them)');
  });

  it('event_log null is the same as absent (Go decodes it to nil)', async () => {
    const client = newClient();
    const r = await send({ ...transferBody(h, client, { nonce: await nonce() }), event_log: null });
    expect(r.status, r.text).toBe(200);
    expect(unwrap(client, r.json).equals(material)).toBe(true);
  });
});
