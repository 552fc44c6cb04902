/**
 * s15 red team, model finding 2 (low): `load`'s directory check (checkDirectoryListing, also a
 * library export) passed the system errors of its walk through untyped, with no `code`, while
 * `decrypt` reported the same tree as ERR_MODEL_IO: a host-made tree deeper than PATH_MAX gave a raw
 * ENAMETOOLONG quoting a 4000-character path. Now every system error of the listing (and of the
 * output checks load runs before the broker) is ERR_MODEL_IO with `details.errno`, and ioError
 * shortens very long paths in its message.
 */
import { randomBytes } from 'node:crypto';
import { mkdir, mkdtemp, rename, rm, symlink, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { run } from '../../src/model/cli.js';
import { checkDecryptionOutput } from '../../src/model/directory.js';
import { checkDirectoryListing, encryptFile } from '../../src/model/index.js';

let dir: string;
let undo: (() => Promise<void>) | undefined;
beforeEach(async () => {
  dir = await mkdtemp(join(tmpdir(), 'tee-model-s15-io-'));
});
afterEach(async () => {
  await undo?.();
  undo = undefined;
  await rm(dir, { recursive: true, force: true });
});

function io() {
  const out = { stdout: '', stderr: '' };
  return { out, io: { stdout: { write: (s: string) => (out.stdout += s) }, stderr: { write: (s: string) => (out.stderr += s) }, env: {} } };
}

/**
 * `root/d/d/…` of 2 × 1500 levels (about 6000 characters, deeper than PATH_MAX): two chains made
 * separately, the second renamed to the bottom of the first. `undo` moves it back so rm can work.
 */
async function deeperThanPathMax(root: string): Promise<void> {
  const half = Array<string>(1500).fill('d');
  await mkdir(join(root, ...half), { recursive: true });
  await mkdir(join(dir, 'second', ...half), { recursive: true });
  const bottom = join(root, ...half, 'd');
  await rename(join(dir, 'second'), bottom);
  undo = () => rename(bottom, join(dir, 'second'));
}

describe('s15 finding 2: the listing check reports system errors as ERR_MODEL_IO', () => {
  it('a missing directory and a link loop: ERR_MODEL_IO with the errno', async () => {
    await expect(checkDirectoryListing(join(dir, 'absent'))).rejects.toMatchObject({ code: 'ERR_MODEL_IO', details: { errno: 'ENOENT' } });
    await symlink('loop', join(dir, 'loop'));
    await expect(checkDirectoryListing(join(dir, 'loop'))).rejects.toMatchObject({ code: 'ERR_MODEL_IO', details: { errno: 'ELOOP' } });
    await expect(checkDecryptionOutput(join(dir, 'absent'), join(dir, 'out'))).rejects.toMatchObject({ code: 'ERR_MODEL_IO', details: { errno: 'ENOENT' } });
  });

  it('tee-model load on a tree deeper than PATH_MAX: ERR_MODEL_IO (ENAMETOOLONG), exit 2, one short line, before the broker', async () => {
    const root = join(dir, 'deep');
    await mkdir(root);
    const plain = join(dir, 'a.bin');
    await writeFile(plain, 'weights');
    await encryptFile(plain, join(root, 'a.bin.aes'), randomBytes(32));
    await deeperThanPathMax(root);
    const { out, io: cliIo } = io();
    const code = await run(['load', '--kbs', 'https://127.0.0.1:9/', '--key-id', 'k', '-i', root, '-o', join(dir, 'out'), '--provider', 'simulated', '--simulated-state', join(dir, 'state.json')], cliIo);
    expect(code).toBe(2);
    expect(out.stderr).toMatch(/^tee-model load: ERR_MODEL_IO: .*ENAMETOOLONG/);
    expect(out.stderr.length).toBeLessThan(1000);
    await expect(checkDirectoryListing(root)).rejects.toMatchObject({ code: 'ERR_MODEL_IO', details: { errno: 'ENAMETOOLONG' } });
  });
});
