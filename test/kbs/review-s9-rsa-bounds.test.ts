/**
 * Review s9 K4: the requester key in user_data was checked for its type and a modulus of at least
 * 2048 bits only. An SPKI with a ~3070-bit public exponent (or a 16384-bit modulus) was accepted,
 * and each release's OAEP wrap then cost a private-key-sized exponentiation, inside the release
 * transaction. Now the exponent must be odd and from 3 to 2^32 - 1 and the modulus at most 8192
 * bits (400 ERR_KBS_USER_DATA, X11), and the wrap runs before the transaction.
 */
import { createPublicKey, generateKeyPairSync, randomBytes } from 'node:crypto';

import { afterAll, beforeAll, describe, expect, it } from 'vitest';

import { MAX_RSA_BITS, parseRequesterKey } from '../../src/kbs/crypto.js';
import { KbsError } from '../../src/kbs/errors.js';
import { generateRsaKeyObjects } from '../helpers/fresh-rsa-keys.js';
import { quoteFor, registerKey, sha512, startHarness, transferPath, unwrap, type Client, type Harness } from './helpers.js';

const { publicKey: base } = generateRsaKeyObjects(3072); // exported as a JWK: not the key-generation job's own key
const jwk = base.export({ format: 'jwk' });
const n3072 = Buffer.from(jwk.n as string, 'base64url');

/** An SPKI (DER) for modulus n and exponent e: any n parses, it need not be a product of two primes. */
const spkiOf = (n: Buffer, e: bigint): Buffer => {
  let hex = e.toString(16);
  if (hex.length % 2) hex = `0${hex}`;
  return createPublicKey({ key: { kty: 'RSA', n: n.toString('base64url'), e: Buffer.from(hex, 'hex').toString('base64url') }, format: 'jwk' }).export({ type: 'spki', format: 'der' });
};

/** As the reproducer built it: odd, below n, about 3070 bits. */
const hugeExponent = (): bigint => {
  const e = Buffer.from(n3072);
  e[0] = (e[0] as number) >> 2;
  e[e.length - 1] = (e[e.length - 1] as number) | 1;
  return BigInt(`0x${e.toString('hex')}`);
};

const n16384 = (): Buffer => {
  const n = randomBytes(2048);
  n[0] = (n[0] as number) | 0x80;
  n[n.length - 1] = (n[n.length - 1] as number) | 1;
  return n;
};

const refusal = (f: () => unknown): { code?: string; check?: unknown } => {
  try {
    f();
  } catch (e) {
    if (e instanceof KbsError) return { code: e.code, check: (e.toJSON() as { checks?: { check?: string }[] }).checks?.[0]?.check };
    throw e;
  }
  return {};
};

describe('requester key bounds (review s9 K4, X11)', () => {
  it.each<[string, () => Buffer]>([
    ['a ~3070-bit exponent', () => spkiOf(n3072, hugeExponent())],
    ['a 16384-bit modulus', () => spkiOf(n16384(), 65537n)],
    ['exponent 2^32 + 1', () => spkiOf(n3072, 2n ** 32n + 1n)],
    ['an even exponent', () => spkiOf(n3072, 65536n)],
    ['exponent 1', () => spkiOf(n3072, 1n)],
    ['the raw form with a 16384-bit modulus', () => Buffer.concat([Buffer.from([1, 0, 1, 0]), n16384()])],
  ])('%s: ERR_KBS_USER_DATA (X11)', (_label, make) => {
    expect(refusal(() => parseRequesterKey(make(), 'tdx'))).toEqual({ code: 'ERR_KBS_USER_DATA', check: 'X11' });
  });

  it.each([3n, 65537n, 2n ** 32n - 1n])('exponent %s with a 3072-bit modulus is accepted', (e) => {
    expect(parseRequesterKey(spkiOf(n3072, e), 'tdx').bits).toBe(3072);
  });

  it(`a ${MAX_RSA_BITS}-bit modulus is accepted`, () => {
    const n = randomBytes(MAX_RSA_BITS / 8);
    n[0] = (n[0] as number) | 0x80;
    expect(parseRequesterKey(spkiOf(n, 65537n), 'tdx').bits).toBe(MAX_RSA_BITS);
  });
});

describe('key broker: a bound quote with such a key gets no key (review s9 K4)', () => {
  let h: Harness;
  let keyId: string;
  const material = randomBytes(32);

  beforeAll(async () => {
    h = await startHarness();
    keyId = await registerKey(h, material);
  }, 60_000);
  afterAll(async () => h?.close());

  const send = (userData: Buffer) =>
    h.call('POST', transferPath(keyId), {
      body: { quote: quoteFor(h.platform, sha512(userData)).toString('base64'), user_data: userData.toString('base64') },
      headers: { 'attestation-type': 'TDX' },
      token: null,
    });

  it.each<[string, () => Buffer]>([
    ['huge exponent', () => spkiOf(n3072, hugeExponent())],
    ['16384-bit modulus', () => spkiOf(n16384(), 65537n)],
  ])('%s: 400 ERR_KBS_USER_DATA, nothing released', async (_label, make) => {
    const r = await send(make());
    expect({ status: r.status, code: r.json?.code, check: r.json?.checks?.[0]?.check }).toEqual({ status: 400, code: 'ERR_KBS_USER_DATA', check: 'X11' });
    expect(r.json).not.toHaveProperty('wrapped_key');
    const s = await h.storage();
    expect(Number((await s.get<{ n: number }>("SELECT COUNT(*) AS n FROM attestation_log WHERE decision = 'released'"))?.n)).toBe(0);
  });

  it('an ordinary 3072-bit key with e = 65537 still releases (the wrap now before the transaction)', async () => {
    const { publicKey, privateKey } = generateKeyPairSync('rsa', { modulusLength: 3072 });
    const spkiDer = publicKey.export({ type: 'spki', format: 'der' });
    const client: Client = { privateKey, spkiDer, userData: spkiDer.toString('base64') };
    const r = await send(spkiDer);
    expect(r.status, r.text).toBe(200);
    expect(unwrap(client, r.json).equals(material)).toBe(true);
  });
});
