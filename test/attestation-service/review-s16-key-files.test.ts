/**
 * s16 red team, env finding 4 (low): `tee-verify serve --signing-key` (the key of every EAR token)
 * and `--tls-key` were read whatever their mode, owner or link. Now both are read under the shared
 * secret-file rule (readPrivateKeyFile in src/gateway/tls.ts over src/model/key-file.ts: no symbolic
 * link, a regular file, no group or other access, owned by this user or root): a usage error,
 * exit 2, naming the option and the file, before anything listens.
 */
import { generateKeyPairSync } from 'node:crypto';
import { chmodSync, chownSync, mkdtempSync, rmSync, symlinkSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';

import { afterAll, beforeAll, describe, expect, it } from 'vitest';

import { parseServeArgs, startServe } from '../../src/cli/serve.js';
import { generateTls, type TlsIdentity } from '../../src/gateway/tls.js';
import { capture } from '../cli/capture.js';
import { cli } from '../cli/helpers.js';

const asRoot = process.geteuid?.() === 0;
const signingPem = generateKeyPairSync('ec', { namedCurve: 'P-256' }).privateKey.export({ type: 'pkcs8', format: 'pem' }) as string;

let dir: string;
let tls: TlsIdentity;
beforeAll(async () => {
  dir = mkdtempSync(join(tmpdir(), 'tee-as-s16-keys-'));
  tls = await generateTls(['127.0.0.1']);
});
afterAll(() => rmSync(dir, { recursive: true, force: true }));

let n = 0;
function file(text: string, mode: number): string {
  const sub = mkdtempSync(join(dir, `f${n++}-`));
  const path = join(sub, 'key.pem');
  writeFileSync(path, text, { mode });
  chmodSync(path, mode); // whatever the umask
  return path;
}
const certFile = (): string => file(tls.cert, 0o644);

/** serve with these extra arguments on 127.0.0.1:0 from an empty cache, offline. */
async function serve(...args: string[]): Promise<{ code: number; stderr: string }> {
  return cli(['serve', '--listen', '127.0.0.1:0', '--offline', '--cache-dir', mkdtempSync(join(dir, 'cache-')), ...args]);
}

/** Each key option, with the arguments that pass a key file to it. */
const OPTIONS: [string, (key: string) => string[]][] = [
  ['--signing-key', (key) => ['--signing-key', key]],
  ['--tls-key', (key) => ['--tls-cert', certFile(), '--tls-key', key]],
];
const pemFor = (option: string): string => (option === '--signing-key' ? signingPem : tls.key);

describe('tee-verify serve --signing-key / --tls-key under the secret-file rule (s16 env finding 4)', () => {
  it.each(OPTIONS)('%s others may read (0666, 0644): exit 2 naming the option, the file and chmod 600', async (option, argsOf) => {
    for (const mode of [0o666, 0o644]) {
      const key = file(pemFor(option), mode);
      const r = await serve(...argsOf(key));
      expect(r.code, `${option} ${mode.toString(8)}`).toBe(2);
      expect(r.stderr).toContain(`error: ${option}: the key file ${key} has mode 0${mode.toString(8)}: group or others have access to it; chmod 600 ${key}`);
      expect(r.stderr).not.toContain('listening on');
    }
  });

  it.skipIf(!asRoot).each(OPTIONS)('%s owned by another user (nobody, 0600): exit 2 naming the owner', async (option, argsOf) => {
    const key = file(pemFor(option), 0o600);
    chownSync(key, 65534, 65534);
    const r = await serve(...argsOf(key));
    expect(r.code).toBe(2);
    expect(r.stderr).toContain(`error: ${option}: the key file ${key} is owned by uid 65534`);
  });

  it.each(OPTIONS)('%s through a symbolic link: exit 2', async (option, argsOf) => {
    const key = file(pemFor(option), 0o600);
    const link = `${key}.link`;
    symlinkSync(key, link);
    const r = await serve(...argsOf(link));
    expect(r.code).toBe(2);
    expect(r.stderr).toContain(`error: ${option}: the key file ${link} is a symbolic link`);
  });

  it('0600 files of this user still start an HTTPS service signing with the given key', async () => {
    const signing = file(signingPem, 0o600);
    const key = file(tls.key, 0o600);
    const io = capture({ env: {} });
    const running = await startServe(parseServeArgs(['--listen', '127.0.0.1:0', '--offline', '--cache-dir', mkdtempSync(join(dir, 'cache-')), '--signing-key', signing, '--tls-cert', certFile(), '--tls-key', key])!, io.io);
    try {
      expect(running.service.url).toMatch(/^https:\/\/127\.0\.0\.1:\d+$/);
      expect(io.stderr()).not.toContain('key generated at start');
      expect(running.service.alg).toBe('ES256');
    } finally {
      await running.close();
    }
  });
});
