/**
 * The transfer client against a minimal broker written here from protocols.md
 * (§4.2, §4.3, §5): nonce, REPORTDATA binding, OAEP-SHA-256 wrapped SWK and
 * the §1.3 container for wrapped_key; error answers and retries.
 */
import { constants, createCipheriv, createHash, createPublicKey, publicEncrypt, randomBytes } from 'node:crypto';
import { createServer, type IncomingMessage, type Server, type ServerResponse } from 'node:http';
import type { AddressInfo } from 'node:net';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { parseEvidence, type TdxQuote } from '../../src/index.js';
import { requestKey, transferReportData, transferUrlOf } from '../../src/kbs-client/index.js';
import { SimulatedTeeProvider } from '../../src/tee/index.js';

const KEY_ID = '6f1b3c52-9d7e-4a1b-8c2d-0e9f8a7b6c5d';
const secret = randomBytes(32);
let server: Server;
let base: string;
let provider: SimulatedTeeProvider;
const seen: { headers: IncomingMessage['headers']; body: string }[] = [];
let mode: 'ok' | 'nononce' | 'fail503' | 'deny' = 'ok';
let failures = 0;

function wrappedKeyOf(swk: Buffer, key: Buffer): Buffer {
  const iv = randomBytes(12);
  const c = createCipheriv('aes-256-gcm', swk, iv);
  const ct = Buffer.concat([c.update(key), c.final()]);
  const h = Buffer.alloc(12);
  h.writeUInt32LE(12, 0);
  h.writeUInt32LE(16, 4);
  h.writeUInt32LE(ct.length + 16, 8);
  return Buffer.concat([h, iv, ct, c.getAuthTag()]);
}

function reply(res: ServerResponse, status: number, doc: unknown, headers: Record<string, string> = {}): void {
  res.writeHead(status, { 'Content-Type': 'application/json', ...headers });
  res.end(JSON.stringify(doc));
}

const nonces = new Map<string, string>();

function handle(req: IncomingMessage, res: ServerResponse, text: string): void {
  seen.push({ headers: req.headers, body: text });
  if (req.url !== `/kbs/v1/keys/${KEY_ID}/transfer`) return reply(res, 404, { error: 'unknown key' });
  if (mode === 'fail503' && failures++ < 2) return reply(res, 503, { error: 'busy' });
  if (mode === 'deny') return reply(res, 401, { error: 'policy says no' });
  if (text === '' && !req.headers['attestation-type']) {
    if (mode === 'nononce') return reply(res, 400, { error: 'no nonces here' });
    const val = randomBytes(32).toString('base64');
    const iat = Buffer.from(new Date().toISOString()).toString('base64');
    nonces.set(val, iat);
    return reply(res, 200, { val, iat, signature: randomBytes(32).toString('base64') }, { 'Attestation-Type': 'TDX' });
  }
  const body = JSON.parse(text) as { quote: string; user_data: string; nonce?: { val: string; iat: string } };
  const userData = Buffer.from(body.user_data, 'base64');
  const h = createHash('sha512');
  if (body.nonce) h.update(Buffer.from(body.nonce.val, 'base64')).update(Buffer.from(nonces.get(body.nonce.val)!, 'base64'));
  const expected = h.update(userData).digest();
  const quote = parseEvidence(Buffer.from(body.quote, 'base64')) as TdxQuote;
  if (!Buffer.from(quote.body.reportData).equals(expected)) return reply(res, 401, { error: 'binding' });
  const pub = createPublicKey({ key: userData, format: 'der', type: 'spki' });
  const swk = randomBytes(32);
  const wrapped_swk = publicEncrypt({ key: pub, padding: constants.RSA_PKCS1_OAEP_PADDING, oaepHash: 'sha256' }, swk).toString('base64');
  reply(res, 200, { wrapped_key: wrappedKeyOf(swk, secret).toString('base64'), wrapped_swk }, { 'Attestation-Type': 'TDX' });
}

beforeAll(async () => {
  provider = new SimulatedTeeProvider();
  server = createServer((req, res) => {
    const chunks: Buffer[] = [];
    req.on('data', (c: Buffer) => chunks.push(c));
    req.on('end', () => handle(req, res, Buffer.concat(chunks).toString('utf8')));
  });
  await new Promise<void>((r) => server.listen(0, '127.0.0.1', r));
  base = `http://127.0.0.1:${(server.address() as AddressInfo).port}`;
});
afterAll(async () => {
  await new Promise((r) => server.close(r));
});

describe('kbs-client', () => {
  it('builds the transfer URL', () => {
    expect(transferUrlOf('https://kbs.example:8443', 'abc').toString()).toBe('https://kbs.example:8443/kbs/v1/keys/abc/transfer');
    expect(transferUrlOf('https://kbs.example/kbs/v1/keys/x/transfer', undefined).toString()).toBe('https://kbs.example/kbs/v1/keys/x/transfer');
    expect(() => transferUrlOf('https://kbs.example', undefined)).toThrow(expect.objectContaining({ code: 'ERR_KBS_ARGUMENT' }));
  });

  it('with a nonce: REPORTDATA = SHA-512(val ‖ iat ‖ SPKI), RSA-3072 user_data, headers, unwraps the key', async () => {
    mode = 'ok';
    seen.length = 0;
    const r = await requestKey({ url: base, keyId: KEY_ID, allowInsecureHttp: true, provider });
    expect(r.key.equals(secret)).toBe(true);
    expect(r.nonceUsed).toBe(true);
    expect(r.attestationType).toBe('TDX');
    expect(seen).toHaveLength(2);
    expect(seen[0]!.headers['attestation-type']).toBeUndefined();
    const post = seen[1]!;
    expect(post.headers['attestation-type']).toBe('TDX');
    expect(post.headers['content-type']).toBe('application/json');
    expect(post.headers['accept']).toBe('application/json');
    const body = JSON.parse(post.body) as Record<string, unknown>;
    expect(Object.keys(body).sort()).toEqual(['nonce', 'quote', 'user_data']);
    const pub = createPublicKey({ key: Buffer.from(body['user_data'] as string, 'base64'), format: 'der', type: 'spki' });
    expect(pub.asymmetricKeyDetails).toMatchObject({ modulusLength: 3072, publicExponent: 65537n });
  });

  it('without a nonce (the upstream clients): REPORTDATA = SHA-512(SPKI) and the body has exactly quote and user_data', async () => {
    seen.length = 0;
    const r = await requestKey({ url: base, keyId: KEY_ID, allowInsecureHttp: true, provider, nonce: false });
    expect(r.key.equals(secret)).toBe(true);
    const body = JSON.parse(seen[0]!.body) as Record<string, string>;
    expect(Object.keys(body).sort()).toEqual(['quote', 'user_data']);
    expect(Buffer.from(r.evidence.reportData).equals(transferReportData(Buffer.from(body['user_data']!, 'base64')))).toBe(true);
  });

  it('"auto" goes on without a nonce when the broker offers none; true requires one', async () => {
    mode = 'nononce';
    const r = await requestKey({ url: base, keyId: KEY_ID, allowInsecureHttp: true, provider });
    expect(r.nonceUsed).toBe(false);
    await expect(requestKey({ url: base, keyId: KEY_ID, allowInsecureHttp: true, provider, nonce: true })).rejects.toMatchObject({ code: 'ERR_KBS_HTTP', details: { status: 400 } });
  });

  it('a refusal is ERR_KBS_HTTP with the status and the broker error, not retried', async () => {
    mode = 'deny';
    seen.length = 0;
    await expect(requestKey({ url: base, keyId: KEY_ID, allowInsecureHttp: true, provider, nonce: false })).rejects.toMatchObject({ code: 'ERR_KBS_HTTP', details: { status: 401, error: 'policy says no' } });
    expect(seen).toHaveLength(1);
  });

  it('retries 503 answers with fresh evidence', async () => {
    mode = 'fail503';
    failures = 0;
    const r = await requestKey({ url: base, keyId: KEY_ID, allowInsecureHttp: true, provider, nonce: false });
    expect(r.key.equals(secret)).toBe(true);
  });

  it('an unreachable broker is ERR_KBS_HTTP after the attempts', async () => {
    await expect(requestKey({ url: 'http://127.0.0.1:1', keyId: KEY_ID, allowInsecureHttp: true, provider, attempts: 2, timeoutMs: 2000 })).rejects.toMatchObject({ code: 'ERR_KBS_HTTP' });
  });
});
