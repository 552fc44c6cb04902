/**
 * Unit tests of the broker's formats: the 12-byte-header container (exact
 * layout, protocols.md §1.3), user_data forms (X11), the REPORTDATA binding
 * (T41), master-key file handling and the schema version.
 */
import { createHash, generateKeyPairSync, randomBytes } from 'node:crypto';
import { mkdtempSync, readFileSync, rmSync, statSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';

import { afterAll, describe, expect, it } from 'vitest';

import { openStorage } from '../../src/storage/index.js';

import { decryptContainer, encryptContainer, expectedReportData, KbsError, KbsStore, loadMasterKey, parseRequesterKey, SCHEMA_VERSION, startKeyBroker } from '../../src/kbs/index.js';
import { generateRsaKeyObjects } from '../helpers/fresh-rsa-keys.js';
import { collateralOf, makePlatform } from './helpers.js';

const dir = mkdtempSync(join(tmpdir(), 'tee-kbs-unit-'));
afterAll(() => rmSync(dir, { recursive: true, force: true }));

describe('container (protocols.md §1.3)', () => {
  it('LE u32 iv_len 12, tag_len 16, data_len = ciphertext + tag; IV; ciphertext; tag', () => {
    const key = randomBytes(32);
    const plain = randomBytes(32);
    const c = encryptContainer(key, plain);
    expect([c.readUInt32LE(0), c.readUInt32LE(4), c.readUInt32LE(8)]).toEqual([12, 16, 48]);
    expect(c.length).toBe(12 + 12 + 32 + 16);
    expect(decryptContainer(key, c).equals(plain)).toBe(true);
  });

  it('a flipped ciphertext bit fails the tag (the header still passes its checks)', () => {
    const key = randomBytes(32);
    const c = encryptContainer(key, randomBytes(32));
    c[30] = (c[30] ?? 0) ^ 1;
    let err: unknown;
    try {
      decryptContainer(key, c);
    } catch (e) {
      err = e;
    }
    // The GCM tag check itself (the header passed): a typed error, no plaintext.
    expect(err).toBeInstanceOf(KbsError);
    expect(err).toMatchObject({ code: 'ERR_KBS_BAD_REQUEST', status: 400, message: expect.stringMatching(/authentication failed/) });
    expect(((err as KbsError).cause as Error).message).toBe('Unsupported state or unable to authenticate data');
  });

  it('a header that does not match the container length is ERR_KBS_BAD_REQUEST', () => {
    const key = randomBytes(32);
    const c = encryptContainer(key, randomBytes(32));
    for (const bad of [c.subarray(0, 11), c.subarray(0, c.length - 1), Buffer.concat([c, Buffer.alloc(1)])]) {
      expect(() => decryptContainer(key, bad)).toThrow(expect.objectContaining({ code: 'ERR_KBS_BAD_REQUEST', status: 400 }));
    }
  });
});

describe('user_data (X11)', () => {
  const { publicKey } = generateRsaKeyObjects(2048); // exported as a JWK: not the key-generation job's own key
  const jwk = publicKey.export({ format: 'jwk' });
  const n = Buffer.from(jwk.n as string, 'base64url');

  it('DER SPKI and the raw forms (TDX big-endian, SGX little-endian modulus) give the same key', () => {
    const spki = publicKey.export({ type: 'spki', format: 'der' });
    const e = Buffer.from([1, 0, 1, 0]);
    const der = parseRequesterKey(spki, 'tdx');
    const tdx = parseRequesterKey(Buffer.concat([e, n]), 'tdx');
    const sgx = parseRequesterKey(Buffer.concat([e, Buffer.from(n).reverse()]), 'sgx');
    expect([der.form, tdx.form, sgx.form]).toEqual(['spki-der', 'ita-raw', 'ita-raw']);
    for (const k of [tdx, sgx]) expect(k.key.export({ format: 'jwk' }).n).toBe(jwk.n);
  });

  it('an even exponent in the raw form is refused; garbage is refused; an EC key is refused', () => {
    const code = (f: () => unknown): string | undefined => {
      try {
        f();
      } catch (e) {
        return KbsError.is(e) ? e.code : 'other';
      }
      return undefined;
    };
    expect(code(() => parseRequesterKey(Buffer.concat([Buffer.from([2, 0, 1, 0]), n]), 'tdx'))).toBe('ERR_KBS_USER_DATA');
    expect(code(() => parseRequesterKey(Buffer.concat([Buffer.from([0x30, 0x82]), randomBytes(100)]), 'tdx'))).toBe('ERR_KBS_USER_DATA');
    const ec = generateKeyPairSync('ec', { namedCurve: 'P-256' }).publicKey.export({ type: 'spki', format: 'der' });
    expect(code(() => parseRequesterKey(ec, 'tdx'))).toBe('ERR_KBS_USER_DATA');
  });

  it('binding (T41): SHA-512(user_data), or SHA-512(val ‖ iat ‖ user_data) with a nonce', () => {
    const u = randomBytes(300);
    const val = randomBytes(32);
    const iat = Buffer.from('2026-01-01T00:00:00.000Z');
    expect(expectedReportData(u).equals(createHash('sha512').update(u).digest())).toBe(true);
    expect(expectedReportData(u, { val, iat }).equals(createHash('sha512').update(Buffer.concat([val, iat, u])).digest())).toBe(true);
  });
});

describe('storage', () => {
  it('the master key file is generated with mode 0600 and reused; the environment wins', () => {
    const file = join(dir, 'mk');
    const a = loadMasterKey(file, {});
    expect(a.source).toBe('generated');
    expect(statSync(file).mode & 0o777).toBe(0o600);
    expect(loadMasterKey(file, {}).key.equals(a.key)).toBe(true);
    const env = randomBytes(32);
    expect(loadMasterKey(file, { TEE_KBS_MASTER_KEY: env.toString('base64') }).key.equals(env)).toBe(true);
  });

  it('keys are sealed at rest: the database file does not contain the material; the schema version is recorded', async () => {
    const db = join(dir, 'seal.sqlite');
    const { store } = await KbsStore.open(await openStorage(`sqlite:${db}`), randomBytes(32));
    const material = randomBytes(32);
    const pol = await store.addPolicy('native', '{}', new Date());
    await store.addKey(pol.id, 'AES', material, new Date());
    const version = await store.storage.get<{ version: number }>('SELECT version FROM schema_version');
    const recorded = await store.storage.get<{ v: number }>("SELECT MAX(version) AS v FROM schema_migrations WHERE component = 'kbs'");
    await store.close();
    expect(version?.version).toBe(SCHEMA_VERSION);
    expect(recorded?.v).toBe(SCHEMA_VERSION);
    const bytes = Buffer.concat([readFileSync(db), readFileSync(`${db}-wal`, { flag: 'a+' })]);
    expect(bytes.includes(material)).toBe(false);
  });

  it('a database opened with another master key refuses to start', async () => {
    const p = makePlatform();
    const db = join(dir, 'mk.sqlite');
    writeFileSync(join(dir, 'k1'), `${randomBytes(32).toString('base64')}\n`, { mode: 0o600 });
    writeFileSync(join(dir, 'k2'), `${randomBytes(32).toString('base64')}\n`, { mode: 0o600 });
    const b = await startKeyBroker({ db, port: 0, plainHttp: true, masterKeyFile: join(dir, 'k1'), collateral: collateralOf(p), log: () => {}, env: {} });
    await b.close();
    await expect(startKeyBroker({ db, port: 0, plainHttp: true, masterKeyFile: join(dir, 'k2'), collateral: collateralOf(p), log: () => {}, env: {} })).rejects.toMatchObject({ code: 'ERR_KBS_STORAGE' });
  });
});
