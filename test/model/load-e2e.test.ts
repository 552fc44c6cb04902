/**
 * End to end on 127.0.0.1: the key broker (src/kbs, temporary SQLite file,
 * TLS with its self-signed certificate, trusting only the simulated TEE's
 * test root), a registered key and policy, a model directory encrypted with
 * that key, then `tee-model load` (in-process CLI) with the simulated TEE:
 * the decrypted files are byte-identical to the originals. A second simulated
 * platform (other PKI) is refused and leaves no output.
 */
import { randomBytes } from 'node:crypto';
import { mkdtemp, mkdir, readFile, readdir, rm, writeFile } from 'node:fs/promises';
import { existsSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { Agent, request } from 'undici';
import { BundleSource, CollateralService, parseEvidence, type TdxQuote } from '../../src/index.js';
import { startKeyBroker, type KeyBroker } from '../../src/kbs/index.js';
import { run } from '../../src/model/cli.js';
import { encryptDirectory } from '../../src/model/index.js';
import { SimulatedTeeProvider } from '../../src/tee/index.js';

let dir: string;
let broker: KeyBroker;
let agent: Agent;
let caPath: string;
let statePath: string;
let keyId: string;
const modelKey = randomBytes(32);
const files: Record<string, Buffer> = {
  'config.json': Buffer.from('{"model_type":"llama"}'),
  'model-00001-of-00002.safetensors': randomBytes(3 * 1024 * 1024 + 7),
  'model-00002-of-00002.safetensors': randomBytes(1024 * 1024),
  'tokenizer/tokenizer.json': randomBytes(5000),
};

function sink(): { write(s: string): void; text: string } {
  const s = { text: '', write(c: string) { s.text += c; } };
  return s;
}

async function admin(path: string, body: unknown, token: string): Promise<any> {
  const res = await request(`${broker.url}${path}`, {
    method: 'POST',
    dispatcher: agent,
    headers: { accept: 'application/json', 'content-type': 'application/json', authorization: `Bearer ${token}` },
    body: JSON.stringify(body),
  });
  const text = await res.body.text();
  if (res.statusCode !== 201) throw new Error(`${path}: ${res.statusCode} ${text}`);
  return JSON.parse(text);
}

beforeAll(async () => {
  dir = await mkdtemp(join(tmpdir(), 'tee-model-e2e-'));
  const tee = new SimulatedTeeProvider();
  statePath = join(dir, 'simulated-tee.json');
  await writeFile(statePath, JSON.stringify(tee.exportState()));
  const db = join(dir, 'kbs.sqlite');
  broker = await startKeyBroker({
    db,
    port: 0,
    collateral: new CollateralService({ intel: new BundleSource(tee.collateral), cache: null }),
    trustRoots: tee.trustRoots,
    env: {},
    log: () => {},
    synchronous: 'NORMAL',
    // The nonce-less upstream loader flow below needs the relaxation (a nonce is required by default since review s11).
    allowNoNonce: true,
  });
  caPath = `${db}.tls-cert.pem`;
  agent = new Agent({ connect: { ca: await readFile(caPath, 'utf8') } });
  const sample = parseEvidence((await tee.getEvidence(new Uint8Array(64))).evidence) as TdxQuote;
  const mrTd = Buffer.from(sample.body.mrTd).toString('hex');
  const token = broker.initialAdminToken!;
  const policy = await admin('/kbs/v1/key-transfer-policies', { tee: 'tdx', mrTd: [mrTd], mrConfigId: 'any', mrOwner: 'any', mrOwnerConfig: 'any' }, token);
  const key = await admin('/kbs/v1/keys', { key_information: { algorithm: 'AES', key_length: 256, key_data: modelKey.toString('base64') }, transfer_policy_id: policy.id }, token);
  keyId = key.id;
  const src = join(dir, 'model');
  await mkdir(join(src, 'tokenizer'), { recursive: true });
  for (const [n, d] of Object.entries(files)) await writeFile(join(src, n), d);
  await encryptDirectory(src, join(dir, 'encrypted'), modelKey, { kbsUrl: broker.url, keyId });
}, 60_000);

afterAll(async () => {
  await broker?.close();
  await agent?.close();
  await rm(dir, { recursive: true, force: true });
});

describe('tee-model load against the key broker', () => {
  it('releases the key to the simulated TEE and decrypts byte-identical files', async () => {
    const out = join(dir, 'out');
    const stdout = sink();
    const stderr = sink();
    const code = await run(['load', '--kbs', broker.url, '--key-id', keyId, '-i', join(dir, 'encrypted'), '-o', out, '--provider', 'simulated', '--simulated-state', statePath, '--ca-cert', caPath], { stdout, stderr });
    // The only line: the simulated provider's warning (review s7).
    expect(stderr.text).toMatch(/^tee-model load: warning: the evidence is SIMULATED[^\n]*\n$/);
    expect(code).toBe(0);
    expect(stdout.text).toMatch(/decrypted 4 file\(s\)/);
    for (const [n, d] of Object.entries(files)) expect((await readFile(join(out, n))).equals(d)).toBe(true);
  });

  it('also without a nonce (the upstream loader flow), taking the key id from encryption-config.json (with a warning)', async () => {
    const out = join(dir, 'out-nononce');
    const stderr = sink();
    const code = await run(['load', '--kbs', broker.url, '-i', join(dir, 'encrypted'), '-o', out, '--provider', 'simulated', '--simulated-state', statePath, '--ca-cert', caPath, '--nonce', 'no'], { stdout: sink(), stderr });
    expect(stderr.text).toMatch(/^tee-model load: warning: key id \S+ taken from the model directory/m);
    expect(code).toBe(0);
    for (const [n, d] of Object.entries(files)) expect((await readFile(join(out, n))).equals(d)).toBe(true);
  });

  it('another simulated platform (a PKI the broker does not trust) is refused: exit 1, no output files', async () => {
    const out = join(dir, 'out-refused');
    const stderr = sink();
    const code = await run(['load', '--kbs', broker.url, '--key-id', keyId, '-i', join(dir, 'encrypted'), '-o', out, '--provider', 'simulated', '--simulated-state', join(dir, 'other-tee.json'), '--ca-cert', caPath], { stdout: sink(), stderr });
    expect(code).toBe(1);
    expect(stderr.text).toMatch(/ERR_KBS_HTTP.*401/);
    expect(existsSync(out) ? await readdir(out) : []).toEqual([]);
  });

  it('refuses a broker whose TLS certificate is not trusted: exit 2 (configuration, --ca-cert), not 3 (try again)', async () => {
    const stderr = sink();
    const code = await run(['load', '--kbs', broker.url, '--key-id', keyId, '-i', join(dir, 'encrypted'), '-o', join(dir, 'out-tls'), '--provider', 'simulated', '--simulated-state', statePath], { stdout: sink(), stderr });
    expect(code).toBe(2);
    expect(stderr.text).toMatch(/ERR_KBS_HTTP/);
  });
});
