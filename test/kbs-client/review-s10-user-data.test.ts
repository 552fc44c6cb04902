/**
 * Review s10 (wire conformance, M2): the key broker client always sent user_data as DER
 * SubjectPublicKeyInfo, and a real Intel Trust Authority KBS reads user_data as
 * u32-LE exponent ‖ modulus (big-endian for TDX; protocols.md §4.3, `getPublicKey` in
 * intel/trustauthority-kbs v1.3.0 service/key_transfer.go): the DER prefix became exponent
 * 0xA2018230, Go's rsa.EncryptOAEP refused it and ITA answered 500 "Failed to wrap key".
 * `userDataForm: 'ita-raw'` / `tee-model load --user-data-form ita-raw` now sends that form, and
 * REPORTDATA hashes exactly the bytes sent: SHA-512(val ‖ iat ‖ raw), or SHA-512(raw).
 *
 * The stand-in ITA broker below decodes user_data the way the protocol describes, written from
 * that description and not from our encoder: exponent = first 4 bytes little-endian, modulus = the
 * rest as a big-endian integer, a modulus of 2048 bits or fewer refused, and an exponent Go's
 * crypto/rsa would refuse (below 2, above 2^31 - 1, or even) answered 500 "Failed to wrap key".
 * Our own broker (src/kbs) already reads both forms; it releases to the raw form too.
 */
import { constants, createCipheriv, createHash, createPublicKey, publicEncrypt, randomBytes } from 'node:crypto';
import { mkdir, mkdtemp, readFile, rm, writeFile } from 'node:fs/promises';
import { createServer, type IncomingMessage, type Server, type ServerResponse } from 'node:http';
import type { AddressInfo } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { Agent, request } from 'undici';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { BundleSource, CollateralService, parseEvidence, type TdxQuote } from '../../src/index.js';
import { requestKey } from '../../src/kbs-client/index.js';
import { startKeyBroker, type KeyBroker } from '../../src/kbs/index.js';
import { run } from '../../src/model/cli.js';
import { encryptDirectory } from '../../src/model/index.js';
import { SimulatedTeeProvider } from '../../src/tee/index.js';
import type { EvidenceProvider } from '../../src/tee/types.js';

const KEY_ID = '9c0f6e2a-5b4d-4c3e-8f1a-2d3c4b5a6f70';
const secret = randomBytes(32);

/** What the stand-in saw of each key-transfer request (not the nonce requests). */
interface Seen {
  userData: Buffer;
  exponent: number;
  modulusBits: number;
}

function container(swk: Buffer, plain: Buffer): Buffer {
  const iv = randomBytes(12);
  const c = createCipheriv('aes-256-gcm', swk, iv);
  const ct = Buffer.concat([c.update(plain), c.final(), c.getAuthTag()]);
  const header = Buffer.alloc(12);
  header.writeUInt32LE(12, 0);
  header.writeUInt32LE(16, 4);
  header.writeUInt32LE(ct.length, 8);
  return Buffer.concat([header, iv, ct]);
}

/** Big-endian bytes of a bigint, no leading zero (JWK form). */
function bytesOf(v: bigint): Buffer {
  let hex = v.toString(16);
  if (hex.length % 2) hex = `0${hex}`;
  return Buffer.from(hex, 'hex');
}

class ItaStandIn {
  server!: Server;
  base = '';
  seen: Seen[] = [];
  requests = 0;
  private nonces = new Map<string, string>();

  async start(): Promise<void> {
    this.server = createServer((req, res) => {
      const chunks: Buffer[] = [];
      req.on('data', (c: Buffer) => chunks.push(c));
      req.on('end', () => {
        try {
          this.handle(req, res, Buffer.concat(chunks).toString('utf8'));
        } catch (e) {
          // A stand-in fault answers at once (a dropped request would only show as the client's deadline).
          this.reply(res, 500, { error: `stand-in: ${(e as Error).message}` });
        }
      });
    });
    await new Promise<void>((r) => this.server.listen(0, '127.0.0.1', r));
    this.base = `http://127.0.0.1:${(this.server.address() as AddressInfo).port}`;
  }

  close(): Promise<void> {
    return new Promise((r) => this.server.close(() => r()));
  }

  private reply(res: ServerResponse, status: number, doc: unknown, headers: Record<string, string> = {}): void {
    res.writeHead(status, { 'Content-Type': 'application/json', ...headers });
    res.end(JSON.stringify(doc));
  }

  private handle(req: IncomingMessage, res: ServerResponse, text: string): void {
    this.requests++;
    if (req.method !== 'POST' || req.url !== `/kbs/v1/keys/${KEY_ID}/transfer`) return this.reply(res, 404, { error: 'Key with specified id does not exist' });
    if (req.headers['accept'] !== 'application/json') return this.reply(res, 415, { error: 'Invalid Accept type' });
    const type = req.headers['attestation-type'];
    if (type === undefined && text === '') {
      const val = randomBytes(32).toString('base64');
      const iat = Buffer.from(new Date(0).toISOString()).toString('base64');
      this.nonces.set(val, iat);
      return this.reply(res, 200, { val, iat, signature: randomBytes(64).toString('base64') }, { 'Attestation-Type': 'TDX' });
    }
    if (req.headers['content-type'] !== 'application/json') return this.reply(res, 415, { error: 'Invalid Content-Type' });
    if (type !== 'TDX') return this.reply(res, 401, { error: 'attestation-type in request header does not match with attestation-type in key-transfer policy' });
    const body = JSON.parse(text) as Record<string, unknown>;
    if (Object.keys(body).some((k) => !['quote', 'nonce', 'user_data', 'event_log', 'attestation_token'].includes(k))) return this.reply(res, 400, { error: 'unknown field' });
    const userData = Buffer.from(body['user_data'] as string, 'base64');
    // The appraisal: REPORTDATA = SHA-512(nonce.val ‖ nonce.iat ‖ user_data), as sent.
    const h = createHash('sha512');
    const nonce = body['nonce'] as { val: string; iat: string } | undefined;
    if (nonce) {
      const iat = this.nonces.get(nonce.val);
      if (iat === undefined || iat !== nonce.iat) return this.reply(res, 401, { error: 'nonce' });
      h.update(Buffer.from(nonce.val, 'base64')).update(Buffer.from(iat, 'base64'));
    }
    const quote = parseEvidence(Buffer.from(body['quote'] as string, 'base64')) as TdxQuote;
    if (!Buffer.from(quote.body.reportData).equals(h.update(userData).digest())) return this.reply(res, 502, { error: 'Error retrieving token from appraisal service' });
    // getPublicKey (TDX): exponent u32 little-endian, modulus the rest, big-endian.
    const exponent = userData.readUInt32LE(0);
    const n = BigInt(`0x${userData.subarray(4).toString('hex') || '0'}`);
    const modulusBits = n.toString(2).length;
    this.seen.push({ userData, exponent, modulusBits });
    if (modulusBits <= 2048) return this.reply(res, 500, { error: 'Error in getting public key' });
    // Go's crypto/rsa refuses such exponents when wrapping.
    if (exponent < 2 || exponent > 2 ** 31 - 1 || exponent % 2 === 0) return this.reply(res, 500, { error: 'Failed to wrap key' });
    const pub = createPublicKey({ key: { kty: 'RSA', n: bytesOf(n).toString('base64url'), e: bytesOf(BigInt(exponent)).toString('base64url') }, format: 'jwk' });
    const swk = randomBytes(32);
    this.reply(res, 200, {
      wrapped_key: container(swk, secret).toString('base64'),
      wrapped_swk: publicEncrypt({ key: pub, padding: constants.RSA_PKCS1_OAEP_PADDING, oaepHash: 'sha256' }, swk).toString('base64'),
    });
  }
}

let ita: ItaStandIn;
let provider: SimulatedTeeProvider;
let dir: string;

async function cli(argv: string[]): Promise<{ code: number; stdout: string; stderr: string }> {
  let stdout = '';
  let stderr = '';
  const code = await run(argv, { stdout: { write: (s: string) => (stdout += s) }, stderr: { write: (s: string) => (stderr += s) }, env: {} });
  return { code, stdout, stderr };
}

beforeAll(async () => {
  ita = new ItaStandIn();
  await ita.start();
  provider = new SimulatedTeeProvider();
  dir = await mkdtemp(join(tmpdir(), 'kbs-client-s10-user-data-'));
});
afterAll(async () => {
  await ita.close();
  await rm(dir, { recursive: true, force: true });
});

describe('userDataForm against a stand-in decoding user_data as ITA does', () => {
  it("'ita-raw' with a nonce: u32-LE 65537 then the 3072-bit modulus; the stand-in's binding holds and the key unwraps", async () => {
    ita.seen = [];
    const r = await requestKey({ url: ita.base, keyId: KEY_ID, provider, allowInsecureHttp: true, userDataForm: 'ita-raw' });
    expect(r.key.equals(secret)).toBe(true);
    expect(r.nonceUsed).toBe(true);
    expect(r.userDataForm).toBe('ita-raw');
    expect(ita.seen).toHaveLength(1);
    const s = ita.seen[0]!;
    expect(s.userData.subarray(0, 4).toString('hex')).toBe('01000100');
    expect(s.userData).toHaveLength(4 + 384);
    expect([s.exponent, s.modulusBits]).toEqual([65537, 3072]);
  });

  it("'ita-raw' without a nonce: REPORTDATA = SHA-512(raw bytes)", async () => {
    ita.seen = [];
    const r = await requestKey({ url: ita.base, keyId: KEY_ID, provider, allowInsecureHttp: true, nonce: false, userDataForm: 'ita-raw' });
    expect(r.key.equals(secret)).toBe(true);
    expect(Buffer.from(r.evidence.reportData).equals(createHash('sha512').update(ita.seen[0]!.userData).digest())).toBe(true);
  });

  it('the default (DER SPKI) is what ITA cannot use: exponent 0xA2018230, 500 "Failed to wrap key", not retried', async () => {
    ita.seen = [];
    await expect(requestKey({ url: ita.base, keyId: KEY_ID, provider, allowInsecureHttp: true, nonce: false })).rejects.toMatchObject({
      code: 'ERR_KBS_HTTP',
      details: { status: 500, error: 'Failed to wrap key' },
    });
    expect(ita.seen.map((s) => s.exponent)).toEqual([0xa2018230]);
  });

  it('an unknown form is ERR_KBS_ARGUMENT before any request or evidence', async () => {
    const before = ita.requests;
    let asked = 0;
    const counting: EvidenceProvider = { name: 'counting', getEvidence: async (d) => (asked++, provider.getEvidence(d)) };
    await expect(requestKey({ url: ita.base, keyId: KEY_ID, provider: counting, allowInsecureHttp: true, userDataForm: 'pem' as never })).rejects.toMatchObject({ code: 'ERR_KBS_ARGUMENT' });
    expect([ita.requests - before, asked]).toEqual([0, 0]);
  });

  it('tee-model load --user-data-form ita-raw decrypts the model; a bad value is exit 2 with no request', async () => {
    await mkdir(join(dir, 'plain'));
    const weights = randomBytes(4000);
    await writeFile(join(dir, 'plain', 'model.safetensors'), weights);
    await encryptDirectory(join(dir, 'plain'), join(dir, 'enc'), secret, { kbsUrl: ita.base, keyId: KEY_ID });
    const args = ['load', '--kbs', ita.base, '--key-id', KEY_ID, '--allow-insecure-http', '-i', join(dir, 'enc'), '--provider', 'simulated'];
    const before = ita.requests;
    const bad = await cli([...args, '-o', join(dir, 'out-bad'), '--user-data-form', 'der']);
    expect(bad.code).toBe(2);
    expect(bad.stderr).toMatch(/--user-data-form must be spki-der or ita-raw/);
    expect(ita.requests).toBe(before);
    const ok = await cli([...args, '-o', join(dir, 'out'), '--user-data-form', 'ita-raw']);
    expect(ok.code, ok.stderr).toBe(0);
    expect(ok.stdout).toMatch(/ita-raw user_data/);
    expect((await readFile(join(dir, 'out', 'model.safetensors'))).equals(weights)).toBe(true);
  });
});

describe("our broker (src/kbs) releases to the 'ita-raw' form", () => {
  let broker: KeyBroker;
  let agent: Agent;
  let ca: string;
  let keyId: string;
  let tee: SimulatedTeeProvider;

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
    tee = new SimulatedTeeProvider();
    const db = join(dir, 'kbs.sqlite');
    broker = await startKeyBroker({ db, port: 0, collateral: new CollateralService({ intel: new BundleSource(tee.collateral), cache: null }), trustRoots: tee.trustRoots, env: {}, log: () => {}, synchronous: 'NORMAL', allowNoNonce: true /* the "nonce false" case */ });
    ca = await readFile(`${db}.tls-cert.pem`, 'utf8');
    agent = new Agent({ connect: { ca } });
    const sample = parseEvidence((await tee.getEvidence(new Uint8Array(64))).evidence) as TdxQuote;
    const policy = await admin('/kbs/v1/key-transfer-policies', { tee: 'tdx', mrTd: [Buffer.from(sample.body.mrTd).toString('hex')], mrConfigId: 'any', mrOwner: 'any', mrOwnerConfig: 'any' });
    keyId = (await admin('/kbs/v1/keys', { key_information: { algorithm: 'AES', key_length: 256, key_data: secret.toString('base64') }, transfer_policy_id: policy.id })).id;
  }, 60_000);
  afterAll(async () => {
    await broker?.close();
    await agent?.close();
  });

  it.each([['auto'], [false]] as const)('nonce %s: the key is released and unwraps', async (nonce) => {
    const r = await requestKey({ url: broker.url, keyId, provider: tee, ca, nonce, userDataForm: 'ita-raw' });
    expect(r.key.equals(secret)).toBe(true);
    expect(r.userDataForm).toBe('ita-raw');
    expect(r.nonceUsed).toBe(nonce === 'auto');
  });
});
