/**
 * Model container: round trips, byte compatibility with the protocols.md §1.3
 * layout (containers built here independently with node:crypto, and ours
 * parsed here by hand), tampering, truncation, size limits.
 */
import { createCipheriv, createDecipheriv, randomBytes } from 'node:crypto';
import { mkdtemp, readFile, readdir, rm, stat, truncate, writeFile, mkdir } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import {
  decryptDirectory,
  decryptFile,
  decodeModelKey,
  encryptDirectory,
  encryptFile,
  generateModelKey,
  openBuffer,
  sealBuffer,
  MAX_PLAINTEXT_SIZE,
} from '../../src/model/index.js';

let dir: string;
beforeEach(async () => {
  dir = await mkdtemp(join(tmpdir(), 'tee-model-'));
});
afterEach(async () => {
  await rm(dir, { recursive: true, force: true });
});

/** The §1.3 layout written out by hand: <3I LE iv_len, tag_len, data_len> IV ct tag. */
function referenceSeal(key: Buffer, plaintext: Buffer, iv = randomBytes(12)): Buffer {
  const c = createCipheriv('aes-256-gcm', key, iv);
  const ct = Buffer.concat([c.update(plaintext), c.final()]);
  const head = Buffer.alloc(12);
  head.writeUInt32LE(12, 0);
  head.writeUInt32LE(16, 4);
  head.writeUInt32LE(ct.length + 16, 8);
  return Buffer.concat([head, iv, ct, c.getAuthTag()]);
}

/** The upstream readers' algorithm: only iv_len and tag_len are used. */
function referenceOpen(key: Buffer, blob: Buffer): Buffer {
  const ivLen = blob.readUInt32LE(0);
  const tagLen = blob.readUInt32LE(4);
  const iv = blob.subarray(12, 12 + ivLen);
  const d = createDecipheriv('aes-256-gcm', key, iv);
  d.setAuthTag(blob.subarray(blob.length - tagLen));
  return Buffer.concat([d.update(blob.subarray(12 + ivLen, blob.length - tagLen)), d.final()]);
}

async function expectCode(p: Promise<unknown>, code: string): Promise<void> {
  await expect(p).rejects.toMatchObject({ code });
}

describe('model keys', () => {
  it('generateModelKey is 32 random bytes in standard base64', () => {
    const a = generateModelKey();
    expect(a).toMatch(/^[A-Za-z0-9+/]{43}=$/);
    expect(decodeModelKey(a)).toHaveLength(32);
    expect(generateModelKey()).not.toBe(a);
  });
  it('rejects keys of the wrong size or alphabet', () => {
    expect(() => decodeModelKey(randomBytes(31).toString('base64'))).toThrow(expect.objectContaining({ code: 'ERR_MODEL_KEY' }));
    expect(() => decodeModelKey('not base64!')).toThrow(expect.objectContaining({ code: 'ERR_MODEL_KEY' }));
  });
});

describe('container in memory', () => {
  it('seal/open round trip and header fields', () => {
    const key = randomBytes(32);
    const blob = sealBuffer(key, Buffer.from('hello'));
    expect(blob.readUInt32LE(0)).toBe(12);
    expect(blob.readUInt32LE(4)).toBe(16);
    expect(blob.readUInt32LE(8)).toBe(5 + 16);
    expect(blob).toHaveLength(12 + 12 + 5 + 16);
    expect(openBuffer(key, blob).toString()).toBe('hello');
    expect(referenceOpen(key, blob).toString()).toBe('hello');
    expect(openBuffer(key, referenceSeal(key, Buffer.from('world'))).toString()).toBe('world');
  });
  it('a wrong key is ERR_MODEL_AUTH_FAILED', () => {
    const blob = sealBuffer(randomBytes(32), Buffer.from('x'));
    expect(() => openBuffer(randomBytes(32), blob)).toThrow(expect.objectContaining({ code: 'ERR_MODEL_AUTH_FAILED' }));
  });
});

describe('encryptFile / decryptFile', () => {
  const key = randomBytes(32);
  const sizes = [0, 1, 15, 16, 17, 65_536, 1024 * 1024 + 3];

  it.each(sizes)('round trip of %i bytes, byte-compatible both ways', async (n) => {
    const data = randomBytes(n);
    const plain = join(dir, 'p.bin');
    await writeFile(plain, data);
    await encryptFile(plain, join(dir, 'c.aes'), key.toString('base64'));
    const blob = await readFile(join(dir, 'c.aes'));
    expect(blob).toHaveLength(12 + 12 + n + 16);
    expect(blob.readUInt32LE(8)).toBe(n + 16);
    expect(referenceOpen(key, blob).equals(data)).toBe(true);
    await decryptFile(join(dir, 'c.aes'), join(dir, 'out.bin'), key);
    expect((await readFile(join(dir, 'out.bin'))).equals(data)).toBe(true);
    // And a container built here from the layout decrypts with ours.
    await writeFile(join(dir, 'ref.aes'), referenceSeal(key, data));
    await decryptFile(join(dir, 'ref.aes'), join(dir, 'ref.bin'), key);
    expect((await readFile(join(dir, 'ref.bin'))).equals(data)).toBe(true);
  });

  async function sealed(n = 100_000): Promise<{ path: string; blob: Buffer }> {
    const path = join(dir, 'm.aes');
    const blob = referenceSeal(key, randomBytes(n));
    await writeFile(path, blob);
    return { path, blob };
  }

  async function expectNoOutput(): Promise<void> {
    const names = await readdir(dir);
    expect(names.filter((n) => n.startsWith('out') || n.endsWith('.part'))).toEqual([]);
  }

  it('a tampered tag is ERR_MODEL_AUTH_FAILED and leaves no output file', async () => {
    const { path, blob } = await sealed();
    blob[blob.length - 1]! ^= 1;
    await writeFile(path, blob);
    await expectCode(decryptFile(path, join(dir, 'out.bin'), key), 'ERR_MODEL_AUTH_FAILED');
    await expectNoOutput();
  });

  it('a flipped ciphertext bit is ERR_MODEL_AUTH_FAILED and leaves no output file', async () => {
    const { path, blob } = await sealed();
    blob[40]! ^= 0x80;
    await writeFile(path, blob);
    await expectCode(decryptFile(path, join(dir, 'out.bin'), key), 'ERR_MODEL_AUTH_FAILED');
    await expectNoOutput();
  });

  it('a wrong key leaves no output file', async () => {
    const { path } = await sealed();
    await expectCode(decryptFile(path, join(dir, 'out.bin'), randomBytes(32)), 'ERR_MODEL_AUTH_FAILED');
    await expectNoOutput();
  });

  it('a truncated file is ERR_MODEL_TRUNCATED and leaves no output file', async () => {
    const { path, blob } = await sealed();
    for (const len of [blob.length - 1, blob.length - 20, 30, 12, 5, 0]) {
      await writeFile(path, blob.subarray(0, len));
      await expectCode(decryptFile(path, join(dir, 'out.bin'), key), 'ERR_MODEL_TRUNCATED');
      await expectNoOutput();
    }
  });

  it('truncation with a rewritten data_len still fails on the tag', async () => {
    const { path, blob } = await sealed();
    const cut = Buffer.from(blob.subarray(0, blob.length - 100));
    cut.writeUInt32LE(cut.length - 24, 8);
    await writeFile(path, cut);
    await expectCode(decryptFile(path, join(dir, 'out.bin'), key), 'ERR_MODEL_AUTH_FAILED');
    await expectNoOutput();
  });

  it('an existing output file is left untouched when decryption fails', async () => {
    const { path, blob } = await sealed();
    blob[30]! ^= 1;
    await writeFile(path, blob);
    await writeFile(join(dir, 'out.bin'), 'previous');
    await expectCode(decryptFile(path, join(dir, 'out.bin'), key), 'ERR_MODEL_AUTH_FAILED');
    expect(await readFile(join(dir, 'out.bin'), 'utf8')).toBe('previous');
  });

  it('trailing bytes after the declared data are ERR_MODEL_LENGTH_MISMATCH', async () => {
    const { path, blob } = await sealed(10);
    await writeFile(path, Buffer.concat([blob, Buffer.alloc(3)]));
    await expectCode(decryptFile(path, join(dir, 'out.bin'), key), 'ERR_MODEL_LENGTH_MISMATCH');
  });

  it('unsupported iv_len / tag_len are ERR_MODEL_UNSUPPORTED', async () => {
    const { path, blob } = await sealed(10);
    blob.writeUInt32LE(16, 0);
    await writeFile(path, blob);
    await expectCode(decryptFile(path, join(dir, 'out.bin'), key), 'ERR_MODEL_UNSUPPORTED');
  });

  it('a file of 4 GiB or more is rejected on encryption (sparse file, nothing read)', async () => {
    const big = join(dir, 'big.bin');
    await writeFile(big, '');
    await truncate(big, 4 * 1024 ** 3);
    expect((await stat(big)).size).toBe(4 * 1024 ** 3);
    await expectCode(encryptFile(big, join(dir, 'out.aes'), key), 'ERR_MODEL_TOO_LARGE');
    await truncate(big, MAX_PLAINTEXT_SIZE + 1);
    await expectCode(encryptFile(big, join(dir, 'out.aes'), key), 'ERR_MODEL_TOO_LARGE');
    expect((await readdir(dir)).filter((n) => n.startsWith('out') || n.endsWith('.part'))).toEqual([]);
  });

  it('a container whose body is 4 GiB or more is rejected on decryption (sparse file)', async () => {
    const big = join(dir, 'big.aes');
    const head = Buffer.alloc(24);
    head.writeUInt32LE(12, 0);
    head.writeUInt32LE(16, 4);
    head.writeUInt32LE(0xffffffff, 8);
    await writeFile(big, head);
    await truncate(big, 24 + 4 * 1024 ** 3);
    await expectCode(decryptFile(big, join(dir, 'out.bin'), key), 'ERR_MODEL_TOO_LARGE');
    await expectNoOutput();
  });
});

describe('encryptDirectory / decryptDirectory', () => {
  it('round trip with encryption-config.json, skipping dot files and .md', async () => {
    const key = generateModelKey();
    const src = join(dir, 'src');
    await mkdir(join(src, 'sub'), { recursive: true });
    const files: Record<string, Buffer> = { 'config.json': Buffer.from('{"a":1}'), 'model.safetensors': randomBytes(200_000), 'sub/tokenizer.json': randomBytes(1000) };
    for (const [n, d] of Object.entries(files)) await writeFile(join(src, n), d);
    await writeFile(join(src, 'README.md'), 'readme');
    await writeFile(join(src, '.hidden'), 'h');
    const r = await encryptDirectory(src, join(dir, 'enc'), key, { kbsUrl: 'https://kbs/kbs/v1/keys/x/transfer', keyId: 'x' });
    expect(r.config.files).toEqual(['config.json.aes', 'model.safetensors.aes', 'sub/tokenizer.json.aes']);
    const cfg = JSON.parse(await readFile(join(dir, 'enc', 'encryption-config.json'), 'utf8'));
    expect(cfg).toEqual({ kbs: 'ITA_KBS', kbs_url: 'https://kbs/kbs/v1/keys/x/transfer', key_id: 'x', files: r.config.files });
    await decryptDirectory(join(dir, 'enc'), join(dir, 'dec'), key);
    for (const [n, d] of Object.entries(files)) expect((await readFile(join(dir, 'dec', n))).equals(d)).toBe(true);
    expect((await readdir(join(dir, 'dec'))).sort()).toEqual(['.tee-model-output', 'config.json', 'model.safetensors', 'sub']);
  });

  it('accepts upstream configs whose entries carry the output-directory prefix; refuses escaping paths', async () => {
    const key = randomBytes(32);
    const enc = join(dir, 'enc');
    await mkdir(enc);
    await writeFile(join(enc, 'w.bin.aes'), referenceSeal(key, Buffer.from('weights')));
    await writeFile(join(enc, 'encryption-config.json'), JSON.stringify({ kbs: '', kbs_url: '', key_id: '', files: [`${enc}/w.bin.aes`] }));
    await decryptDirectory(enc, join(dir, 'dec'), key);
    expect(await readFile(join(dir, 'dec', 'w.bin'), 'utf8')).toBe('weights');
    await writeFile(join(enc, 'encryption-config.json'), JSON.stringify({ files: ['../x.aes'] }));
    await expectCode(decryptDirectory(enc, join(dir, 'dec2'), key), 'ERR_MODEL_CONFIG');
  });
});
