#!/usr/bin/env node
// Thin shim: all logic lives in the built CLI (dist/model/cli.js), which never exits the process itself.
import { run } from '../dist/model/cli.js';

process.exitCode = await run(process.argv.slice(2), {
  stdout: process.stdout,
  stderr: process.stderr,
  env: process.env,
});
