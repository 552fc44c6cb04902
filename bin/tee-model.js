#!/usr/bin/env node
// Thin shim: all logic lives in the built CLI (dist/model/cli.js), which never exits the process itself.
import { installInterruptCleanup, run } from '../dist/model/cli.js';

// SIGINT / SIGTERM / SIGHUP remove a staging directory or .part file of the run before the signal ends the process.
installInterruptCleanup();

process.exitCode = await run(process.argv.slice(2), {
  stdout: process.stdout,
  stderr: process.stderr,
  env: process.env,
});
