/**
 * Conformance (protocols.md §1.3: any AES key size decodes): the loader used
 * to accept only 32-byte keys, so containers crypto.py wrote with a 16-byte
 * key were refused, and keys our own broker registers with key_length
 * 128 / 192 could not be used by `tee-model load`. Keys of 16, 24 and 32
 * bytes now select AES-128/192/256-GCM; keygen still makes 32 bytes.
 */
import { randomBytes } from 'node:crypto';
import { mkdir, mkdtemp, readFile, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { Agent, request } from 'undici';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { BundleSource, CollateralService, parseEvidence, type TdxQuote } from '../../src/index.js';
import { startKeyBroker, type KeyBroker } from '../../src/kbs/index.js';
import { run } from '../../src/model/cli.js';
import { decodeModelKey, decryptFile, encryptDirectory, encryptFile, generateModelKey, openBuffer, sealBuffer } from '../../src/model/index.js';
import { SimulatedTeeProvider } from '../../src/tee/index.js';
import { pythonAvailable, runUpstreamEncrypt, runUpstreamLoader } from './upstream-loader.js';

const SIZES = [16, 24, 32] as const;
const files: Record<string, Buffer> = { 'config.json': Buffer.from('{"model_type":"llama"}'), 'model.safetensors': randomBytes(70_001) };
let dir: string;

async function cli(argv: string[]): Promise<{ code: number; stderr: string }> {
  let stderr = '';
  const code = await run(argv, { stdout: { write: () => true }, stderr: { write: (s: string) => (stderr += s) } });
  return { code, stderr };
}
async function expectDecrypted(out: string): Promise<void> {
  for (const [name, data] of Object.entries(files)) expect((await readFile(join(out, name))).equals(data), name).toBe(true);
}

beforeAll(async () => {
  dir = await mkdtemp(join(tmpdir(), 'tee-model-key-sizes-'));
  await mkdir(join(dir, 'plain'));
  for (const [name, data] of Object.entries(files)) await writeFile(join(dir, 'plain', name), data);
});
afterAll(async () => {
  await rm(dir, { recursive: true, force: true });
});

describe('model key sizes', () => {
  it('decodeModelKey takes 16, 24 and 32 bytes (base64 or raw) and nothing else; keygen makes 32', () => {
    for (const n of SIZES) {
      expect(decodeModelKey(randomBytes(n).toString('base64'))).toHaveLength(n);
      expect(decodeModelKey(randomBytes(n))).toHaveLength(n);
    }
    for (const n of [0, 1, 15, 17, 23, 31, 33, 48, 64]) {
      expect(() => decodeModelKey(randomBytes(n)), `${n}`).toThrow(expect.objectContaining({ code: 'ERR_MODEL_KEY', details: { length: n } }));
      if (n > 0) expect(() => decodeModelKey(randomBytes(n).toString('base64')), `${n}`).toThrow(expect.objectContaining({ code: 'ERR_MODEL_KEY' }));
    }
    expect(decodeModelKey(generateModelKey())).toHaveLength(32);
  });

  it.each(SIZES)('%i-byte key: file and in-memory containers round trip; another key size does not open them', async (n) => {
    const key = randomBytes(n);
    const other = randomBytes(n === 32 ? 16 : 32);
    await encryptFile(join(dir, 'plain', 'model.safetensors'), join(dir, `m${n}.aes`), key);
    await decryptFile(join(dir, `m${n}.aes`), join(dir, `m${n}.out`), key);
    expect((await readFile(join(dir, `m${n}.out`))).equals(files['model.safetensors']!)).toBe(true);
    await expect(decryptFile(join(dir, `m${n}.aes`), join(dir, `m${n}.bad`), other)).rejects.toMatchObject({ code: 'ERR_MODEL_AUTH_FAILED' });
    const sealed = sealBuffer(key, Buffer.from('wrapped'));
    expect(openBuffer(key, sealed).toString()).toBe('wrapped');
    expect(() => openBuffer(other, sealed)).toThrow(expect.objectContaining({ code: 'ERR_MODEL_AUTH_FAILED' }));
    expect(() => sealBuffer(randomBytes(n + 1), Buffer.alloc(1))).toThrow(expect.objectContaining({ code: 'ERR_MODEL_KEY' }));
  });
});

describe.skipIf(!pythonAvailable)('python3-cryptography (crypto.py and the loader algorithm) with every AES key size', () => {
  it.each(SIZES)('%i-byte key: crypto.py → tee-model decrypt, and tee-model encrypt → the loader algorithm', async (n) => {
    const key = randomBytes(n).toString('base64');
    const pyEnc = join(dir, `py-enc-${n}`);
    await runUpstreamEncrypt(dir, 'plain', pyEnc, key);
    const ours = join(dir, `ours-dec-${n}`);
    const r = await cli(['decrypt', '-i', pyEnc, '-o', ours, '-k', key]);
    expect(r.code, r.stderr).toBe(0);
    await expectDecrypted(ours);

    const ourEnc = join(dir, `ours-enc-${n}`);
    expect((await cli(['encrypt', '-i', join(dir, 'plain'), '-o', ourEnc, '-k', key])).code).toBe(0);
    const pyOut = join(dir, `py-dec-${n}`);
    await runUpstreamLoader(ourEnc, pyOut, key);
    await expectDecrypted(pyOut);
  });
});

describe('tee-model load with 128- and 192-bit keys registered at our broker (src/kbs)', () => {
  let broker: KeyBroker;
  let agent: Agent;
  let caPath: string;
  let statePath: string;
  let policyId: string;

  async function admin(path: string, body: unknown): Promise<{ id: string }> {
    const res = await request(`${broker.url}${path}`, {
      method: 'POST',
      dispatcher: agent,
      headers: { accept: 'application/json', 'content-type': 'application/json', authorization: `Bearer ${broker.initialAdminToken!}` },
      body: JSON.stringify(body),
    });
    const text = await res.body.text();
    if (res.statusCode !== 201) throw new Error(`${path}: ${res.statusCode} ${text}`);
    return JSON.parse(text) as { id: string };
  }

  beforeAll(async () => {
    const tee = new SimulatedTeeProvider();
    statePath = join(dir, 'simulated-tee.json');
    await writeFile(statePath, JSON.stringify(tee.exportState()));
    const db = join(dir, 'kbs.sqlite');
    broker = await startKeyBroker({ db, port: 0, collateral: new CollateralService({ intel: new BundleSource(tee.collateral), cache: null }), trustRoots: tee.trustRoots, env: {}, log: () => {}, synchronous: 'NORMAL' });
    caPath = `${db}.tls-cert.pem`;
    agent = new Agent({ connect: { ca: await readFile(caPath, 'utf8') } });
    const sample = parseEvidence((await tee.getEvidence(new Uint8Array(64))).evidence) as TdxQuote;
    const mrTd = Buffer.from(sample.body.mrTd).toString('hex');
    policyId = (await admin('/kbs/v1/key-transfer-policies', { tee: 'tdx', mrTd: [mrTd], mrConfigId: 'any', mrOwner: 'any', mrOwnerConfig: 'any' })).id;
  }, 60_000);
  afterAll(async () => {
    await broker?.close();
    await agent?.close();
  });

  it.each([16, 24] as const)('%i-byte key: released and used to decrypt byte-identical files', async (n) => {
    const modelKey = randomBytes(n);
    const { id } = await admin('/kbs/v1/keys', { key_information: { algorithm: 'AES', key_length: n * 8, key_data: modelKey.toString('base64') }, transfer_policy_id: policyId });
    const enc = join(dir, `broker-enc-${n}`);
    await encryptDirectory(join(dir, 'plain'), enc, modelKey, { kbsUrl: broker.url, keyId: id });
    const out = join(dir, `broker-out-${n}`);
    const r = await cli(['load', '--kbs', broker.url, '--key-id', id, '-i', enc, '-o', out, '--provider', 'simulated', '--simulated-state', statePath, '--ca-cert', caPath]);
    expect(r.code, r.stderr).toBe(0);
    await expectDecrypted(out);
  });
});
