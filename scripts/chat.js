#!/usr/bin/env node
// npm run chat: `tee-verify chat` (src/cli/chat.ts). Without --gateway it chats with the gateway
// that `npm run demo:gateway` keeps running, using the files that demo wrote.
import { existsSync, readFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';

import { run } from '../dist/cli/index.js';

let args = process.argv.slice(2);
const env = { ...process.env };
// Options the user gave, as `--x v` or `--x=v`, before any `--`.
const optionArgs = args.includes('--') ? args.slice(0, args.indexOf('--')) : args;
const given = (name) => optionArgs.some((a) => a === name || a.startsWith(`${name}=`));
if (!given('--gateway') && !given('--help') && !given('-h')) {
  const connection = join(tmpdir(), 'tee-verify-gateway-demo', 'connection.json');
  if (!existsSync(connection)) {
    process.stderr.write('chat: no --gateway given and no running demo found: start `npm run demo:gateway` in another terminal first\n');
    process.exit(2);
  }
  const c = JSON.parse(readFileSync(connection, 'utf8'));
  // Each demo default only when the user did not give that option: a single-valued option given
  // twice is a usage error (docs/cli.md), so `npm run chat -- --policy mine.json` would be refused
  // as "--policy given twice" (s16 change review, CLI finding 4).
  const defaults = [];
  if (!given('--policy')) defaults.push('--policy', c.policy);
  if (!given('--simulated-state')) defaults.push('--simulated-state', c.simulatedState);
  args = ['--gateway', c.gateway, ...defaults, ...args];
  env.TEE_GATEWAY_TOKEN ??= c.token;
}
process.exitCode = await run(['chat', ...args], { stdout: process.stdout, stderr: process.stderr, env, stdin: process.stdin });
