/**
 * Review s11 changes-a #1 and #2: after the first fix a broker M could still hand the client a nonce
 * of the allowed shape (64 raw bytes of val, a real timestamp) whose bytes, followed by the client's
 * user_data, read as one requester key: val = a DER SPKI header ‖ free bytes. The TD's evidence bound
 * SHA-512(val ‖ iat ‖ user_data), which is SHA-512(that key), so a broker without nonces released to
 * it (the reviewer's run: 188 victim runs until the modulus was 13 × a prime, then K was stolen).
 *
 * Now the client reads every suffix of val ‖ iat ‖ user_data that starts inside val or iat with the
 * broker's own parser (DER, raw big-endian for TDX / SEV-SNP, raw little-endian for SGX) and refuses the
 * nonce if one is a key: ERR_KBS_RESPONSE, details.reason "nonce-splits-to-key", before any evidence.
 * #2: ITA's text val must be canonical, and 88 + the longest iat stays under 128 bytes, the room a raw
 * key in front of a client's raw user_data needs.
 */
import { generateKeyPairSync, randomBytes } from 'node:crypto';
import { createServer, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';

import { afterAll, beforeAll, describe, expect, it } from 'vitest';

import { ITA_TEXT_VAL_BYTES, NONCE_IAT_MAX_BYTES, requestKey, userDataOf, type UserDataForm } from '../../src/kbs-client/index.js';
import { keyInNonceSplit } from '../../src/kbs-client/nonce-split.js';
import { parseRequesterKey, RAW_MODULUS_STEP_BITS } from '../../src/kbs/crypto.js';
import type { EvidenceProvider } from '../../src/tee/types.js';

const b64 = (b: Buffer | string): string => Buffer.from(b).toString('base64');

/** DER length field (long form, 2 bytes: every length here is 256..65535). */
const len2 = (n: number): Buffer => Buffer.from([0x82, n >> 8, n & 0xff]);
/**
 * The 32 bytes that make `header ‖ m bytes ‖ 02 03 01 00 01` one DER SPKI of an RSA key whose modulus
 * INTEGER holds the m bytes: a client's SPKI ends with its exponent 65537 exactly so.
 */
function spkiHeader(m: number): Buffer {
  const algorithm = Buffer.from('300d06092a864886f70d0101010500', 'hex');
  const rsaKey = m + 4 + 5;
  const bitString = 1 + 4 + rsaKey;
  const spki = algorithm.length + 4 + bitString;
  return Buffer.concat([Buffer.from([0x30]), len2(spki), algorithm, Buffer.from([0x03]), len2(bitString), Buffer.from([0x00, 0x30]), len2(rsaKey), Buffer.from([0x02]), len2(m)]);
}

/** The 2048-bit DER SPKI every client key of this file has: 294 bytes. */
const SPKI_2048_BYTES = 294;
const ISO = Buffer.from('2026-03-04T05:06:07.089Z');
const ISO_NANOS = Buffer.from('2026-03-04T05:06:07.123456789Z'); // 30 bytes
const GO_NANOS = Buffer.from('2022-08-24 12:36:32.929722075 +0000 UTC'); // 39 bytes, the longest accepted

/** 64 bytes of val: a DER SPKI header at `at`, random bytes before it, free bytes after (the first positive). */
function derVal(at: number, iat: Buffer): Buffer {
  const free = 64 - at - 32;
  const header = spkiHeader(free + iat.length + SPKI_2048_BYTES - 5);
  const val = Buffer.concat([randomBytes(at), header, randomBytes(free)]);
  val[at + 32] = 0x01 + (val[at + 32]! % 0x7f);
  return val;
}

/** 64 bytes of val whose bytes from `at` on are a raw-form exponent (65537, LE) and a modulus with its top bit set. */
function rawVal(at: number): Buffer {
  const val = randomBytes(64);
  val.writeUInt32LE(0x10001, at);
  val[at + 4] = 0x80 | val[at + 4]!;
  return val;
}

describe('the client refuses a nonce whose bytes and its user_data read as a key (review s11 changes-a #1)', () => {
  let server: Server;
  let url = '';
  let nonce: Record<string, string> = {};
  let transfers = 0;

  beforeAll(async () => {
    server = createServer((req, res) => {
      const chunks: Buffer[] = [];
      req.on('data', (c: Buffer) => chunks.push(c));
      req.on('end', () => {
        const empty = Buffer.concat(chunks).length === 0;
        if (!empty) transfers++;
        res.writeHead(empty ? 200 : 403, { 'content-type': 'application/json', 'attestation-type': 'TDX' });
        res.end(JSON.stringify(empty ? nonce : { error: 'stand-in refuses every transfer' }));
      });
    });
    await new Promise<void>((r) => server.listen(0, '127.0.0.1', r));
    url = `http://127.0.0.1:${(server.address() as AddressInfo).port}`;
  });
  afterAll(() => new Promise<void>((r) => server.close(() => r())));

  async function attempt(val: Buffer, iat: Buffer, mode: 'auto' | true, userDataForm: UserDataForm = 'spki-der'): Promise<{ err: unknown; asked: number; sent: number }> {
    nonce = { val: b64(val), iat: b64(iat), signature: b64(randomBytes(32)) };
    let asked = 0;
    const before = transfers;
    const provider: EvidenceProvider = { name: 'stub', getEvidence: async (rd) => (asked++, { tee: 'tdx', provider: 'stub', evidence: new Uint8Array(64), reportData: rd }) };
    const err = await requestKey({ url, keyId: 'k1', provider, nonce: mode, allowInsecureHttp: true, attempts: 1, rsaBits: 2048, userDataForm }).catch((e: unknown) => e);
    return { err, asked, sent: transfers - before };
  }

  it.each([
    ['the reviewer\'s nonce: val = an SPKI header ‖ 32 free bytes, iat ISO 8601 (a broker without nonces reads one SPKI)', () => derVal(0, ISO), ISO, 0, 'spki-der'],
    ['the SPKI header 8 bytes into val (a broker whose nonce is 8 bytes)', () => derVal(8, ISO), ISO, 8, 'spki-der'],
    ['val = a raw exponent ‖ modulus top bytes, a 30-byte ISO iat: a 3072-bit raw key (TDX / SEV-SNP order)', () => rawVal(0), ISO_NANOS, 0, 'ita-raw-be'],
    ['the raw exponent 9 bytes into val, Go\'s 39-byte iat', () => rawVal(9), GO_NANOS, 9, 'ita-raw-be'],
  ] as const)('%s: ERR_KBS_RESPONSE nonce-splits-to-key, no evidence made, nothing sent', async (_name, makeVal, iat, offset, form) => {
    for (const mode of [true, 'auto'] as const) {
      const { err, asked, sent } = await attempt(makeVal(), iat, mode);
      expect(err).toMatchObject({ code: 'ERR_KBS_RESPONSE', details: { reason: 'nonce-splits-to-key', offset, form } });
      expect({ asked, sent }).toEqual({ asked: 0, sent: 0 });
    }
  });

  it('the split the client refuses is the one the broker\'s parser accepts (the whole bytes as one SPKI)', () => {
    const { publicKey } = generateKeyPairSync('rsa', { modulusLength: 2048, publicExponent: 65537 });
    const ud = userDataOf(publicKey, 'spki-der');
    const relayed = Buffer.concat([derVal(0, ISO), ISO, ud]);
    expect(parseRequesterKey(relayed, 'tdx')).toMatchObject({ form: 'spki-der' });
    expect(keyInNonceSplit(Buffer.concat([derVal(0, ISO), ISO]), ud)).toMatchObject({ offset: 0, form: 'spki-der' });
  });

  it('the SGX order (little-endian modulus, its top byte the last of user_data) is read too', () => {
    let ud: Buffer;
    do ud = userDataOf(generateKeyPairSync('rsa', { modulusLength: 3072, publicExponent: 65537 }).publicKey, 'ita-raw');
    while (ud[ud.length - 1]! < 0x80);
    // 128 bytes in front of a 388-byte raw user_data: 516 = 4 + 512, a 4096-bit raw key; byte 4 < 0x80 so only LE reads it.
    const prefix = randomBytes(128);
    prefix.writeUInt32LE(0x10001, 0);
    prefix[4] = 0x7f & prefix[4]!;
    expect(keyInNonceSplit(prefix, ud)).toMatchObject({ offset: 0, form: 'ita-raw-le', bits: 4096 });
  });

  it.each([
    ['our broker (32 bytes, ISO 8601)', () => randomBytes(32), ISO, 'spki-der'],
    ['ITA 2023 (canonical base64 text of 64 bytes, Go time in seconds)', () => Buffer.from(b64(randomBytes(64))), Buffer.from('2023-06-12 20:44:46 +0000 UTC'), 'ita-raw'],
    ['ITA 2023 with the longest iat', () => Buffer.from(b64(randomBytes(64))), GO_NANOS, 'ita-raw'],
    ['ITA 2022 (64 bytes, nanoseconds)', () => randomBytes(64), GO_NANOS, 'ita-raw'],
  ] as const)('genuine nonces pass: %s', async (_name, makeVal, iat, form) => {
    for (let i = 0; i < 4; i++) {
      const { err, asked } = await attempt(makeVal(), iat, true, form);
      expect(err).toMatchObject({ code: 'ERR_KBS_HTTP', details: { status: 403 } });
      expect(asked).toBe(1);
    }
  });
});

describe('key sizes: no genuine nonce of ours can be refused', () => {
  it('a DER SPKI of 2048, 3072 or 4096 bits is 38 bytes past a multiple of 128, so a raw key in front of it needs 94 bytes (ours are 56)', () => {
    for (const bits of [2048, 3072, 4096]) {
      const ud = userDataOf(generateKeyPairSync('rsa', { modulusLength: bits, publicExponent: 65537 }).publicKey, 'spki-der');
      expect(ud.length % 128).toBe(38);
    }
  });

  it.each([2560, 1024, 9216, 3072.5])('rsaBits %s: ERR_KBS_ARGUMENT before any request', async (rsaBits) => {
    const provider: EvidenceProvider = { name: 'stub', getEvidence: async () => { throw new Error('no evidence may be made'); } };
    await expect(requestKey({ url: 'http://127.0.0.1:1', keyId: 'k1', provider, allowInsecureHttp: true, attempts: 1, rsaBits })).rejects.toMatchObject({ code: 'ERR_KBS_ARGUMENT' });
  });
});

describe('ITA\'s text val and the iat bound (review s11 changes-a #2)', () => {
  it('88 + the longest iat stays under the 128 bytes a raw key in front of raw user_data needs', () => {
    expect(GO_NANOS.length).toBe(NONCE_IAT_MAX_BYTES);
    expect(ITA_TEXT_VAL_BYTES + NONCE_IAT_MAX_BYTES).toBeLessThan(RAW_MODULUS_STEP_BITS / 8);
    // So even 127 bytes chosen to help (odd, top bit set everywhere) make no raw key with a raw user_data ...
    const ud = userDataOf(generateKeyPairSync('rsa', { modulusLength: 3072, publicExponent: 65537 }).publicKey, 'ita-raw');
    const filled = Buffer.alloc(ITA_TEXT_VAL_BYTES + NONCE_IAT_MAX_BYTES, 0x81);
    expect(keyInNonceSplit(filled, ud)).toBeUndefined();
    // ... and one byte more would.
    expect(keyInNonceSplit(Buffer.alloc(filled.length + 1, 0x81), ud)).toMatchObject({ offset: 0, form: 'ita-raw-be' });
  });

  it.each([
    ['a 40-byte iat (10 fraction digits)', '2022-08-24 12:36:32.9297220751 +0000 UTC'],
    ['a 31-byte ISO iat', '2026-03-04T05:06:07.1234567891Z'],
  ])('%s is refused (nonce-iat)', async (_name, iat) => {
    const s = createServer((req, res) => {
      req.resume();
      req.on('end', () => res.writeHead(200, { 'content-type': 'application/json' }).end(JSON.stringify({ val: b64(b64(randomBytes(64))), iat: b64(iat), signature: b64(randomBytes(32)) })));
    });
    await new Promise<void>((r) => s.listen(0, '127.0.0.1', r));
    try {
      const provider: EvidenceProvider = { name: 'stub', getEvidence: async () => { throw new Error('no evidence may be made'); } };
      const u = `http://127.0.0.1:${(s.address() as AddressInfo).port}`;
      await expect(requestKey({ url: u, keyId: 'k1', provider, nonce: true, allowInsecureHttp: true, attempts: 1, rsaBits: 2048 })).rejects.toMatchObject({ code: 'ERR_KBS_RESPONSE', details: { reason: 'nonce-iat' } });
    } finally {
      await new Promise<void>((r) => s.close(() => r()));
    }
  });

  it('a non-canonical text val (a last character with set low bits) is not ITA\'s text: refused as 88 bytes (nonce-val)', async () => {
    const canonical = b64(randomBytes(64));
    const last = canonical[85]!;
    const loose = `${canonical.slice(0, 85)}${String.fromCharCode(last.charCodeAt(0) + 1)}==`;
    expect(Buffer.from(loose, 'base64').equals(Buffer.from(canonical, 'base64'))).toBe(true); // the same 64 bytes, spelled another way
    const s = createServer((req, res) => {
      req.resume();
      req.on('end', () => res.writeHead(200, { 'content-type': 'application/json' }).end(JSON.stringify({ val: b64(loose), iat: b64('2023-06-12 20:44:46 +0000 UTC'), signature: b64(randomBytes(32)) })));
    });
    await new Promise<void>((r) => s.listen(0, '127.0.0.1', r));
    try {
      const provider: EvidenceProvider = { name: 'stub', getEvidence: async () => { throw new Error('no evidence may be made'); } };
      const u = `http://127.0.0.1:${(s.address() as AddressInfo).port}`;
      await expect(requestKey({ url: u, keyId: 'k1', provider, nonce: true, allowInsecureHttp: true, attempts: 1, rsaBits: 2048, userDataForm: 'ita-raw' })).rejects.toMatchObject({ code: 'ERR_KBS_RESPONSE', details: { reason: 'nonce-val' } });
    } finally {
      await new Promise<void>((r) => s.close(() => r()));
    }
  });
});
