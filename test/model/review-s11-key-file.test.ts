/**
 * Review s11 #2: `-k KEY` leaves the model key in /proc/PID/cmdline, readable by every local user,
 * for the whole run: `encrypt` and `decrypt` print a warning on stderr when it is used. `--key-file`
 * is held to the broker's master-key rules: a symbolic link, a non-regular file and a file with any
 * group/other permission bit are refused (ERR_MODEL_KEY, exit 2, nothing written); a 0600 file is
 * read silently.
 *
 * Review s11 changes-a #4: `/dev/fd/N`, `/proc/self/fd/N` and `/dev/stdin` read the inherited
 * descriptor (a redirected file under the same mode rules, a pipe or process substitution up to
 * 4 KiB), and a root-owned file may let its group read it (a Kubernetes secret with fsGroup: 0440).
 */
import { randomBytes } from 'node:crypto';
import { existsSync } from 'node:fs';
import { closeSync, openSync, readSync, writeSync, constants as fsConstants } from 'node:fs';
import { chmod, chown, mkdir, mkdtemp, rm, symlink, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { execFileSync, spawnSync } from 'node:child_process';

import { afterAll, beforeAll, describe, expect, it } from 'vitest';

import { run } from '../../src/model/cli.js';
import { checkKeyFileMode, readModelKeyFile } from '../../src/model/key-file.js';
import { buildFreshCli, type FreshCli } from './fresh-cli.js';

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

/** A key file with exactly `mode` (chmod after writing: the umask does not decide); `notRoot` gives it to uid 1000 when the tests run as root. */
async function keyFile(name: string, mode: number, notRoot = false): Promise<string> {
  const path = join(dir, name);
  await writeFile(path, `${key}\n`);
  await chmod(path, mode);
  if (notRoot && process.getuid?.() === 0) await chown(path, 1000, 1000);
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

  it.each(['644', '640', '440', '604', '620', '602', '610'])('mode 0%s of a file not owned by root is refused: ERR_MODEL_KEY, exit 2, nothing written', async (octal) => {
    const mode = parseInt(octal, 8);
    const f = await keyFile(`m${octal}.key`, mode, true);
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

describe('a root-owned key file its group may read (review s11 changes-a #4: a Kubernetes secret with fsGroup)', () => {
  it('0440 and 0640 are accepted when root owns the file, and only then; group write, group execute or any other bit stay refused', () => {
    for (const mode of [0o440, 0o640, 0o400, 0o600]) expect(() => checkKeyFileMode({ mode: 0o100000 | mode, uid: 0 }, 'k')).not.toThrow();
    for (const mode of [0o440, 0o640]) expect(() => checkKeyFileMode({ mode: 0o100000 | mode, uid: 1000 }, 'k')).toThrow(/has mode 0[64]40: group or others have access to it; chmod 600 k \(a file owned by root may also let its group read it: 0440 or 0640\)/);
    for (const mode of [0o460, 0o450, 0o444, 0o644, 0o441, 0o660]) expect(() => checkKeyFileMode({ mode: 0o100000 | mode, uid: 0 }, 'k'), mode.toString(8)).toThrow(/ERR_MODEL_KEY|group or others/);
  });

  it.runIf(process.getuid?.() === 0)('a real root-owned 0440 file is read (as root)', async () => {
    expect((await readModelKeyFile(await keyFile('fsgroup.key', 0o440))).toString('base64')).toBe(key);
  });
});

describe('--key-file on an inherited descriptor (review s11 changes-a #4)', () => {
  let fresh: FreshCli;
  beforeAll(() => {
    fresh = buildFreshCli();
  }, 180_000);
  afterAll(() => fresh?.remove());

  it('/dev/fd/N and /proc/self/fd/N of an open 0600 file read it from the start, leaving the descriptor open at its offset; a 0644 one is refused by mode', async () => {
    const fd = openSync(await keyFile('fd.key', 0o600), 'r');
    try {
      expect((await readModelKeyFile(`/dev/fd/${fd}`)).toString('base64')).toBe(key);
      expect((await readModelKeyFile(`/proc/self/fd/${fd}`)).toString('base64')).toBe(key);
      const rest = Buffer.alloc(100);
      expect(rest.toString('utf8', 0, readSync(fd, rest, 0, 100, null))).toBe(`${key}\n`); // still open, at offset 0
    } finally {
      closeSync(fd);
    }
    const open644 = openSync(await keyFile('fd644.key', 0o644, true), 'r');
    try {
      await expect(readModelKeyFile(`/dev/fd/${open644}`)).rejects.toMatchObject({ code: 'ERR_MODEL_KEY', details: { reason: 'mode', mode: '0644' } });
    } finally {
      closeSync(open644);
    }
  });

  it('a pipe on /proc/self/fd/N is read to its end (non-blocking too); above 4 KiB it is refused; a descriptor not open is ERR_MODEL_KEY', async () => {
    const fifo = join(dir, 'pipe');
    execFileSync('mkfifo', ['-m', '600', fifo]);
    const pipeWith = (text: string): number => {
      const reader = openSync(fifo, fsConstants.O_RDONLY | fsConstants.O_NONBLOCK);
      const writer = openSync(fifo, 'w');
      writeSync(writer, text);
      closeSync(writer);
      return reader;
    };
    const small = pipeWith(`${key}\n`);
    try {
      expect((await readModelKeyFile(`/proc/self/fd/${small}`)).toString('base64')).toBe(key);
    } finally {
      closeSync(small);
    }
    const big = pipeWith(`${key}\n${' '.repeat(5000)}`);
    try {
      await expect(readModelKeyFile(`/dev/fd/${big}`)).rejects.toMatchObject({ code: 'ERR_MODEL_KEY', details: { reason: 'too-large' } });
    } finally {
      closeSync(big);
    }
    await expect(readModelKeyFile('/dev/fd/987654')).rejects.toMatchObject({ code: 'ERR_MODEL_KEY', details: { reason: 'fd-not-open' } });
  });

  it("a descriptor Node opened for itself (both ends of libuv's signal pipe are ours) is refused at once, not read (review s11 changes-d #1)", async () => {
    const { readdirSync, readlinkSync } = await import('node:fs');
    const onSignal = (): void => {};
    process.on('SIGUSR2', onSignal); // makes sure libuv's signal pipe exists in this process
    try {
      const targets = new Map<string, number[]>();
      for (const n of readdirSync('/proc/self/fd')) {
        try {
          const t = readlinkSync(`/proc/self/fd/${n}`);
          if (t.startsWith('pipe:')) targets.set(t, [...(targets.get(t) ?? []), Number(n)]);
        } catch {
          // the listing's own descriptor, closed by now
        }
      }
      const own = [...targets.values()].filter((fds) => fds.length >= 2).flat();
      expect(own.length).toBeGreaterThanOrEqual(2);
      for (const fd of own) {
        await expect(readModelKeyFile(`/dev/fd/${fd}`)).rejects.toMatchObject({ code: 'ERR_MODEL_KEY', details: { reason: 'fd-not-passed' } });
      }
    } finally {
      process.off('SIGUSR2', onSignal);
    }
  });

  it('the CLI in a real process takes the key from process substitution, /dev/fd/3 and a pipe into /dev/stdin', () => {
    const script = `
      set -e
      "$0" "$1" encrypt -i "$2/model" -o "$2/enc-fd" --key-file <(printf '%s\n' "$KEY")
      "$0" "$1" decrypt -i "$2/enc-fd" -o "$2/dec-fd3" --key-file /dev/fd/3 3<"$2/ok-fd.key"
      printf '%s\n' "$KEY" | "$0" "$1" decrypt -i "$2/enc-fd" -o "$2/dec-stdin" --key-file /dev/stdin
      cmp "$2/model/w.bin" "$2/dec-fd3/w.bin"
      cmp "$2/model/w.bin" "$2/dec-stdin/w.bin"
    `;
    execFileSync('sh', ['-c', `printf '%s\n' "$KEY" > "$1/ok-fd.key" && chmod 600 "$1/ok-fd.key"`, 'sh', dir], { env: { ...process.env, KEY: key } });
    const r = spawnSync('bash', ['-c', script, process.execPath, fresh.bin, dir], { encoding: 'utf8', env: { ...fresh.env, KEY: key }, timeout: 120_000 });
    expect(r.status, r.stderr).toBe(0);
    expect(r.stderr).toBe('');
  });
});
