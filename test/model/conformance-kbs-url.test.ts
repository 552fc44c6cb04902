/**
 * Conformance (protocols.md §1.1 step 5, §2.2, §10.3): the upstream hf_loader
 * POSTs to encryption-config.json's `kbs_url` exactly as written and never
 * sends `key_id`. `tee-model encrypt --kbs-url BASE --key-id ID` used to write
 * BASE, so that loader reached "/" and failed; it now writes the full transfer
 * URL. Our own loader reads both the old (base URL + key_id) and new files.
 */
import { randomBytes } from 'node:crypto';
import { mkdir, mkdtemp, readFile, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { run } from '../../src/model/cli.js';
import { encryptDirectory, readEncryptionConfig, resolveTrustedBroker, transferUrlOf } from '../../src/model/index.js';
import { SimulatedTeeProvider } from '../../src/tee/index.js';
import { pythonAvailable, runUpstreamLoader, startReleasingBroker, type ReleasingBroker } from './upstream-loader.js';

const KEY_ID = '6a1f2e3d-4c5b-4a69-8877-665544332211';
const modelKey = randomBytes(32);
const weights = randomBytes(5000);
let dir: string;
let src: string;
let broker: ReleasingBroker;

async function cli(argv: string[]): Promise<{ code: number; stdout: string; stderr: string }> {
  let stdout = '';
  let stderr = '';
  const code = await run(argv, { stdout: { write: (s: string) => (stdout += s) }, stderr: { write: (s: string) => (stderr += s) }, env: {} });
  return { code, stdout, stderr };
}
const configOf = async (d: string): Promise<Record<string, unknown>> => JSON.parse(await readFile(join(d, 'encryption-config.json'), 'utf8')) as Record<string, unknown>;
// --key-file, not -k: -k adds a warning on stderr (review s11), and these tests expect none.
const keyPath = (): string => join(dir, 'model.key');
const encryptArgs = (out: string, ...extra: string[]): string[] => ['encrypt', '-i', src, '-o', out, '--key-file', keyPath(), ...extra];

beforeAll(async () => {
  dir = await mkdtemp(join(tmpdir(), 'tee-model-kbs-url-'));
  src = join(dir, 'plain');
  await mkdir(src);
  await writeFile(join(src, 'model.safetensors'), weights);
  await writeFile(keyPath(), `${modelKey.toString('base64')}\n`, { mode: 0o600 });
  broker = await startReleasingBroker(KEY_ID, modelKey);
});
afterAll(async () => {
  await broker.close();
  await rm(dir, { recursive: true, force: true });
});

describe('encrypt --kbs-url BASE --key-id ID writes the URL the upstream loader POSTs to', () => {
  it('kbs_url is <base>/kbs/v1/keys/<id>/transfer and key_id is kept', async () => {
    const enc = join(dir, 'enc-base');
    const r = await cli(encryptArgs(enc, '--kbs-url', 'https://kbs.example:8443/', '--key-id', KEY_ID));
    expect(r.code).toBe(0);
    expect(r.stderr).toBe('');
    expect(await configOf(enc)).toMatchObject({ kbs: 'ITA_KBS', kbs_url: `https://kbs.example:8443/kbs/v1/keys/${KEY_ID}/transfer`, key_id: KEY_ID });
  });

  it('a key id needing escaping is percent-encoded once', async () => {
    const r = await encryptDirectory(src, join(dir, 'enc-escape'), modelKey, { kbsUrl: 'https://kbs.example/base', keyId: 'a b/c' });
    expect(r.config.kbs_url).toBe('https://kbs.example/base/kbs/v1/keys/a%20b%2Fc/transfer');
    expect(r.config.key_id).toBe('a b/c');
  });

  it('a full transfer URL is written as given (the path is never doubled); its key id fills key_id', async () => {
    const full = `https://kbs.example:8443/kbs/v1/keys/${KEY_ID}/transfer`;
    const same = await encryptDirectory(src, join(dir, 'enc-full'), modelKey, { kbsUrl: full, keyId: KEY_ID });
    expect(same.config).toMatchObject({ kbs_url: full, key_id: KEY_ID });
    const noId = await encryptDirectory(src, join(dir, 'enc-full-noid'), modelKey, { kbsUrl: full });
    expect(noId.config).toMatchObject({ kbs_url: full, key_id: KEY_ID });
    expect(noId.warnings).toEqual([]);
  });

  it('a transfer URL naming another key than --key-id is a usage error (exit 2) and writes nothing', async () => {
    const enc = join(dir, 'enc-conflict');
    const r = await cli(encryptArgs(enc, '--kbs-url', `https://kbs.example/kbs/v1/keys/${KEY_ID}/transfer`, '--key-id', 'other'));
    expect(r.code).toBe(2);
    expect(r.stderr).toMatch(/ERR_KBS_ARGUMENT/);
    await expect(readFile(join(enc, 'encryption-config.json'))).rejects.toMatchObject({ code: 'ENOENT' });
  });

  it('a base URL without a key id is written as given, with a warning that the upstream loader cannot use it', async () => {
    const enc = join(dir, 'enc-no-id');
    const r = await cli(encryptArgs(enc, '--kbs-url', 'https://kbs.example'));
    expect(r.code).toBe(0);
    expect(r.stderr).toMatch(/warning: .*base URL without a key id/);
    expect(await configOf(enc)).toMatchObject({ kbs_url: 'https://kbs.example', key_id: '' });
  });

  it.skipIf(!pythonAvailable)('the upstream loader algorithm (Python) fetches the key at kbs_url and decrypts the model', async () => {
    const enc = join(dir, 'enc-py');
    expect((await cli(encryptArgs(enc, '--kbs-url', broker.base, '--key-id', KEY_ID))).code).toBe(0);
    broker.requests.length = 0;
    await runUpstreamLoader(enc, join(dir, 'py-out'));
    expect(broker.requests).toEqual([`/kbs/v1/keys/${KEY_ID}/transfer`]);
    expect((await readFile(join(dir, 'py-out', 'model.safetensors'))).equals(weights)).toBe(true);
  });
});

describe('our loader reads old (base URL + key_id) and new (transfer URL) files alike', () => {
  const oldConfig = (base: string) => ({ kbs: 'ITA_KBS', kbs_url: base, key_id: KEY_ID, files: ['model.safetensors.aes'] });

  it('resolveTrustedBroker: both forms pin the same broker and key', async () => {
    const enc = join(dir, 'enc-resolve');
    await encryptDirectory(src, enc, modelKey, { kbsUrl: 'https://kbs.example:8443', keyId: KEY_ID });
    const fresh = await readEncryptionConfig(enc);
    for (const cfg of [fresh, oldConfig('https://kbs.example:8443')]) {
      const r = resolveTrustedBroker({ url: 'https://kbs.example:8443' }, cfg);
      expect(transferUrlOf(r.url, r.keyId).toString()).toBe(`https://kbs.example:8443/kbs/v1/keys/${KEY_ID}/transfer`);
      expect(() => resolveTrustedBroker({ url: 'https://kbs.example:8443', keyId: 'other' }, cfg)).toThrow(expect.objectContaining({ code: 'ERR_MODEL_KEY_ID_MISMATCH' }));
    }
  });

  it('tee-model load decrypts a new file and an old one through the broker', async () => {
    const state = join(dir, 'sim.json');
    await writeFile(state, JSON.stringify(new SimulatedTeeProvider().exportState()));
    const fresh = join(dir, 'enc-load-new');
    await encryptDirectory(src, fresh, modelKey, { kbsUrl: broker.base, keyId: KEY_ID });
    const old = join(dir, 'enc-load-old');
    await encryptDirectory(src, old, modelKey);
    await writeFile(join(old, 'encryption-config.json'), JSON.stringify(oldConfig(broker.base)));
    for (const [enc, out] of [
      [fresh, join(dir, 'load-new')],
      [old, join(dir, 'load-old')],
    ] as const) {
      const r = await cli(['load', '--kbs', broker.base, '--key-id', KEY_ID, '--allow-insecure-http', '-i', enc, '-o', out, '--provider', 'simulated', '--simulated-state', state, '--nonce', 'no']);
      expect(r.code, r.stderr).toBe(0);
      expect((await readFile(join(out, 'model.safetensors'))).equals(weights)).toBe(true);
    }
  });
});
