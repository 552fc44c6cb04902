#!/usr/bin/env node
// Thin shim: all logic lives in the built gateway CLI (dist/gateway/cli.js).
import { runGatewayCli } from '../dist/gateway/cli.js';

const io = { stdout: (t) => process.stdout.write(t), stderr: (t) => process.stderr.write(t) };
const { code, gateway } = await runGatewayCli(process.argv.slice(2), io);
if (gateway) {
  const stop = () => gateway.close().then(() => process.exit(0));
  process.once('SIGTERM', stop);
  process.once('SIGINT', stop);
} else {
  process.exitCode = code;
}
