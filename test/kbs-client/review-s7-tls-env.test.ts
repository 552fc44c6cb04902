/**
 * Review s7, finding 4: the key broker client never set rejectUnauthorized, so
 * NODE_TLS_REJECT_UNAUTHORIZED=0 in the environment turned off the broker
 * certificate check: the TEE's evidence went to a server it cannot
 * authenticate. The client now sets rejectUnauthorized: true itself.
 *
 * Checked in a child process started with the variable (as a deployment would
 * set it), running the client bundled from src/ with esbuild (vite's own
 * dependency), and in this process with the variable set for one call.
 */
import 'reflect-metadata';
import { execFile } from 'node:child_process';
import { webcrypto } from 'node:crypto';
import { mkdtemp, rm, writeFile } from 'node:fs/promises';
import { createServer, type Server } from 'node:https';
import type { AddressInfo } from 'node:net';
import { tmpdir } from 'node:os';
import { dirname, join, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';
import { promisify } from 'node:util';
import * as x509 from '@peculiar/x509';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { requestKey } from '../../src/kbs-client/index.js';
import { generateEcdsaCryptoKeys } from '../../src/crypto/ec-keys.js';

x509.cryptoProvider.set(webcrypto);
const here = dirname(fileURLToPath(import.meta.url));
const run = promisify(execFile);

let server: Server;
let url: string;
let requests = 0;
let work: string;

beforeAll(async () => {
  const alg = { name: 'ECDSA', namedCurve: 'P-256', hash: 'SHA-256' };
  const keys = await generateEcdsaCryptoKeys('P-256'); // no key-generation job (docs/decisions.md, session 8)
  const cert = await x509.X509CertificateGenerator.createSelfSigned({
    serialNumber: '01',
    name: 'CN=127.0.0.1',
    notBefore: new Date(Date.now() - 3_600_000),
    notAfter: new Date(Date.now() + 3_600_000),
    signingAlgorithm: alg,
    keys,
    extensions: [new x509.SubjectAlternativeNameExtension([{ type: 'ip', value: '127.0.0.1' }])],
  });
  const pkcs8 = Buffer.from(await webcrypto.subtle.exportKey('pkcs8', keys.privateKey));
  server = createServer({ key: `-----BEGIN PRIVATE KEY-----\n${pkcs8.toString('base64')}\n-----END PRIVATE KEY-----\n`, cert: cert.toString('pem') }, (req, res) => {
    requests++;
    req.resume();
    req.on('end', () => res.writeHead(403, { 'content-type': 'application/json' }).end('{"error":"no"}'));
  });
  await new Promise<void>((r) => server.listen(0, '127.0.0.1', r));
  url = `https://127.0.0.1:${(server.address() as AddressInfo).port}`;
  work = await mkdtemp(join(tmpdir(), 'tee-kbs-s7-tls-'));
});

afterAll(async () => {
  server.closeAllConnections();
  await new Promise((r) => server.close(r));
  await rm(work, { recursive: true, force: true });
});

const CHILD = `
const { requestKey } = await import(process.argv[2]);
let calls = 0;
const provider = { name: 'stub', async getEvidence(rd) { calls++; return { tee: 'tdx', provider: 'stub', evidence: new Uint8Array(10), reportData: rd }; } };
try {
  await requestKey({ url: process.argv[3], keyId: 'k1', provider, rsaBits: 2048 });
  console.log(JSON.stringify({ ok: true, calls }));
} catch (e) {
  console.log(JSON.stringify({ code: e.code, reason: e.details?.reason ?? null, status: e.details?.status ?? null, calls }));
}
`;

describe('NODE_TLS_REJECT_UNAUTHORIZED=0 does not turn off the broker certificate check', () => {
  it('in a child process started with the variable: tls-certificate, no request reaches the server, no evidence asked for', async () => {
    const esbuild = await import('esbuild');
    const bundle = join(work, 'kbs-client.mjs');
    await esbuild.build({ entryPoints: [resolve(here, '../../src/kbs-client/index.ts')], bundle: true, platform: 'node', format: 'esm', target: 'node20', outfile: bundle, logLevel: 'silent' });
    const script = join(work, 'child.mjs');
    await writeFile(script, CHILD);
    const before = requests;
    const { stdout } = await run(process.execPath, [script, bundle, url], { env: { ...process.env, NODE_TLS_REJECT_UNAUTHORIZED: '0' } });
    expect(JSON.parse(stdout.trim())).toEqual({ code: 'ERR_KBS_HTTP', reason: 'tls-certificate', status: null, calls: 0 });
    expect(requests).toBe(before);
  });

  it('in this process with the variable set for the call: the same refusal', async () => {
    const previous = process.env['NODE_TLS_REJECT_UNAUTHORIZED'];
    process.env['NODE_TLS_REJECT_UNAUTHORIZED'] = '0';
    let calls = 0;
    const before = requests;
    try {
      await expect(
        requestKey({ url, keyId: 'k1', rsaBits: 2048, provider: { name: 'stub', getEvidence: async (reportData) => (calls++, { tee: 'tdx' as const, provider: 'stub', evidence: new Uint8Array(10), reportData }) } }),
      ).rejects.toMatchObject({ code: 'ERR_KBS_HTTP', details: { reason: 'tls-certificate' } });
    } finally {
      if (previous === undefined) delete process.env['NODE_TLS_REJECT_UNAUTHORIZED'];
      else process.env['NODE_TLS_REJECT_UNAUTHORIZED'] = previous;
    }
    expect(calls).toBe(0);
    expect(requests).toBe(before);
  });
});
