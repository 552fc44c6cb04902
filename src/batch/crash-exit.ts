/**
 * Exit 70 for anything that escapes a `tee-verify` command (a bug, or an 'error'
 * event nobody listens to, such as EPIPE on stdout when the reader of the
 * summary has gone). Node's default is exit 1, which `batch` uses for "every
 * record judged, some rejected": a script or a Kubernetes Job would take a
 * crash for a finished shard (docs/batch.md "Exit codes").
 *
 * Process-wide, so only process entries install it: dist/batch/main.js and
 * bin/tee-verify.js for every command; runBatchCli itself stays a pure
 * function that tests call in-process.
 */
export const CRASH_EXIT = 70;

/** A write to a reader that has gone (`… | head`): not a bug, so one line and no stack trace. */
const isBrokenPipe = (err: unknown): boolean => err instanceof Error && (err as NodeJS.ErrnoException).code === 'EPIPE';

function crash(err: unknown): void {
  try {
    const what = isBrokenPipe(err) ? `cannot write the output (${(err as Error).message}): the reader has gone` : err instanceof Error ? (err.stack ?? err.message) : String(err);
    process.stderr.write(`error: internal error: ${what}\n`);
  } finally {
    process.exit(CRASH_EXIT);
  }
}

let installed = false;

export function installCrashExit(): void {
  if (installed) return;
  installed = true;
  process.on('uncaughtException', crash);
  process.on('unhandledRejection', crash);
}
