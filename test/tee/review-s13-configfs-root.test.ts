/**
 * Review s13 #3: a configfs-tsm root that is not a directory (ENOTDIR: a file, or a path through a
 * file), a symbolic link loop (ELOOP), a name too long (ENAMETOOLONG) or EINVAL was the retryable
 * ERR_TSM_UNAVAILABLE ("retry later": tee-model exit 3, the gateway 503 + Retry-After) for ever,
 * the loop review s11 removed for ENOENT. The rule is flipped: only known transient errnos are
 * retryable, everything else is the permanent ERR_TSM_IO (exit 2).
 */
import { randomBytes } from 'node:crypto';
import { mkdir, mkdtemp, rm, symlink, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';

import { afterAll, beforeAll, describe, expect, it } from 'vitest';

import { exitCodeOf, run } from '../../src/model/cli.js';
import { ConfigfsTsmProvider, type TsmFs } from '../../src/tee/index.js';

let dir: string;
beforeAll(async () => {
  dir = await mkdtemp(join(tmpdir(), 'configfs-root-s13-'));
  await writeFile(join(dir, 'a-file'), 'x');
  await symlink(join(dir, 'loop'), join(dir, 'loop'));
});
afterAll(async () => {
  await rm(dir, { recursive: true, force: true });
});

async function failure(p: Promise<unknown>): Promise<{ code: string; message: string; details: Record<string, unknown> }> {
  const e = await p.then(
    () => undefined,
    (err: unknown) => err,
  );
  expect(e, 'the call resolved').toBeDefined();
  return e as { code: string; message: string; details: Record<string, unknown> };
}

function failingMkdir(code: string): TsmFs {
  return {
    mkdir: async () => {
      throw Object.assign(new Error(code), { code });
    },
    rmdir: async () => undefined,
    readFile: async () => new Uint8Array(),
    writeFile: async () => undefined,
  };
}

describe('review s13 #3: a configfs-tsm root that cannot be a directory is permanent', () => {
  const realRoots: [string, () => string, string][] = [
    ['a regular file', () => join(dir, 'a-file'), 'ENOTDIR'],
    ['a path through a regular file', () => join(dir, 'a-file', 'report'), 'ENOTDIR'],
    ['a symbolic link loop', () => join(dir, 'loop'), 'ELOOP'],
  ];
  for (const [what, root, errno] of realRoots) {
    it(`root is ${what}: ERR_TSM_IO (${errno}), retryable false, exit 2, getEvidence and detectTee`, async () => {
      for (const call of [(p: ConfigfsTsmProvider) => p.getEvidence(randomBytes(64)), (p: ConfigfsTsmProvider) => p.detectTee()]) {
        const e = await failure(call(new ConfigfsTsmProvider({ root: root() })));
        expect({ code: e.code, errno: e.details['errno'], retryable: e.details['retryable'] }).toEqual({ code: 'ERR_TSM_IO', errno, retryable: false });
        expect(e.message).toMatch(/not a usable directory path.*retrying will not help/);
        expect(e.message).not.toMatch(/retry later/);
        expect(exitCodeOf(e)).toBe(2);
      }
    });
  }

  for (const errno of ['ENAMETOOLONG', 'EINVAL', 'EIO']) {
    it(`mkdir ${errno}: ERR_TSM_IO, retryable false, exit 2`, async () => {
      const e = await failure(new ConfigfsTsmProvider({ root: '/tsm', fs: failingMkdir(errno) }).getEvidence(randomBytes(64)));
      expect({ code: e.code, errno: e.details['errno'], retryable: e.details['retryable'] }).toEqual({ code: 'ERR_TSM_IO', errno, retryable: false });
      expect(e.message).not.toMatch(/retry later/);
      expect(exitCodeOf(e)).toBe(2);
    });
  }

  for (const errno of ['ENXIO', 'EBUSY', 'EAGAIN', 'EINTR', 'ETIMEDOUT', 'ENOMEM', 'EMFILE', 'EEXIST']) {
    it(`mkdir ${errno} stays the retryable ERR_TSM_UNAVAILABLE (exit 3)`, async () => {
      const e = await failure(new ConfigfsTsmProvider({ root: '/tsm', fs: failingMkdir(errno) }).getEvidence(randomBytes(64)));
      expect({ code: e.code, errno: e.details['errno'], retryable: e.details['retryable'] }).toEqual({ code: 'ERR_TSM_UNAVAILABLE', errno, retryable: true });
      expect(exitCodeOf(e)).toBe(3);
    });
  }

  it('tee-model load --configfs-root <a file> exits 2 with ERR_TSM_IO, before any broker contact', async () => {
    const model = join(dir, 'model');
    await mkdir(model, { recursive: true });
    let stderr = '';
    const io = { stdout: { write: () => true }, stderr: { write: (s: string) => ((stderr += s), true) } };
    // Port 1 on 127.0.0.1: nothing listens, so reaching the broker would give exit 3, not 2.
    const code = await run(['load', '--kbs', 'https://127.0.0.1:1', '--key-id', 'k', '-i', model, '-o', join(dir, 'out'), '--configfs-root', join(dir, 'a-file'), '--nonce', 'no'], io);
    expect(stderr).toMatch(/ERR_TSM_IO: cannot create a configfs-tsm report instance under .*a-file: mkdir failed \(ENOTDIR\)/);
    expect(code).toBe(2);
  });
});
