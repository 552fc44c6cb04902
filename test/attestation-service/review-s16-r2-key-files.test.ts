/**
 * s16 change review of cce6563 (serve / gateway private key files under the secret-file rule):
 * - #1: an empty --tls-key started an HTTPS listener that failed every handshake (before: exit 2,
 *   "is empty"). Now an empty (or white-space) key is refused at start, and the TLS key is decoded
 *   as the signing key is; an empty --tls-cert is refused too.
 * - #2: `-` read fd 0 directly: `--signing-key - --tls-key -` was accepted, and a stream given to
 *   run() was ignored. Now `-` is the command's input, read once per command.
 * - #4: the 4 KiB bound refused a certificate chain + key bundle (`--tls-cert F --tls-key F`); the
 *   bound is 64 KiB.
 * - #5: refusals advised tee-model's `--key-file /dev/fd/N`, `chmod 600 /dev/fd/N`, `7<model.key`;
 *   now the caller's option and the file behind the descriptor.
 * startServe in-process (never waits for a signal), 127.0.0.1:0, offline; nothing reaches the network.
 */
import { generateKeyPairSync } from 'node:crypto';
import { chmodSync, closeSync, mkdtempSync, openSync, rmSync, symlinkSync, writeFileSync } from 'node:fs';
import { request } from 'node:https';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { Readable } from 'node:stream';

import { afterAll, beforeAll, describe, expect, it } from 'vitest';

import { commandInput, withCommandInput } from '../../src/cli/command-input.js';
import { parseServeArgs, startServe } from '../../src/cli/serve.js';
import { generateTls, type TlsIdentity } from '../../src/gateway/tls.js';
import { capture } from '../cli/capture.js';

const signing = generateKeyPairSync('ec', { namedCurve: 'P-256' });
const signingPem = signing.privateKey.export({ type: 'pkcs8', format: 'pem' }) as string;

let dir: string;
let tls: TlsIdentity;
let chain: string;
beforeAll(async () => {
  dir = mkdtempSync(join(tmpdir(), 'tee-as-s16-r2-keys-'));
  tls = await generateTls(['127.0.0.1']);
  // Eight more certificates after the leaf, as a chain file would hold intermediates.
  const more = await Promise.all([1, 2, 3, 4, 5, 6, 7, 8].map(() => generateTls(['ca.example'])));
  chain = tls.cert + more.map((m) => m.cert).join('');
});
afterAll(() => rmSync(dir, { recursive: true, force: true }));

let n = 0;
function file(text: string, mode = 0o600, name = 'key.pem'): string {
  const path = join(mkdtempSync(join(dir, `f${n++}-`)), name);
  writeFileSync(path, text, { mode });
  chmodSync(path, mode);
  return path;
}

type Started = Awaited<ReturnType<typeof startServe>>;
/** startServe with these arguments (on 127.0.0.1:0, offline); a service that started is closed again. */
async function start(args: string[], stdin?: Readable, before?: () => void): Promise<{ error?: Error & { code?: string }; running?: Started; stderr: string }> {
  const io = capture({ env: {} });
  const argv = ['--listen', '127.0.0.1:0', '--offline', '--cache-dir', mkdtempSync(join(dir, 'cache-')), ...args];
  try {
    const running = await withCommandInput(stdin, async () => {
      before?.();
      return startServe(parseServeArgs(argv)!, io.io);
    });
    return { running, stderr: io.stderr() };
  } catch (e) {
    return { error: e as Error, stderr: io.stderr() };
  }
}
async function refused(args: string[], stdin?: Readable, before?: () => void): Promise<Error & { code?: string }> {
  const r = await start(args, stdin, before);
  await r.running?.close();
  expect(r.running?.service.url, 'the service started').toBeUndefined();
  return r.error!;
}

describe('serve key files, round 2 (s16 change review of cce6563)', () => {
  it('#1: an empty or white-space --tls-key (0600) is refused at start, naming the option and the file', async () => {
    for (const text of ['', '\n \n\t']) {
      const key = file(text);
      const e = await refused(['--tls-cert', file(tls.cert, 0o644), '--tls-key', key]);
      expect(e.message).toBe(`--tls-key: the key file ${key} is empty`);
      expect(e.code).toBe('ERR_INPUT');
    }
  });

  it('#1: an empty --signing-key and an empty --tls-cert are refused too', async () => {
    const key = file('');
    expect((await refused(['--signing-key', key])).message).toBe(`--signing-key: the key file ${key} is empty`);
    const cert = file('', 0o644);
    expect((await refused(['--tls-cert', cert, '--tls-key', file(tls.key)])).message).toContain(`--tls-cert ${cert} is empty`);
  });

  it('#1: a --tls-key that is not a PEM private key is refused at start (it used to reach the listener)', async () => {
    const key = file('-----BEGIN PRIVATE KEY-----\nAAAA\n-----END PRIVATE KEY-----\n');
    expect((await refused(['--tls-cert', file(tls.cert, 0o644), '--tls-key', key])).message).toContain(`--tls-key ${key}: not a PEM private key`);
  });

  it('#2: --signing-key - --tls-key - is refused: one input can be "-"', async () => {
    const e = await refused(['--tls-cert', file(tls.cert, 0o644), '--tls-key', '-', '--signing-key', '-'], Readable.from([Buffer.from(tls.key)]));
    expect(e.message).toBe('--tls-key -: standard input is already read as the --signing-key; only one input can be "-"');
  });

  it("#2: on this process's standard input too: a - already read is refused before fd 0 is read", async () => {
    const e = await refused(['--signing-key', '-'], undefined, () => commandInput()!.readers.set(process.stdin, 'evidence file'));
    expect(e.message).toBe('--signing-key -: standard input is already read as the evidence file; only one input can be "-"');
  });

  it('#2: a stream given to run() is what `--signing-key -` reads (an embedder), and an empty one is refused', async () => {
    const r = await start(['--signing-key', '-'], Readable.from([Buffer.from(signingPem)]));
    try {
      expect(r.error).toBeUndefined();
      const jwk = r.running!.service.jwks.keys[0] as unknown as Record<string, string>;
      const expected = signing.publicKey.export({ format: 'jwk' });
      expect({ x: jwk['x'], y: jwk['y'] }).toEqual({ x: expected.x, y: expected.y });
      expect(r.stderr).not.toContain('generated at start');
    } finally {
      await r.running?.close();
    }
    expect((await refused(['--signing-key', '-'], Readable.from([]))).message).toContain('--signing-key (standard input) is empty');
  });

  it('#4: a certificate chain + key bundle over 4 KiB (--tls-cert F --tls-key F) starts and answers over HTTPS', async () => {
    const bundle = file(chain + tls.key);
    expect(chain.length + tls.key.length).toBeGreaterThan(4096);
    const r = await start(['--tls-cert', bundle, '--tls-key', bundle]);
    try {
      expect(r.error).toBeUndefined();
      expect(r.running!.service.url).toMatch(/^https:\/\//);
      const status = await new Promise<number | undefined>((resolve, reject) => {
        const req = request(`${r.running!.service.url}/health`, { rejectUnauthorized: false }, (res) => {
          res.resume();
          resolve(res.statusCode);
        });
        req.once('error', reject);
        req.end();
      });
      expect(status).toBeGreaterThanOrEqual(200);
    } finally {
      await r.running?.close();
    }
  });

  it('#4: more than 64 KiB is still refused', async () => {
    const key = file(tls.key + '#'.repeat(65536));
    expect((await refused(['--tls-cert', file(tls.cert, 0o644), '--tls-key', key])).message).toBe(`--tls-key: the key file ${key} is larger than 64 KiB, more than a PEM private key with its certificate chain takes`);
  });

  it("#5: a linked key's advice names the caller's option and the Kubernetes ..data path, not tee-model's --key-file", async () => {
    for (const [option, args] of [
      ['--tls-key', (k: string) => ['--tls-cert', file(tls.cert, 0o644), '--tls-key', k]],
      ['--signing-key', (k: string) => ['--signing-key', k]],
    ] as const) {
      const key = file(option === '--signing-key' ? signingPem : tls.key);
      const link = `${key}.link`;
      symlinkSync(key, link);
      const e = await refused(args(link));
      expect(e.message).toContain(`${option}: the key file ${link} is a symbolic link`);
      expect(e.message).toContain('<mount>/..data/<name>');
      expect(e.message).toContain(`pass the key on a descriptor: ${option} /dev/fd/N or /dev/stdin`);
      expect(e.message).not.toContain('--key-file');
    }
  });

  it('#5: a 0644 file on a descriptor is told to chmod the file behind it; an unopened descriptor gets a tls.key example', async () => {
    const wide = file(tls.key, 0o644, 'wide.pem');
    const fd = openSync(wide, 'r');
    try {
      const e = await refused(['--tls-cert', file(tls.cert, 0o644), '--tls-key', `/dev/fd/${fd}`]);
      expect(e.message).toContain(`the key file /dev/fd/${fd} has mode 0644`);
      expect(e.message).toContain(`chmod 600 ${wide}`);
      expect(e.message).not.toContain(`chmod 600 /dev/fd/${fd}`);
    } finally {
      closeSync(fd);
    }
    const e = await refused(['--tls-cert', file(tls.cert, 0o644), '--tls-key', '/dev/fd/987654']);
    expect(e.message).toContain('e.g. 987654<tls.key');
    expect(e.message).not.toContain('model.key');
  });
});
