/**
 * s16 red team, env finding 4 (low): tee-gateway's --tls-key was read whatever its mode, owner or
 * link, although whoever can read that key can relay the gateway while clients' attestation checks
 * pass; a generated key was written with writeFileSync after existsSync, through a (dangling)
 * symbolic link. Now the key is read under the shared secret-file rule (readPrivateKeyFile over
 * src/model/key-file.ts's readKeyFileBytes: no link, a regular file, no group or other access,
 * owned by this user or root) and generated files are created with O_EXCL | O_NOFOLLOW.
 * Real gateways on 127.0.0.1 with the simulated TDX TEE; nothing reaches the network.
 */
import { chmodSync, chownSync, existsSync, lstatSync, mkdtempSync, rmSync, statSync, symlinkSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';

import { afterAll, beforeAll, describe, expect, it } from 'vitest';

import { runGatewayCli } from '../../src/gateway/cli.js';
import { generateTls, loadOrCreateTls, readPrivateKeyFile, type TlsIdentity } from '../../src/gateway/tls.js';

const asRoot = process.geteuid?.() === 0;

let dir: string;
let pair: TlsIdentity;
beforeAll(async () => {
  dir = mkdtempSync(join(tmpdir(), 'tee-gw-s16-key-'));
  pair = await generateTls(['127.0.0.1', 'localhost']);
});
afterAll(() => rmSync(dir, { recursive: true, force: true }));

let n = 0;
/** A certificate (0644) and its key with `mode`, in a fresh sub-directory. */
function files(mode: number): { cert: string; key: string; sub: string } {
  const sub = mkdtempSync(join(dir, `p${n++}-`));
  const cert = join(sub, 'c.pem');
  const key = join(sub, 'k.pem');
  writeFileSync(cert, pair.cert);
  writeFileSync(key, pair.key, { mode });
  chmodSync(key, mode); // whatever the umask
  return { cert, key, sub };
}

async function serve(cert: string, key: string): Promise<{ code: number; stderr: string }> {
  const o = { stderr: '' };
  const io = { stdout: () => undefined, stderr: (t: string) => void (o.stderr += t), env: {} as NodeJS.ProcessEnv };
  const r = await runGatewayCli(['serve', '--upstream', 'http://127.0.0.1:9', '--db', join(dir, `g${n++}.sqlite`), '--simulated-tee', '--listen', '127.0.0.1:0', '--tls-cert', cert, '--tls-key', key], io);
  await r.gateway?.close();
  return { code: r.code, stderr: o.stderr };
}

describe('tee-gateway serve --tls-key under the secret-file rule (s16 env finding 4)', () => {
  it('a key file others may read (0666, 0644, 0604): exit 78, ERR_GATEWAY_CONFIG naming mode and file', async () => {
    for (const mode of [0o666, 0o644, 0o604]) {
      const f = files(mode);
      const r = await serve(f.cert, f.key);
      expect(r.code, mode.toString(8)).toBe(78);
      expect(r.stderr).toContain(`ERR_GATEWAY_CONFIG: --tls-cert/--tls-key: the key file ${f.key} has mode 0${mode.toString(8)}`);
      expect(r.stderr).toContain(`chmod 600 ${f.key}`);
      expect(r.stderr).not.toContain('listening on');
    }
  });

  it.skipIf(!asRoot)('a key file owned by another user (nobody, 0600): exit 78 naming the owner', async () => {
    const f = files(0o600);
    chownSync(f.key, 65534, 65534);
    const r = await serve(f.cert, f.key);
    expect(r.code).toBe(78);
    expect(r.stderr).toContain(`the key file ${f.key} is owned by uid 65534`);
  });

  it('a key reached through a symbolic link: exit 78', async () => {
    const f = files(0o600);
    const link = join(f.sub, 'link.pem');
    symlinkSync(f.key, link);
    const r = await serve(f.cert, link);
    expect(r.code).toBe(78);
    expect(r.stderr).toContain(`the key file ${link} is a symbolic link`);
  });

  it('a 0600 key of this user still starts, and the library loads it', async () => {
    const f = files(0o600);
    const r = await serve(f.cert, f.key);
    expect(r.code).toBe(0);
    expect(await loadOrCreateTls(f.cert, f.key, ['127.0.0.1'])).toEqual({ cert: pair.cert, key: pair.key, generated: false });
    expect(await readPrivateKeyFile(f.key)).toBe(pair.key);
  });

  it('loadOrCreateTls refuses the same files (a typed message naming the file)', async () => {
    const f = files(0o644);
    await expect(loadOrCreateTls(f.cert, f.key, ['127.0.0.1'])).rejects.toThrow(`the key file ${f.key} has mode 0644`);
  });
});

describe('a generated key (neither file exists)', () => {
  it('is written 0600 (certificate 0644) and loaded again at the next start', async () => {
    const sub = mkdtempSync(join(dir, 'gen-'));
    const cert = join(sub, 'c.pem');
    const key = join(sub, 'k.pem');
    const first = await loadOrCreateTls(cert, key, ['127.0.0.1']);
    expect(first.generated).toBe(true);
    expect(statSync(key).mode & 0o777).toBe(0o600);
    expect(statSync(cert).mode & 0o777).toBe(0o644);
    const second = await loadOrCreateTls(cert, key, ['127.0.0.1']);
    expect(second).toEqual({ cert: first.cert, key: first.key, generated: false });
    const r = await serve(cert, key);
    expect(r.code).toBe(0);
    expect(r.stderr).not.toContain('generated a TLS key');
  });

  it('is never written through a dangling symbolic link at the key path (the link target is not created)', async () => {
    const sub = mkdtempSync(join(dir, 'dangling-'));
    const target = join(sub, 'elsewhere.pem');
    const key = join(sub, 'k.pem');
    symlinkSync(target, key);
    await expect(loadOrCreateTls(join(sub, 'c.pem'), key, ['127.0.0.1'])).rejects.toThrow(/does not exist while/);
    expect(existsSync(target)).toBe(false);
    expect(existsSync(join(sub, 'c.pem'))).toBe(false);
    expect(lstatSync(key).isSymbolicLink()).toBe(true);
  });

  it('nor its certificate through a dangling link at the certificate path', async () => {
    const sub = mkdtempSync(join(dir, 'dangling-cert-'));
    const target = join(sub, 'elsewhere.pem');
    const cert = join(sub, 'c.pem');
    symlinkSync(target, cert);
    await expect(loadOrCreateTls(cert, join(sub, 'k.pem'), ['127.0.0.1'])).rejects.toThrow(/does not exist while/);
    expect(existsSync(target)).toBe(false);
    expect(existsSync(join(sub, 'k.pem'))).toBe(false);
  });
});
