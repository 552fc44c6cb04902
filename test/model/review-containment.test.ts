/**
 * Review (session 5): in `load` the host writes the model directory. A listed
 * file that was a symbolic link was followed to any target, and the error for
 * a non-container printed its first 8 bytes as `iv_len=… tag_len=…` — a link
 * to /etc/passwd read "root:x:0" out of the TEE. Now the file opened must lie
 * inside the directory (or a Hugging Face snapshot's `blobs/`), decided on the
 * open descriptor, and a non-container is reported without its header values.
 */
import { execFileSync } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import { existsSync } from 'node:fs';
import { mkdir, mkdtemp, readFile, readdir, rename, rm, symlink, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { run } from '../../src/model/cli.js';
import { entryRootsOf, openListedEntry, resolveListedEntry } from '../../src/model/entries.js';
import { checkDirectoryListing, decryptDirectory, decryptFile, encryptFile, parseHeader } from '../../src/model/index.js';

const key = randomBytes(32);
/** What a planted link points at: bytes the error must not reveal. */
const SECRET = Buffer.from('root:x:0:0:root:/root:/bin/bash\n');
let dir: string;

/** Every numeric form of the secret's first three u32 words a message could carry. */
function numericForms(bytes: Buffer): string[] {
  const out: string[] = [];
  for (let at = 0; at + 4 <= 12; at += 4) {
    for (const v of [bytes.readUInt32LE(at), bytes.readUInt32BE(at), bytes.readInt32LE(at)]) out.push(String(v), v.toString(16));
  }
  out.push(bytes.subarray(0, 8).toString('hex'), bytes.subarray(0, 8).toString('latin1'));
  return out;
}

function expectNoLeak(error: unknown): void {
  const text = `${(error as Error).message} ${JSON.stringify(error)}`;
  for (const form of numericForms(SECRET)) expect(text, form).not.toContain(form);
}

const writeList = (d: string, files: string[]): Promise<void> => writeFile(join(d, 'encryption-config.json'), JSON.stringify({ kbs: '', kbs_url: '', key_id: '', files }));
const entriesOf = async (p: string): Promise<string[]> => (existsSync(p) ? readdir(p) : []);

beforeEach(async () => {
  dir = await mkdtemp(join(tmpdir(), 'tee-model-contain-'));
  await writeFile(join(dir, 'secret'), SECRET);
  await writeFile(join(dir, 'plain'), 'model weights');
});
afterEach(async () => {
  await rm(dir, { recursive: true, force: true });
});

describe('listed files must open inside the model directory', () => {
  it('a link to a file outside is refused unread (ERR_MODEL_CONFIG), before the key is used, and the error holds none of its bytes', async () => {
    const enc = join(dir, 'enc');
    await mkdir(enc);
    await symlink(join(dir, 'secret'), join(enc, 'x.aes'));
    await writeList(enc, ['x.aes']);
    const listing = checkDirectoryListing(enc);
    await expect(listing).rejects.toMatchObject({ code: 'ERR_MODEL_CONFIG', details: { entry: 'x.aes' } });
    await listing.catch(expectNoLeak);
    const out = join(dir, 'out');
    const decrypting = decryptDirectory(enc, out, key);
    await expect(decrypting).rejects.toMatchObject({ code: 'ERR_MODEL_CONFIG' });
    await decrypting.catch(expectNoLeak);
    expect(await entriesOf(out)).toEqual([]);
  });

  it('a link to a valid container outside (same key) is refused too; a link to a file inside is read', async () => {
    const enc = join(dir, 'enc');
    await mkdir(join(enc, 'store'), { recursive: true });
    await encryptFile(join(dir, 'plain'), join(enc, 'store', 'blob'), key);
    await symlink('store/blob', join(enc, 'x.aes'));
    await writeList(enc, ['x.aes']);
    await decryptDirectory(enc, join(dir, 'out'), key);
    expect(await readFile(join(dir, 'out', 'x'), 'utf8')).toBe('model weights');
    // Its content verifying under the key does not make an outside file the directory's.
    await encryptFile(join(dir, 'plain'), join(dir, 'other.aes'), key);
    await symlink(join(dir, 'other.aes'), join(enc, 'y.aes'));
    await writeList(enc, ['x.aes', 'y.aes']);
    await expect(decryptDirectory(enc, join(dir, 'out2'), key)).rejects.toMatchObject({ code: 'ERR_MODEL_CONFIG', details: { entry: 'y.aes' } });
  });

  it('the CLI reports the refusal (exit 2) without the bytes', async () => {
    const enc = join(dir, 'enc');
    await mkdir(enc);
    await symlink(join(dir, 'secret'), join(enc, 'x.aes'));
    await writeList(enc, ['x.aes']);
    let stderr = '';
    const code = await run(['decrypt', '-i', enc, '-o', join(dir, 'out'), '-k', key.toString('base64')], { stdout: { write: () => true }, stderr: { write: (s: string) => (stderr += s) } });
    expect(code).toBe(2);
    expect(stderr).toMatch(/ERR_MODEL_CONFIG/);
    for (const form of numericForms(SECRET)) expect(stderr).not.toContain(form);
  });

  it('a Hugging Face snapshot reads links into its repository’s blobs/, and nothing beside them', async () => {
    const repo = join(dir, 'hub', 'models--org--model');
    const snap = join(repo, 'snapshots', 'abc123');
    await mkdir(snap, { recursive: true });
    await mkdir(join(repo, 'blobs'));
    await encryptFile(join(dir, 'plain'), join(repo, 'blobs', 'f00d'), key);
    await symlink('../../blobs/f00d', join(snap, 'model.safetensors.aes'));
    await writeList(snap, ['model.safetensors.aes']);
    await decryptDirectory(snap, join(dir, 'out'), key);
    expect(await readFile(join(dir, 'out', 'model.safetensors'), 'utf8')).toBe('model weights');
    // Elsewhere in the repository (refs/) or the cache is still outside.
    await mkdir(join(repo, 'refs'));
    await encryptFile(join(dir, 'plain'), join(repo, 'refs', 'main.aes'), key);
    await symlink('../../refs/main.aes', join(snap, 'other.aes'));
    await writeList(snap, ['model.safetensors.aes', 'other.aes']);
    await expect(decryptDirectory(snap, join(dir, 'out2'), key)).rejects.toMatchObject({ code: 'ERR_MODEL_CONFIG', details: { entry: 'other.aes' } });
  });

  it('a snapshot whose blobs/ is itself a link does not extend the allowed area', async () => {
    const repo = join(dir, 'models--org--model');
    const snap = join(repo, 'snapshots', 'abc123');
    await mkdir(snap, { recursive: true });
    await mkdir(join(dir, 'elsewhere'));
    await encryptFile(join(dir, 'plain'), join(dir, 'elsewhere', 'f00d'), key);
    await symlink(join(dir, 'elsewhere'), join(repo, 'blobs'));
    await symlink('../../blobs/f00d', join(snap, 'model.aes'));
    await writeList(snap, ['model.aes']);
    expect((await entryRootsOf(snap)).allowed).toHaveLength(1);
    await expect(decryptDirectory(snap, join(dir, 'out'), key)).rejects.toMatchObject({ code: 'ERR_MODEL_CONFIG' });
  });

  it('a directory swapped for a link after resolution is caught when the file is opened (deterministic race)', async () => {
    const enc = join(dir, 'enc');
    await mkdir(join(enc, 'sub'), { recursive: true });
    await mkdir(join(dir, 'outside'));
    await encryptFile(join(dir, 'plain'), join(enc, 'sub', 'x.aes'), key);
    await writeFile(join(dir, 'outside', 'x.aes'), SECRET);
    const roots = await entryRootsOf(enc);
    const rel = await resolveListedEntry(enc, 'sub/x.aes');
    expect(rel).toBe('sub/x.aes');
    await (await openListedEntry(roots, rel)).close(); // inside: opens
    // The host swaps the checked directory for a link between resolution and open.
    await rename(join(enc, 'sub'), join(dir, 'sub-gone'));
    await symlink(join(dir, 'outside'), join(enc, 'sub'));
    const opening = openListedEntry(roots, rel);
    await expect(opening).rejects.toMatchObject({ code: 'ERR_MODEL_CONFIG', details: { entry: 'sub/x.aes' } });
    await opening.catch(expectNoLeak);
  });

  it.skipIf(!existsSync('/usr/bin/mkfifo'))('a FIFO swapped in is refused without blocking the open', async () => {
    const enc = join(dir, 'enc');
    await mkdir(enc);
    execFileSync('/usr/bin/mkfifo', [join(enc, 'x.aes')]);
    await expect(openListedEntry(await entryRootsOf(enc), 'x.aes')).rejects.toMatchObject({ code: 'ERR_MODEL_MISSING_FILE' });
  });
});

describe('a file that is not a container', () => {
  it('is "not a container" (ERR_MODEL_UNSUPPORTED) without its header values', async () => {
    let error: unknown;
    try {
      parseHeader(SECRET, SECRET.length);
    } catch (e) {
      error = e;
    }
    expect(error).toMatchObject({ code: 'ERR_MODEL_UNSUPPORTED', details: { reason: 'not-a-container' } });
    expect((error as Error).message).toMatch(/^not a container/);
    expectNoLeak(error);
    const decrypting = decryptFile(join(dir, 'secret'), join(dir, 'out'), key);
    await expect(decrypting).rejects.toMatchObject({ code: 'ERR_MODEL_UNSUPPORTED' });
    await decrypting.catch(expectNoLeak);
  });
});
