/**
 * s15 change review r5 of the model tool's s15 fixes (findings 1-5; 6 is docs only).
 *
 * 1 (medium): the tail index of listed files was a trie of every segment of every listed file, keyed
 *   from the last one back: ~230 bytes per (file x depth), so a host-made tree of many files at the
 *   bottom of a deep chain aborted `load` with a V8 heap OOM (untyped, rc 134). Now a Set of the
 *   listed paths (files deeper than an entry can be are left out), tails looked up as strings.
 * 2 (low): ioError's path shortening parsed Node's quotes, so a "'" in a directory name left a
 *   4000-character line. Now the error's own `path` / `dest` strings are shortened, and the message
 *   is capped.
 * 3 (low): a bind mount of a same-device directory given as -o passed the pre-broker checks (the
 *   mount-point test compared devices): the rename failed only after the key was released. Now
 *   /proc/self/mountinfo is read too.
 * 4 (low): the dead-run sweeps removed any file (or directory) of the right name, whatever its owner
 *   or mode. Now only this user's (and for a `.part`, mode 0600) are removed; others are named.
 * 5 (low, decided as docs + message): a huggingface-cli --local-dir tree links into a cache's
 *   blobs/ outside the input; it stays refused (that is the exfiltration case), and the message
 *   names the layout and --follow-links.
 */
import { spawn, spawnSync } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import { existsSync } from 'node:fs';
import { chown, mkdir, mkdtemp, rename, rm, symlink, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { dirname, join, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { checkDecryptionOutput } from '../../src/model/directory.js';
import { ioError, sweepDeadParts } from '../../src/model/file.js';
import { checkDirectoryListing, encryptDirectory, encryptFile } from '../../src/model/index.js';
import { stagingIdentity, sweepDeadRuns } from '../../src/model/staging.js';

const here = dirname(fileURLToPath(import.meta.url));
let dir: string;
let undo: (() => Promise<void> | void)[] = [];
beforeEach(async () => {
  dir = await mkdtemp(join(tmpdir(), 'tee-model-s15-r2-'));
});
afterEach(async () => {
  for (const u of undo.reverse()) await u();
  undo = [];
  await rm(dir, { recursive: true, force: true });
});

const isRoot = process.geteuid?.() === 0;
const deadPid = (): number => spawnSync(process.execPath, ['-e', '0']).pid as number;

/** Runs a node script, resolves with its exit code, signal and output. */
function runNode(args: string[]): Promise<{ code: number | null; signal: NodeJS.Signals | null; stdout: string; stderr: string }> {
  return new Promise((done) => {
    const child = spawn(process.execPath, args, { stdio: ['ignore', 'pipe', 'pipe'] });
    let stdout = '';
    let stderr = '';
    child.stdout.on('data', (d: Buffer) => (stdout += d.toString()));
    child.stderr.on('data', (d: Buffer) => (stderr += d.toString()));
    child.on('close', (code, signal) => done({ code, signal, stdout, stderr }));
  });
}

describe('r5 #1: the listed-file index is linear in the listing', () => {
  it('3000 files at the bottom of a 1000-deep chain, listed by a 64 MB heap: the list resolves (before: a heap OOM abort)', async () => {
    const root = join(dir, 'm');
    const deep = join(root, ...Array<string>(1000).fill('a'));
    await mkdir(deep, { recursive: true });
    for (let i = 0; i < 3000; i++) await writeFile(join(deep, `f${i}`), '');
    const key = randomBytes(32);
    await writeFile(join(dir, 'w'), 'weights');
    await encryptFile(join(dir, 'w'), join(root, 'w.aes'), key);
    // The entry as crypto.py writes it ("<-o argument>/<name>.aes"): resolved by its tail.
    await writeFile(join(root, 'encryption-config.json'), JSON.stringify({ kbs: '', kbs_url: '', key_id: '', files: ['enc/w.aes'] }));
    const esbuild = await import('esbuild');
    const bundle = join(dir, 'directory.mjs');
    await esbuild.build({ entryPoints: [resolve(here, '../../src/model/directory.ts')], bundle: true, platform: 'node', format: 'esm', target: 'node20', outfile: bundle, logLevel: 'silent' });
    const script = join(dir, 'child.mjs');
    await writeFile(
      script,
      `const { checkDirectoryListing } = await import(process.argv[2]);
try { const r = await checkDirectoryListing(process.argv[3]); console.log(JSON.stringify({ entries: r.entries })); }
catch (e) { console.log(JSON.stringify({ code: e.code ?? null, message: String(e.message).slice(0, 300) })); }`,
    );
    const r = await runNode(['--max-old-space-size=64', script, bundle, root]);
    expect(r.signal, r.stderr.slice(0, 500)).toBeNull();
    expect(r.code, r.stderr.slice(0, 500)).toBe(0);
    expect(JSON.parse(r.stdout.trim())).toEqual({ entries: ['w.aes'] });
  });
});

describe("r5 #2: ioError shortens a path with a ' in it", () => {
  it("a tree deeper than PATH_MAX whose directories are named d'x: ERR_MODEL_IO, one short line that keeps both ends", async () => {
    const root = join(dir, 'q');
    const half = Array<string>(700).fill("d'x");
    await mkdir(join(root, ...half), { recursive: true });
    await mkdir(join(dir, 'second', ...half), { recursive: true });
    const bottom = join(root, ...half, "d'x");
    await rename(join(dir, 'second'), bottom);
    undo.push(() => rename(bottom, join(dir, 'second')));
    const error = (await checkDirectoryListing(root).then(
      () => undefined,
      (e: unknown) => e,
    )) as { code?: string; message: string; details: { errno?: string } };
    expect(error).toMatchObject({ code: 'ERR_MODEL_IO', details: { errno: 'ENAMETOOLONG' } });
    expect(error.message.length).toBeLessThan(1000);
    expect(error.message).toMatch(/characters\)…/);
  });

  it("the error's own path and dest are shortened wherever they appear; any other long message is capped", () => {
    const p = `/m/${"d'x/".repeat(300)}w.aes`;
    const dest = `/o/${"e'y/".repeat(300)}w`;
    const system = Object.assign(new Error(`ENOENT: no such file or directory, rename '${p}' -> '${dest}'`), { code: 'ENOENT', path: p, dest });
    let thrown: { message: string; details: { path: string } } | undefined;
    try {
      ioError(system, p);
    } catch (e) {
      thrown = e as typeof thrown;
    }
    expect(thrown!.message.length).toBeLessThan(1000);
    expect(thrown!.message).toContain("rename '/m/d'x");
    expect(thrown!.message).toContain("w.aes' -> '/o/e'y");
    expect(thrown!.details.path).toBe(p);
    const other = new Error(`failed: ${"'".repeat(5000)}`);
    let capped: { message: string } | undefined;
    try {
      ioError(other, '/x');
    } catch (e) {
      capped = e as typeof capped;
    }
    expect(capped!.message.length).toBeLessThan(1000);
  });
});

describe('r5 #3: a bind-mounted output is a mount point', () => {
  it('a same-device bind mount given as the output: ERR_MODEL_OUTPUT mount-point before the broker (skips where mount is not allowed)', async (ctx) => {
    const input = join(dir, 'in');
    await mkdir(input);
    const out = join(dir, 'out');
    await mkdir(out);
    const m = spawnSync('mount', ['--bind', out, out], { encoding: 'utf8' });
    if (m.status !== 0) ctx.skip();
    undo.push(() => void spawnSync('umount', [out]));
    await expect(checkDecryptionOutput(input, out)).rejects.toMatchObject({ code: 'ERR_MODEL_OUTPUT', details: { reason: 'mount-point' } });
    // A directory inside it is fine.
    await expect(checkDecryptionOutput(input, join(out, 'model'))).resolves.toBeUndefined();
  });
});

describe("r5 #4: the dead-run sweeps remove only this user's files", () => {
  it('a .part of this identity and a dead pid but mode 0644 is left and named', async () => {
    const { host, pidNamespace } = stagingIdentity();
    const out = join(dir, 'single.bin');
    const name = `.single.bin.part-${host}.pidns-${pidNamespace}.${deadPid()}-a1b2c3d4e5f6.part`;
    await writeFile(join(dir, name), 'bytes', { mode: 0o644 });
    const swept = await sweepDeadParts(out, { host, pidNamespace });
    expect(swept.removed).toEqual([]);
    expect(existsSync(join(dir, name))).toBe(true);
    expect(swept.warnings.join('\n')).toContain(`${join(dir, name)} is the temporary file`);
    expect(swept.warnings.join('\n')).toContain('mode 0644');
  });

  it.skipIf(!isRoot)("as root: another user's 0600 .part and another user's staging directory are left and named", async () => {
    const { host, pidNamespace } = stagingIdentity();
    const dead = deadPid();
    const out = join(dir, 'single.bin');
    const part = join(dir, `.single.bin.part-${host}.pidns-${pidNamespace}.${dead}-a1b2c3d4e5f6.part`);
    await writeFile(part, 'bytes', { mode: 0o600 });
    await chown(part, 65534, 65534);
    const swept = await sweepDeadParts(out, { host, pidNamespace });
    expect(swept.removed).toEqual([]);
    expect(existsSync(part)).toBe(true);
    expect(swept.warnings.join('\n')).toContain('belongs to user 65534');

    const staging = join(dir, `.out.staging-${host}.pidns-${pidNamespace}.${dead}-AbC123`);
    await mkdir(staging, { mode: 0o700 });
    await chown(staging, 65534, 65534);
    const report = await sweepDeadRuns(join(dir, 'out'), { host, pidNamespace });
    expect(report.removed).toEqual([]);
    expect(existsSync(staging)).toBe(true);
    expect(report.warnings.join('\n')).toContain(`${staging} is the staging directory`);
    // This user's own dead staging directory still goes.
    await chown(staging, 0, 0);
    expect((await sweepDeadRuns(join(dir, 'out'), { host, pidNamespace })).removed).toEqual([staging]);
  });
});

describe("r5 #5: a --local-dir tree linking into a Hugging Face cache's blobs/", () => {
  it('stays refused (link-outside), and the message names the layout and --follow-links', async () => {
    const blobs = join(dir, 'cache', 'models--org--m', 'blobs');
    await mkdir(blobs, { recursive: true });
    await writeFile(join(blobs, 'f00d'), 'weights');
    const local = join(dir, 'local');
    await mkdir(local);
    await symlink(join(blobs, 'f00d'), join(local, 'model.safetensors'));
    const error = (await encryptDirectory(local, join(dir, 'enc'), randomBytes(32)).then(
      () => undefined,
      (e: unknown) => e,
    )) as { code?: string; message: string; details: { reason?: string } };
    expect(error).toMatchObject({ code: 'ERR_MODEL_CONFIG', details: { reason: 'link-outside' } });
    expect(error.message).toContain("Hugging Face cache's blobs/");
    expect(error.message).toContain('--local-dir');
    expect(error.message).toContain('--follow-links');
    expect(existsSync(join(dir, 'enc'))).toBe(false);
  });
});
