#!/usr/bin/env node
// npm run chat: `tee-verify chat` (src/cli/chat.ts). Without --gateway it chats with the gateway
// that `npm run demo:gateway` keeps running, using the files that demo wrote.
import { existsSync, readFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';

import { run } from '../dist/cli/index.js';

let args = process.argv.slice(2);
const env = { ...process.env };
if (!args.includes('--gateway') && !args.some((a) => a === '--help' || a === '-h')) {
  const connection = join(tmpdir(), 'tee-verify-gateway-demo', 'connection.json');
  if (!existsSync(connection)) {
    process.stderr.write('chat: no --gateway given and no running demo found: start `npm run demo:gateway` in another terminal first\n');
    process.exit(2);
  }
  const c = JSON.parse(readFileSync(connection, 'utf8'));
  args = ['--gateway', c.gateway, '--policy', c.policy, '--simulated-state', c.simulatedState, ...args];
  env.TEE_GATEWAY_TOKEN ??= c.token;
}
process.exitCode = await run(['chat', ...args], { stdout: process.stdout, stderr: process.stderr, env, stdin: process.stdin });
