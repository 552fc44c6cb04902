#!/usr/bin/env node
/**
 * demo:gateway: a fake Ollama / OpenAI chat backend, the attested gateway in
 * front of it with the simulated TDX TEE (test PKI), an API key, and a client
 * policy pinning the simulated MRTD. Everything on 127.0.0.1.
 *
 *   npm run demo:gateway             keeps the backend and gateway running and prints the chat
 *                                    command (`npm run chat` in another terminal uses them)
 *   npm run demo:gateway -- --once   one scripted attested chat through `tee-verify chat`, then exits
 *
 * The files a client needs (simulated TEE state = test roots + collateral,
 * policy, connection with the API key) go to $TMPDIR/tee-verify-gateway-demo,
 * where `npm run chat` finds them, removed on exit. Only one long-running demo
 * owns that directory: a second one refuses to start while the first one's
 * connection.json names a live listener. A --once run writes to a directory
 * of its own (mkdtemp), so it never touches a running demo's files.
 */
import { existsSync, mkdirSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { connect } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';

import { parseEvidence } from '../dist/index.js';
import { run } from '../dist/cli/index.js';
import { startChatUpstream, startGateway } from '../dist/gateway/index.js';
import { SimulatedTeeProvider } from '../dist/tee/index.js';

const SHARED_DIR = join(tmpdir(), 'tee-verify-gateway-demo'); // scripts/chat.js reads connection.json here
const once = process.argv.includes('--once');
const step = (n, text) => process.stdout.write(`\n[${n}] ${text}\n`);
const quote = (s) => (/^[\w@%+=:,./-]+$/.test(s) ? s : `'${s.replace(/'/g, `'\\''`)}'`);

async function listen(options) {
  if (once) return startGateway({ ...options, port: 0 });
  try {
    return await startGateway({ ...options, port: 8443 });
  } catch (e) {
    if (e?.code !== 'EADDRINUSE') throw e;
    return startGateway({ ...options, port: 0 }); // 8443 is taken: any free port
  }
}

/** The gateway URL of a running demo's connection.json, if something still listens there. */
async function liveDemoGateway() {
  let url;
  try {
    url = new URL(JSON.parse(readFileSync(join(SHARED_DIR, 'connection.json'), 'utf8')).gateway);
  } catch {
    return undefined; // no file, or not one we can read: nothing to protect
  }
  const live = await new Promise((done) => {
    const socket = connect({ host: url.hostname, port: Number(url.port) || 443 });
    socket.setTimeout(2000, () => socket.destroy(new Error('timeout')));
    socket.once('connect', () => { socket.destroy(); done(true); });
    socket.once('error', () => done(false));
  });
  return live ? url.origin : undefined;
}

let DEMO_DIR;
if (once) {
  DEMO_DIR = mkdtempSync(join(tmpdir(), 'tee-verify-gateway-once-'));
} else {
  const running = await liveDemoGateway();
  if (running) {
    console.error(`demo:gateway: another demo is running (${running}, files in ${SHARED_DIR}): chat with it (npm run chat), stop it first, or run npm run demo:gateway -- --once; if no demo runs, remove ${SHARED_DIR}`);
    process.exit(2);
  }
  DEMO_DIR = SHARED_DIR;
  if (existsSync(DEMO_DIR)) rmSync(DEMO_DIR, { recursive: true, force: true }); // a stopped demo's leftovers
  mkdirSync(DEMO_DIR, { recursive: true, mode: 0o700 });
}
const files = { state: join(DEMO_DIR, 'simulated-tee.json'), policy: join(DEMO_DIR, 'policy.json'), connection: join(DEMO_DIR, 'connection.json') };
let upstream;
let gateway;
const stop = async () => {
  await gateway?.close();
  await upstream?.close();
  rmSync(DEMO_DIR, { recursive: true, force: true });
};
try {
  step(1, 'fake chat backend (Ollama /api/chat, /api/generate NDJSON; OpenAI /v1/chat/completions) on 127.0.0.1');
  upstream = await startChatUpstream({ chunkDelayMs: 40 });
  console.log(`    ${upstream.url}`);

  step(2, 'simulated TDX TEE (test PKI; its roots and collateral are what the client trusts below)');
  const tee = new SimulatedTeeProvider({ tee: 'tdx' });
  writeFileSync(files.state, JSON.stringify(tee.exportState()), { mode: 0o600 });
  const mrTd = Buffer.from(parseEvidence((await tee.getEvidence(new Uint8Array(64))).evidence).body.mrTd).toString('hex');
  console.log(`    MRTD ${mrTd.slice(0, 32)}…, state in ${files.state}`);

  step(3, 'gateway: HTTPS with a self-signed certificate, API keys hashed in SQLite, fresh evidence per nonce');
  gateway = await listen({ upstream: upstream.url, db: join(DEMO_DIR, 'gateway.sqlite'), provider: tee, log: () => {} });
  const key = await gateway.keys.create('demo');
  console.log(`    ${gateway.url}, TLS key SPKI SHA-256 ${gateway.spkiSha256}`);
  console.log(`    API key "${key.name}" created (only its hash is stored)`);

  step(4, 'client policy: TDX, MRTD pinned, UpToDate TCB only, no debug');
  const policy = { tee: 'tdx', mrTd: [mrTd], mrConfigId: 'any', mrOwner: 'any', mrOwnerConfig: 'any' };
  writeFileSync(files.policy, JSON.stringify(policy, null, 2));
  writeFileSync(files.connection, JSON.stringify({ gateway: gateway.url, policy: files.policy, simulatedState: files.state, token: key.token }), { mode: 0o600 });
  console.log(`    ${files.policy}`);

  const args = ['chat', '--gateway', gateway.url, '--policy', files.policy, '--simulated-state', files.state];
  if (once) {
    step(5, 'tee-verify chat: fresh nonce -> evidence; verify quote + collateral; REPORTDATA = SHA-512(label ‖ nonce ‖ SHA-256(SPKI of this connection\'s certificate)); policy; then the prompt');
    const code = await run([...args, '--prompt', 'what does the gateway prove?'], { stdout: process.stdout, stderr: process.stderr, env: { TEE_GATEWAY_TOKEN: key.token } });
    console.log(code === 0 ? '\ndemo:gateway: OK' : `\ndemo:gateway: chat exited ${code}`);
    process.exitCode = code;
    await stop();
  } else {
    step(5, 'running. Chat with it from another terminal (Ctrl-C here stops the backend and the gateway):');
    console.log('\n    npm run chat');
    console.log('\n    or, the same in full:\n');
    console.log(`    TEE_GATEWAY_TOKEN=${key.token} npx tee-verify ${args.map(quote).join(' ')}`);
    console.log('\n    add --prompt "..." for one question, --json for machine-readable output, --api openai for /v1/chat/completions');
    const shutdown = () => {
      process.off('SIGINT', shutdown);
      process.off('SIGTERM', shutdown);
      console.log('\ndemo:gateway: stopping');
      void stop();
    };
    process.on('SIGINT', shutdown);
    process.on('SIGTERM', shutdown);
  }
} catch (e) {
  console.error(`demo:gateway failed: ${e?.code ?? ''} ${e?.message ?? e}`);
  process.exitCode = 1;
  await stop();
}
