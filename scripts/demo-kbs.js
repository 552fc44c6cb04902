#!/usr/bin/env node
// The confidential-model flow end to end, offline, on 127.0.0.1:
//   encrypt a model -> register its key under a policy in the key broker ->
//   attest from a simulated TEE -> release the key -> decrypt the model.
// The simulated TEE uses the project's synthetic test PKI, which the broker
// trusts only because this demo configures that test root explicitly.
//
//   npm install && npm run demo:kbs
import { randomBytes } from 'node:crypto';
import { mkdtemp, mkdir, readFile, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { Agent, request } from 'undici';

import { BundleSource, CollateralService, parseEvidence } from '../dist/index.js';
import { startKeyBroker } from '../dist/kbs/index.js';
import { encryptDirectory } from '../dist/model/index.js';
import { run as runModelCli } from '../dist/model/cli.js';
import { SimulatedTeeProvider } from '../dist/tee/index.js';

const step = (n, text) => console.log(`\n[${n}/5] ${text}`);
const dir = await mkdtemp(join(tmpdir(), 'tee-verify-demo-kbs-'));
let broker;
let agent;
try {
  step(1, 'start the key broker (temporary SQLite file, self-signed TLS, trusting the simulated TEE\'s test root)');
  const tee = new SimulatedTeeProvider();
  const statePath = join(dir, 'simulated-tee.json');
  await writeFile(statePath, JSON.stringify(tee.exportState()));
  const db = join(dir, 'kbs.sqlite');
  broker = await startKeyBroker({
    db,
    port: 0,
    collateral: new CollateralService({ intel: new BundleSource(tee.collateral), cache: null }),
    trustRoots: tee.trustRoots,
    env: {},
    log: (line) => console.log(`      broker: ${typeof line === 'string' ? line : JSON.stringify(line)}`),
  });
  const caPath = `${db}.tls-cert.pem`;
  agent = new Agent({ connect: { ca: await readFile(caPath, 'utf8') } });
  console.log(`      listening on ${broker.url}`);

  step(2, 'register a key-transfer policy pinned to the TD\'s MRTD, and a model key under it');
  const sample = parseEvidence((await tee.getEvidence(new Uint8Array(64))).evidence);
  const mrTd = Buffer.from(sample.body.mrTd).toString('hex');
  const admin = async (path, body) => {
    const res = await request(`${broker.url}${path}`, {
      method: 'POST',
      dispatcher: agent,
      headers: { 'content-type': 'application/json', authorization: `Bearer ${broker.initialAdminToken}` },
      body: JSON.stringify(body),
    });
    const text = await res.body.text();
    if (res.statusCode !== 201) throw new Error(`${path}: HTTP ${res.statusCode} ${text}`);
    return JSON.parse(text);
  };
  const policy = await admin('/kbs/v1/key-transfer-policies', { tee: 'tdx', mrTd: [mrTd], mrConfigId: 'any', mrOwner: 'any', mrOwnerConfig: 'any' });
  const modelKey = randomBytes(32);
  const key = await admin('/kbs/v1/keys', { key_information: { algorithm: 'AES', key_length: 256, key_data: modelKey.toString('base64') }, transfer_policy_id: policy.id });
  console.log(`      policy ${policy.id} (MRTD ${mrTd.slice(0, 16)}...), key ${key.id}`);

  step(3, 'encrypt a model directory with that key (AES-256-GCM container of the confidential-ai-loader)');
  const src = join(dir, 'model');
  await mkdir(src, { recursive: true });
  const files = { 'config.json': Buffer.from('{"model_type":"demo"}'), 'model.safetensors': randomBytes(2 * 1024 * 1024) };
  for (const [name, data] of Object.entries(files)) await writeFile(join(src, name), data);
  await encryptDirectory(src, join(dir, 'encrypted'), modelKey, { kbsUrl: broker.url, keyId: key.id });
  console.log(`      ${Object.keys(files).length} files encrypted into ${join(dir, 'encrypted')}`);

  step(4, 'tee-model load inside the (simulated) TEE: attest, get the key released, decrypt');
  // --kbs and --key-id are the TEE's own configuration (its measured command line): the model
  // directory's encryption-config.json, written by whoever hands over the model, may only repeat them.
  const out = join(dir, 'decrypted');
  const sink = { write: (s) => process.stdout.write(`      ${s}`) };
  const code = await runModelCli(
    ['load', '--kbs', broker.url, '--key-id', key.id, '-i', join(dir, 'encrypted'), '-o', out, '--provider', 'simulated', '--simulated-state', statePath, '--ca-cert', caPath],
    { stdout: sink, stderr: sink },
  );
  if (code !== 0) throw new Error(`tee-model load exited ${code}`);

  step(5, 'compare the decrypted files with the originals');
  for (const [name, data] of Object.entries(files)) {
    const same = (await readFile(join(out, name))).equals(data);
    console.log(`      ${same ? 'identical' : 'DIFFERENT'}  ${name}`);
    if (!same) throw new Error(`${name} differs`);
  }
  console.log('\nThe key left the broker only after the evidence verified and the policy matched.');
} catch (err) {
  console.error(`demo:kbs failed: ${err instanceof Error ? err.message : String(err)}`);
  process.exitCode = 1;
} finally {
  await broker?.close();
  await agent?.close();
  await rm(dir, { recursive: true, force: true });
}
