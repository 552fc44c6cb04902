// Key broker benchmark: transfer requests per second over HTTPS on loopback,
// the simulated TEE being a synthetic TDX platform (test PKI). Each request is
// a full release: parse, verify (collateral from an offline bundle), policy,
// binding, wrap (fresh SWK, AES-256-GCM, RSA-OAEP-SHA256) and an attestation-
// log row in SQLite. The floor, measured in the same run, is verifyEvidence
// alone in-process: the ratio shows what HTTP, policy, wrapping and the
// database add. Target: >= 500 transfers/s.
//
//   npx tsc -p tsconfig.json && node bench/kbs.bench.js [N] [CONCURRENCY]
import { createHash, generateKeyPairSync } from 'node:crypto';
import { mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';

import { Agent, request } from 'undici';

import { BundleSource, CollateralService, verifyEvidence } from '../dist/index.js';
import { startKeyBroker } from '../dist/kbs/index.js';
import { buildTdxQuote, createSyntheticIntelPlatform } from '../dist/testing/index.js';

const N = Number(process.argv[2] ?? 3000);
const CONCURRENCY = Number(process.argv[3] ?? 32);
const p = createSyntheticIntelPlatform({ tee: 'tdx', at: new Date() });
const collateral = () => new CollateralService({ intel: new BundleSource(Object.values(p.collateral)), cache: null });
const bodies = Array.from({ length: 16 }, () => {
  const spki = generateKeyPairSync('rsa', { modulusLength: 3072 }).publicKey.export({ type: 'spki', format: 'der' });
  const q = buildTdxQuote({ seed: p.seed, version: 4, pckKey: p.pki.pck.key.privateKey, pckChainPem: p.pki.pckChainPem, body: { reportData: createHash('sha512').update(spki).digest() } });
  return { quote: Buffer.from(q.bytes).toString('base64'), user_data: spki.toString('base64') };
});

const dir = mkdtempSync(join(tmpdir(), 'tee-kbs-bench-'));
const db = join(dir, 'kbs.sqlite');
const broker = await startKeyBroker({ db, port: 0, collateral: collateral(), trustRoots: p.trustRoots, rateLimit: { burst: 1e9, perSecond: 1e9 }, synchronous: 'NORMAL', log: () => {} });
const http = new Agent({ connect: { ca: readFileSync(`${db}.tls-cert.pem`, 'utf8') }, connections: CONCURRENCY, pipelining: 1 });
const auth = { authorization: `Bearer ${broker.initialAdminToken}`, 'content-type': 'application/json' };
const mrTd = Buffer.from(p.quote.body.mrTd).toString('hex');
const post = async (path, body, headers = auth) => {
  const r = await request(`${broker.url}${path}`, { method: 'POST', dispatcher: http, headers, body: JSON.stringify(body) });
  return { status: r.statusCode, json: await r.body.json() };
};
const pol = await post('/kbs/v1/key-transfer-policies', { tee: 'tdx', mrTd: [mrTd], mrConfigId: 'any', mrOwner: 'any', mrOwnerConfig: 'any' });
const key = await post('/kbs/v1/keys', { transfer_policy_id: pol.json.id });

async function transfers(n) {
  let next = 0;
  let ok = 0;
  const worker = async () => {
    while (next < n) {
      const i = next++;
      const r = await post(`/kbs/v1/keys/${key.json.id}/transfer`, bodies[i % bodies.length], { 'content-type': 'application/json', 'attestation-type': 'TDX' });
      if (r.status === 200) ok++;
    }
  };
  const t0 = process.hrtime.bigint();
  await Promise.all(Array.from({ length: CONCURRENCY }, worker));
  const s = Number(process.hrtime.bigint() - t0) / 1e9;
  if (ok !== n) throw new Error(`${n - ok} transfers failed`);
  return n / s;
}

async function floor(n) {
  const service = collateral();
  const quotes = bodies.map((b) => new Uint8Array(Buffer.from(b.quote, 'base64')));
  const t0 = process.hrtime.bigint();
  for (let i = 0; i < n; i++) await verifyEvidence(quotes[i % quotes.length], { collateral: service, trustRoots: p.trustRoots });
  return n / (Number(process.hrtime.bigint() - t0) / 1e9);
}

const median = (xs) => [...xs].sort((a, b) => a - b)[Math.floor(xs.length / 2)];
await transfers(Math.min(300, N)); // warm-up
await floor(200);
const runs = [];
const floors = [];
for (let r = 0; r < 3; r++) {
  floors.push(await floor(Math.max(200, N / 3)));
  runs.push(await transfers(N));
}
const rate = median(runs);
const base = median(floors);
console.log(`command: node bench/kbs.bench.js ${N} ${CONCURRENCY}`);
console.log(`transfers/s over HTTPS (median of 3 x ${N}, concurrency ${CONCURRENCY}): ${rate.toFixed(0)} (target >= 500: ${rate >= 500 ? 'met' : 'NOT met'})`);
console.log(`floor: verifyEvidence alone in-process: ${base.toFixed(0)}/s; broker/floor ratio ${(rate / base).toFixed(2)}`);
await broker.close();
await http.close();
rmSync(dir, { recursive: true, force: true });
