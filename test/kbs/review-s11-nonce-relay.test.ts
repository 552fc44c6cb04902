/**
 * Review s11 #1 (critical): REPORTDATA = SHA-512(val ‖ iat ‖ user_data) has no lengths. A broker M
 * that a TD is sent to (a model's kbs_url) fetched a genuine nonce (valB, iatB) from broker B and
 * handed the TD iat' = iatB ‖ SPKI_M; the TD bound SHA-512(valB ‖ iatB ‖ SPKI_M ‖ its key), and M
 * sent B that quote with B's own nonce and user_data = SPKI_M ‖ the TD's key. B read the first DER
 * structure, ignored the rest, and wrapped key K to M's key.
 *
 * Now the client refuses a nonce whose iat is not an issue instant or whose val is not 16-64 bytes
 * (ERR_KBS_RESPONSE, before any evidence), and the broker takes exactly one DER SPKI, or a raw-form
 * modulus of a whole key size, in user_data (400 ERR_KBS_USER_DATA, X11). Each side is tested alone.
 */
import { constants, generateKeyPairSync, privateDecrypt, randomBytes } from 'node:crypto';
import { createServer, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';

import { afterAll, beforeAll, describe, expect, it } from 'vitest';

import { requestKey } from '../../src/kbs-client/index.js';
import { parseRequesterKey } from '../../src/kbs/crypto.js';
import { decryptContainer } from '../../src/kbs/index.js';
import type { EvidenceProvider } from '../../src/tee/types.js';
import { newClient, quoteFor, registerKey, sha512, startHarness, transferPath, type Harness } from './helpers.js';

describe('the nonce-split relay (review s11 #1)', () => {
  let b: Harness;
  let keyId: string;
  const material = randomBytes(32);
  const attacker = generateKeyPairSync('rsa', { modulusLength: 2048, publicExponent: 65537 });
  const attackerSpki = attacker.publicKey.export({ type: 'spki', format: 'der' });

  beforeAll(async () => {
    b = await startHarness({ plainHttp: true, allowNoNonce: false });
    keyId = await registerKey(b, material);
  }, 60_000);
  afterAll(async () => b?.close());

  const nonceOfB = async (): Promise<{ val: string; iat: string; signature: string }> => {
    const r = await b.call('POST', transferPath(keyId), { token: null });
    expect(r.status, r.text).toBe(200);
    return r.json;
  };
  const relay = (quote: Buffer, userData: Buffer, nonce: unknown) =>
    b.call('POST', transferPath(keyId), { body: { quote: quote.toString('base64'), user_data: userData.toString('base64'), nonce }, headers: { 'attestation-type': 'TDX' }, token: null });
  const releases = async (): Promise<number> => {
    const db = await b.storage();
    const row = await db.get<{ n: number | string }>("SELECT COUNT(*) AS n FROM attestation_log WHERE decision = 'released' AND key_id = ?", [keyId]);
    return Number(row?.n ?? 0);
  };

  it('with the real client and broker (the reproducer): the client refuses M\'s nonce, no evidence is made, B releases nothing', async () => {
    const before = await releases();
    let quotes = 0;
    // The victim TD quotes whatever REPORTDATA it is asked for, with the MRTD B's policy pins.
    const provider: EvidenceProvider = {
      name: 'victim-td',
      getEvidence: async (rd) => (quotes++, { tee: 'tdx', provider: 'tdx_guest', evidence: quoteFor(b.platform, rd), reportData: rd }),
    };
    let stolen: Buffer | undefined;
    let relayedStatus: number | undefined;
    let bNonce: { val: string; iat: string; signature: string } | undefined;
    const m: Server = createServer((req, res) => {
      const chunks: Buffer[] = [];
      req.on('data', (c: Buffer) => chunks.push(c));
      req.on('end', () => {
        void (async () => {
          const body = Buffer.concat(chunks);
          if (body.length === 0) {
            bNonce = await nonceOfB();
            const iat = Buffer.concat([Buffer.from(bNonce.iat, 'base64'), attackerSpki]).toString('base64');
            res.writeHead(200, { 'content-type': 'application/json' }).end(JSON.stringify({ val: bNonce.val, iat, signature: bNonce.signature }));
            return;
          }
          const v = JSON.parse(body.toString('utf8')) as { quote: string; user_data: string };
          const r = await relay(Buffer.from(v.quote, 'base64'), Buffer.concat([attackerSpki, Buffer.from(v.user_data, 'base64')]), bNonce);
          relayedStatus = r.status;
          if (r.status === 200) {
            const swk = privateDecrypt({ key: attacker.privateKey, padding: constants.RSA_PKCS1_OAEP_PADDING, oaepHash: 'sha256' }, Buffer.from(r.json.wrapped_swk, 'base64'));
            stolen = decryptContainer(swk, Buffer.from(r.json.wrapped_key, 'base64'));
          }
          res.writeHead(500, { 'content-type': 'application/json' }).end('{"error":"try later"}');
        })();
      });
    });
    await new Promise<void>((r) => m.listen(0, '127.0.0.1', r));
    try {
      const url = `http://127.0.0.1:${(m.address() as AddressInfo).port}`;
      const err = await requestKey({ url, keyId, provider, nonce: true, allowInsecureHttp: true, attempts: 1 }).catch((e: unknown) => e);
      expect(err).toMatchObject({ code: 'ERR_KBS_RESPONSE', details: { reason: 'nonce-iat' } });
      expect({ quotes, relayedStatus, stolen: stolen !== undefined }).toEqual({ quotes: 0, relayedStatus: undefined, stolen: false });
      expect(await releases()).toBe(before);
    } finally {
      await new Promise<void>((r) => m.close(() => r()));
    }
  });

  it('the broker alone: the relayed body (genuine nonce, user_data = SPKI_M ‖ the TD\'s SPKI, binding intact) is 400 ERR_KBS_USER_DATA (X11)', async () => {
    const before = await releases();
    const td = newClient();
    const n = await nonceOfB();
    const userData = Buffer.concat([attackerSpki, td.spkiDer]);
    const quote = quoteFor(b.platform, sha512(Buffer.from(n.val, 'base64'), Buffer.from(n.iat, 'base64'), userData));
    const r = await relay(quote, userData, n);
    expect({ status: r.status, code: r.json?.code, check: r.json?.checks?.[0]?.check }).toEqual({ status: 400, code: 'ERR_KBS_USER_DATA', check: 'X11' });
    expect(r.json).not.toHaveProperty('wrapped_swk');
    expect(await releases()).toBe(before);
  });

  it('SPKI ‖ 1 byte, binding intact: 400 ERR_KBS_USER_DATA (X11); the same SPKI alone is released', async () => {
    const td = newClient();
    for (const [userData, status] of [[Buffer.concat([td.spkiDer, Buffer.from([0])]), 400], [td.spkiDer, 200]] as const) {
      const n = await nonceOfB();
      const r = await relay(quoteFor(b.platform, sha512(Buffer.from(n.val, 'base64'), Buffer.from(n.iat, 'base64'), userData)), userData, n);
      expect(r.status, r.text).toBe(status);
      if (status === 400) expect({ code: r.json?.code, check: r.json?.checks?.[0]?.check }).toEqual({ code: 'ERR_KBS_USER_DATA', check: 'X11' });
    }
  });

  it('the raw form with a relay prefix (odd exponent, 4 bytes and a timestamp before the TD\'s raw key): 400 ERR_KBS_USER_DATA (X11)', async () => {
    const before = await releases();
    const { publicKey } = generateKeyPairSync('rsa', { modulusLength: 3072, publicExponent: 65537 });
    const jwk = publicKey.export({ format: 'jwk' });
    const tdRaw = Buffer.concat([Buffer.from([1, 0, 1, 0]), Buffer.from(jwk.n!, 'base64url')]);
    const n = await nonceOfB();
    // A modulus of 3328 bits whose low bytes are the TD's: what M would need to know the factors of.
    const userData = Buffer.concat([Buffer.from([3, 0, 0, 0]), Buffer.from([0xc1, 2, 3, 4]), Buffer.from(new Date().toISOString()), tdRaw]);
    const r = await relay(quoteFor(b.platform, sha512(Buffer.from(n.val, 'base64'), Buffer.from(n.iat, 'base64'), userData)), userData, n);
    expect({ status: r.status, code: r.json?.code, check: r.json?.checks?.[0]?.check }).toEqual({ status: 400, code: 'ERR_KBS_USER_DATA', check: 'X11' });
    expect(await releases()).toBe(before);
  });
});

describe('parseRequesterKey: exactly one key in user_data (review s11 #1, X11)', () => {
  const codeOf = (u: Buffer): string | undefined => {
    try {
      parseRequesterKey(u, 'tdx');
    } catch (e) {
      return (e as { code?: string }).code;
    }
    return undefined;
  };
  const raw = (bits: number): Buffer => {
    const jwk = generateKeyPairSync('rsa', { modulusLength: bits, publicExponent: 65537 }).publicKey.export({ format: 'jwk' });
    return Buffer.concat([Buffer.from([1, 0, 1, 0]), Buffer.from(jwk.n!, 'base64url')]);
  };

  it('the raw form: 2048, 3072 and 4096 bits are read; a leading zero byte, a byte more or a size between (2056 bits) is refused', () => {
    for (const bits of [2048, 3072, 4096]) expect(parseRequesterKey(raw(bits), 'tdx')).toMatchObject({ bits, form: 'ita-raw' });
    const r = raw(2048);
    expect(codeOf(Buffer.concat([r.subarray(0, 4), Buffer.from([0]), r.subarray(4)]))).toBe('ERR_KBS_USER_DATA');
    expect(codeOf(Buffer.concat([r, Buffer.from([1])]))).toBe('ERR_KBS_USER_DATA');
    expect(codeOf(raw(2056))).toBe('ERR_KBS_USER_DATA');
  });

  it('DER SPKI: another spelling of the same key (a long-form length) and an SPKI followed by another are refused', () => {
    const spki = newClient(2048).spkiDer;
    expect(parseRequesterKey(spki, 'tdx').form).toBe('spki-der');
    expect(codeOf(Buffer.concat([spki, newClient(2048).spkiDer]))).toBe('ERR_KBS_USER_DATA');
    // 30 82 LL LL → 30 83 00 LL LL: the same length in BER's non-minimal form.
    expect(spki[1]).toBe(0x82);
    expect(codeOf(Buffer.concat([Buffer.from([0x30, 0x83, 0x00]), spki.subarray(2)]))).toBe('ERR_KBS_USER_DATA');
  });
});
