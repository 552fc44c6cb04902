/**
 * Review s7d, item 2: `tee-kbs admin key create --key-file F` base64-encoded the file's bytes, so the
 * file `tee-model keygen -o F` writes (base64 text and a newline) came back as "key_data holds 360
 * bits". A key file is now base64 text of a 16/24/32-byte key (less one final newline), else exactly
 * 16/24/32 raw bytes; key_length follows the key's size.
 */
import { randomBytes } from 'node:crypto';
import { chmodSync, closeSync, mkdtempSync, openSync, readFileSync, rmSync, symlinkSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';

import { afterAll, beforeAll, describe, expect, it } from 'vitest';

import { runKbsCli } from '../../src/kbs/cli.js';
import { parseKeyFile } from '../../src/kbs/key-file.js';
import { run as runModelCli } from '../../src/model/cli.js';
import { decodeModelKey } from '../../src/model/keys.js';
import { newClient, sha512, quoteFor, startHarness, tdxPolicy, transferPath, unwrap, type Harness } from './helpers.js';

/** `tee-model keygen -o FILE`, the real command. */
/**
 * `n` random key bytes, one of them outside printable ASCII: random bytes are all text about once in
 * 5e6 runs for 16 bytes, and parseKeyFile (rightly) refuses such a file as raw.
 */
function rawKey(n: number): Buffer {
  const key = randomBytes(n);
  key[0] = 0xff;
  return key;
}

async function keygen(file: string): Promise<void> {
  let err = '';
  const code = await runModelCli(['keygen', '-o', file], { stdout: { write: () => true }, stderr: { write: (s: string) => (err += s) } });
  expect(code, err).toBe(0);
}

describe('parseKeyFile', () => {
  const h = { dir: mkdtempSync(join(tmpdir(), 'tee-kbs-key-file-')) };
  afterAll(() => rmSync(h.dir, { recursive: true, force: true }));

  it("reads tee-model keygen's file as base64 text (the key it names, 256 bits)", async () => {
    const file = join(h.dir, 'keygen.key');
    await keygen(file);
    const text = readFileSync(file, 'utf8');
    expect(text).toMatch(/^[A-Za-z0-9+/]{43}=\n$/);
    const parsed = parseKeyFile(readFileSync(file));
    expect(parsed.form).toBe('base64');
    expect(parsed.material.equals(decodeModelKey(text))).toBe(true);
  });

  it('base64 of 16, 24 and 32 bytes with no newline, "\\n" or "\\r\\n"; raw files of 16, 24 and 32 bytes', () => {
    for (const n of [16, 24, 32]) {
      const key = rawKey(n);
      for (const end of ['', '\n', '\r\n']) {
        const p = parseKeyFile(Buffer.from(`${key.toString('base64')}${end}`));
        expect({ form: p.form, same: p.material.equals(key) }).toEqual({ form: 'base64', same: true });
      }
      const raw = parseKeyFile(key);
      expect({ form: raw.form, same: raw.material.equals(key) }).toEqual({ form: 'raw', same: true });
    }
  });

  it('refuses anything else, naming both forms', () => {
    const bad = [
      Buffer.from(`${randomBytes(20).toString('base64')}\n`), // base64, but of 20 bytes
      Buffer.from('correct horse battery staple 12!'), // 32 bytes, but text: no raw key
      randomBytes(31),
      randomBytes(33),
      Buffer.alloc(0),
    ];
    for (const b of bad) expect(() => parseKeyFile(b, 'k.bin')).toThrow(/--key-file: k\.bin holds neither base64 text of a 16, 24 or 32-byte key .* nor exactly 16, 24 or 32 raw bytes/);
  });
});

describe('tee-kbs admin key create / rotate --key-file (review s7d)', () => {
  let h: Harness;
  let ca: string;
  beforeAll(async () => {
    h = await startHarness({ rateLimit: { burst: 1000, perSecond: 1000 } });
    ca = `${h.db}.tls-cert.pem`;
  }, 60_000);
  afterAll(async () => h?.close());

  const cli = async (args: string[]) => {
    let out = '';
    let err = '';
    const r = await runKbsCli(['admin', ...args, '--url', h.broker.url, '--ca', ca], { stdout: (t) => (out += t), stderr: (t) => (err += t), env: { TEE_KBS_TOKEN: h.token } });
    return { code: r.code, out, err };
  };
  const release = async (keyId: string): Promise<Buffer> => {
    const client = newClient(2048);
    const quote = quoteFor(h.platform, sha512(client.spkiDer));
    const r = await h.call('POST', transferPath(keyId), { body: { quote: quote.toString('base64'), user_data: client.userData }, headers: { 'attestation-type': 'TDX' }, token: null });
    expect(r.status, r.text).toBe(200);
    return unwrap(client, r.json);
  };

  it("registers the key of tee-model keygen's file, and the broker releases exactly that key", async () => {
    const policy = await h.call('POST', '/kbs/v1/key-transfer-policies', { body: tdxPolicy(h.platform) });
    const file = join(h.dir, 'model.key');
    await keygen(file);
    const created = await cli(['key', 'create', '--policy', policy.json.id, '--key-file', file]);
    expect(created.code, created.err).toBe(0);
    const key = JSON.parse(created.out) as { id: string; key_info: { key_length: number; version: number } };
    expect(key.key_info).toMatchObject({ key_length: 256, version: 1 });
    expect((await release(key.id)).equals(decodeModelKey(readFileSync(file, 'utf8')))).toBe(true);

    // Rotated from a raw 16-byte file: AES-128, that key.
    const raw = rawKey(16);
    const rawFile = join(h.dir, 'raw.bin');
    writeFileSync(rawFile, raw, { mode: 0o600 }); // the key file rules (review s14)
    const rotated = await cli(['key', 'rotate', key.id, '--key-file', rawFile]);
    expect(rotated.code, rotated.err).toBe(0);
    expect(JSON.parse(rotated.out).key_info).toMatchObject({ key_length: 128, version: 2 });
    expect((await release(key.id)).equals(raw)).toBe(true);
  });

  it("review s14: the key file is held to tee-model's key-file rules (no link, no group / other access), exit 2, nothing registered", async () => {
    const policy = await h.call('POST', '/kbs/v1/key-transfer-policies', { body: tdxPolicy(h.platform) });
    const open = join(h.dir, 'open.key');
    await keygen(open);
    chmodSync(open, 0o644);
    const link = join(h.dir, 'link.key');
    const target = join(h.dir, 'target.key');
    await keygen(target);
    symlinkSync(target, link);
    const before = (await h.call('GET', '/kbs/v1/keys')).json.length as number;
    const wide = await cli(['key', 'create', '--policy', policy.json.id, '--key-file', open]);
    expect(wide.code).toBe(2);
    expect(wide.err).toMatch(/--key-file: .*open\.key has mode 0644/);
    const linked = await cli(['key', 'create', '--policy', policy.json.id, '--key-file', link]);
    expect(linked.code).toBe(2);
    expect(linked.err).toMatch(/--key-file: .*link\.key is a symbolic link/);
    expect((await h.call('GET', '/kbs/v1/keys')).json.length).toBe(before);
  });

  it('review s14: an inherited descriptor (/dev/fd/N) is read as tee-model reads it', async () => {
    const policy = await h.call('POST', '/kbs/v1/key-transfer-policies', { body: tdxPolicy(h.platform) });
    const file = join(h.dir, 'fd.key');
    await keygen(file);
    const fd = openSync(file, 'r');
    try {
      const r = await cli(['key', 'create', '--policy', policy.json.id, '--key-file', `/dev/fd/${fd}`]);
      expect(r.code, r.err).toBe(0);
      const key = JSON.parse(r.out) as { id: string };
      expect((await release(key.id)).equals(decodeModelKey(readFileSync(file, 'utf8')))).toBe(true);
    } finally {
      closeSync(fd);
    }
  });

  it('a file in neither form is refused before any request (exit 2), nothing registered', async () => {
    const policy = await h.call('POST', '/kbs/v1/key-transfer-policies', { body: tdxPolicy(h.platform) });
    const file = join(h.dir, 'bad.key');
    writeFileSync(file, 'not a key\n', { mode: 0o600 });
    const before = (await h.call('GET', '/kbs/v1/keys')).json.length as number;
    const r = await cli(['key', 'create', '--policy', policy.json.id, '--key-file', file]);
    expect(r.code).toBe(2);
    expect(r.err).toMatch(/--key-file: .*bad\.key holds neither base64 text/);
    expect((await h.call('GET', '/kbs/v1/keys')).json.length).toBe(before);
  });
});
