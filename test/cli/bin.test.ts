/**
 * The real shim in a real process: bin/tee-verify.js sets the process exit
 * code from run(). The TypeScript is compiled into a private folder under
 * node_modules/.cache (the package's own node_modules resolve from there),
 * next to a copy of the shim, so the test never depends on a stale dist/.
 */
import { spawnSync } from 'node:child_process';
import { copyFileSync, existsSync, mkdirSync, mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { dirname, join, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';

const root = resolve(dirname(fileURLToPath(import.meta.url)), '..', '..');
const addon = join(root, 'build', 'Release', 'tee_verify.node');
let pkg = '';
const outDirs: string[] = [];

beforeAll(() => {
  const cache = join(root, 'node_modules', '.cache');
  mkdirSync(cache, { recursive: true });
  pkg = mkdtempSync(join(cache, 'tee-verify-bin-test-'));
  outDirs.push(pkg);
  // tsc emits even when a module being written elsewhere in the tree has type errors; the CLI's own files are what matter here.
  spawnSync(process.execPath, [join(root, 'node_modules', 'typescript', 'bin', 'tsc'), '-p', join(root, 'tsconfig.json'), '--outDir', join(pkg, 'dist'), '--sourceMap', 'false', '--declaration', 'false'], { cwd: root, stdio: 'pipe' });
  if (!existsSync(join(pkg, 'dist', 'cli', 'index.js'))) throw new Error('tsc did not emit dist/cli/index.js');
  mkdirSync(join(pkg, 'bin'));
  copyFileSync(join(root, 'bin', 'tee-verify.js'), join(pkg, 'bin', 'tee-verify.js'));
}, 180_000);

afterAll(() => outDirs.forEach((d) => rmSync(d, { recursive: true, force: true })));

function shim(args: string[]) {
  return spawnSync(process.execPath, [join(pkg, 'bin', 'tee-verify.js'), ...args], {
    encoding: 'utf8',
    env: { ...process.env, TEE_VERIFY_ADDON: addon, NO_COLOR: '1' },
    timeout: 60_000,
  });
}

describe.skipIf(!existsSync(addon))('bin/tee-verify.js in a subprocess', () => {
  it('exit 0: dev quote, then verify it offline with the test root', () => {
    const dir = mkdtempSync(join(tmpdir(), 'tee-verify-bin-'));
    outDirs.push(dir);
    const dev = shim(['dev', 'quote', '--tee', 'tdx', '--out', dir]);
    expect(dev.stderr).toBe('');
    expect(dev.status).toBe(0);
    const r = shim(['verify', join(dir, 'evidence.bin'), '--offline', '--no-cache', '--collateral', join(dir, 'collateral.json'), '--trust-root', join(dir, 'trust-root.pem'), '--json']);
    expect(r.status).toBe(0);
    expect(JSON.parse(r.stdout)).toMatchObject({ ok: true, tee: 'tdx', tcbStatus: 'UpToDate' });
  });

  it('exit 2 and one line for a missing file; exit 2 for a wrong flag', () => {
    const missing = shim(['verify', '/nonexistent/quote.bin', '--no-cache']);
    expect(missing.status).toBe(2);
    expect(missing.stderr).toMatch(/^error: cannot read evidence file \/nonexistent\/quote\.bin: no such file\n$/);
    const flag = shim(['verify', 'x', '--frobnicate']);
    expect(flag.status).toBe(2);
    expect(flag.stderr).toContain('--frobnicate');
  });

  it('--help exits 0', () => {
    const r = shim(['--help']);
    expect(r.status).toBe(0);
    expect(r.stdout).toContain('tee-verify verify <file>');
  });
});
