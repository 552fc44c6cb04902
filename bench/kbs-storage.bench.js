// Key broker on its two storage backends, side by side (one run each):
// transfer requests per second over HTTPS on loopback with
//   1 instance on SQLite, 1 instance on PostgreSQL, 2 instances on PostgreSQL
// (each instance its own process; the load is spread round-robin), and the
// database work of one transfer measured alone (serial latency of the same
// statements: rate-limit upsert, key + policy read, the release transaction
// with its log row). Durable settings on both sides: SQLite synchronous FULL,
// PostgreSQL fsync on with synchronous_commit on (a throwaway cluster from
// scripts/pg-test-cluster.sh, on the same machine).
//
//   npx tsc -p tsconfig.json && node bench/kbs-storage.bench.js [N=2000] [CONCURRENCY=32]
import { execFileSync, spawn } from 'node:child_process';
import { createHash, generateKeyPairSync, randomBytes, randomUUID } from 'node:crypto';
import { existsSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { dirname, join } from 'node:path';
import { createInterface } from 'node:readline';
import { fileURLToPath } from 'node:url';

import { Agent, request } from 'undici';

import { exportBundle } from '../dist/index.js';
import { selfSignedTls } from '../dist/kbs/files.js';
import { KbsStore } from '../dist/kbs/store.js';
import { RateLimiter } from '../dist/kbs/rate-limit.js';
import { openStorage } from '../dist/storage/index.js';
import { buildTdxQuote, createSyntheticIntelPlatform } from '../dist/testing/index.js';

const root = join(dirname(fileURLToPath(import.meta.url)), '..');
const N = Number(process.argv[2] ?? 2000);
const CONCURRENCY = Number(process.argv[3] ?? 32);
const SYNC = process.env.TEE_BENCH_SQLITE_SYNC ?? 'FULL';
const script = join(root, 'scripts', 'pg-test-cluster.sh');

const p = createSyntheticIntelPlatform({ tee: 'tdx', at: new Date() });
const dir = mkdtempSync(join(tmpdir(), 'tee-kbs-storage-bench-'));
writeFileSync(join(dir, 'root.pem'), p.pki.root.pem);
writeFileSync(join(dir, 'bundle.json'), exportBundle(Object.values(p.collateral)));
await selfSignedTls(join(dir, 'cert.pem'), join(dir, 'key.pem'), ['127.0.0.1', 'localhost']);
const masterKey = randomBytes(32).toString('base64');
const bodies = Array.from({ length: 16 }, () => {
  const spki = generateKeyPairSync('rsa', { modulusLength: 3072 }).publicKey.export({ type: 'spki', format: 'der' });
  const q = buildTdxQuote({ seed: p.seed, version: 4, pckKey: p.pki.pck.key.privateKey, pckChainPem: p.pki.pckChainPem, body: { reportData: createHash('sha512').update(spki).digest() } });
  return JSON.stringify({ quote: Buffer.from(q.bytes).toString('base64'), user_data: spki.toString('base64') });
});
const http = new Agent({ connect: { ca: readFileSync(join(dir, 'cert.pem'), 'utf8') }, connections: CONCURRENCY, pipelining: 1 });

const pgOut = execFileSync('bash', [script, 'start'], { encoding: 'utf8', env: { ...process.env, TEE_PG_FSYNC: 'on' } });
const pgServer = /TEE_PG_URL=(\S+)/.exec(pgOut)[1].replace(/^'|'$/g, '');
const pgDir = /TEE_PG_DIR=(\S+)/.exec(pgOut)[1].replace(/^'|'$/g, '');
let dbCounter = 0;
async function pgDatabase() {
  const name = `bench_${dbCounter++}`;
  const admin = await openStorage(pgServer);
  await admin.exec(`CREATE DATABASE ${name}`);
  await admin.close();
  const u = new URL(pgServer);
  u.pathname = `/${name}`;
  return u.toString();
}

const children = [];
let instanceNo = 0;
function startInstance(database) {
  // The first admin token goes to a file (never to the logs); each instance names its own.
  const tokenFile = join(dir, `admin-token-${instanceNo++}`);
  const child = spawn(process.execPath, [join(root, 'bin', 'tee-kbs.js'), 'serve', '--database', database, '--admin-token-file', tokenFile, '--listen', '127.0.0.1:0', '--tls-cert', join(dir, 'cert.pem'), '--tls-key', join(dir, 'key.pem'),
    '--trust-root', join(dir, 'root.pem'), '--collateral', join(dir, 'bundle.json'), '--rate-burst', '1000000000', '--rate-per-second', '1000000000', '--sqlite-synchronous', SYNC], {
    env: { ...process.env, TEE_KBS_MASTER_KEY: masterKey }, stdio: ['ignore', 'pipe', 'pipe'],
  });
  children.push(child);
  let stderr = '';
  child.stderr.on('data', (d) => (stderr += d));
  return new Promise((resolve, reject) => {
    createInterface({ input: child.stdout }).once('line', (l) => resolve({ child, ...JSON.parse(l) }));
    child.once('exit', (c) => reject(new Error(`tee-kbs exited ${c}: ${stderr}`)));
  });
}

async function post(url, path, body, headers) {
  const r = await request(`${url}${path}`, { method: 'POST', dispatcher: http, headers: { 'content-type': 'application/json', ...headers }, body });
  return { status: r.statusCode, json: await r.body.json() };
}

async function setup(instances) {
  const minted = instances.find((i) => i.adminTokenFile && existsSync(i.adminTokenFile));
  const token = readFileSync(minted.adminTokenFile, 'utf8').trim();
  const auth = { authorization: `Bearer ${token}` };
  const mrTd = Buffer.from(p.quote.body.mrTd).toString('hex');
  const pol = await post(instances[0].url, '/kbs/v1/key-transfer-policies', JSON.stringify({ tee: 'tdx', mrTd: [mrTd], mrConfigId: 'any', mrOwner: 'any', mrOwnerConfig: 'any' }), auth);
  const key = await post(instances[0].url, '/kbs/v1/keys', JSON.stringify({ transfer_policy_id: pol.json.id }), auth);
  return key.json.id;
}

async function transfers(instances, keyId, n) {
  let next = 0;
  let ok = 0;
  const worker = async () => {
    while (next < n) {
      const i = next++;
      const r = await post(instances[i % instances.length].url, `/kbs/v1/keys/${keyId}/transfer`, bodies[i % bodies.length], { 'attestation-type': 'TDX' });
      if (r.status === 200) ok++;
    }
  };
  const t0 = process.hrtime.bigint();
  await Promise.all(Array.from({ length: CONCURRENCY }, worker));
  const s = Number(process.hrtime.bigint() - t0) / 1e9;
  if (ok !== n) throw new Error(`${n - ok} transfers failed`);
  return n / s;
}

async function scenario(label, databases) {
  const instances = await Promise.all(databases.map((d) => startInstance(d)));
  const keyId = await setup(instances);
  await transfers(instances, keyId, Math.min(300, N)); // warm-up
  const rate = await transfers(instances, keyId, N);
  for (const i of instances) {
    const exited = new Promise((r) => i.child.once('exit', r));
    i.child.kill('SIGTERM');
    await exited;
  }
  return { label, rate };
}

/** The statements of one release, serially, in-process: what the database costs per request. */
async function dbCost(location, n = 1000) {
  const storage = await openStorage(location, { sqlite: { synchronous: SYNC } });
  const { store } = await KbsStore.open(storage, randomBytes(32));
  const limiter = new RateLimiter(storage, { burst: 1e9, perSecond: 1e9 });
  const pol = await store.addPolicy('native', '{"tee":"tdx"}', new Date());
  const key = await store.addKey(pol.id, 'AES', randomBytes(32), new Date());
  const evidence = JSON.parse(bodies[0]).quote;
  const once = async () => {
    await limiter.take('127.0.0.1', Date.now());
    await store.getKeyWithPolicy(key.id);
    await store.transaction(async (s) => {
      await s.getKey(key.id);
      await s.appendLog({ id: randomUUID(), at: new Date().toISOString(), client: '127.0.0.1', keyId: key.id, decision: 'released', evidence, reportData: 'ab'.repeat(64), policy: { tee: 'tdx' }, claims: { kind: 'tdx' } });
    });
  };
  for (let i = 0; i < 100; i++) await once();
  const t0 = process.hrtime.bigint();
  for (let i = 0; i < n; i++) await once();
  const ms = Number(process.hrtime.bigint() - t0) / 1e6 / n;
  await storage.close();
  return ms;
}

try {
  const results = [];
  results.push(await scenario('1 instance, SQLite', [`sqlite:${join(dir, 'kbs.sqlite')}`]));
  const pg1 = await pgDatabase();
  results.push(await scenario('1 instance, PostgreSQL', [pg1]));
  const pg2 = await pgDatabase();
  results.push(await scenario('2 instances, PostgreSQL', [pg2, pg2]));
  const sqliteMs = await dbCost(`sqlite:${join(dir, 'cost.sqlite')}`);
  const pgMs = await dbCost(await pgDatabase());
  console.log(`command: node bench/kbs-storage.bench.js ${N} ${CONCURRENCY} (SQLite synchronous ${SYNC}; PostgreSQL fsync on, synchronous_commit on)`);
  console.log('| setup | transfers/s | ms per transfer (1/rate) |');
  console.log('|---|---|---|');
  for (const r of results) console.log(`| ${r.label} | ${r.rate.toFixed(0)} | ${(1000 / r.rate).toFixed(2)} |`);
  console.log(`database work of one transfer alone, serial (rate limit + key read + release transaction with log row): SQLite ${sqliteMs.toFixed(3)} ms, PostgreSQL ${pgMs.toFixed(3)} ms`);
  console.log(`PostgreSQL vs SQLite, one instance: ${(1000 / results[1].rate - 1000 / results[0].rate).toFixed(2)} ms more per transfer at concurrency ${CONCURRENCY}`);
} finally {
  for (const c of children) if (c.exitCode === null) c.kill('SIGKILL');
  await http.close();
  execFileSync('bash', [script, 'stop', pgDir]);
  rmSync(dir, { recursive: true, force: true });
}
