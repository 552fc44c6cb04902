/**
 * s15 red team, model finding 3 (low): `encrypt` followed a symbolic link anywhere and put the
 * file it pointed to into the published model without a word (a cloned model repository with
 * `tokenizer.model -> ../../../home/owner/.ssh/id_ed25519`). decrypt / load only read a listed
 * file that opens inside the model directory or a Hugging Face snapshot's blobs/.
 *
 * Decision: encrypt holds its input to the same rule by default: such a tree is ERR_MODEL_CONFIG
 * (`details.reason: "link-outside"`, `details.entries`) before anything is written; links inside
 * the directory and a snapshot's links into blobs/ are fine. followLinks / --follow-links encrypts
 * what the links point to, with a warning naming them.
 */
import { randomBytes } from 'node:crypto';
import { existsSync } from 'node:fs';
import { mkdir, mkdtemp, readFile, rm, symlink, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { run } from '../../src/model/cli.js';
import { decryptDirectory, encryptDirectory } from '../../src/model/index.js';

const key = randomBytes(32);
let dir: string;
beforeEach(async () => {
  dir = await mkdtemp(join(tmpdir(), 'tee-model-s15-links-'));
});
afterEach(async () => {
  await rm(dir, { recursive: true, force: true });
});

function io() {
  const out = { stdout: '', stderr: '' };
  return { out, io: { stdout: { write: (s: string) => (out.stdout += s) }, stderr: { write: (s: string) => (out.stderr += s) }, env: {} } };
}

/** A model tree with `tokenizer.model` linking to a secret outside it. */
async function repoWithOutsideLink(): Promise<string> {
  await writeFile(join(dir, 'victim-secret'), 'owner-ssh-private-key');
  const src = join(dir, 'src');
  await mkdir(join(src, 'sub'), { recursive: true });
  await writeFile(join(src, 'model.safetensors'), 'w');
  await symlink('../victim-secret', join(src, 'tokenizer.model'));
  await symlink('../../victim-secret', join(src, 'sub', 'also.bin'));
  return src;
}

describe('s15 finding 3: encrypt refuses links that leave the input directory', () => {
  it('refused with ERR_MODEL_CONFIG link-outside, naming every such entry, and nothing is written', async () => {
    const src = await repoWithOutsideLink();
    const out = join(dir, 'enc');
    await expect(encryptDirectory(src, out, key)).rejects.toMatchObject({ code: 'ERR_MODEL_CONFIG', details: { reason: 'link-outside', entries: ['sub/also.bin', 'tokenizer.model'] } });
    expect(existsSync(out)).toBe(false);
  });

  it('followLinks encrypts what they point to and says so', async () => {
    const src = await repoWithOutsideLink();
    const r = await encryptDirectory(src, join(dir, 'enc'), key, { followLinks: true });
    expect(r.config.files).toEqual(['model.safetensors.aes', 'sub/also.bin.aes', 'tokenizer.model.aes']);
    expect(r.warnings.join('\n')).toMatch(/2 symbolic link\(s\) to files outside .*"sub\/also\.bin", "tokenizer\.model".*follow-links/);
    await decryptDirectory(join(dir, 'enc'), join(dir, 'dec'), key);
    expect(await readFile(join(dir, 'dec', 'tokenizer.model'), 'utf8')).toBe('owner-ssh-private-key');
  });

  it('tee-model encrypt: exit 2 without --follow-links, a warning line with it', async () => {
    const src = await repoWithOutsideLink();
    const refused = io();
    expect(await run(['encrypt', '-i', src, '-o', join(dir, 'enc'), '-k', key.toString('base64')], refused.io)).toBe(2);
    expect(refused.out.stderr).toMatch(/ERR_MODEL_CONFIG: .*symbolic link\(s\) to files outside/);
    const followed = io();
    expect(await run(['encrypt', '-i', src, '-o', join(dir, 'enc'), '-k', key.toString('base64'), '--follow-links'], followed.io)).toBe(0);
    expect(followed.out.stderr).toMatch(/tee-model encrypt: warning: encrypted 2 symbolic link\(s\) to files outside/);
  });

  it('links between files inside the directory and a Hugging Face snapshot linking to its blobs/ are encrypted without a word', async () => {
    const src = join(dir, 'inside');
    await mkdir(src);
    await writeFile(join(src, 'model.safetensors'), 'w');
    await symlink('model.safetensors', join(src, 'alias.bin'));
    expect((await encryptDirectory(src, join(dir, 'enc1'), key)).warnings).toEqual([]);

    const repo = join(dir, 'hub', 'models--org--model');
    const snap = join(repo, 'snapshots', 'rev');
    await mkdir(snap, { recursive: true });
    await mkdir(join(repo, 'blobs'));
    await writeFile(join(repo, 'blobs', 'abc123'), 'blob-weights');
    await symlink('../../blobs/abc123', join(snap, 'model.safetensors'));
    const r = await encryptDirectory(snap, join(dir, 'enc2'), key);
    expect(r.warnings).toEqual([]);
    expect(r.config.files).toEqual(['model.safetensors.aes']);
  });
});
