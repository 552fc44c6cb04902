#!/usr/bin/env node
/**
 * demo:gateway: a fake Ollama-style chat backend, the attested gateway in
 * front of it with the simulated TDX TEE (test PKI), an API key, and one
 * attested chat: verify the gateway's evidence against a policy pinning its
 * MRTD, check the TLS binding, then stream the answer.
 * Everything on 127.0.0.1, in a temporary directory.
 */
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';

import { BundleSource, CollateralService, parseEvidence } from '../dist/index.js';
import { AttestedClient, startChatUpstream, startGateway } from '../dist/gateway/index.js';
import { describeVerification, streamChat } from '../dist/gateway/chat-cli.js';
import { SimulatedTeeProvider } from '../dist/tee/index.js';

const step = (n, text) => process.stdout.write(`\n[${n}] ${text}\n`);
const dir = mkdtempSync(join(tmpdir(), 'tee-gateway-demo-'));
let upstream;
let gateway;
let client;
try {
  step(1, 'fake chat backend (Ollama /api/chat NDJSON, OpenAI /v1/chat/completions) on 127.0.0.1');
  upstream = await startChatUpstream({ chunkDelayMs: 40 });
  console.log(`    ${upstream.url}`);

  step(2, 'simulated TDX TEE (test PKI; its roots and collateral go to the client below)');
  const tee = new SimulatedTeeProvider({ tee: 'tdx' });
  const mrTd = Buffer.from(parseEvidence((await tee.getEvidence(new Uint8Array(64))).evidence).body.mrTd).toString('hex');
  console.log(`    MRTD ${mrTd.slice(0, 32)}…`);

  step(3, 'gateway: HTTPS with a self-signed certificate, API keys in SQLite');
  gateway = await startGateway({ upstream: upstream.url, db: join(dir, 'gateway.sqlite'), provider: tee, port: 0, log: () => {} });
  const key = gateway.keys.create('demo');
  console.log(`    ${gateway.url}, TLS key SPKI SHA-256 ${gateway.spkiSha256}`);
  console.log(`    API key "${key.name}" created (stored hashed)`);

  step(4, 'client policy: TDX, MRTD pinned, UpToDate TCB only, no debug');
  const policy = { tee: 'tdx', mrTd: [mrTd], mrConfigId: 'any', mrOwner: 'any', mrOwnerConfig: 'any' };
  writeFileSync(join(dir, 'policy.json'), JSON.stringify(policy, null, 2));
  console.log(`    ${JSON.stringify(policy).slice(0, 120)}…`);

  step(5, 'attest: fresh nonce -> evidence; verify quote + collateral; REPORTDATA = SHA-512(label ‖ nonce ‖ SHA-256(SPKI of the certificate on this connection))');
  const source = new BundleSource([...tee.collateral]);
  client = new AttestedClient(gateway.url, { policy, collateral: new CollateralService({ intel: source, cache: null }), trustRoots: tee.trustRoots });
  const v = await client.attest();
  for (const line of describeVerification(v)) console.log(`    ${line}`);

  step(6, 'attested chat, streamed over the pinned connection:');
  process.stdout.write('    ');
  await streamChat(client, { api: 'ollama', model: 'llama3.2', prompt: 'what does the gateway prove?', token: key.token, write: (t) => process.stdout.write(t) });
  console.log('\ndemo:gateway: OK');
} catch (e) {
  console.error(`demo:gateway failed: ${e?.code ?? ''} ${e?.message ?? e}`);
  process.exitCode = 1;
} finally {
  await client?.close();
  await gateway?.close();
  await upstream?.close();
  rmSync(dir, { recursive: true, force: true });
}
