#!/usr/bin/env node
// Thin shim: all logic lives in the built key broker CLI (dist/kbs/cli.js).
import { runKbsCli } from '../dist/kbs/cli.js';

const io = { stdout: (t) => process.stdout.write(t), stderr: (t) => process.stderr.write(t), env: process.env };
const { code, broker } = await runKbsCli(process.argv.slice(2), io);
if (broker) {
  const stop = () => broker.close().then(() => process.exit(0));
  process.once('SIGTERM', stop);
  process.once('SIGINT', stop);
} else {
  process.exitCode = code;
}
