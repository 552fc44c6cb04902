/**
 * The real shim in a real process: bin/tee-verify.js sets the process exit
 * code from run(). The TypeScript is compiled into a private folder under
 * node_modules/.cache (the package's own node_modules resolve from there),
 * next to a copy of the shim, so the test never depends on a stale dist/.
 */
import { spawn, spawnSync, type SpawnSyncOptions } from 'node:child_process';
import { closeSync, copyFileSync, existsSync, mkdirSync, mkdtempSync, openSync, readFileSync, rmSync } from 'node:fs';
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

function shim(args: string[], options: Pick<SpawnSyncOptions, 'input' | 'stdio'> = {}) {
  return spawnSync(process.execPath, [join(pkg, 'bin', 'tee-verify.js'), ...args], {
    encoding: 'utf8',
    env: { ...process.env, TEE_VERIFY_ADDON: addon, NO_COLOR: '1' },
    timeout: 60_000,
    ...options,
  });
}

/** `script` in bash with $0 = node, $1 = the shim, $2... = `args` (pipes, process substitution). */
function shell(script: string, args: string[] = []) {
  return spawnSync('bash', ['-c', script, process.execPath, join(pkg, 'bin', 'tee-verify.js'), ...args], {
    encoding: 'utf8',
    env: { ...process.env, TEE_VERIFY_ADDON: addon, NO_COLOR: '1' },
    timeout: 60_000,
  });
}

describe.skipIf(!existsSync(addon))('bin/tee-verify.js in a subprocess', () => {
  /** Runs the shim with our end of its stdout pipe closed before the child has even loaded Node: every write is EPIPE. */
  async function withStdoutGone(args: string[]): Promise<{ code: number | null; stderr: string }> {
    const child = spawn(process.execPath, [join(pkg, 'bin', 'tee-verify.js'), ...args], { env: { ...process.env, TEE_VERIFY_ADDON: addon, NO_COLOR: '1' }, stdio: ['ignore', 'pipe', 'pipe'] });
    child.stdout.destroy();
    let stderr = '';
    child.stderr.setEncoding('utf8').on('data', (c: string) => (stderr += c));
    const code = await new Promise<number | null>((ok) => child.on('close', (c) => ok(c)));
    return { code, stderr };
  }
  const EPIPE_LINE = /^error: internal error: cannot write the output \(write EPIPE\): the reader has gone\n$/;

  it('exit 70, not 1, when the reader of stdout has gone (EPIPE): --help', async () => {
    const r = await withStdoutGone(['--help']);
    expect(r.stderr).toMatch(EPIPE_LINE);
    expect(r.code).toBe(70);
  }, 60_000);

  it('exit 70, not 0 or 1, when a verdict cannot be written (EPIPE): verify --json of a trusted dev quote', async () => {
    const dir = mkdtempSync(join(tmpdir(), 'tee-verify-bin-epipe-'));
    outDirs.push(dir);
    expect(shim(['dev', 'quote', '--tee', 'tdx', '--out', dir]).status).toBe(0);
    const r = await withStdoutGone(['verify', join(dir, 'evidence.bin'), '--offline', '--no-cache', '--collateral', join(dir, 'collateral.json'), '--trust-root', join(dir, 'trust-root.pem'), '--json']);
    expect(r.stderr).toMatch(EPIPE_LINE);
    expect(r.code).toBe(70);
  }, 60_000);

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

  // Review, session 6: `-` and process substitution, with the same limits as files (docs/cli.md "Input files").
  it('`-` reads standard input: a quote on stdin is shown; endless stdin (device or pipe) is exit 2 at the limit', () => {
    const quote = join(root, 'vectors', 'tdx-v4.bin');
    const ok = shim(['show', '-', '--json'], { input: readFileSync(quote) });
    expect(ok.stderr).toBe('');
    expect(ok.status).toBe(0);
    expect(JSON.parse(ok.stdout)).toMatchObject({ kind: 'tdx' });
    const zero = openSync('/dev/zero', 'r');
    try {
      const device = shim(['show', '-'], { stdio: [zero, 'pipe', 'pipe'] });
      expect(device.status).toBe(2);
      expect(device.stderr).toBe('error: evidence file (standard input) is larger than 1 MiB, the limit for this input\n');
    } finally {
      closeSync(zero);
    }
    const pipe = shell('exec cat /dev/zero | "$0" "$1" verify - --json');
    expect(pipe.status).toBe(2);
    expect(JSON.parse(pipe.stdout)).toMatchObject({ error: { code: 'ERR_INPUT_TOO_LARGE', errorClass: 'USAGE' } });
  });

  it('process substitution: <(cat quote) is read, <(cat /dev/zero) is exit 2 at the limit', () => {
    const ok = shell('exec "$0" "$1" show <(cat "$2") --json', [join(root, 'vectors', 'tdx-v4.bin')]);
    expect(ok.stderr).toBe('');
    expect(ok.status).toBe(0);
    const endless = shell('exec "$0" "$1" policy lint <(cat /dev/zero)');
    expect(endless.status).toBe(2);
    expect(endless.stderr).toMatch(/^error: policy file \/dev\/fd\/\d+ is larger than 4 MiB, the limit for this input\b.*\n$/);
  });

  it('--help exits 0', () => {
    const r = shim(['--help']);
    expect(r.status).toBe(0);
    expect(r.stdout).toContain('tee-verify verify <file>');
  });
});
