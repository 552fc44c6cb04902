#!/usr/bin/env node
// One-shot attested chat: verifies the gateway against --policy, prints what it verified, streams the answer.
// Logic: src/gateway/chat-cli.ts (built into dist/gateway/chat-cli.js).
import { runChat } from '../dist/gateway/chat-cli.js';

process.exitCode = await runChat(process.argv.slice(2), { stdout: (t) => process.stdout.write(t), stderr: (t) => process.stderr.write(t), env: process.env });
