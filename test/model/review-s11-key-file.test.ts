/**
 * Review s11 #2: `-k KEY` leaves the model key in /proc/PID/cmdline, readable by every local user,
 * for the whole run: `encrypt` and `decrypt` print a warning on stderr when it is used. `--key-file`
 * is held to the broker's master-key rules: a symbolic link, a non-regular file and a file with any
 * group/other permission bit are refused (ERR_MODEL_KEY, exit 2, nothing written); a 0600 file is
 * read silently.
 */
import { randomBytes } from 'node:crypto';
import { existsSync } from 'node:fs';
import { chmod, mkdir, mkdtemp, rm, symlink, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { execFileSync } from 'node:child_process';

import { afterAll, beforeAll, describe, expect, it } from 'vitest';

import { run } from '../../src/model/cli.js';
import { readModelKeyFile } from '../../src/model/key-file.js';

let dir: string;
const key = randomBytes(32).toString('base64');

async function cli(argv: string[]): Promise<{ code: number; out: string; err: string }> {
  let out = '';
  let err = '';
  const code = await run(argv, { stdout: { write: (s: string) => (out += s) }, stderr: { write: (s: string) => (err += s) }, env: {} });
  return { code, out, err };
}

beforeAll(async () => {
  dir = await mkdtemp(join(tmpdir(), 'tee-model-keyfile-'));
  await mkdir(join(dir, 'model'));
  await writeFile(join(dir, 'model', 'w.bin'), randomBytes(1000));
});
afterAll(async () => {
  await rm(dir, { recursive: true, force: true });
});

/** A key file with exactly `mode` (chmod after writing: the umask does not decide). */
async function keyFile(name: string, mode: number): Promise<string> {
  const path = join(dir, name);
  await writeFile(path, `${key}\n`);
  await chmod(path, mode);
  return path;
}

describe('-k on the command line (review s11 #2)', () => {
  it('encrypt -k succeeds and warns on stderr that every local user can read the key, suggesting --key-file', async () => {
    const r = await cli(['encrypt', '-i', join(dir, 'model'), '-o', join(dir, 'enc-k'), '-k', key]);
    expect(r.code, r.err).toBe(0);
    expect(r.err).toMatch(/^tee-model encrypt: warning: -k puts the model key on the command line, where every local user can read it .*\/proc\/PID\/cmdline.*--key-file F/m);
    expect(r.err).not.toContain(key);
  });

  it('decrypt -k warns too', async () => {
    const r = await cli(['decrypt', '-i', join(dir, 'enc-k'), '-o', join(dir, 'dec-k'), '-k', key]);
    expect(r.code, r.err).toBe(0);
    expect(r.err).toMatch(/^tee-model decrypt: warning: -k puts the model key on the command line/m);
  });
});

describe('--key-file (review s11 #2)', () => {
  it('a 0600 file is read without a word on stderr', async () => {
    const f = await keyFile('ok.key', 0o600);
    const r = await cli(['encrypt', '-i', join(dir, 'model'), '-o', join(dir, 'enc-ok'), '--key-file', f]);
    expect(r.code, r.err).toBe(0);
    expect(r.err).toBe('');
    const d = await cli(['decrypt', '-i', join(dir, 'enc-ok'), '-o', join(dir, 'dec-ok'), '--key-file', f]);
    expect(d.code, d.err).toBe(0);
    expect(d.err).toBe('');
    // 0400 (a read-only copy) is fine too
    expect((await readModelKeyFile(await keyFile('ro.key', 0o400))).toString('base64')).toBe(key);
  });

  it.each(['644', '640', '604', '620', '602', '610'])('mode 0%s is refused: ERR_MODEL_KEY, exit 2, nothing written', async (octal) => {
    const mode = parseInt(octal, 8);
    const f = await keyFile(`m${octal}.key`, mode);
    const out = join(dir, `enc-m${octal}`);
    const r = await cli(['encrypt', '-i', join(dir, 'model'), '-o', out, '--key-file', f]);
    expect(r.code).toBe(2);
    expect(r.err).toMatch(new RegExp(`ERR_MODEL_KEY: the key file .* has mode 0${octal}: group or others have access to it; chmod 600`));
    expect(existsSync(out)).toBe(false);
    await expect(readModelKeyFile(f)).rejects.toMatchObject({ code: 'ERR_MODEL_KEY', details: { reason: 'mode', mode: `0${octal}` } });
  });

  it('a symbolic link to a 0600 key file is refused (exit 2), dangling or not', async () => {
    const target = await keyFile('target.key', 0o600);
    const link = join(dir, 'link.key');
    await symlink(target, link);
    const r = await cli(['decrypt', '-i', join(dir, 'enc-ok'), '-o', join(dir, 'dec-link'), '--key-file', link]);
    expect(r.code).toBe(2);
    expect(r.err).toMatch(/ERR_MODEL_KEY: the key file .*link\.key is a symbolic link/);
    expect(existsSync(join(dir, 'dec-link'))).toBe(false);
    const dangling = join(dir, 'dangling.key');
    await symlink(join(dir, 'nowhere'), dangling);
    await expect(readModelKeyFile(dangling)).rejects.toMatchObject({ code: 'ERR_MODEL_KEY', details: { reason: 'symbolic-link' } });
  });

  it('a directory, a FIFO and a file above 4 KiB are refused; a missing file is exit 2', async () => {
    await expect(readModelKeyFile(dir)).rejects.toMatchObject({ code: 'ERR_MODEL_KEY', details: { reason: 'not-a-file' } });
    const fifo = join(dir, 'fifo.key');
    execFileSync('mkfifo', ['-m', '600', fifo]);
    await expect(readModelKeyFile(fifo)).rejects.toMatchObject({ code: 'ERR_MODEL_KEY', details: { reason: 'not-a-file' } }); // opened without blocking
    const big = join(dir, 'big.key');
    await writeFile(big, `${key}\n${' '.repeat(5000)}`, { mode: 0o600 });
    await chmod(big, 0o600);
    await expect(readModelKeyFile(big)).rejects.toMatchObject({ code: 'ERR_MODEL_KEY', details: { reason: 'too-large' } });
    expect((await cli(['encrypt', '-i', join(dir, 'model'), '-o', join(dir, 'enc-missing'), '--key-file', join(dir, 'missing.key')])).code).toBe(2);
  });
});
