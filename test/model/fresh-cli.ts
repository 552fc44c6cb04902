/**
 * The tee-model CLI built fresh from src/ for tests that need it in a real process (a SIGKILL, an
 * inherited fd), so they never run a stale dist/ or skip on a checkout that was not built
 * (review s11 changes-a #6). Like test/cli/bin.test.ts: tsc compiles src/model/cli.ts and what it
 * imports into a private folder under node_modules/.cache (the package's node_modules resolve
 * from there), next to a copy of the bin/tee-model.js shim.
 */
import { spawnSync } from 'node:child_process';
import { copyFileSync, existsSync, mkdirSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { dirname, join, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';

const root = resolve(dirname(fileURLToPath(import.meta.url)), '..', '..');

/** A built copy of the CLI: `bin` is its shim; `remove` deletes the folder. */
export interface FreshCli {
  bin: string;
  /** The environment for the child: the native addon of this checkout, where it is built. */
  env: NodeJS.ProcessEnv;
  remove: () => void;
}

/** Compiles the CLI (call from beforeAll with a long timeout: tsc takes a while on a busy machine); throws when tsc emits nothing. */
export function buildFreshCli(): FreshCli {
  const cache = join(root, 'node_modules', '.cache');
  mkdirSync(cache, { recursive: true });
  const pkg = mkdtempSync(join(cache, 'tee-model-cli-test-'));
  const config = join(pkg, 'tsconfig.json');
  // Only the CLI and its imports; tsc emits even when a module being edited elsewhere has type errors.
  writeFileSync(
    config,
    JSON.stringify({
      extends: join(root, 'tsconfig.json'),
      compilerOptions: { rootDir: join(root, 'src'), outDir: join(pkg, 'dist'), sourceMap: false, declaration: false },
      files: [join(root, 'src', 'model', 'cli.ts')],
      include: [],
    }),
  );
  const tsc = spawnSync(process.execPath, [join(root, 'node_modules', 'typescript', 'bin', 'tsc'), '-p', config], { cwd: root, encoding: 'utf8' });
  if (!existsSync(join(pkg, 'dist', 'model', 'cli.js'))) {
    rmSync(pkg, { recursive: true, force: true });
    throw new Error(`tsc did not emit dist/model/cli.js: ${tsc.stdout}${tsc.stderr}`);
  }
  mkdirSync(join(pkg, 'bin'));
  copyFileSync(join(root, 'bin', 'tee-model.js'), join(pkg, 'bin', 'tee-model.js'));
  const addon = join(root, 'build', 'Release', 'tee_verify.node');
  return {
    bin: join(pkg, 'bin', 'tee-model.js'),
    env: { ...process.env, ...(existsSync(addon) ? { TEE_VERIFY_ADDON: addon } : {}) },
    remove: () => rmSync(pkg, { recursive: true, force: true }),
  };
}
