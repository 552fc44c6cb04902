#!/usr/bin/env node
// Thin shim: all logic lives in the built CLI (dist/cli), which never exits the process itself.
import { run } from '../dist/cli/index.js';
import { installCrashExit } from '../dist/batch/crash-exit.js';

// Anything that escapes run() (a bug, or an 'error' event nobody listens to, such as EPIPE on
// stdout when the reader has gone) exits 70, never Node's default 1: 1 means "rejected" for
// `verify` and "some records rejected" for `batch` (docs/cli.md "Exit codes").
installCrashExit();

process.exitCode = await run(process.argv.slice(2), {
  stdout: process.stdout,
  stderr: process.stderr,
  env: process.env,
});
