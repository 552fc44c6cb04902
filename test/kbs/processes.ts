/**
 * The key broker as real child processes (bin/tee-kbs.js over a private
 * build of the TypeScript, as test/cli/bin.test.ts does), for the durability
 * and multi-instance tests: build once per test file, start instances, read
 * the one JSON line each prints, kill them.
 */
import { spawn, spawnSync, type ChildProcess } from 'node:child_process';
import { copyFileSync, existsSync, mkdirSync, mkdtempSync, readFileSync } from 'node:fs';
import { dirname, join, resolve } from 'node:path';
import { createInterface } from 'node:readline';
import { fileURLToPath } from 'node:url';

export const root = resolve(dirname(fileURLToPath(import.meta.url)), '..', '..');
export const addon = join(root, 'build', 'Release', 'tee_verify.node');

/** Compiles the sources into a private package directory (removed by the caller); returns it. */
export function buildPrivatePackage(): string {
  const cache = join(root, 'node_modules', '.cache');
  mkdirSync(cache, { recursive: true });
  const pkg = mkdtempSync(join(cache, 'tee-kbs-bin-test-'));
  // tsc emits even when a module written concurrently elsewhere has type errors; the broker's own files are what matter.
  spawnSync(process.execPath, [join(root, 'node_modules', 'typescript', 'bin', 'tsc'), '-p', join(root, 'tsconfig.json'), '--outDir', join(pkg, 'dist'), '--sourceMap', 'false', '--declaration', 'false'], { cwd: root, stdio: 'pipe' });
  if (!existsSync(join(pkg, 'dist', 'kbs', 'cli.js'))) throw new Error('tsc did not emit dist/kbs/cli.js');
  mkdirSync(join(pkg, 'bin'));
  copyFileSync(join(root, 'bin', 'tee-kbs.js'), join(pkg, 'bin', 'tee-kbs.js'));
  copyFileSync(join(root, 'bin', 'tee-verify.js'), join(pkg, 'bin', 'tee-verify.js'));
  return pkg;
}

export interface Running {
  child: ChildProcess;
  url: string;
  /** The first admin token, read from the file the start line names (only the instance that minted it). */
  adminToken?: string;
  adminTokenFile?: string;
  /** What the process wrote on stderr so far. */
  stderr: () => string;
}

/** Starts `tee-kbs serve ARGS` and resolves with the URL it prints (rejects if it exits first). */
export function startBroker(pkg: string, args: string[], env: NodeJS.ProcessEnv = {}): Promise<Running> {
  const child = spawn(process.execPath, [join(pkg, 'bin', 'tee-kbs.js'), 'serve', ...args], {
    env: { ...process.env, TEE_VERIFY_ADDON: addon, ...env },
    stdio: ['ignore', 'pipe', 'pipe'],
  });
  let stderr = '';
  child.stderr?.on('data', (d: Buffer) => (stderr += d.toString()));
  return new Promise((resolvePromise, reject) => {
    const rl = createInterface({ input: child.stdout! });
    rl.once('line', (line) => {
      const start = JSON.parse(line) as { url: string; adminTokenFile?: string };
      resolvePromise({ child, stderr: () => stderr, ...start, ...(start.adminTokenFile ? { adminToken: readFileSync(start.adminTokenFile, 'utf8').trim() } : {}) });
    });
    child.once('exit', (code) => reject(new Error(`tee-kbs exited with ${code}: ${stderr}`)));
  });
}

/** SIGKILL, resolved once the process is gone. */
export async function killHard(r: Running): Promise<void> {
  if (r.child.exitCode !== null || r.child.signalCode !== null) return;
  const exited = new Promise((res) => r.child.once('exit', res));
  r.child.kill('SIGKILL');
  await exited;
}

/** SIGTERM (graceful), resolved with the exit code. */
export async function stopGracefully(r: Running): Promise<number | null> {
  if (r.child.exitCode !== null || r.child.signalCode !== null) return r.child.exitCode;
  const exited = new Promise<number | null>((res) => r.child.once('exit', (code) => res(code)));
  r.child.kill('SIGTERM');
  return exited;
}
