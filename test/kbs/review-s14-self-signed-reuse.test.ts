/**
 * s14 change review #3: reusing the self-signed TLS pair (FILE.tls-cert.pem, FILE.tls-key.pem) read both
 * with readFileSync, which follows symbolic links, and did not look at the key's mode, though docs/kbs.md
 * says a symlink at either path refuses the start and the key is "mode exactly 0600". With links at both
 * paths to a matching pair, or a 0644 key, the broker started and served that key. Now a link at either
 * path, a certificate or key that is not a regular file, and a key file that group or others may access
 * or that another user owns (the secret files' rules, readProtectedFile) are ERR_KBS_CONFIG (exit 78)
 * naming the file, before the database, master key or admin token file is made.
 */
import { chmodSync, chownSync, existsSync, mkdtempSync, renameSync, rmSync, symlinkSync } from 'node:fs';
import { execFileSync } from 'node:child_process';
import { tmpdir } from 'node:os';
import { join } from 'node:path';

import { afterAll, afterEach, describe, expect, it, vi } from 'vitest';

import { exitCodeOf, startKeyBroker } from '../../src/kbs/index.js';
import { selfSignedTls } from '../../src/kbs/files.js';
import { collateralOf, makePlatform } from './helpers.js';

const dir = mkdtempSync(join(tmpdir(), 'kbs-s14-tls-reuse-'));
afterAll(() => rmSync(dir, { recursive: true, force: true }));
afterEach(() => vi.restoreAllMocks());
const platform = makePlatform();
const isRoot = process.geteuid?.() === 0;

async function start(db: string): Promise<{ err?: Error & { code?: string }; url?: string }> {
  return startKeyBroker({ db, host: '127.0.0.1', port: 0, collateral: collateralOf(platform), trustRoots: platform.trustRoots, log: () => {} }).then(
    async (b) => {
      const url = b.url;
      await b.close();
      return { url };
    },
    (e: unknown) => ({ err: e as Error & { code?: string } }),
  );
}

/** A database path in a fresh folder, and a matching pair generated elsewhere (its files). */
async function setup(name: string): Promise<{ db: string; cert: string; key: string }> {
  const sub = mkdtempSync(join(dir, `${name}-`));
  const cert = join(sub, 'elsewhere-cert.pem');
  const key = join(sub, 'elsewhere-key.pem');
  await selfSignedTls(cert, key, ['localhost']);
  return { db: join(sub, 'kbs.sqlite'), cert, key };
}

function expectRefused(r: { err?: Error & { code?: string } }, db: string, text: RegExp): void {
  expect(r.err?.code).toBe('ERR_KBS_CONFIG');
  expect(exitCodeOf(r.err)).toBe(78);
  expect(r.err?.message).toMatch(text);
  expect({ db: existsSync(db), master: existsSync(`${db}.master-key`), token: existsSync(`${db}.admin-token`) }).toEqual({ db: false, master: false, token: false });
}

describe('self-signed TLS reuse: never through a link, the key under the secret files\' rules (s14 change review #3)', () => {
  it('symbolic links at both paths, to a matching pair with a 0600 key, refuse the start', async () => {
    const { db, cert, key } = await setup('both-links');
    symlinkSync(cert, `${db}.tls-cert.pem`);
    symlinkSync(key, `${db}.tls-key.pem`);
    expectRefused(await start(db), db, /the self-signed TLS certificate .*kbs\.sqlite\.tls-cert\.pem is a symbolic link/);
  });

  it('a link at the certificate path only (the key a regular 0600 file) refuses the start', async () => {
    const { db, cert, key } = await setup('cert-link');
    symlinkSync(cert, `${db}.tls-cert.pem`);
    renameSync(key, `${db}.tls-key.pem`);
    expectRefused(await start(db), db, /tls-cert\.pem is a symbolic link/);
  });

  it('a link at the key path only (the certificate a regular file) refuses the start', async () => {
    const { db, cert, key } = await setup('key-link');
    renameSync(cert, `${db}.tls-cert.pem`);
    symlinkSync(key, `${db}.tls-key.pem`);
    expectRefused(await start(db), db, /the self-signed TLS key .*tls-key\.pem is a symbolic link.*--tls-cert/);
  });

  for (const mode of [0o644, 0o640, 0o604, 0o660]) {
    it(`a reused key of mode ${mode.toString(8)} refuses the start (the key is created 0600)`, async () => {
      const { db, cert, key } = await setup(`mode-${mode.toString(8)}`);
      renameSync(cert, `${db}.tls-cert.pem`);
      renameSync(key, `${db}.tls-key.pem`);
      chmodSync(`${db}.tls-key.pem`, mode);
      expectRefused(await start(db), db, new RegExp(`the self-signed TLS key .*tls-key\\.pem has mode ${mode.toString(8)}`));
    });
  }

  it('a reused key owned by another user (neither this process\'s nor root) refuses the start', async () => {
    const { db, cert, key } = await setup('owner');
    renameSync(cert, `${db}.tls-cert.pem`);
    renameSync(key, `${db}.tls-key.pem`);
    if (isRoot) chownSync(`${db}.tls-key.pem`, 4242, 4242);
    else vi.spyOn(process, 'geteuid').mockReturnValue((process.geteuid?.() ?? 1000) + 4242);
    expectRefused(await start(db), db, /the self-signed TLS key .*tls-key\.pem is owned by uid/);
  });

  it('a FIFO at the certificate path refuses the start at once (no wait for a writer)', async () => {
    const { db, key } = await setup('fifo');
    execFileSync('mkfifo', ['-m', '644', `${db}.tls-cert.pem`]);
    renameSync(key, `${db}.tls-key.pem`);
    expectRefused(await start(db), db, /tls-cert\.pem is not a regular file/);
  });

  it('control: the pair a first start generated (regular files, key 0600) is reused on the next start', async () => {
    const sub = mkdtempSync(join(dir, 'control-'));
    const db = join(sub, 'kbs.sqlite');
    const first = await start(db);
    expect(first.err).toBeUndefined();
    expect(first.url).toMatch(/^https:/);
    const second = await start(db);
    expect(second.err).toBeUndefined();
    const again = await selfSignedTls(`${db}.tls-cert.pem`, `${db}.tls-key.pem`, ['localhost']);
    expect(again.generated).toBe(false);
  });
});
