/**
 * Review s11 changes-c #5: the nonce-split check refused about 1 genuine random nonce in 4 of a broker
 * with a 64-byte raw val and an iat of 30 bytes or more (with a DER user_data), as a final
 * ERR_KBS_RESPONSE. Now a nonce refused only because it splits into a key is replaced by a fresh one,
 * up to NONCE_SPLIT_MAX_NONCES nonces in all; no evidence is made for a refused one. A broker whose
 * nonces keep splitting (a hostile one crafts them) still gets ERR_KBS_RESPONSE nonce-splits-to-key,
 * now with details.noncesRefused. Shape errors (nonce-val, nonce-iat) stay final after one request.
 */
import { randomBytes } from 'node:crypto';
import { createServer, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';

import { afterAll, beforeAll, describe, expect, it } from 'vitest';

import { NONCE_SPLIT_MAX_NONCES, requestKey, transferReportData } from '../../src/kbs-client/index.js';
import type { EvidenceProvider } from '../../src/tee/types.js';

const b64 = (b: Buffer | string): string => Buffer.from(b).toString('base64');
const ISO_NANOS = Buffer.from('2026-03-04T05:06:07.123456789Z'); // 30 bytes: 64 + 30 + a 2048-bit SPKI (294) = 4 + 384

type Nonce = { val: string; iat: string; signature: string };

/** 64 random bytes that, before ISO_NANOS and a 2048-bit DER user_data, read as a 3072-bit raw key (odd exponent, top bit set). */
function splittingVal(): Buffer {
  const val = randomBytes(64);
  val[0] = val[0]! | 0x01;
  val[1] = val[1]! | 0x01; // exponent >= 3
  val[4] = val[4]! | 0x80;
  return val;
}

/** The same shape, but an even exponent: no split, so a genuine nonce of that broker. */
function passingVal(): Buffer {
  const val = randomBytes(64);
  val[0] = val[0]! & 0xfe;
  return val;
}

const nonceOf = (val: Buffer, iat: Buffer = ISO_NANOS): Nonce => ({ val: b64(val), iat: b64(iat), signature: b64(randomBytes(32)) });

describe('a nonce refused only because it splits into a key is replaced (review s11 changes-c #5)', () => {
  let server: Server;
  let url = '';
  /** The nonces the stand-in hands out, in order (null: a 404, no nonce); the last one repeats. */
  let queue: (Nonce | null)[] = [];
  let nonceRequests = 0;
  let transferBodies: { nonce?: Nonce; user_data: string }[] = [];

  beforeAll(async () => {
    server = createServer((req, res) => {
      const chunks: Buffer[] = [];
      req.on('data', (c: Buffer) => chunks.push(c));
      req.on('end', () => {
        const body = Buffer.concat(chunks);
        if (body.length === 0) {
          const n = queue[Math.min(nonceRequests, queue.length - 1)];
          nonceRequests++;
          if (n === null) return void res.writeHead(404, { 'content-type': 'application/json' }).end('{"error":"no nonce"}');
          res.writeHead(200, { 'content-type': 'application/json' }).end(JSON.stringify(n));
          return;
        }
        transferBodies.push(JSON.parse(body.toString('utf8')) as { nonce?: Nonce; user_data: string });
        res.writeHead(403, { 'content-type': 'application/json' }).end(JSON.stringify({ error: 'stand-in refuses every transfer' }));
      });
    });
    await new Promise<void>((r) => server.listen(0, '127.0.0.1', r));
    url = `http://127.0.0.1:${(server.address() as AddressInfo).port}`;
  });
  afterAll(() => new Promise<void>((r) => server.close(() => r())));

  async function run(nonces: (Nonce | null)[], mode: 'auto' | true = true): Promise<{ err: unknown; reportData: Uint8Array[] }> {
    queue = nonces;
    nonceRequests = 0;
    transferBodies = [];
    const reportData: Uint8Array[] = [];
    const provider: EvidenceProvider = { name: 'stub', getEvidence: async (rd) => (reportData.push(rd), { tee: 'tdx', provider: 'stub', evidence: new Uint8Array(64), reportData: rd }) };
    const err = await requestKey({ url, keyId: 'k1', provider, nonce: mode, allowInsecureHttp: true, attempts: 1, rsaBits: 2048 }).catch((e: unknown) => e);
    return { err, reportData };
  }

  it('the stand-in nonces do what they claim: a splitting one alone is refused, a passing one is used', async () => {
    const refused = await run([nonceOf(splittingVal())]);
    expect(refused.err).toMatchObject({ code: 'ERR_KBS_RESPONSE', details: { reason: 'nonce-splits-to-key', offset: 0, form: 'ita-raw-be' } });
    const used = await run([nonceOf(passingVal())]);
    expect(used.err).toMatchObject({ code: 'ERR_KBS_HTTP', details: { status: 403 } });
    expect(nonceRequests).toBe(1);
  });

  it.each([
    ['one splitting nonce, then a genuine one', 1, true],
    ['every nonce but the last allowed splitting', NONCE_SPLIT_MAX_NONCES - 1, true],
    ['one splitting nonce, then a genuine one, nonce auto', 1, 'auto'],
  ] as const)('%s: the fresh nonce is used, evidence made once for it', async (_name, splitting, mode) => {
    const good = nonceOf(passingVal());
    const { err, reportData } = await run([...Array.from({ length: splitting }, () => nonceOf(splittingVal())), good], mode);
    expect(err).toMatchObject({ code: 'ERR_KBS_HTTP', details: { status: 403 } }); // the transfer went out
    expect(nonceRequests).toBe(splitting + 1);
    expect(transferBodies).toHaveLength(1);
    const sent = transferBodies[0]!;
    expect(sent.nonce).toEqual(good);
    // The one piece of evidence binds the nonce sent, not a refused one.
    const expected = transferReportData(Buffer.from(sent.user_data, 'base64'), { val: Buffer.from(good.val, 'base64'), iat: Buffer.from(good.iat, 'base64') });
    expect(reportData).toHaveLength(1);
    expect(Buffer.from(reportData[0]!).equals(expected)).toBe(true);
  });

  it.each([true, 'auto'] as const)('a broker whose nonces keep splitting (nonce %s): ERR_KBS_RESPONSE after NONCE_SPLIT_MAX_NONCES nonces, none used', async (mode) => {
    const { err, reportData } = await run([nonceOf(splittingVal())], mode); // the same crafted nonce again and again
    expect(NONCE_SPLIT_MAX_NONCES).toBe(8);
    expect(err).toMatchObject({ code: 'ERR_KBS_RESPONSE', details: { reason: 'nonce-splits-to-key', offset: 0, form: 'ita-raw-be', noncesRefused: NONCE_SPLIT_MAX_NONCES } });
    expect(nonceRequests).toBe(NONCE_SPLIT_MAX_NONCES);
    expect(reportData).toHaveLength(0);
    expect(transferBodies).toHaveLength(0);
  });

  it('nonce auto: a broker that offers no nonce after a refused one gets no nonce-less transfer (review s11 changes-e #5)', async () => {
    const { err, reportData } = await run([nonceOf(splittingVal()), null], 'auto');
    expect(err).toMatchObject({ code: 'ERR_KBS_RESPONSE', details: { reason: 'nonce-splits-to-key', noncesRefused: 1 } });
    expect(nonceRequests).toBe(2);
    expect(reportData).toHaveLength(0);
    expect(transferBodies).toHaveLength(0);
  });

  it('fresh crafted nonces each time are refused the same way (bounded: no more requests than NONCE_SPLIT_MAX_NONCES)', async () => {
    const { err, reportData } = await run(Array.from({ length: 10 }, () => nonceOf(splittingVal())));
    expect(err).toMatchObject({ code: 'ERR_KBS_RESPONSE', details: { reason: 'nonce-splits-to-key', noncesRefused: NONCE_SPLIT_MAX_NONCES } });
    expect(nonceRequests).toBe(NONCE_SPLIT_MAX_NONCES);
    expect(reportData).toHaveLength(0);
  });

  it.each([
    ['a val of 65 bytes (nonce-val)', nonceOf(randomBytes(65)), 'nonce-val'],
    ['an iat that is no issue instant (nonce-iat)', nonceOf(passingVal(), Buffer.from('2026-02-30T05:06:07.123456789Z')), 'nonce-iat'],
  ] as const)('a shape error is final after one nonce: %s', async (_name, bad, reason) => {
    const { err, reportData } = await run([bad, nonceOf(passingVal())]);
    expect(err).toMatchObject({ code: 'ERR_KBS_RESPONSE', details: { reason } });
    expect(nonceRequests).toBe(1);
    expect(reportData).toHaveLength(0);
    expect(transferBodies).toHaveLength(0);
  });
});
