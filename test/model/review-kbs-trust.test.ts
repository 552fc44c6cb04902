/**
 * Review finding: the host chose the key broker. `tee-model load` took
 * kbs_url / key_id from encryption-config.json, which sits in the untrusted
 * model directory, and the client accepted http:// brokers. A host could
 * encrypt its own model under its own key, point kbs_url at its own server
 * (which wraps that key to any RSA key it is sent) and have the TEE serve its
 * model. The broker now comes from the TEE's own configuration (--kbs or
 * TEE_MODEL_KBS_URL), the directory may only repeat it, --key-id pins the
 * key, and plain HTTP needs an explicit flag that prints a warning.
 */
import { constants, createPublicKey, publicEncrypt, randomBytes } from 'node:crypto';
import { existsSync } from 'node:fs';
import { mkdir, mkdtemp, readFile, readdir, rm, writeFile } from 'node:fs/promises';
import { createServer, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, beforeEach, describe, expect, it } from 'vitest';
import { requestKey } from '../../src/kbs-client/index.js';
import { run } from '../../src/model/cli.js';
import { encryptDirectory, sealBuffer } from '../../src/model/index.js';
import { SimulatedTeeProvider } from '../../src/tee/index.js';

const KEY_ID = '0d1e2f30-4152-4637-8899-aabbccddeeff';
const OTHER_KEY_ID = 'f0e1d2c3-b4a5-4697-8877-665544332211';
const modelKey = randomBytes(32);
const weights = randomBytes(4096);
let dir: string;
let statePath: string;
let server: Server;
let httpBase: string;
let requests: string[] = [];

/** A broker that releases `modelKey` to whatever RSA key it is sent (what a host-run server would do). */
function startWrappingServer(): Promise<Server> {
  const s = createServer((req, res) => {
    const chunks: Buffer[] = [];
    req.on('data', (c: Buffer) => chunks.push(c));
    req.on('end', () => {
      requests.push(req.url ?? '');
      const body = Buffer.concat(chunks);
      if (body.length === 0) {
        res.writeHead(404).end();
        return;
      }
      const { user_data } = JSON.parse(body.toString('utf8')) as { user_data: string };
      const pub = createPublicKey({ key: Buffer.from(user_data, 'base64'), format: 'der', type: 'spki' });
      const swk = randomBytes(32);
      res.writeHead(200, { 'content-type': 'application/json' });
      res.end(
        JSON.stringify({
          wrapped_swk: publicEncrypt({ key: pub, padding: constants.RSA_PKCS1_OAEP_PADDING, oaepHash: 'sha256' }, swk).toString('base64'),
          wrapped_key: sealBuffer(swk, modelKey).toString('base64'),
        }),
      );
    });
  });
  return new Promise((resolve) => s.listen(0, '127.0.0.1', () => resolve(s)));
}

async function cli(argv: string[], env: Record<string, string> = {}): Promise<{ code: number; stdout: string; stderr: string }> {
  let stdout = '';
  let stderr = '';
  const code = await run(argv, { stdout: { write: (s: string) => (stdout += s) }, stderr: { write: (s: string) => (stderr += s) }, env });
  return { code, stdout, stderr };
}

/** An encrypted model directory whose encryption-config.json names `kbsUrl` / `keyId`. */
async function encryptedModel(name: string, kbsUrl: string, keyId: string): Promise<string> {
  const src = join(dir, `${name}-plain`);
  await mkdir(src, { recursive: true });
  await writeFile(join(src, 'model.safetensors'), weights);
  const enc = join(dir, name);
  await encryptDirectory(src, enc, modelKey, { kbsUrl, keyId });
  return enc;
}

const sim = (): string[] => ['--provider', 'simulated', '--simulated-state', statePath, '--nonce', 'no'];
const outputOf = async (p: string): Promise<string[]> => (existsSync(p) ? readdir(p) : []);

beforeAll(async () => {
  dir = await mkdtemp(join(tmpdir(), 'tee-model-review-kbs-'));
  statePath = join(dir, 'sim.json');
  await writeFile(statePath, JSON.stringify(new SimulatedTeeProvider().exportState()));
  server = await startWrappingServer();
  httpBase = `http://127.0.0.1:${(server.address() as AddressInfo).port}`;
});
afterAll(async () => {
  await new Promise((r) => server.close(r));
  await rm(dir, { recursive: true, force: true });
});
beforeEach(() => {
  requests = [];
});

describe('tee-model load: the broker comes from the TEE, not from the model directory', () => {
  it('without --kbs (or TEE_MODEL_KBS_URL) load is a usage error and contacts no broker, even when the directory names one', async () => {
    const enc = await encryptedModel('no-flag', httpBase, KEY_ID);
    const out = join(dir, 'out-no-flag');
    const r = await cli(['load', '-i', enc, '-o', out, ...sim()]);
    expect(r.code).toBe(2);
    expect(r.stderr).toMatch(/--kbs/);
    expect(requests).toEqual([]);
    expect(await outputOf(out)).toEqual([]);
  });

  it('refuses a directory whose encryption-config.json names another broker (ERR_MODEL_KBS_MISMATCH, exit 1), before any request', async () => {
    const enc = await encryptedModel('other-broker', httpBase, KEY_ID);
    const out = join(dir, 'out-other-broker');
    const r = await cli(['load', '--kbs', 'https://kbs.tee.example:8443', '--key-id', KEY_ID, '-i', enc, '-o', out, ...sim()]);
    expect(r.code).toBe(1);
    expect(r.stderr).toMatch(/ERR_MODEL_KBS_MISMATCH/);
    expect(requests).toEqual([]);
    expect(await outputOf(out)).toEqual([]);
  });

  it('a config naming the same broker as a full transfer URL, or naming none, is accepted', async () => {
    const full = await encryptedModel('full-url', `${httpBase}/kbs/v1/keys/${KEY_ID}/transfer`, '');
    const r1 = await cli(['load', '--kbs', `${httpBase}/`, '--key-id', KEY_ID, '--allow-insecure-http', '-i', full, '-o', join(dir, 'out-full'), ...sim()]);
    expect(r1.stderr).toMatch(/warning: .*http/i);
    expect(r1.code).toBe(0);
    expect((await readFile(join(dir, 'out-full', 'model.safetensors'))).equals(weights)).toBe(true);
    const none = await encryptedModel('no-broker', '', '');
    const r2 = await cli(['load', '--kbs', httpBase, '--key-id', KEY_ID, '--allow-insecure-http', '-i', none, '-o', join(dir, 'out-none'), ...sim()]);
    expect(r2.code).toBe(0);
    expect(requests).toEqual([`/kbs/v1/keys/${KEY_ID}/transfer`, `/kbs/v1/keys/${KEY_ID}/transfer`]);
  });

  it('--key-id pins the key: a directory naming another key id is refused (ERR_MODEL_KEY_ID_MISMATCH, exit 1)', async () => {
    const enc = await encryptedModel('other-key', httpBase, OTHER_KEY_ID);
    const r = await cli(['load', '--kbs', httpBase, '--key-id', KEY_ID, '--allow-insecure-http', '-i', enc, '-o', join(dir, 'out-other-key'), ...sim()]);
    expect(r.code).toBe(1);
    expect(r.stderr).toMatch(/ERR_MODEL_KEY_ID_MISMATCH/);
    expect(requests).toEqual([]);
    // The same holds for a key id carried inside a full transfer URL in the config.
    const inUrl = await encryptedModel('other-key-url', `${httpBase}/kbs/v1/keys/${OTHER_KEY_ID}/transfer`, '');
    const r2 = await cli(['load', '--kbs', httpBase, '--key-id', KEY_ID, '--allow-insecure-http', '-i', inUrl, '-o', join(dir, 'out-other-key-url'), ...sim()]);
    expect(r2.code).toBe(1);
    expect(r2.stderr).toMatch(/ERR_MODEL_KEY_ID_MISMATCH/);
    expect(requests).toEqual([]);
  });

  it('without --key-id the directory\'s key id is used at the trusted broker, with a warning that it is not pinned', async () => {
    const enc = await encryptedModel('unpinned', httpBase, KEY_ID);
    const r = await cli(['load', '--kbs', httpBase, '--allow-insecure-http', '-i', enc, '-o', join(dir, 'out-unpinned'), ...sim()]);
    expect(r.code).toBe(0);
    expect(r.stderr).toMatch(/warning: .*key id/i);
    expect(requests).toEqual([`/kbs/v1/keys/${KEY_ID}/transfer`]);
  });

  it('TEE_MODEL_KBS_URL and TEE_MODEL_KEY_ID stand in for the flags', async () => {
    const enc = await encryptedModel('env', httpBase, KEY_ID);
    const refused = await cli(['load', '-i', enc, '-o', join(dir, 'out-env-refused'), ...sim()], { TEE_MODEL_KBS_URL: 'https://kbs.tee.example', TEE_MODEL_KEY_ID: KEY_ID });
    expect(refused.code).toBe(1);
    expect(refused.stderr).toMatch(/ERR_MODEL_KBS_MISMATCH/);
    const ok = await cli(['load', '--allow-insecure-http', '-i', enc, '-o', join(dir, 'out-env'), ...sim()], { TEE_MODEL_KBS_URL: httpBase, TEE_MODEL_KEY_ID: KEY_ID });
    expect(ok.code).toBe(0);
    expect(requests).toEqual([`/kbs/v1/keys/${KEY_ID}/transfer`]);
  });

  it('an http:// broker is refused unless --allow-insecure-http (ERR_KBS_INSECURE_TRANSPORT, exit 2, no request)', async () => {
    const enc = await encryptedModel('http', httpBase, KEY_ID);
    const r = await cli(['load', '--kbs', httpBase, '--key-id', KEY_ID, '-i', enc, '-o', join(dir, 'out-http'), ...sim()]);
    expect(r.code).toBe(2);
    expect(r.stderr).toMatch(/ERR_KBS_INSECURE_TRANSPORT/);
    expect(requests).toEqual([]);
  });
});

describe('kbs-client: plain HTTP only on request', () => {
  it('requestKey refuses an http:// URL without allowInsecureHttp, and reports a warning with it', async () => {
    const provider = SimulatedTeeProvider.fromState(await readFile(statePath, 'utf8'));
    await expect(requestKey({ url: httpBase, keyId: KEY_ID, provider, nonce: false })).rejects.toMatchObject({ code: 'ERR_KBS_INSECURE_TRANSPORT' });
    expect(requests).toEqual([]);
    const r = await requestKey({ url: httpBase, keyId: KEY_ID, provider, nonce: false, allowInsecureHttp: true });
    expect(r.key.equals(modelKey)).toBe(true);
    expect(r.warnings.join('\n')).toMatch(/http/i);
  });
});
