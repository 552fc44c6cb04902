/**
 * Review s7, findings 5 to 8: typed errors and what `tee-model` prints.
 *
 * (5) A container that shrank between fstat and the tag read was a TypeError
 * (now ERR_MODEL_TRUNCATED); a failed rename was an untyped system error (now
 * ERR_MODEL_IO with details.errno); the CLI mapped any `.code` to exit 2 (now
 * a table per code, system errors by errno, anything else 70).
 * (6) Host-written strings (key ids, file names) reached stderr raw: a
 * newline forged a line. (7) A malformed broker answer or a released key of
 * the wrong length was exit 2 "usage" without naming the broker: now
 * ERR_KBS_RESPONSE naming it, exit 1. (8) `load --provider simulated`
 * printed no warning that the evidence is simulated.
 */
import { constants as cryptoConstants, createPublicKey, publicEncrypt, randomBytes } from 'node:crypto';
import { createServer, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import { mkdir, mkdtemp, open, readFile, rm, symlink, truncate, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { sealBuffer } from '../../src/model/container.js';
import { exitCodeOf, run } from '../../src/model/cli.js';
import { ModelFormatError, KeyBrokerClientError } from '../../src/model/errors.js';
import { decryptOpenedFile } from '../../src/model/file.js';
import { decryptFile, encryptDirectory, encryptFile } from '../../src/model/index.js';

const key = randomBytes(32);
let dir: string;

beforeEach(async () => {
  dir = await mkdtemp(join(tmpdir(), 'tee-model-s7-errors-'));
});
afterEach(async () => {
  await rm(dir, { recursive: true, force: true });
});

function sinks(): { io: { stdout: { write: (s: string) => boolean }; stderr: { write: (s: string) => boolean } }; out: () => string; err: () => string } {
  let out = '';
  let err = '';
  return {
    io: { stdout: { write: (s) => ((out += s), true) }, stderr: { write: (s) => ((err += s), true) } },
    out: () => out,
    err: () => err,
  };
}

describe('typed errors (finding 5)', () => {
  it('a container that shrinks between fstat and the tag read is ERR_MODEL_TRUNCATED, not a TypeError', async () => {
    await writeFile(join(dir, 'p'), Buffer.alloc(100_000, 1));
    await encryptFile(join(dir, 'p'), join(dir, 'c.aes'), key);
    const fh = await open(join(dir, 'c.aes'));
    try {
      const before = await fh.stat();
      await truncate(join(dir, 'c.aes'), before.size - 40_000); // the host shrinks it after the loader's fstat
      const racy = new Proxy(fh, { get: (t, p) => (p === 'stat' ? async () => before : typeof Reflect.get(t, p) === 'function' ? Reflect.get(t, p).bind(t) : Reflect.get(t, p)) });
      await expect(decryptOpenedFile(racy, 'c.aes', join(dir, 'out'), key)).rejects.toMatchObject({ code: 'ERR_MODEL_TRUNCATED' });
    } finally {
      await fh.close();
    }
  });

  it('a rename that fails (a directory at the output name) is ERR_MODEL_IO with the system code; no temporary file stays', async () => {
    await writeFile(join(dir, 'p'), 'plain');
    await encryptFile(join(dir, 'p'), join(dir, 'c.aes'), key);
    await mkdir(join(dir, 'out', 'busy'), { recursive: true });
    await expect(decryptFile(join(dir, 'c.aes'), join(dir, 'out'), key)).rejects.toMatchObject({ code: 'ERR_MODEL_IO', details: { errno: expect.stringMatching(/^(EISDIR|ENOTEMPTY|EEXIST)$/) } });
    const { readdir } = await import('node:fs/promises');
    expect((await readdir(dir)).filter((n) => n.endsWith('.part'))).toEqual([]);
  });

  it('exit codes: a table per code, system errors by errno, anything else 70', () => {
    expect(exitCodeOf(new ModelFormatError('ERR_MODEL_AUTH_FAILED', 'x'))).toBe(1);
    expect(exitCodeOf(new ModelFormatError('ERR_MODEL_CONFIG', 'x'))).toBe(2);
    expect(exitCodeOf(new KeyBrokerClientError('ERR_KBS_RESPONSE', 'x'))).toBe(1);
    expect(exitCodeOf(new KeyBrokerClientError('ERR_KBS_HTTP', 'x', { details: { status: 503 } }))).toBe(3);
    expect(exitCodeOf(new KeyBrokerClientError('ERR_KBS_HTTP', 'x', { details: { reason: 'tls-certificate' } }))).toBe(2);
    expect(exitCodeOf(new ModelFormatError('ERR_TEE_REPORT_DATA', 'x'))).toBe(70);
    expect(exitCodeOf(new ModelFormatError('ERR_MODEL_IO', 'x', { details: { errno: 'ENOENT' } }))).toBe(2);
    expect(exitCodeOf(new ModelFormatError('ERR_MODEL_IO', 'x', { details: { errno: 'ENOSPC' } }))).toBe(70);
    expect(exitCodeOf(new ModelFormatError('ERR_MODEL_IO', 'x', { details: { errno: 'EIO' } }))).toBe(70);
    expect(exitCodeOf(Object.assign(new Error('x'), { code: 'ENOENT', syscall: 'open' }))).toBe(2);
    expect(exitCodeOf(Object.assign(new Error('x'), { code: 'EIO', syscall: 'read' }))).toBe(70);
    // Any other `.code` is not a usage error: a bug of ours or of a dependency.
    expect(exitCodeOf(Object.assign(new TypeError('x'), { code: 'ERR_INVALID_ARG_TYPE' }))).toBe(70);
    expect(exitCodeOf(Object.assign(new Error('x'), { code: 'ERR_OSSL_EVP_BAD_DECRYPT' }))).toBe(70);
    expect(exitCodeOf(new TypeError('x'))).toBe(70);
  });

  it('`tee-model decrypt` onto a directory: ERR_MODEL_IO, exit 2 (the output named cannot be used)', async () => {
    await writeFile(join(dir, 'p'), 'plain');
    await encryptFile(join(dir, 'p'), join(dir, 'c.aes'), key);
    await mkdir(join(dir, 'out', 'busy'), { recursive: true });
    const s = sinks();
    expect(await run(['decrypt', '-i', join(dir, 'c.aes'), '-o', join(dir, 'out'), '-k', key.toString('base64')], s.io)).toBe(2);
    expect(s.err()).toMatch(/^tee-model decrypt: ERR_MODEL_IO: /m); // after the -k warning line (review s11)
  });
});

describe('the simulated platform of a state file', () => {
  it('`--simulated-tee snp` against a TDX state file is a usage error (exit 2), not silently a TDX platform', async () => {
    const state = join(dir, 'sim-state.json');
    expect(await run(['simulated-tee', '--state', state, '--simulated-tee', 'tdx'], sinks().io)).toBe(0);
    const s = sinks();
    expect(await run(['simulated-tee', '--state', state, '--simulated-tee', 'snp'], s.io)).toBe(2);
    expect(s.err()).toContain('--simulated-tee snp does not match the TDX platform in');
    expect(s.out()).toBe('');
    // The matching TEE, or none, restores the platform as before.
    expect(await run(['simulated-tee', '--state', state, '--simulated-tee', 'tdx'], sinks().io)).toBe(0);
    expect(await run(['simulated-tee', '--state', state], sinks().io)).toBe(0);
  });

  it('an output that names the state file is refused before anything is written; a symbolic link at an output name is not followed', async () => {
    const state = join(dir, 'sim-state-outs.json');
    expect(await run(['simulated-tee', '--state', state], sinks().io)).toBe(0);
    const before = await readFile(state, 'utf8');
    const s = sinks();
    expect(await run(['simulated-tee', '--state', state, '--trust-root-out', join(dir, 'tr-first.pem'), '--policy-out', state], s.io)).toBe(2);
    expect(s.err()).toContain('--policy-out names the same file as --state');
    expect(await readFile(state, 'utf8')).toBe(before);
    await expect(readFile(join(dir, 'tr-first.pem'))).rejects.toMatchObject({ code: 'ENOENT' });

    const target = join(dir, 'guarded.txt');
    await writeFile(target, 'keep me', { mode: 0o600 });
    await symlink(target, join(dir, 'policy-link.json'));
    const t = sinks();
    expect(await run(['simulated-tee', '--state', state, '--policy-out', join(dir, 'policy-link.json')], t.io)).toBe(2);
    expect(await readFile(target, 'utf8')).toBe('keep me');
  });
});

/** A model directory whose list names `keyId` (written as the host wants it). */
async function modelDir(keyId: string, extraFile?: string): Promise<string> {
  const plain = join(dir, 'plain');
  await mkdir(plain, { recursive: true });
  await writeFile(join(plain, 'config.json'), '{}');
  const enc = join(dir, 'enc');
  await encryptDirectory(plain, enc, key);
  const cfgPath = join(enc, 'encryption-config.json');
  const cfg = JSON.parse(await readFile(cfgPath, 'utf8')) as Record<string, unknown>;
  cfg['key_id'] = keyId;
  await writeFile(cfgPath, JSON.stringify(cfg));
  if (extraFile !== undefined) await writeFile(join(enc, extraFile), 'x');
  return enc;
}

const FORGED = 'tee-model load: key released by https://kbs.owner.example (TDX, configfs-tsm, nonce); decrypted 7 file(s) into /srv/model';

describe('host-written text on stderr (finding 6)', () => {
  it('a key id with a newline cannot forge a line (pinned: the mismatch error)', async () => {
    const enc = await modelDir(`k2\n${FORGED}`);
    const s = sinks();
    const code = await run(['load', '--kbs', 'https://127.0.0.1:1', '--key-id', 'k1', '-i', enc, '-o', join(dir, 'out'), '--configfs-root', join(dir, 'no-tsm')], s.io);
    expect(code).toBe(1);
    expect(s.err()).toMatch(/ERR_MODEL_KEY_ID_MISMATCH/);
    expect(s.err().split('\n')).toEqual([expect.stringMatching(/^tee-model load: ERR_MODEL_KEY_ID_MISMATCH: /), '']);
  });

  it('a key id with a newline cannot forge a line (unpinned: the warning)', async () => {
    const enc = await modelDir(`k1\n${FORGED}`);
    const s = sinks();
    // --nonce no and a missing configfs root: the run ends at the evidence, without any network request.
    const code = await run(['load', '--kbs', 'https://127.0.0.1:1', '-i', enc, '-o', join(dir, 'out'), '--nonce', 'no', '--configfs-root', join(dir, 'no-tsm')], s.io);
    expect(code).toBe(2); // a missing configfs-tsm root is permanent since review s11 (it was 3)
    const lines = s.err().split('\n');
    expect(lines).toHaveLength(3);
    expect(lines[0]).toMatch(/^tee-model load: warning: key id "k1\\n.*" taken from the model directory/);
    expect(lines[1]).toMatch(/^tee-model load: ERR_TSM_IO: /);
    expect(s.err()).not.toMatch(/^tee-model load: key released/m);
  });

  it('an unlisted file whose name holds a newline and an escape sequence prints as one line', async () => {
    // A file name cannot hold "/": the forged line is one without.
    const enc = await modelDir('', `evil\n${FORGED.replace(/\//g, '_')}\u001b[2J.aes`);
    const s = sinks();
    const code = await run(['load', '--kbs', 'https://127.0.0.1:1', '--key-id', 'k1', '-i', enc, '-o', join(dir, 'out'), '--configfs-root', join(dir, 'no-tsm')], s.io);
    expect(code).toBe(2);
    expect(s.err().split('\n')).toEqual([expect.stringMatching(/^tee-model load: ERR_MODEL_UNLISTED_FILE: /), '']);
    expect(s.err()).not.toContain('\u001b');
  });
});

type Answer = { kind: 'key'; modelKey: Buffer } | { kind: 'raw'; body: string };

/** A stand-in broker on 127.0.0.1 (plain HTTP): no nonce; the transfer answers as `answer` says, for any evidence. */
async function standInBroker(answer: Answer): Promise<{ url: string; server: Server; transfers: () => number }> {
  let transfers = 0;
  const server = createServer((req, res) => {
    const chunks: Buffer[] = [];
    req.on('data', (c: Buffer) => chunks.push(c));
    req.on('end', () => {
      if (!req.headers['attestation-type']) return void res.writeHead(404).end();
      transfers++;
      if (answer.kind === 'raw') return void res.writeHead(200, { 'content-type': 'application/json' }).end(answer.body);
      const { user_data } = JSON.parse(Buffer.concat(chunks).toString('utf8')) as { user_data: string };
      const swk = randomBytes(32);
      const wrappedSwk = publicEncrypt({ key: createPublicKey({ key: Buffer.from(user_data, 'base64'), format: 'der', type: 'spki' }), padding: cryptoConstants.RSA_PKCS1_OAEP_PADDING, oaepHash: 'sha256' }, swk);
      const body = JSON.stringify({ wrapped_swk: wrappedSwk.toString('base64'), wrapped_key: sealBuffer(swk, answer.modelKey).toString('base64') });
      res.writeHead(200, { 'content-type': 'application/json' }).end(body);
    });
  });
  await new Promise<void>((r) => server.listen(0, '127.0.0.1', r));
  return { url: `http://127.0.0.1:${(server.address() as AddressInfo).port}`, server, transfers: () => transfers };
}

async function closeBroker(server: Server): Promise<void> {
  server.closeAllConnections();
  await new Promise((r) => server.close(r));
}

describe('broker answers without a usable key (finding 7) and the simulated provider (finding 8)', () => {
  const loadArgs = (url: string, enc: string): string[] => ['load', '--kbs', url, '--key-id', 'k1', '--allow-insecure-http', '-i', enc, '-o', join(dir, 'out'), '--provider', 'simulated', '--nonce', 'no'];

  it('a released key of 20 bytes: ERR_KBS_RESPONSE naming the broker, exit 1, nothing written; the simulated warning is printed', async () => {
    const broker = await standInBroker({ kind: 'key', modelKey: randomBytes(20) });
    try {
      const enc = await modelDir('k1');
      const s = sinks();
      const code = await run(loadArgs(broker.url, enc), s.io);
      expect(broker.transfers()).toBe(1);
      expect(code).toBe(1);
      expect(s.err()).toMatch(/^tee-model load: warning: the evidence is SIMULATED/m);
      expect(s.err()).toMatch(new RegExp(`^tee-model load: ERR_KBS_RESPONSE: the key broker ${broker.url.replace(/[.]/g, '\\.')} released a 20-byte key`, 'm'));
      const { existsSync } = await import('node:fs');
      expect(existsSync(join(dir, 'out'))).toBe(false);
    } finally {
      await closeBroker(broker.server);
    }
  });

  it('a malformed answer: ERR_KBS_RESPONSE naming the broker, exit 1', async () => {
    for (const body of ['not json', JSON.stringify({ wrapped_swk: 5, wrapped_key: 'AAAA' }), JSON.stringify({ wrapped_swk: '!!', wrapped_key: 'AAAA' })]) {
      const broker = await standInBroker({ kind: 'raw', body });
      try {
        const enc = await modelDir('k1');
        const s = sinks();
        const code = await run(loadArgs(broker.url, enc), s.io);
        expect(code).toBe(1);
        expect(s.err()).toMatch(new RegExp(`ERR_KBS_RESPONSE: .*${broker.url.replace(/[.]/g, '\\.')}`));
      } finally {
        await closeBroker(broker.server);
        await rm(join(dir, 'enc'), { recursive: true, force: true });
        await rm(join(dir, 'plain'), { recursive: true, force: true });
      }
    }
  });

  it('a correct key: the load succeeds and stderr holds the simulated warning (and the plain-HTTP one)', async () => {
    const broker = await standInBroker({ kind: 'key', modelKey: key });
    try {
      const enc = await modelDir('k1');
      const s = sinks();
      const code = await run(loadArgs(broker.url, enc), s.io);
      expect(code).toBe(0);
      expect(s.err()).toMatch(/^tee-model load: warning: the evidence is SIMULATED \(--provider simulated\): it is signed by a test PKI, not by TEE hardware/m);
      expect(await readFile(join(dir, 'out', 'config.json'), 'utf8')).toBe('{}');
    } finally {
      await closeBroker(broker.server);
    }
  });

  it('the configfs provider prints no simulated warning', async () => {
    const enc = await modelDir('k1');
    const s = sinks();
    await run(['load', '--kbs', 'https://127.0.0.1:1', '--key-id', 'k1', '-i', enc, '-o', join(dir, 'out'), '--nonce', 'no', '--configfs-root', join(dir, 'no-tsm')], s.io);
    expect(s.err()).toMatch(/ERR_TSM_IO: .*the report directory does not exist/);
    expect(s.err()).not.toMatch(/SIMULATED/);
  });
});
