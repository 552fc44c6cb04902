/**
 * s15 red team, model finding 4 (low): `-o .` (or `-o ./`) in an empty directory passed every
 * check `load` runs before the broker; the key was requested, every file decrypted, and only
 * publishing failed (rename onto "." is EBUSY). Now an output whose last component is "." or ".."
 * (or the root) and one that is the current directory by another name (renaming over it would
 * leave the shell in a deleted directory) are ERR_MODEL_OUTPUT (`details.reason: "cannot-rename"`),
 * exit 2, before any key is requested.
 */
import { randomBytes } from 'node:crypto';
import { existsSync } from 'node:fs';
import { mkdir, mkdtemp, readdir, realpath, rm, writeFile } from 'node:fs/promises';
import { createServer, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { run } from '../../src/model/cli.js';
import { checkDecryptionOutput } from '../../src/model/directory.js';
import { decryptDirectory, encryptDirectory } from '../../src/model/index.js';

const key = randomBytes(32);
let dir: string;
let enc: string;
beforeEach(async () => {
  dir = await mkdtemp(join(tmpdir(), 'tee-model-s15-rename-'));
  const plain = join(dir, 'plain');
  await mkdir(plain);
  await writeFile(join(plain, 'w.bin'), 'weights');
  enc = join(dir, 'enc');
  await encryptDirectory(plain, enc, key);
  await mkdir(join(dir, 'empty', 'sub'), { recursive: true });
});
afterEach(async () => {
  await rm(dir, { recursive: true, force: true });
});

function io() {
  const out = { stdout: '', stderr: '' };
  return { out, io: { stdout: { write: (s: string) => (out.stdout += s) }, stderr: { write: (s: string) => (out.stderr += s) }, env: {} } };
}

describe('s15 finding 4: an output that cannot be renamed into is refused before the key is requested', () => {
  it('"<empty>/." and "<empty>/sub/..": ERR_MODEL_OUTPUT cannot-rename, nothing decrypted, nothing left beside it', async () => {
    await rm(join(dir, 'empty', 'sub'), { recursive: true });
    await mkdir(join(dir, 'other', 'sub'), { recursive: true });
    for (const out of [`${join(dir, 'empty')}/.`, `${join(dir, 'empty')}/./`, `${join(dir, 'other', 'sub')}/..`]) {
      await expect(checkDecryptionOutput(enc, out), out).rejects.toMatchObject({ code: 'ERR_MODEL_OUTPUT', details: { reason: 'cannot-rename' } });
      await expect(decryptDirectory(enc, out, key), out).rejects.toMatchObject({ code: 'ERR_MODEL_OUTPUT', details: { reason: 'cannot-rename' } });
    }
    expect(await readdir(join(dir, 'empty'))).toEqual([]);
    expect((await readdir(dir)).sort()).toEqual(['empty', 'enc', 'other', 'plain']);
  });

  it('the current directory by its own name: cannot-rename (the process is left where it was)', async () => {
    const empty = await realpath(join(dir, 'empty', 'sub'));
    const before = process.cwd();
    process.chdir(empty);
    try {
      await expect(decryptDirectory(enc, empty, key)).rejects.toMatchObject({ code: 'ERR_MODEL_OUTPUT', details: { reason: 'cannot-rename' } });
      await expect(decryptDirectory(enc, '.', key)).rejects.toMatchObject({ code: 'ERR_MODEL_OUTPUT', details: { reason: 'cannot-rename' } });
      expect(existsSync(process.cwd())).toBe(true);
    } finally {
      process.chdir(before);
    }
  });

  it('tee-model load -o <empty>/.: exit 2 with ERR_MODEL_OUTPUT, and the broker gets no request', async () => {
    let requests = 0;
    const server: Server = createServer((_req, res) => {
      requests++;
      res.statusCode = 503;
      res.end();
    });
    await new Promise<void>((r) => server.listen(0, '127.0.0.1', r));
    try {
      const { port } = server.address() as AddressInfo;
      const { out, io: cliIo } = io();
      const code = await run(
        ['load', '--kbs', `http://127.0.0.1:${port}`, '--allow-insecure-http', '--key-id', 'k', '-i', enc, '-o', `${join(dir, 'empty', 'sub')}/.`, '--provider', 'simulated', '--simulated-state', join(dir, 'state.json')],
        cliIo,
      );
      expect(code).toBe(2);
      expect(out.stderr).toMatch(/ERR_MODEL_OUTPUT: .*cannot be renamed into/);
      expect(requests).toBe(0);
    } finally {
      await new Promise((r) => server.close(r));
    }
  });

  it('an empty directory given by its name is still replaced', async () => {
    await decryptDirectory(enc, join(dir, 'empty', 'sub'), key);
    expect((await readdir(join(dir, 'empty', 'sub'))).sort()).toEqual(['.tee-model-output', 'w.bin']);
  });
});
