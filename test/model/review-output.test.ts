/**
 * Review (session 5): decrypt / load wrote through a symbolic link when the
 * output directory was one the host could plant (`-i m -o m/plain` with
 * `plain -> victim`): the recursive mkdir and the joins followed it. An output
 * directory that is a link, lies inside the input or contains it is now
 * ERR_MODEL_OUTPUT before anything is written (in `load`, before the broker),
 * and a link inside the output is never written through.
 */
import { randomBytes } from 'node:crypto';
import { existsSync } from 'node:fs';
import { mkdir, mkdtemp, readFile, readdir, rm, symlink, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { run } from '../../src/model/cli.js';
import { decryptDirectory, encryptDirectory } from '../../src/model/index.js';

const key = randomBytes(32);
let dir: string;
let enc: string;
let victim: string;
const entriesOf = async (p: string): Promise<string[]> => (existsSync(p) ? readdir(p) : []);

beforeEach(async () => {
  dir = await mkdtemp(join(tmpdir(), 'tee-model-output-'));
  await mkdir(join(dir, 'plain', 'sub'), { recursive: true });
  await writeFile(join(dir, 'plain', 'authorized_keys'), 'ssh-ed25519 AAAA host');
  await writeFile(join(dir, 'plain', 'sub', 'w.bin'), 'weights');
  enc = join(dir, 'm');
  await encryptDirectory(join(dir, 'plain'), enc, key);
  victim = join(dir, 'victim');
  await mkdir(victim);
});
afterEach(async () => {
  await rm(dir, { recursive: true, force: true });
});

describe('the output directory of decrypt / load', () => {
  it('-o <input>/plain with plain -> victim is refused and the victim stays empty', async () => {
    await symlink(victim, join(enc, 'plain'));
    await expect(decryptDirectory(enc, join(enc, 'plain'), key)).rejects.toMatchObject({ code: 'ERR_MODEL_OUTPUT' });
    expect(await entriesOf(victim)).toEqual([]);
  });

  it('an output directory that is a symbolic link is refused even outside the input', async () => {
    const out = join(dir, 'out');
    await symlink(victim, out);
    await expect(decryptDirectory(enc, out, key)).rejects.toMatchObject({ code: 'ERR_MODEL_OUTPUT' });
    expect(await entriesOf(victim)).toEqual([]);
  });

  it('an output directory inside the input (existing or not, any spelling) is refused', async () => {
    await mkdir(join(enc, 'real'));
    for (const out of [join(enc, 'real'), join(enc, 'new', 'deeper'), enc, `${enc}/./x/..`]) {
      await expect(decryptDirectory(enc, out, key), out).rejects.toMatchObject({ code: 'ERR_MODEL_OUTPUT' });
    }
    expect(await entriesOf(join(enc, 'real'))).toEqual([]);
    expect(existsSync(join(enc, 'new'))).toBe(false);
  });

  it('an output directory that contains the input is refused', async () => {
    await expect(decryptDirectory(enc, dir, key)).rejects.toMatchObject({ code: 'ERR_MODEL_OUTPUT' });
    expect(existsSync(join(dir, 'authorized_keys'))).toBe(false);
  });

  it('the input reached through a link to its parent still counts as the input', async () => {
    await symlink(dir, join(dir, 'alias'));
    await expect(decryptDirectory(join(dir, 'alias', 'm'), join(enc, 'out'), key)).rejects.toMatchObject({ code: 'ERR_MODEL_OUTPUT' });
    expect(existsSync(join(enc, 'out'))).toBe(false);
  });

  it('a separate output directory works, new or existing; a link inside it is not written through', async () => {
    for (const out of [join(dir, 'new', 'out'), join(dir, 'existing')]) {
      await mkdir(join(dir, 'existing'), { recursive: true });
      await decryptDirectory(enc, out, key);
      expect(await readFile(join(out, 'authorized_keys'), 'utf8')).toBe('ssh-ed25519 AAAA host');
      expect(await readFile(join(out, 'sub', 'w.bin'), 'utf8')).toBe('weights');
    }
    const out = join(dir, 'out');
    await mkdir(out);
    await symlink(victim, join(out, 'sub'));
    await expect(decryptDirectory(enc, out, key)).rejects.toMatchObject({ code: 'ERR_MODEL_OUTPUT' });
    expect(await entriesOf(victim)).toEqual([]);
  });

  it('tee-model load refuses the output before it contacts the broker (exit 2)', async () => {
    await symlink(victim, join(enc, 'plain'));
    let stderr = '';
    const code = await run(['load', '--kbs', 'https://127.0.0.1:1', '--key-id', 'k', '-i', enc, '-o', join(enc, 'plain'), '--provider', 'configfs', '--configfs-root', join(dir, 'no-tsm')], {
      stdout: { write: () => true },
      stderr: { write: (s: string) => (stderr += s) },
    });
    expect(stderr).toMatch(/ERR_MODEL_OUTPUT/);
    expect(code).toBe(2);
    expect(await entriesOf(victim)).toEqual([]);
  });
});

describe('the output directory of encrypt (the same rules)', () => {
  it('an output directory that is a symbolic link is refused and nothing is written where it points', async () => {
    const out = join(dir, 'enc-link');
    await symlink(victim, out);
    await expect(encryptDirectory(join(dir, 'plain'), out, key)).rejects.toMatchObject({ code: 'ERR_MODEL_OUTPUT' });
    expect(await entriesOf(victim)).toEqual([]);
  });

  it('an output inside the input is refused (a second run would encrypt the first run\'s output)', async () => {
    const plain = join(dir, 'plain');
    await expect(encryptDirectory(plain, join(plain, 'enc'), key)).rejects.toMatchObject({ code: 'ERR_MODEL_OUTPUT' });
    expect(existsSync(join(plain, 'enc'))).toBe(false);
    await expect(encryptDirectory(plain, dir, key)).rejects.toMatchObject({ code: 'ERR_MODEL_OUTPUT' });
  });

  it('a link left inside the output is not written through', async () => {
    const out = join(dir, 'enc2');
    await mkdir(out);
    await symlink(victim, join(out, 'sub'));
    await expect(encryptDirectory(join(dir, 'plain'), out, key)).rejects.toMatchObject({ code: 'ERR_MODEL_OUTPUT' });
    expect(await entriesOf(victim)).toEqual([]);
  });
});
