/**
 * A process entry for `tee-verify batch` alone: `node dist/batch/main.js <args>`
 * is `tee-verify batch <args>`. The tests and the benchmark spawn it so they
 * depend on nothing but the batch modules; users run `tee-verify batch`.
 *
 * Anything that escapes runBatchCli (a bug) is exit 70, never Node's default
 * exit 1, which `batch` uses for "some records rejected": a script or a
 * Kubernetes Job would take a crash for a finished run.
 */
import { runBatchCli } from '../cli/batch.js';

const INTERNAL = 70;

function crash(err: unknown): void {
  process.stderr.write(`error: internal error: ${err instanceof Error ? (err.stack ?? err.message) : String(err)}\n`);
  process.exit(INTERNAL);
}
process.on('uncaughtException', crash);
process.on('unhandledRejection', crash);

process.exitCode = await runBatchCli(process.argv.slice(2), { stdout: process.stdout, stderr: process.stderr, env: process.env });
