/**
 * A process entry for `tee-verify batch` alone: `node dist/batch/main.js <args>`
 * is `tee-verify batch <args>`. The tests and the benchmark spawn it so they
 * depend on nothing but the batch modules; users run `tee-verify batch`.
 *
 * Anything that escapes runBatchCli (a bug) is exit 70, never Node's default
 * exit 1 (crash-exit.ts).
 */
import { runBatchCli } from '../cli/batch.js';
import { installCrashExit } from './crash-exit.js';

installCrashExit();

process.exitCode = await runBatchCli(process.argv.slice(2), { stdout: process.stdout, stderr: process.stderr, env: process.env });
