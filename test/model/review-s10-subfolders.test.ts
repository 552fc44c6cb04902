/**
 * Review s10 (wire conformance, M1): a model with subfolders (sentence-transformers' `1_Pooling/`,
 * diffusers' `unet/`) was encrypted into a list with "sub/x.aes" entries and no warning, and the
 * upstream confidential-ai-loader cannot restore it: loader.py writes
 * os.path.join(<out>, entry minus ".aes") and never creates the folder (protocols.md §2.3). Now:
 * - encryptDirectory / `tee-model encrypt` warn, naming the entries (result warnings, stderr line);
 * - `loaderCompatible: true` / `--loader-compatible` refuses such a tree with ERR_MODEL_CONFIG
 *   (reason loader-subfolder, exit 2) before anything is written, and passes a flat one;
 * - our own `decrypt` and `load` still restore subfolders byte for byte;
 * - the Python stand-in (test/model/upstream-loader.ts) now joins entries as loader.py does, so it
 *   fails on a subfolder model as the real loader does and still loads a flat one.
 */
import { randomBytes } from 'node:crypto';
import { existsSync } from 'node:fs';
import { mkdir, mkdtemp, readFile, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { run } from '../../src/model/cli.js';
import { decryptDirectory, encryptDirectory } from '../../src/model/index.js';
import { pythonAvailable, runUpstreamLoader, startReleasingBroker } from './upstream-loader.js';

const KEY_ID = '0b7e9a52-3c1d-4e6f-9a8b-7c6d5e4f3a21';
const key = randomBytes(32);
const nested: Record<string, Buffer> = {
  'config.json': Buffer.from('{"model_type":"bert"}'),
  'model.safetensors': randomBytes(20_000),
  '1_Pooling/config.json': Buffer.from('{"pooling_mode_mean_tokens":true}'),
  'unet/deep/weights.bin': randomBytes(3000),
};
const flat: Record<string, Buffer> = { 'config.json': Buffer.from('{"model_type":"llama"}'), 'model.safetensors': randomBytes(9000) };
let dir: string;
/** The key as a 0600 file: -k adds a warning line on stderr (review s11), which these tests count. */
const keyArgs = (): string[] => ['--key-file', join(dir, 'model.key')];

async function writeModel(at: string, files: Record<string, Buffer>): Promise<void> {
  for (const [name, data] of Object.entries(files)) {
    await mkdir(join(at, name, '..'), { recursive: true });
    await writeFile(join(at, name), data);
  }
}
async function expectRestored(at: string, files: Record<string, Buffer>): Promise<void> {
  for (const [name, data] of Object.entries(files)) expect((await readFile(join(at, name))).equals(data), name).toBe(true);
}
async function cli(argv: string[]): Promise<{ code: number; stdout: string; stderr: string }> {
  let stdout = '';
  let stderr = '';
  const code = await run(argv, { stdout: { write: (s: string) => (stdout += s) }, stderr: { write: (s: string) => (stderr += s) }, env: {} });
  return { code, stdout, stderr };
}

beforeAll(async () => {
  dir = await mkdtemp(join(tmpdir(), 'tee-model-s10-subfolders-'));
  await writeModel(join(dir, 'nested'), nested);
  await writeModel(join(dir, 'flat'), flat);
  await writeFile(join(dir, 'model.key'), `${key.toString('base64')}\n`, { mode: 0o600 });
});
afterAll(async () => {
  await rm(dir, { recursive: true, force: true });
});

describe('encrypt: subfolder entries the upstream loader cannot write', () => {
  it('by default: encrypted, and the result warns naming each subfolder entry', async () => {
    const r = await encryptDirectory(join(dir, 'nested'), join(dir, 'enc-lib'), key);
    expect(r.config.files).toEqual(['1_Pooling/config.json.aes', 'config.json.aes', 'model.safetensors.aes', 'unet/deep/weights.bin.aes']);
    expect(r.warnings).toHaveLength(1);
    expect(r.warnings[0]).toContain('"1_Pooling/config.json.aes"');
    expect(r.warnings[0]).toContain('"unet/deep/weights.bin.aes"');
    expect(r.warnings[0]).not.toContain('"config.json.aes"');
    expect(r.warnings[0]).toMatch(/2 file\(s\) in subfolders/);
    expect(r.warnings[0]).toMatch(/confidential-ai-loader/);
  });

  it('a flat model gets no warning', async () => {
    expect((await encryptDirectory(join(dir, 'flat'), join(dir, 'enc-flat-lib'), key)).warnings).toEqual([]);
  });

  it('more than 10 subfolder entries: 10 named and the rest counted', async () => {
    const many = join(dir, 'many');
    for (let i = 0; i < 13; i++) await writeModel(many, { [`shards/s${String(i).padStart(2, '0')}.bin`]: Buffer.from([i]) });
    const r = await encryptDirectory(many, join(dir, 'enc-many'), key);
    expect(r.warnings[0]).toContain('"shards/s09.bin.aes"');
    expect(r.warnings[0]).not.toContain('"shards/s10.bin.aes"');
    expect(r.warnings[0]).toContain('and 3 more');
  });

  it('tee-model encrypt prints the warning on stderr and exits 0', async () => {
    const r = await cli(['encrypt', '-i', join(dir, 'nested'), '-o', join(dir, 'enc-cli'), ...keyArgs()]);
    expect(r.code, r.stderr).toBe(0);
    const lines = r.stderr.trimEnd().split('\n');
    expect(lines).toHaveLength(1);
    expect(lines[0]).toMatch(/^tee-model encrypt: warning: .*"1_Pooling\/config\.json\.aes".*"unet\/deep\/weights\.bin\.aes"/);
  });

  it('loaderCompatible: ERR_MODEL_CONFIG (reason loader-subfolder, the entries in details) and nothing written', async () => {
    const out = join(dir, 'enc-strict');
    await expect(encryptDirectory(join(dir, 'nested'), out, key, { loaderCompatible: true })).rejects.toMatchObject({
      code: 'ERR_MODEL_CONFIG',
      details: { reason: 'loader-subfolder', entries: ['1_Pooling/config.json.aes', 'unet/deep/weights.bin.aes'] },
    });
    expect(existsSync(out)).toBe(false);
  });

  it('--loader-compatible: exit 2 with the code on stderr, nothing written; a flat model passes', async () => {
    const out = join(dir, 'enc-strict-cli');
    const r = await cli(['encrypt', '--loader-compatible', '-i', join(dir, 'nested'), '-o', out, ...keyArgs()]);
    expect(r.code).toBe(2);
    expect(r.stderr).toMatch(/^tee-model encrypt: ERR_MODEL_CONFIG: loader-compatible output refused: .*"1_Pooling\/config\.json\.aes"/);
    expect(existsSync(out)).toBe(false);
    const ok = await cli(['encrypt', '--loader-compatible', '-i', join(dir, 'flat'), '-o', join(dir, 'enc-flat-cli'), ...keyArgs()]);
    expect(ok.code, ok.stderr).toBe(0);
    expect(ok.stderr).toBe('');
  });
});

describe('our loader still restores subfolders', () => {
  it('decryptDirectory and tee-model decrypt: byte-identical, folders included', async () => {
    await encryptDirectory(join(dir, 'nested'), join(dir, 'enc-ours'), key);
    await decryptDirectory(join(dir, 'enc-ours'), join(dir, 'dec-lib'), key);
    await expectRestored(join(dir, 'dec-lib'), nested);
    const r = await cli(['decrypt', '-i', join(dir, 'enc-ours'), '-o', join(dir, 'dec-cli'), ...keyArgs()]);
    expect(r.code, r.stderr).toBe(0);
    await expectRestored(join(dir, 'dec-cli'), nested);
  });

  it('tee-model load (simulated TEE, key released by a stand-in broker): byte-identical, folders included', async () => {
    const broker = await startReleasingBroker(KEY_ID, key);
    try {
      const enc = join(dir, 'enc-load');
      await encryptDirectory(join(dir, 'nested'), enc, key, { kbsUrl: broker.base, keyId: KEY_ID });
      const out = join(dir, 'dec-load');
      const r = await cli(['load', '--kbs', broker.base, '--key-id', KEY_ID, '--allow-insecure-http', '-i', enc, '-o', out, '--provider', 'simulated', '--nonce', 'no']);
      expect(r.code, r.stderr).toBe(0);
      await expectRestored(out, nested);
    } finally {
      await broker.close();
    }
  });
});

describe.skipIf(!pythonAvailable)('the Python stand-in joins entries as loader.py does', () => {
  it('a subfolder model fails there (FileNotFoundError on the folder it never creates)', async () => {
    await encryptDirectory(join(dir, 'nested'), join(dir, 'enc-py-nested'), key);
    await expect(runUpstreamLoader(join(dir, 'enc-py-nested'), join(dir, 'py-nested'), key.toString('base64'))).rejects.toThrow(/FileNotFoundError.*1_Pooling/);
  });

  it('a flat model encrypted with --loader-compatible loads there', async () => {
    await cli(['encrypt', '--loader-compatible', '-i', join(dir, 'flat'), '-o', join(dir, 'enc-py-flat'), ...keyArgs()]);
    await runUpstreamLoader(join(dir, 'enc-py-flat'), join(dir, 'py-flat'), key.toString('base64'));
    await expectRestored(join(dir, 'py-flat'), flat);
  });
});
