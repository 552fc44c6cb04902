/**
 * Review s7, findings 1 and 9: encryption-config.json.
 *
 * (1) The host writes the model directory. Read through a link, the list let
 * the host have the TEE read one of its own files and echo its first bytes in
 * the JSON parser's message (`cause`), a FIFO blocked `load` forever, and a
 * link to a big file or /dev/zero filled memory. It is now opened
 * O_NOFOLLOW|O_NONBLOCK, must be a regular file of at most 1 MiB, and no
 * refusal carries its bytes.
 * (9) encrypt wrote the list with writeFile: through a link at the name and
 * not atomically. It now goes through a temporary file and a rename.
 */
import { execFileSync } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import { closeSync, constants, openSync } from 'node:fs';
import { lstat, mkdir, mkdtemp, readFile, readdir, rm, symlink, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { run } from '../../src/model/cli.js';
import { MAX_CONFIG_BYTES } from '../../src/model/directory.js';
import { checkDirectoryListing, encryptDirectory, readEncryptionConfig } from '../../src/model/index.js';

const key = randomBytes(32);
const SECRET = 'API_TOKEN=s3cr3t-value-0123456789';
const SECRET_JSON = JSON.stringify({ files: ['db-password=hunter2'] });
let dir: string;
let model: string;
let fifos: string[] = [];

beforeEach(async () => {
  dir = await mkdtemp(join(tmpdir(), 'tee-model-s7-config-'));
  model = join(dir, 'model');
  await mkdir(model);
  fifos = [];
});

afterEach(async () => {
  // Safety net only (the tests pass without it): if a reader were stuck in a blocking open of a FIFO, a
  // writer opening it lets that open return, so a failing run cannot wedge the worker.
  for (const f of fifos) {
    try {
      closeSync(openSync(f, constants.O_WRONLY | constants.O_NONBLOCK));
    } catch {
      // ENXIO: no reader is waiting, as expected
    }
  }
  await rm(dir, { recursive: true, force: true });
});

/** Everything an error shows: message, details and the whole cause chain. */
function everythingIn(e: unknown): string {
  const parts: string[] = [];
  for (let c: unknown = e; c !== undefined && c !== null; c = (c as { cause?: unknown }).cause) {
    parts.push(String((c as Error).message), JSON.stringify((c as { details?: unknown }).details ?? null));
  }
  return parts.join('\n');
}

async function refusal(p: Promise<unknown>): Promise<{ code: string; details: Record<string, unknown>; text: string }> {
  try {
    await p;
  } catch (e) {
    return { code: (e as { code: string }).code, details: (e as { details: Record<string, unknown> }).details, text: everythingIn(e) };
  }
  throw new Error('expected a refusal');
}

const SECRET_BITS = ['API_TOKEN', 's3cr3t', 'hunter2', 'db-password'];

describe('encryption-config.json is read without following the host (finding 1)', () => {
  it('a link to a guest file is refused unread: ERR_MODEL_CONFIG, none of its bytes in message, details or cause', async () => {
    await writeFile(join(dir, 'tee-secret.txt'), `${SECRET}\n`);
    await writeFile(join(dir, 'guest.json'), SECRET_JSON);
    for (const target of ['tee-secret.txt', 'guest.json']) {
      await rm(join(model, 'encryption-config.json'), { force: true });
      await symlink(join(dir, target), join(model, 'encryption-config.json'));
      for (const call of [readEncryptionConfig(model), checkDirectoryListing(model)]) {
        const r = await refusal(call);
        expect(r.code).toBe('ERR_MODEL_CONFIG');
        expect(r.details['reason']).toBe('symbolic-link');
        for (const bit of SECRET_BITS) expect(r.text).not.toContain(bit);
      }
    }
  });

  it('`tee-model load` refuses the linked list before any broker, and prints none of its bytes', async () => {
    await writeFile(join(dir, 'tee-secret.txt'), `${SECRET}\n`);
    await symlink(join(dir, 'tee-secret.txt'), join(model, 'encryption-config.json'));
    let stderr = '';
    const code = await run(['load', '--kbs', 'https://127.0.0.1:1', '--key-id', 'k', '-i', model, '-o', join(dir, 'out'), '--configfs-root', join(dir, 'no-tsm')], {
      stdout: { write: () => true },
      stderr: { write: (s: string) => (stderr += s) },
    });
    expect(code).toBe(2);
    expect(stderr).toMatch(/ERR_MODEL_CONFIG/);
    for (const bit of SECRET_BITS) expect(stderr).not.toContain(bit);
  });

  it('a link to /dev/zero is refused as a link (nothing is read)', async () => {
    await symlink('/dev/zero', join(model, 'encryption-config.json'));
    await expect(readEncryptionConfig(model)).rejects.toMatchObject({ code: 'ERR_MODEL_CONFIG', details: { reason: 'symbolic-link' } });
  });

  it('a FIFO at the name does not block: the open returns and the list is refused as not a regular file', async () => {
    const fifo = join(model, 'encryption-config.json');
    execFileSync('mkfifo', [fifo]);
    fifos.push(fifo);
    // No writer ever opens it: a blocking open would never return and the runner's timeout would fail the test.
    await expect(readEncryptionConfig(model)).rejects.toMatchObject({ code: 'ERR_MODEL_CONFIG', details: { reason: 'not-a-regular-file' } });
    await expect(checkDirectoryListing(model)).rejects.toMatchObject({ code: 'ERR_MODEL_CONFIG' });
  });

  it('a 2 MiB list (valid JSON) is refused by its size, with none of its bytes in the error', async () => {
    const pad = `SECRETMARK${'x'.repeat(2 * 1024 * 1024)}`;
    await writeFile(join(model, 'encryption-config.json'), JSON.stringify({ pad, files: [] }));
    const r = await refusal(readEncryptionConfig(model));
    expect(r.code).toBe('ERR_MODEL_CONFIG');
    expect(r.details['reason']).toBe('too-large');
    expect(r.text).not.toContain('SECRETMARK');
  });

  it('a list that is not JSON is ERR_MODEL_CONFIG without the parser text (which quotes the bytes)', async () => {
    await writeFile(join(model, 'encryption-config.json'), `${SECRET}\n`);
    const r = await refusal(readEncryptionConfig(model));
    expect(r.code).toBe('ERR_MODEL_CONFIG');
    for (const bit of SECRET_BITS) expect(r.text).not.toContain(bit);
  });

  it('a directory at the name is not a regular file; a list of exactly 1 MiB is still read', async () => {
    await mkdir(join(model, 'encryption-config.json'));
    await expect(readEncryptionConfig(model)).rejects.toMatchObject({ code: 'ERR_MODEL_CONFIG', details: { reason: 'not-a-regular-file' } });
    await rm(join(model, 'encryption-config.json'), { recursive: true });
    const head = JSON.stringify({ files: [], pad: '' });
    await writeFile(join(model, 'encryption-config.json'), `${head.slice(0, -2)}${'y'.repeat(MAX_CONFIG_BYTES - head.length)}"}`);
    expect((await lstat(join(model, 'encryption-config.json'))).size).toBe(MAX_CONFIG_BYTES);
    await expect(readEncryptionConfig(model)).resolves.toMatchObject({ files: [] });
  });
});

describe('encrypt writes encryption-config.json by temporary file and rename (finding 9)', () => {
  it('a link planted at the name is replaced, not written through; the list is complete', async () => {
    const plain = join(dir, 'plain');
    await mkdir(plain);
    await writeFile(join(plain, 'config.json'), '{}');
    const out = join(dir, 'enc');
    await mkdir(out);
    await writeFile(join(dir, 'victim.txt'), 'victim');
    await symlink(join(dir, 'victim.txt'), join(out, 'encryption-config.json'));
    await encryptDirectory(plain, out, key);
    expect(await readFile(join(dir, 'victim.txt'), 'utf8')).toBe('victim');
    expect((await lstat(join(out, 'encryption-config.json'))).isFile()).toBe(true);
    expect(JSON.parse(await readFile(join(out, 'encryption-config.json'), 'utf8'))).toMatchObject({ files: ['config.json.aes'] });
    expect((await readdir(out)).sort()).toEqual(['config.json.aes', 'encryption-config.json']); // no temporary file left
  });

  it('an existing list is replaced whole (the overwrite rule of encrypt)', async () => {
    const plain = join(dir, 'plain');
    await mkdir(plain);
    await writeFile(join(plain, 'a.bin'), 'a');
    const out = join(dir, 'enc');
    await mkdir(out);
    await writeFile(join(out, 'encryption-config.json'), JSON.stringify({ files: ['old.aes'], extra: 'x'.repeat(10_000) }));
    await encryptDirectory(plain, out, key);
    expect(JSON.parse(await readFile(join(out, 'encryption-config.json'), 'utf8'))).toEqual({ kbs: '', kbs_url: '', key_id: '', files: ['a.bin.aes'] });
  });
});
