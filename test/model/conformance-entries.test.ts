/**
 * Conformance (protocols.md §2.1): crypto.py lists files as
 * "<-o argument>/<name>.aes". The loader used to strip that prefix only when
 * the decrypt input was spelled exactly like the -o argument, so `-o enc`
 * then `decrypt -i ./enc` or `-i $PWD/enc` failed ERR_MODEL_MISSING_FILE.
 * Entries are now read relative to the directory, else by their tails down to
 * the last segment, and never outside it (no "..", no absolute path, no
 * symbolic link to a directory).
 */
import { randomBytes } from 'node:crypto';
import { existsSync } from 'node:fs';
import { copyFile, mkdir, mkdtemp, readFile, readdir, rename, rm, symlink, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join, relative } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { run } from '../../src/model/cli.js';
import { resolveListedEntry } from '../../src/model/entries.js';
import { decryptDirectory, encryptFile } from '../../src/model/index.js';
import { pythonAvailable, runUpstreamEncrypt } from './upstream-loader.js';

const key = randomBytes(32);
const files: Record<string, Buffer> = { 'config.json': Buffer.from('{"model_type":"llama"}'), 'model.safetensors': randomBytes(20_000) };
let dir: string;
let n = 0;

async function cli(argv: string[]): Promise<{ code: number; stderr: string }> {
  let stderr = '';
  const code = await run(argv, { stdout: { write: () => true }, stderr: { write: (s: string) => (stderr += s) } });
  return { code, stderr };
}
const entriesOf = async (p: string): Promise<string[]> => (existsSync(p) ? readdir(p) : []);
const fresh = (name: string): string => join(dir, `${name}-${++n}`);
const listIn = async (enc: string): Promise<string[]> => (JSON.parse(await readFile(join(enc, 'encryption-config.json'), 'utf8')) as { files: string[] }).files;
const writeList = (enc: string, list: string[]): Promise<void> => writeFile(join(enc, 'encryption-config.json'), JSON.stringify({ kbs: '', kbs_url: '', key_id: '', files: list }));

async function expectDecrypted(out: string): Promise<void> {
  for (const [name, data] of Object.entries(files)) expect((await readFile(join(out, name))).equals(data), name).toBe(true);
}

beforeAll(async () => {
  dir = await mkdtemp(join(tmpdir(), 'tee-model-entries-'));
  await mkdir(join(dir, 'plain'));
  for (const [name, data] of Object.entries(files)) await writeFile(join(dir, 'plain', name), data);
  await writeFile(join(dir, 'plain', 'README.md'), '# card');
});
afterAll(async () => {
  await rm(dir, { recursive: true, force: true });
});

describe.skipIf(!pythonAvailable)('directories written by crypto.py (Python), opened under other spellings', () => {
  it('`-o enc`, then decrypt -i with an absolute path, ./ prefix, trailing slash or a relative path from elsewhere', async () => {
    await runUpstreamEncrypt(dir, 'plain', 'enc', key.toString('base64'));
    expect(await listIn(join(dir, 'enc'))).toEqual(['enc/config.json.aes', 'enc/model.safetensors.aes']);
    const spellings = [join(dir, 'enc'), `${dir}/./enc`, `${join(dir, 'enc')}/`, `./${relative(process.cwd(), join(dir, 'enc'))}`];
    for (const input of spellings) {
      const out = fresh('out');
      const r = await cli(['decrypt', '-i', input, '-o', out, '-k', key.toString('base64')]);
      expect(r.code, `${input}: ${r.stderr}`).toBe(0);
      await expectDecrypted(out);
    }
  });

  it('`-o <absolute path>` and `-o ../enc` lists', async () => {
    const abs = join(dir, 'enc-abs');
    await runUpstreamEncrypt(dir, 'plain', abs, key.toString('base64'));
    expect(await listIn(abs)).toEqual([`${abs}/config.json.aes`, `${abs}/model.safetensors.aes`]);
    await mkdir(join(dir, 'work'));
    await runUpstreamEncrypt(join(dir, 'work'), '../plain', '../enc-up', key.toString('base64'));
    expect(await listIn(join(dir, 'enc-up'))).toEqual(['../enc-up/config.json.aes', '../enc-up/model.safetensors.aes']);
    // The directory moved (as it does when copied into a Hugging Face cache): the listed paths point nowhere.
    await mkdir(join(dir, 'moved'));
    for (const [from, to] of [
      [abs, join(dir, 'moved', 'a')],
      [join(dir, 'enc-up'), join(dir, 'moved', 'b')],
    ] as const) {
      await rename(from, to);
      const out = fresh('out');
      await decryptDirectory(to, out, key);
      await expectDecrypted(out);
    }
  });
});

describe('listed entries never reach outside the directory', () => {
  let enc: string;
  let outside: string;
  beforeAll(async () => {
    enc = join(dir, 'contain', 'enc');
    outside = join(dir, 'contain', 'outside');
    await mkdir(enc, { recursive: true });
    await mkdir(outside);
    await encryptFile(join(dir, 'plain', 'config.json'), join(enc, 'config.json.aes'), key);
    // A valid container under the same key, outside the directory: reading it would "work".
    await encryptFile(join(dir, 'plain', 'model.safetensors'), join(outside, 'secret.aes'), key);
    await encryptFile(join(dir, 'plain', 'model.safetensors'), join(dir, 'contain', 'secret.aes'), key);
  });

  it.each([
    ['"..": ../secret.aes', '../secret.aes'],
    ['"..": ../outside/secret.aes', '../outside/secret.aes'],
    ['an absolute path', () => join(outside, 'secret.aes')],
    ['a symbolic link to a directory', 'linked/secret.aes'],
  ])('%s is ERR_MODEL_CONFIG when no file of its name is inside, and nothing is decrypted', async (_label, entry) => {
    if (!existsSync(join(enc, 'linked'))) await symlink(outside, join(enc, 'linked'));
    await writeList(enc, ['config.json.aes', typeof entry === 'function' ? entry() : entry]);
    const out = fresh('out');
    await expect(decryptDirectory(enc, out, key)).rejects.toMatchObject({ code: 'ERR_MODEL_CONFIG' });
    expect(await entriesOf(out)).toEqual([]);
  });

  it('entries that name no file are ERR_MODEL_CONFIG', async () => {
    for (const entry of ['', '.', '..', 'enc/', 'a/..', '/']) {
      await expect(resolveListedEntry(enc, entry), JSON.stringify(entry)).rejects.toMatchObject({ code: 'ERR_MODEL_CONFIG' });
    }
  });

  it('an inside path with no file is ERR_MODEL_MISSING_FILE', async () => {
    await expect(resolveListedEntry(enc, 'enc/absent.aes')).rejects.toMatchObject({ code: 'ERR_MODEL_MISSING_FILE', details: { entry: 'enc/absent.aes' } });
  });

  it('resolution: the path as written first, then its tails (never through "..", "/" or a linked directory)', async () => {
    const root = join(dir, 'resolve');
    await mkdir(join(root, 'sub'), { recursive: true });
    await writeFile(join(root, 'x.aes'), 'top');
    await writeFile(join(root, 'sub', 'x.aes'), 'nested');
    await symlink(join(root, 'sub'), join(root, 'alias'));
    expect(await resolveListedEntry(root, 'sub/x.aes')).toBe('sub/x.aes');
    expect(await resolveListedEntry(root, 'enc/sub/x.aes')).toBe('sub/x.aes');
    expect(await resolveListedEntry(root, 'enc\\x.aes')).toBe('x.aes');
    expect(await resolveListedEntry(root, '/somewhere/else/x.aes')).toBe('x.aes');
    expect(await resolveListedEntry(root, 'sub/../x.aes')).toBe('x.aes');
    expect(await resolveListedEntry(root, '../x.aes')).toBe('x.aes');
    expect(await resolveListedEntry(root, 'alias/x.aes')).toBe('x.aes'); // not sub/x.aes through the link
  });

  it('a listed file that is itself a symbolic link to a blob is still read (Hugging Face snapshots)', async () => {
    const repo = join(dir, 'hub', 'models--org--model');
    const snap = join(repo, 'snapshots', 'rev');
    await mkdir(snap, { recursive: true });
    await mkdir(join(repo, 'blobs'));
    await copyFile(join(dir, 'contain', 'secret.aes'), join(repo, 'blobs', 'sha256hex'));
    await symlink('../../blobs/sha256hex', join(snap, 'model.safetensors.aes'));
    await writeList(snap, ['enc/model.safetensors.aes']);
    const out = fresh('out');
    await decryptDirectory(snap, out, key);
    expect((await readFile(join(out, 'model.safetensors'))).equals(files['model.safetensors']!)).toBe(true);
  });
});
