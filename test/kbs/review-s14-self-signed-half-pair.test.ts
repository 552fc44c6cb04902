/**
 * Review s14 #5: with FILE.tls-cert.pem present and FILE.tls-key.pem missing (an operator removed the
 * key to get a new pair, or a first start died between the two writes), a start wrote a NEW key, then
 * failed on the existing certificate with a raw EEXIST (CLI exit 2), leaving that key behind; every
 * later start found both files and met a certificate and key that do not match (an untyped OpenSSL
 * error). Now half a pair, or a pair that does not match, is ERR_KBS_CONFIG (exit 78) naming the files,
 * before the database, master key, admin token or TLS key file is written.
 */
import { existsSync, mkdtempSync, readdirSync, rmSync, symlinkSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';

import { afterAll, describe, expect, it } from 'vitest';

import { exitCodeOf, startKeyBroker } from '../../src/kbs/index.js';
import { selfSignedTls } from '../../src/kbs/files.js';
import { collateralOf, makePlatform } from './helpers.js';

const dir = mkdtempSync(join(tmpdir(), 'kbs-s14-tls-pair-'));
afterAll(() => rmSync(dir, { recursive: true, force: true }));
const platform = makePlatform();

async function start(db: string): Promise<(Error & { code?: string }) | undefined> {
  return startKeyBroker({ db, host: '127.0.0.1', port: 0, collateral: collateralOf(platform), trustRoots: platform.trustRoots, log: () => {} }).then(
    async (b) => (await b.close(), undefined),
    (e: unknown) => e as Error & { code?: string },
  );
}

/** A pair made elsewhere (its certificate and key). */
async function otherPair(): Promise<{ cert: string; key: string }> {
  const sub = mkdtempSync(join(dir, 'other-'));
  return selfSignedTls(join(sub, 'c.pem'), join(sub, 'k.pem'), ['localhost']);
}

describe('self-signed TLS: half a pair refuses the start before anything is written (review s14 #5)', () => {
  it('a certificate without its key: ERR_KBS_CONFIG, exit 78, naming both files; nothing created, and the same on the next start', async () => {
    const sub = mkdtempSync(join(dir, 'cert-only-'));
    const db = join(sub, 'kbs.sqlite');
    writeFileSync(`${db}.tls-cert.pem`, (await otherPair()).cert);
    for (let i = 0; i < 2; i++) {
      const err = await start(db);
      expect(err?.code).toBe('ERR_KBS_CONFIG');
      expect(exitCodeOf(err)).toBe(78);
      expect(err?.message).toContain(`${db}.tls-cert.pem exists without its key ${db}.tls-key.pem`);
      expect(readdirSync(sub)).toEqual(['kbs.sqlite.tls-cert.pem']); // no key, database, master key or token file
    }
  });

  it('a key without its certificate: the same, the key untouched', async () => {
    const sub = mkdtempSync(join(dir, 'key-only-'));
    const db = join(sub, 'kbs.sqlite');
    const { key } = await otherPair();
    writeFileSync(`${db}.tls-key.pem`, key, { mode: 0o600 });
    const err = await start(db);
    expect(err?.code).toBe('ERR_KBS_CONFIG');
    expect(err?.message).toContain(`${db}.tls-key.pem exists without its certificate ${db}.tls-cert.pem`);
    expect(readdirSync(sub)).toEqual(['kbs.sqlite.tls-key.pem']);
  });

  it('a dangling symbolic link at the certificate path counts as present (no key is written beside it)', async () => {
    const sub = mkdtempSync(join(dir, 'dangling-'));
    const db = join(sub, 'kbs.sqlite');
    symlinkSync(join(sub, 'nowhere.pem'), `${db}.tls-cert.pem`);
    const err = await start(db);
    expect(err?.code).toBe('ERR_KBS_CONFIG');
    expect(existsSync(`${db}.tls-key.pem`)).toBe(false);
  });

  it('a certificate and a key that do not belong together (what the old code left behind): ERR_KBS_CONFIG naming them', async () => {
    const sub = mkdtempSync(join(dir, 'mismatch-'));
    const db = join(sub, 'kbs.sqlite');
    writeFileSync(`${db}.tls-cert.pem`, (await otherPair()).cert);
    writeFileSync(`${db}.tls-key.pem`, (await otherPair()).key, { mode: 0o600 });
    const err = await start(db);
    expect(err?.code).toBe('ERR_KBS_CONFIG');
    expect(exitCodeOf(err)).toBe(78);
    expect(err?.message).toContain(`${db}.tls-key.pem does not belong to the certificate ${db}.tls-cert.pem`);
    expect(existsSync(db)).toBe(false);
  });

  it('selfSignedTls itself (library callers) refuses a certificate without its key and writes no key', async () => {
    const sub = mkdtempSync(join(dir, 'direct-'));
    writeFileSync(join(sub, 'c.pem'), (await otherPair()).cert);
    await expect(selfSignedTls(join(sub, 'c.pem'), join(sub, 'k.pem'), ['localhost'])).rejects.toMatchObject({ code: 'ERR_KBS_CONFIG' });
    expect(existsSync(join(sub, 'k.pem'))).toBe(false);
  });

  it('control: a first start generates the pair and the next start reuses it', async () => {
    const sub = mkdtempSync(join(dir, 'fresh-'));
    const db = join(sub, 'kbs.sqlite');
    expect(await start(db)).toBeUndefined();
    expect(existsSync(`${db}.tls-cert.pem`) && existsSync(`${db}.tls-key.pem`)).toBe(true);
    expect(await start(db)).toBeUndefined();
  });
});
