/**
 * s16 red team, finding 4: Node 20's recursive mkdir loops for ever when mkdir(2) answers ENOENT
 * under an existing parent (/proc: `mkdir /proc/x` is ENOENT, `mkdir /proc` EEXIST), so
 * `verify --cache-dir /proc/x`, XDG_CACHE_HOME=/proc, `collateral export --out /proc/x/…` and
 * `dev quote --out /proc/x` spun at 100 % CPU. src/fs/make-directory.ts creates one component at a
 * time with plain mkdir and gives up with DirectoryNotCreatedError.
 *
 * A synchronous endless loop cannot be stopped by the test's own timeout, so everything that could
 * spin runs in a child process with a generous kill timeout: a regression fails (the child is killed,
 * status null) instead of hanging the suite. The children run the TypeScript sources, bundled with
 * esbuild (vite's) into a temporary directory. The CLI cases fail on the code before (killed, no
 * exit 2); the helper is new.
 */
import { spawnSync } from 'node:child_process';
import { existsSync, mkdirSync, mkdtempSync, readdirSync, readFileSync, rmSync, statSync, symlinkSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { dirname, join, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';
import { build } from 'esbuild';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';

import { DirectoryNotCreatedError, makeDirectory, makeDirectorySync } from '../../src/fs/make-directory.js';
import { run as teeModel } from '../../src/model/cli.js';
import { cli } from '../cli/helpers.js';

const ROOT = resolve(dirname(fileURLToPath(import.meta.url)), '..', '..');
const ADDON = join(ROOT, 'build', 'Release', 'tee_verify.node');
/** Generous: a correct run takes well under a second; a regression spins until killed. */
const KILL_AFTER_MS = 30_000;
const PROC_WORKS = (() => {
  try {
    return statSync('/proc').isDirectory() && !existsSync('/proc/tee-verify-s16-x');
  } catch {
    return false;
  }
})();

let work: string;
beforeAll(async () => {
  work = mkdtempSync(join(tmpdir(), 'tee-verify-s16-mkdir-'));
  // Bare imports of the bundles resolve through this link to the project's node_modules.
  symlinkSync(join(ROOT, 'node_modules'), join(work, 'node_modules'));
  const common = { bundle: true, platform: 'node', format: 'esm', packages: 'external', logLevel: 'silent' } as const;
  await build({ ...common, entryPoints: [join(ROOT, 'src/fs/make-directory.ts')], outfile: join(work, 'make-directory.mjs') });
  await build({ ...common, entryPoints: [join(ROOT, 'src/cli/index.ts')], outfile: join(work, 'cli.mjs') });
  writeFileSync(
    join(work, 'run-cli.mjs'),
    `import { run } from './cli.mjs';\nprocess.exitCode = await run(process.argv.slice(2), { stdout: process.stdout, stderr: process.stderr, env: process.env });\n`,
  );
}, 120_000);
afterAll(() => rmSync(work, { recursive: true, force: true }));

function child(script: string, args: string[], env: Record<string, string> = {}) {
  return spawnSync(process.execPath, [script, ...args], {
    encoding: 'utf8',
    timeout: KILL_AFTER_MS,
    killSignal: 'SIGKILL',
    env: { PATH: process.env['PATH'] ?? '', HOME: work, TEE_VERIFY_ADDON: ADDON, ...env },
  });
}

describe('makeDirectorySync / makeDirectory', () => {
  it('create missing parents with the mode, accept existing directories, refuse a file in the way', async () => {
    const base = mkdtempSync(join(tmpdir(), 'tee-verify-s16-md-'));
    try {
      makeDirectorySync(join(base, 'a', 'b', 'c'), 0o700);
      expect(statSync(join(base, 'a', 'b', 'c')).isDirectory()).toBe(true);
      expect(statSync(join(base, 'a')).mode & 0o777).toBe(0o700 & ~process.umask());
      makeDirectorySync(join(base, 'a', 'b', 'c')); // exists: fine
      makeDirectorySync(base);
      await makeDirectory(join(base, 'p', 'q'));
      await makeDirectory(join(base, 'p', 'q'));
      expect(statSync(join(base, 'p', 'q')).isDirectory()).toBe(true);
      writeFileSync(join(base, 'file'), '');
      expect(() => makeDirectorySync(join(base, 'file'))).toThrow(expect.objectContaining({ code: 'EEXIST' }));
      expect(() => makeDirectorySync(join(base, 'file', 'x'))).toThrow(expect.objectContaining({ code: 'ENOTDIR' }));
      await expect(makeDirectory(join(base, 'file', 'x'))).rejects.toMatchObject({ code: 'ENOTDIR' });
    } finally {
      rmSync(base, { recursive: true, force: true });
    }
  });

  it.skipIf(!PROC_WORKS)('under /proc: a DirectoryNotCreatedError at once, sync and async (in a child, killed if it spins)', () => {
    const script = join(work, 'proc-mkdir.mjs');
    writeFileSync(
      script,
      `import { makeDirectory, makeDirectorySync } from './make-directory.mjs';
const out = [];
for (const path of ['/proc/tee-verify-s16-x', '/proc/tee-verify-s16-x/y']) {
  try { makeDirectorySync(path, 0o700); out.push('created'); } catch (e) { out.push({ name: e.name, code: e.code, syscall: e.syscall, path: e.path }); }
  try { await makeDirectory(path); out.push('created'); } catch (e) { out.push({ name: e.name, code: e.code, syscall: e.syscall, path: e.path }); }
}
console.log(JSON.stringify(out));
`,
    );
    const r = child(script, []);
    expect(r.signal).toBeNull();
    expect(r.status).toBe(0);
    const results = JSON.parse(r.stdout) as unknown[];
    expect(results).toHaveLength(4);
    for (const x of results) {
      expect(x).toEqual({ name: 'DirectoryNotCreatedError', code: 'ENOENT', syscall: 'mkdir', path: '/proc/tee-verify-s16-x' });
    }
  });

  // s16 change review, CLI finding 1: the path is walked as given, so the kernel resolves '..' and
  // symbolic links as the caller's later open of the same string does (a lexical resolve() created
  // another directory). Fails on the code before: stat of the given path is ENOENT / the wrong tree.
  it.each([
    ['sync', async (p: string) => makeDirectorySync(p, 0o700)],
    ['async', (p: string) => makeDirectory(p, 0o700)],
  ] as const)("'..' after a missing component and after a symbolic link: the directory the given path names (%s)", async (_name, make) => {
    const base = mkdtempSync(join(tmpdir(), 'tee-verify-s16-md-'));
    try {
      // Not join(): it would fold the '..' before the helper sees it.
      await make(`${base}/x/sub/../y`);
      expect(statSync(`${base}/x/sub/../y`).isDirectory()).toBe(true);
      expect(statSync(join(base, 'x', 'y')).isDirectory()).toBe(true);
      await make(`${base}/x/sub/../y`); // exists: fine
      await make(`${base}/p/q/..`);
      expect(statSync(join(base, 'p', 'q')).isDirectory()).toBe(true);
      // link -> real/deep: the kernel reads link/.. as real, not base.
      mkdirSync(join(base, 'real', 'deep'), { recursive: true });
      symlinkSync(join(base, 'real', 'deep'), join(base, 'link'));
      await make(`${base}/link/../n/m`);
      expect(statSync(`${base}/link/../n/m`).isDirectory()).toBe(true);
      expect(statSync(join(base, 'real', 'n', 'm')).isDirectory()).toBe(true);
      expect(existsSync(join(base, 'n'))).toBe(false);
      // A dangling link in the way is "no such file" (its stat error), as with recursive mkdir.
      symlinkSync(join(base, 'nowhere'), join(base, 'dangling'));
      await expect(make(join(base, 'dangling'))).rejects.toMatchObject({ code: 'ENOENT' });
      await expect(make(join(base, 'dangling', 'x'))).rejects.toMatchObject({ code: 'ENOENT' });
    } finally {
      rmSync(base, { recursive: true, force: true });
    }
  });

  it('DirectoryNotCreatedError carries the errno fields', () => {
    const cause = Object.assign(new Error('ENOENT'), { code: 'ENOENT', errno: -2 });
    const e = new DirectoryNotCreatedError('/proc/x', cause);
    expect(e).toBeInstanceOf(Error);
    expect(e).toMatchObject({ code: 'ENOENT', errno: -2, syscall: 'mkdir', path: '/proc/x', cause });
  });
});

describe.skipIf(!PROC_WORKS)('s16 finding 4: the CLI under /proc exits 2 instead of spinning (children, killed if they spin)', () => {
  let dev: string;
  beforeAll(async () => {
    dev = join(work, 'dev');
    mkdirSync(dev);
    const r = await cli(['dev', 'quote', '--tee', 'tdx', '--at', '2026-06-01T00:00:00Z', '--out', dev]);
    expect(r.code).toBe(0);
  });
  const verify = () => ['verify', join(dev, 'evidence.bin'), '--offline', '--trust-root', join(dev, 'trust-root.pem'), '--at', '2026-06-01T00:00:00Z'];

  it.each([
    ['verify --cache-dir /proc/x', () => [...verify(), '--cache-dir', '/proc/tee-verify-s16-x'], {}, /collateral cache directory \/proc\/tee-verify-s16-x: cannot be created/],
    ['XDG_CACHE_HOME=/proc', () => verify(), { XDG_CACHE_HOME: '/proc' }, /collateral cache directory \/proc\/tee-verify\S*: cannot be created/],
    ['collateral export --out /proc/x/b.json', () => ['collateral', 'export', join(dev, 'evidence.bin'), '--offline', '--no-cache', '--collateral', join(dev, 'collateral.json'), '--at', '2026-06-01T00:00:00Z', '--out', '/proc/tee-verify-s16-x/b.json'], {}, /directory \/proc\/tee-verify-s16-x cannot be created/],
    ['dev quote --out /proc/x', () => ['dev', 'quote', '--tee', 'tdx', '--out', '/proc/tee-verify-s16-x'], {}, /directory \/proc\/tee-verify-s16-x cannot be created/],
  ] as const)('%s: exit 2 with one error line', (_name, argv, env, message) => {
    const r = child(join(work, 'run-cli.mjs'), argv(), env);
    expect(r.signal).toBeNull();
    expect(r.status).toBe(2);
    expect(r.stderr).toMatch(message);
    expect(r.stderr.trim().split('\n')).toHaveLength(1);
  });

  it('the bundled CLI runs at all (a verify that needs no directory exits 0)', () => {
    const r = child(join(work, 'run-cli.mjs'), [...verify(), '--no-cache', '--collateral', join(dev, 'collateral.json')]);
    expect(r.stderr).not.toContain('error');
    expect(r.status).toBe(0);
    expect(readFileSync(join(dev, 'evidence.bin')).length).toBeGreaterThan(0);
  });
});

// s16 change review, CLI finding 1: '--out' / '-o' paths with '..' that worked with recursive mkdir
// exited 2 after the bounded helper resolved them lexically (tee-model also left an empty a/out).
// These fail on the code before (exit 2 instead of 0).
describe("s16 change review #1: --out / -o with '..' write where the kernel reads the path", () => {
  let base: string;
  let dev: string;
  beforeAll(async () => {
    base = mkdtempSync(join(tmpdir(), 'tee-verify-s16-dotdot-'));
    dev = join(base, 'dev');
    mkdirSync(dev);
    const r = await cli(['dev', 'quote', '--tee', 'tdx', '--at', '2026-06-01T00:00:00Z', '--out', dev]);
    expect(r.code).toBe(0);
  });
  afterAll(() => rmSync(base, { recursive: true, force: true }));
  const exportTo = (out: string) =>
    cli(['collateral', 'export', join(dev, 'evidence.bin'), '--offline', '--no-cache', '--collateral', join(dev, 'collateral.json'), '--at', '2026-06-01T00:00:00Z', '--out', out]);

  it('collateral export --out e1/sub/../b.json', async () => {
    const r = await exportTo(`${base}/e1/sub/../b.json`);
    expect(r.stderr).not.toContain('error');
    expect(r.code).toBe(0);
    expect(statSync(join(base, 'e1', 'b.json')).isFile()).toBe(true);
  });

  it('collateral export --out link/../n/b.json, link -> real/deep: written to real/n/b.json', async () => {
    mkdirSync(join(base, 'real', 'deep'), { recursive: true });
    symlinkSync(join(base, 'real', 'deep'), join(base, 'link'));
    const r = await exportTo(`${base}/link/../n/b.json`);
    expect(r.stderr).not.toContain('error');
    expect(r.code).toBe(0);
    expect(statSync(join(base, 'real', 'n', 'b.json')).isFile()).toBe(true);
    expect(existsSync(join(base, 'n'))).toBe(false);
  });

  it('tee-model encrypt -o a/sub/../out', async () => {
    const input = join(base, 'model');
    mkdirSync(input);
    writeFileSync(join(input, 'config.json'), '{}');
    writeFileSync(join(input, 'w.bin'), Buffer.alloc(100, 7));
    let stderr = '';
    const code = await teeModel(['encrypt', '-i', input, '-o', `${base}/a/sub/../out`, '-k', Buffer.alloc(32, 1).toString('base64')], {
      stdout: { write: () => true },
      stderr: { write: (s: string) => ((stderr += s), true) },
    });
    expect(stderr).not.toContain('ERR_');
    expect(code).toBe(0);
    expect(readdirSync(join(base, 'a', 'out')).sort()).toEqual(['config.json.aes', 'encryption-config.json', 'w.bin.aes']);
  });
});
