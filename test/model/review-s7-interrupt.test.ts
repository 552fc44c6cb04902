/**
 * Review s7, second round, model items 7 and 8.
 *
 * (7) The staging directory is created beside -o, so the parent of -o must
 * be writable. An -o made for the service user inside a directory it cannot
 * write used to fail with EACCES after the broker had released the key; it is
 * now ERR_MODEL_OUTPUT before any broker request. The tests run as root,
 * for whom every directory is writable: the CLI then runs as nobody
 * (setpriv); without root, in-process under a 0555 parent.
 * (8) SIGINT / SIGTERM in the middle of a decryption left the staging
 * directory with plaintext and an unverified .part file. The binary now
 * removes them before the signal ends it, and a run sweeps the staging
 * directories of dead runs (SIGKILL) beside its output.
 *
 * The child-process tests run the built CLI (dist/), like the other
 * child-process suites.
 */
import { spawn, spawnSync } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import { existsSync, watch } from 'node:fs';
import { chmod, chown, mkdir, mkdtemp, readdir, rm, writeFile } from 'node:fs/promises';
import { createServer, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import { tmpdir } from 'node:os';
import { dirname, join, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { run } from '../../src/model/cli.js';
import { decryptDirectory, encryptDirectory } from '../../src/model/index.js';
import { checkStagingParent, stagingIdentity } from '../../src/model/staging.js';

const here = dirname(fileURLToPath(import.meta.url));
const bin = resolve(here, '../../bin/tee-model.js');
const built = existsSync(resolve(here, '../../dist/model/cli.js'));
const isRoot = process.getuid?.() === 0;
const NOBODY = 65534;
const setprivWorks = isRoot && spawnSync('setpriv', [`--reuid=${NOBODY}`, `--regid=${NOBODY}`, '--clear-groups', process.execPath, '-e', '0']).status === 0;

const key = randomBytes(32);
let dir: string;

beforeEach(async () => {
  dir = await mkdtemp(join(tmpdir(), 'tee-model-s7-interrupt-'));
  await chmod(dir, 0o755); // nobody must reach the encrypted model inside
});
afterEach(async () => {
  await rm(dir, { recursive: true, force: true });
});

async function encryptedModel(files: Record<string, Buffer | string>): Promise<string> {
  const plain = join(dir, 'plain');
  await mkdir(plain);
  for (const [f, c] of Object.entries(files)) await writeFile(join(plain, f), c);
  const enc = join(dir, 'enc');
  await encryptDirectory(plain, enc, key);
  await rm(plain, { recursive: true });
  return enc;
}

/** A stand-in key broker on 127.0.0.1 that counts every request it gets (none may arrive). */
async function countingBroker(): Promise<{ url: string; requests: () => number; close: () => Promise<void> }> {
  let n = 0;
  const server: Server = createServer((_req, res) => {
    n++;
    res.statusCode = 503;
    res.end();
  });
  await new Promise<void>((r) => server.listen(0, '127.0.0.1', r));
  const { port } = server.address() as AddressInfo;
  return { url: `http://127.0.0.1:${port}`, requests: () => n, close: () => new Promise((r) => server.close(() => r())) };
}

function collect(child: ReturnType<typeof spawn>): Promise<{ code: number | null; signal: NodeJS.Signals | null; stderr: string }> {
  let stderr = '';
  child.stderr?.on('data', (d: Buffer) => (stderr += d.toString()));
  return new Promise((r) => child.on('close', (code, signal) => r({ code, signal, stderr })));
}

describe('review s7 round 2: the parent of -o must be writable, checked before the broker is asked', () => {
  it('checkStagingParent: EACCES on the parent is ERR_MODEL_OUTPUT (parent-not-writable); a missing parent is judged by its nearest existing ancestor', async () => {
    const asked: string[] = [];
    const denied = (path: string): Promise<void> => {
      asked.push(path);
      return Promise.reject(Object.assign(new Error(`EACCES: ${path}`), { code: 'EACCES' }));
    };
    await expect(checkStagingParent(join(dir, 'lib', 'model'), denied)).rejects.toMatchObject({ code: 'ERR_MODEL_OUTPUT', details: { reason: 'parent-not-writable', path: join(dir, 'lib'), errno: 'EACCES' } });
    const missingThenOk = (path: string): Promise<void> => {
      asked.push(path);
      return path === dir ? Promise.resolve() : Promise.reject(Object.assign(new Error('ENOENT'), { code: 'ENOENT' }));
    };
    asked.length = 0;
    await checkStagingParent(join(dir, 'a', 'b', 'model'), missingThenOk);
    expect(asked).toEqual([join(dir, 'a', 'b'), join(dir, 'a'), dir]);
  });

  it.skipIf(!(setprivWorks ? built : !isRoot))('`load` into an -o the user owns inside a directory it cannot write: ERR_MODEL_OUTPUT, exit 2, no broker request', async () => {
    const enc = await encryptedModel({ 'a.txt': 'hello' });
    const lib = join(dir, 'lib');
    await mkdir(lib, { mode: 0o755 });
    const out = join(lib, 'model');
    await mkdir(out, { mode: 0o700 });
    await chmod(lib, 0o555); // not writable by the user below (root's, or read-only for ourselves)
    const broker = await countingBroker();
    try {
      const args = ['load', '--kbs', broker.url, '--key-id', 'k', '--allow-insecure-http', '-i', enc, '-o', out, '--provider', 'simulated'];
      let result: { code: number | null; stderr: string };
      if (setprivWorks) {
        await chown(out, NOBODY, NOBODY);
        await chmod(enc, 0o755);
        for (const f of await readdir(enc)) await chmod(join(enc, f), 0o644);
        result = await collect(spawn('setpriv', [`--reuid=${NOBODY}`, `--regid=${NOBODY}`, '--clear-groups', process.execPath, bin, ...args], { stdio: ['ignore', 'ignore', 'pipe'] }));
      } else {
        let stderr = '';
        const code = await run(args, { stdout: { write: () => true }, stderr: { write: (s: string) => (stderr += s) } });
        result = { code, stderr };
      }
      expect(result.stderr).toMatch(/ERR_MODEL_OUTPUT/);
      expect(result.stderr).toMatch(/cannot create one in/);
      expect(result.code).toBe(2);
      expect(broker.requests()).toBe(0);
    } finally {
      await broker.close();
      await chmod(lib, 0o755);
    }
  });
});

/** Resolves with the first entry name of `where` that matches, watching the directory (no polling). */
function entryAppears(where: string, match: (name: string) => boolean): Promise<string> {
  return new Promise((resolveName, reject) => {
    const watcher = watch(where);
    const check = (): void => {
      readdir(where).then((names) => {
        const found = names.find(match);
        if (found !== undefined) {
          watcher.close();
          resolveName(found);
        }
      }, reject);
    };
    watcher.on('change', check);
    watcher.on('error', reject);
    check(); // it may be there already
  });
}

describe.skipIf(!built)('review s7 round 2: an interrupted decryption leaves no plaintext behind', () => {
  for (const signal of ['SIGTERM', 'SIGINT'] as const) {
    it(`${signal} while a file is being decrypted: no staging directory, no .part, no -o; the process still ends by the signal`, async () => {
      const enc = await encryptedModel({ 'a.bin': randomBytes(64 * 1024), 'b.bin': randomBytes(1024 * 1024) });
      const out = join(dir, 'out');
      // pause-writes.mjs holds the child at its first write into a .part file, so the signal arrives mid-decryption whatever the machine's speed.
      const child = spawn(process.execPath, ['--import', join(here, 'pause-writes.mjs'), bin, 'decrypt', '-i', enc, '-o', out, '-k', key.toString('base64')], { stdio: ['ignore', 'ignore', 'pipe'] });
      const done = collect(child);
      const paused = new Promise<void>((r) => child.stderr!.on('data', (d: Buffer) => d.toString().includes('paused') && r()));
      await paused;
      const staging = await entryAppears(dir, (n) => n.startsWith('.out.staging-'));
      expect(await readdir(join(dir, staging))).toEqual([expect.stringMatching(/\.part$/)]);
      child.kill(signal);
      const r = await done;
      expect(r.signal).toBe(signal);
      expect((await readdir(dir)).sort()).toEqual(['enc']);
    });
  }
});

describe('review s7 round 2: dead runs\' staging directories', () => {
  it('a run sweeps the staging directories that dead runs of this host left beside its output, and leaves a live one\'s alone', async () => {
    const enc = await encryptedModel({ 'a.txt': 'hello' });
    const out = join(dir, 'out');
    const dead = spawnSync(process.execPath, ['-e', '0']).pid as number; // exited: its pid names no process (until reused)
    const { host, pidNamespace } = stagingIdentity(); // round 3: the pid namespace is in the name too
    const deadStaging = join(dir, `.out.staging-${host}.pidns-${pidNamespace}.${dead}-AbC123`);
    const liveStaging = join(dir, `.out.staging-${host}.pidns-${pidNamespace}.1-XyZ789`); // pid 1 always exists
    const otherHost = join(dir, `.out.staging-elsewhere.pidns-${pidNamespace}.${dead}-QwE456`);
    for (const d of [deadStaging, liveStaging, otherHost]) {
      await mkdir(d, { mode: 0o700 });
      await writeFile(join(d, 'weights.bin'), 'plaintext of a dead run');
    }
    await decryptDirectory(enc, out, key);
    expect(existsSync(deadStaging)).toBe(false);
    expect(existsSync(liveStaging)).toBe(true);
    expect(existsSync(otherHost)).toBe(true);
    expect((await readdir(dir)).filter((n) => n.includes('.staging-') && n.includes(`.${process.pid}-`))).toEqual([]);
  });
});
