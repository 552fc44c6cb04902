/**
 * Review s11 #1: the client hashed whatever val and iat a broker sent into REPORTDATA
 * (SHA-512(val ‖ iat ‖ user_data), no lengths), so a broker could end iat with the first bytes of a
 * key of its own and relay the evidence to another broker (test/kbs/review-s11-nonce-relay.test.ts).
 * Now a nonce whose val is not 16-64 bytes (or ITA's 88-character base64 text of 64 bytes) or whose
 * iat is not an issue instant (ISO 8601 UTC, or Go's "... +0000 UTC" as ITA writes it) is refused
 * with ERR_KBS_RESPONSE before any evidence is made, with nonce: 'auto' too. The nonces real
 * brokers send still pass: ours (32 bytes, ISO), ITA 2022 (64 bytes, nanoseconds) and ITA 2023 (text val).
 */
import { createHash, randomBytes } from 'node:crypto';
import { createServer, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';

import { afterAll, beforeAll, describe, expect, it } from 'vitest';

import { requestKey, type UserDataForm } from '../../src/kbs-client/index.js';
import type { EvidenceProvider } from '../../src/tee/types.js';

const b64 = (b: Buffer | string): string => Buffer.from(b).toString('base64');

describe('the client checks the shape of a broker nonce before it is hashed (review s11 #1)', () => {
  let server: Server;
  let url = '';
  let nonce: Record<string, string> = {};
  let transfers = 0;
  let lastUserData = Buffer.alloc(0);

  beforeAll(async () => {
    server = createServer((req, res) => {
      const chunks: Buffer[] = [];
      req.on('data', (c: Buffer) => chunks.push(c));
      req.on('end', () => {
        const body = Buffer.concat(chunks);
        const empty = body.length === 0;
        if (!empty) {
          transfers++;
          lastUserData = Buffer.from((JSON.parse(body.toString('utf8')) as { user_data: string }).user_data, 'base64');
        }
        res.writeHead(empty ? 200 : 403, { 'content-type': 'application/json', 'attestation-type': 'TDX' });
        res.end(JSON.stringify(empty ? nonce : { error: 'stand-in refuses every transfer' }));
      });
    });
    await new Promise<void>((r) => server.listen(0, '127.0.0.1', r));
    url = `http://127.0.0.1:${(server.address() as AddressInfo).port}`;
  });
  afterAll(() => new Promise<void>((r) => server.close(() => r())));

  /** Runs one request against the stand-in serving `n`; returns the error and the REPORTDATA the provider was asked for, if any. */
  async function attempt(n: Record<string, string>, mode: 'auto' | true = true, userDataForm: UserDataForm = 'spki-der'): Promise<{ err: unknown; asked: Buffer[] }> {
    nonce = n;
    const asked: Buffer[] = [];
    const provider: EvidenceProvider = { name: 'stub', getEvidence: async (rd) => (asked.push(Buffer.from(rd)), { tee: 'tdx', provider: 'stub', evidence: new Uint8Array(64), reportData: rd }) };
    const err = await requestKey({ url, keyId: 'k1', provider, nonce: mode, allowInsecureHttp: true, attempts: 1, rsaBits: 2048, userDataForm }).catch((e: unknown) => e);
    return { err, asked };
  }

  const iso = new Date('2026-03-04T05:06:07.089Z').toISOString();
  const spki = Buffer.alloc(300, 0x30);

  it.each([
    ['val of 15 bytes', { val: b64(randomBytes(15)), iat: b64(iso) }, 'nonce-val'],
    ['val of 65 bytes', { val: b64(randomBytes(65)), iat: b64(iso) }, 'nonce-val'],
    ['val = a genuine val ‖ iat ‖ 9 bytes (65)', { val: b64(Buffer.concat([randomBytes(32), Buffer.from(iso), randomBytes(9)])), iat: b64(iso) }, 'nonce-val'],
    ['an empty val', { val: '', iat: b64(iso) }, 'nonce-val'],
    ['88 bytes that are not base64 text', { val: b64(Buffer.alloc(88, 0x21)), iat: b64(iso) }, 'nonce-val'],
    ['iat = a genuine iat ‖ an SPKI (the relay)', { val: b64(randomBytes(32)), iat: b64(Buffer.concat([Buffer.from(iso), spki])) }, 'nonce-iat'],
    ['iat = a genuine iat ‖ one byte', { val: b64(randomBytes(32)), iat: b64(`${iso}\n`) }, 'nonce-iat'],
    ['iat of random bytes', { val: b64(randomBytes(32)), iat: b64(randomBytes(24)) }, 'nonce-iat'],
    ['iat with a local offset', { val: b64(randomBytes(32)), iat: b64('2026-03-04T05:06:07+02:00') }, 'nonce-iat'],
    ['iat not a calendar date', { val: b64(randomBytes(32)), iat: b64('2026-02-30T05:06:07Z') }, 'nonce-iat'],
    ['an empty iat', { val: b64(randomBytes(32)), iat: '' }, 'nonce-iat'],
  ])('%s: ERR_KBS_RESPONSE, no evidence made, nothing sent', async (_name, n, reason) => {
    for (const mode of [true, 'auto'] as const) {
      const before = transfers;
      const { err, asked } = await attempt({ ...n, signature: b64(randomBytes(32)) }, mode);
      expect(err).toMatchObject({ code: 'ERR_KBS_RESPONSE', details: { reason } });
      expect({ asked: asked.length, sent: transfers - before }).toEqual({ asked: 0, sent: 0 });
    }
  });

  // ITA's nonces with the user_data form ITA reads (ita-raw; it answers 500 for DER). A 64-byte raw val
  // with a 39-byte iat before a DER SPKI can read as a raw key from byte 9 on and is then refused
  // (review-s11-nonce-split.test.ts), so that pairing is not one of the genuine cases here.
  it.each([
    ['our broker (32 bytes, ISO 8601 with milliseconds)', randomBytes(32), Buffer.from(iso), 'spki-der'],
    ['ITA 2022 (64 bytes, Go time with nanoseconds)', randomBytes(64), Buffer.from('2022-08-24 12:36:32.929722075 +0000 UTC'), 'ita-raw'],
    ['ITA 2023 (the base64 text of 64 bytes, Go time in seconds)', Buffer.from(b64(randomBytes(64))), Buffer.from('2023-06-12 20:44:46 +0000 UTC'), 'ita-raw'],
    ['ITA 2023 with a DER user_data', Buffer.from(b64(randomBytes(64))), Buffer.from('2023-06-12 20:44:46 +0000 UTC'), 'spki-der'],
    ['16 bytes, ISO 8601 in seconds', randomBytes(16), Buffer.from('2026-03-04T05:06:07Z'), 'spki-der'],
  ] as const)('%s: accepted and hashed as sent', async (_name, val, iat, form) => {
    const { err, asked } = await attempt({ val: b64(val), iat: b64(iat), signature: b64(randomBytes(64)) }, true, form);
    expect(err).toMatchObject({ code: 'ERR_KBS_HTTP', details: { status: 403 } });
    expect(asked).toHaveLength(1);
    expect(asked[0]!.equals(createHash('sha512').update(Buffer.concat([val, iat, lastUserData])).digest())).toBe(true);
  });
});
