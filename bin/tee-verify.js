#!/usr/bin/env node
// Thin shim: all logic lives in the built CLI (dist/cli), which never exits the process itself.
import { run } from '../dist/cli/index.js';

const argv = process.argv.slice(2);
// `batch` exits 70 on a crash (an unhandled EPIPE on stdout included), never Node's 1, which
// means "some records rejected" there (docs/batch.md).
if (argv[0] === 'batch') (await import('../dist/batch/crash-exit.js')).installCrashExit();

process.exitCode = await run(argv, {
  stdout: process.stdout,
  stderr: process.stderr,
  env: process.env,
});
