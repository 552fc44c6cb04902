/**
 * Review findings on the model directory. (2) encryption-config.json is not
 * authenticated, so the loader at least refuses a directory that contradicts
 * its list: encrypted files the list does not name (the list was shortened),
 * listed files that are absent, names listed twice — before any key is asked
 * for. (3) Plaintext was written with the default mode (0644 under umask
 * 022): decrypted files are now 0600 and directories the loader creates 0700.
 */
import { randomBytes } from 'node:crypto';
import { existsSync } from 'node:fs';
import { mkdir, mkdtemp, readFile, readdir, rename, rm, stat, symlink, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, afterEach, beforeAll, beforeEach, describe, expect, it } from 'vitest';
import { run } from '../../src/model/cli.js';
import { decryptDirectory, decryptFile, encryptDirectory, encryptFile } from '../../src/model/index.js';

const key = randomBytes(32);
let dir: string;
let enc: string;
let previousUmask: number;
const files: Record<string, Buffer> = {
  'config.json': Buffer.from('{"real":"config"}'),
  'tokenizer.json': Buffer.from('{"real":"tokenizer"}'),
  'shards/model-00001.safetensors': randomBytes(10_000),
};

const listOf = async (d: string): Promise<{ files: string[] }> => JSON.parse(await readFile(join(d, 'encryption-config.json'), 'utf8')) as { files: string[] };
const entriesOf = async (p: string): Promise<string[]> => (existsSync(p) ? readdir(p) : []);

beforeAll(() => {
  previousUmask = process.umask(0o022); // the usual default: what made plaintext world-readable
});
afterAll(() => {
  process.umask(previousUmask);
});
beforeEach(async () => {
  dir = await mkdtemp(join(tmpdir(), 'tee-model-review-dir-'));
  const src = join(dir, 'plain');
  await mkdir(join(src, 'shards'), { recursive: true });
  for (const [n, d] of Object.entries(files)) await writeFile(join(src, n), d);
  enc = join(dir, 'enc');
  await encryptDirectory(src, enc, key);
});
afterEach(async () => {
  await rm(dir, { recursive: true, force: true });
});

describe('model directory against its list (finding 2)', () => {
  it('refuses an encrypted file the list does not name (ERR_MODEL_UNLISTED_FILE) and writes nothing', async () => {
    const cfg = await listOf(enc);
    cfg.files = cfg.files.filter((f) => f !== 'tokenizer.json.aes');
    await writeFile(join(enc, 'encryption-config.json'), JSON.stringify(cfg));
    const out = join(dir, 'out');
    await expect(decryptDirectory(enc, out, key)).rejects.toMatchObject({ code: 'ERR_MODEL_UNLISTED_FILE', details: { unlisted: ['tokenizer.json.aes'] } });
    expect(await entriesOf(out)).toEqual([]);
  });

  it('quotes a long unlisted name by its start only (s15 change review r7 #2: a host-made name made a 20 KB line)', async () => {
    const long = `${'n'.repeat(250)}.aes`;
    await writeFile(join(enc, long), 'x');
    const err = await decryptDirectory(enc, join(dir, 'out'), key).then(
      () => new Error('decrypted'),
      (e: unknown) => e as Error,
    );
    expect(err).toMatchObject({ code: 'ERR_MODEL_UNLISTED_FILE', details: { unlisted: [long] } });
    expect(err.message).toContain('(254 characters)');
    expect(err.message).not.toContain(long);
  });

  it('refuses a listed file the directory lacks (ERR_MODEL_MISSING_FILE) before decrypting any other', async () => {
    await rm(join(enc, 'tokenizer.json.aes'));
    const out = join(dir, 'out');
    await expect(decryptDirectory(enc, out, key)).rejects.toMatchObject({ code: 'ERR_MODEL_MISSING_FILE', details: { entry: 'tokenizer.json.aes' } });
    expect(await entriesOf(out)).toEqual([]);
  });

  it('refuses a list naming one output twice (ERR_MODEL_CONFIG)', async () => {
    const cfg = await listOf(enc);
    await writeFile(join(enc, 'config.json'), 'x');
    cfg.files.push('config.json'); // decrypts to the same name as config.json.aes
    await writeFile(join(enc, 'encryption-config.json'), JSON.stringify(cfg));
    await expect(decryptDirectory(enc, join(dir, 'out'), key)).rejects.toMatchObject({ code: 'ERR_MODEL_CONFIG' });
  });

  it('tolerates files that are not model ciphertext (README.md, dot files, other unlisted non-.aes files) and symlinked blobs', async () => {
    await writeFile(join(enc, 'README.md'), '# model card');
    await writeFile(join(enc, '.gitattributes'), '*.aes filter=lfs');
    await writeFile(join(enc, 'LICENSE'), 'license text');
    // Hugging Face cache snapshots (<repo>/snapshots/<rev>) hold symbolic links to <repo>/blobs.
    const repo = join(dir, 'models--org--model');
    await mkdir(join(repo, 'blobs'), { recursive: true });
    await mkdir(join(repo, 'snapshots'));
    const snap = join(repo, 'snapshots', 'rev');
    await rename(enc, snap);
    await rename(join(snap, 'config.json.aes'), join(repo, 'blobs', 'b1'));
    await symlink('../../blobs/b1', join(snap, 'config.json.aes'));
    const out = join(dir, 'out');
    const r = await decryptDirectory(snap, out, key);
    expect(r.files).toHaveLength(3);
    for (const [n, d] of Object.entries(files)) expect((await readFile(join(out, n))).equals(d)).toBe(true);
    // An unlisted symlinked ciphertext counts as unlisted too.
    await symlink('../../blobs/b1', join(snap, 'extra.json.aes'));
    await expect(decryptDirectory(snap, join(dir, 'out2'), key)).rejects.toMatchObject({ code: 'ERR_MODEL_UNLISTED_FILE' });
  });

  it('tee-model load checks the list before it contacts the broker (exit 2, not a broker error)', async () => {
    const cfg = await listOf(enc);
    cfg.files = cfg.files.filter((f) => f !== 'config.json.aes');
    await writeFile(join(enc, 'encryption-config.json'), JSON.stringify(cfg));
    let stderr = '';
    const code = await run(['load', '--kbs', 'https://127.0.0.1:1', '--key-id', 'k', '-i', enc, '-o', join(dir, 'out'), '--provider', 'configfs', '--configfs-root', join(dir, 'no-tsm')], {
      stdout: { write: () => true },
      stderr: { write: (s: string) => (stderr += s) },
    });
    expect(stderr).toMatch(/ERR_MODEL_UNLISTED_FILE/);
    expect(code).toBe(2);
  });
});

describe('plaintext file modes (finding 3)', () => {
  it('decryptDirectory creates its output directories 0700 and writes files 0600', async () => {
    const out = join(dir, 'out', 'model');
    await decryptDirectory(enc, out, key);
    expect((await stat(out)).mode & 0o777).toBe(0o700);
    expect((await stat(join(out, 'shards'))).mode & 0o777).toBe(0o700);
    for (const n of Object.keys(files)) expect((await stat(join(out, n))).mode & 0o777).toBe(0o600);
  });

  it('an existing output directory keeps its mode (empty, or a previous output replaced whole); files are 0600', async () => {
    const out = join(dir, 'existing');
    await mkdir(out, { mode: 0o755 });
    await decryptDirectory(enc, out, key);
    expect((await stat(out)).mode & 0o777).toBe(0o755);
    expect((await stat(join(out, 'config.json'))).mode & 0o777).toBe(0o600);
    // A second run replaces the previous output (review s7: staging); the mode stays.
    await decryptDirectory(enc, out, key);
    expect((await stat(out)).mode & 0o777).toBe(0o755);
    expect((await stat(join(out, 'config.json'))).mode & 0o777).toBe(0o600);
  });

  it('decryptFile and `tee-model decrypt` write 0600; ciphertext keeps the default mode', async () => {
    const c = join(dir, 'one.aes');
    await encryptFile(join(dir, 'plain', 'config.json'), c, key);
    expect((await stat(c)).mode & 0o777).toBe(0o644);
    await decryptFile(c, join(dir, 'one.json'), key);
    expect((await stat(join(dir, 'one.json'))).mode & 0o777).toBe(0o600);
    const code = await run(['decrypt', '-i', c, '-o', join(dir, 'two.json'), '-k', key.toString('base64')], { stdout: { write: () => true }, stderr: { write: () => true } });
    expect(code).toBe(0);
    expect((await stat(join(dir, 'two.json'))).mode & 0o777).toBe(0o600);
  });
});
