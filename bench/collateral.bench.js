// Collateral benchmark: N verifications' worth of collateral requests across K
// platforms (FMSPCs), against a real local HTTP server serving the recorded
// real collateral of the shared vectors. Prints the number of network requests
// against the number of distinct artifacts per validity window (the floor),
// and the warm-cache lookup cost per verification against a floor measured in
// the same run (hashing the quote's PCK chain once, a cost any lookup pays).
//
//   npm run build && node bench/collateral.bench.js [N]
import { createHash } from 'node:crypto';
import { createServer } from 'node:http';
import { existsSync, readFileSync } from 'node:fs';
import { dirname, join, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';

import { CollateralCache, CollateralService, HttpClient, IntelPcsClient, importDcapQvlCollateral } from '../dist/collateral/index.js';
import { parseEvidence } from '../dist/index.js';

const root = resolve(dirname(fileURLToPath(import.meta.url)), '..');
const vectors = resolve(root, process.env.TEE_VECTORS_DIR ?? '../shared/vectors');
if (!existsSync(join(vectors, 'manifest.json'))) {
  console.log(`collateral benchmark skipped: shared vectors not found at ${vectors}`);
  process.exit(0);
}
const N = Number(process.argv[2] ?? 2000);
const manifest = JSON.parse(readFileSync(join(vectors, 'manifest.json'), 'utf8'));
const platforms = manifest
  .filter((e) => e.collateral?.collateral_bundle)
  .map((e) => {
    const raw = readFileSync(join(vectors, e.file));
    const quote = parseEvidence(e.file_encoding.startsWith('hex') ? raw.toString('latin1') : raw);
    return { id: e.id, quote, now: new Date(e.verification_time), artifacts: importDcapQvlCollateral(readFileSync(join(vectors, e.collateral.collateral_bundle))) };
  });

// The server answers what Intel would have served at the platform's instant.
let routes = new Map();
let requests = 0;
const server = createServer((req, res) => {
  requests++;
  const r = routes.get(req.url);
  if (!r) return res.writeHead(404).end();
  res.writeHead(200, r.headers).end(Buffer.from(r.body));
});
await new Promise((ok) => server.listen(0, '127.0.0.1', ok));
const base = `http://127.0.0.1:${server.address().port}`;
const http = new HttpClient({ retries: 0 });
const pcs = new IntelPcsClient({ http, baseUrl: base });

function routesFor(p) {
  const m = new Map();
  const path = (url) => url.slice(base.length);
  for (const a of p.artifacts) {
    const header = (name) => (a.issuerChainPem ? { [name]: encodeURIComponent(a.issuerChainPem) } : {});
    const tee = p.quote.kind;
    if (a.kind === 'intel-tcb-info') {
      const fmspc = JSON.parse(Buffer.from(a.body).toString()).tcbInfo.fmspc;
      m.set(path(pcs.tcbInfoUrl({ tee, fmspc })), { body: a.body, headers: header('TCB-Info-Issuer-Chain') });
    } else if (a.kind === 'intel-qe-identity') {
      m.set(path(pcs.qeIdentityUrl({ tee })), { body: a.body, headers: header('SGX-Enclave-Identity-Issuer-Chain') });
    } else if (a.kind === 'intel-pck-crl') {
      m.set(path(pcs.pckCrlUrl(a.key.endsWith('platform') ? 'platform' : 'processor')), { body: a.body, headers: header('SGX-PCK-CRL-Issuer-Chain') });
    } else {
      m.set(path(pcs.rootCaCrlUrl), { body: a.body, headers: {} });
    }
  }
  return m;
}

const service = new CollateralService({ intel: pcs, cache: new CollateralCache({ directory: null }) });
const perPlatform = Math.ceil(N / platforms.length);
const windows = new Set();
console.log(`collateral benchmark: N=${N} verifications across K=${platforms.length} platforms (node ${process.version})`);
console.log('command: npm run build && node bench/collateral.bench.js [N]\n');
for (const p of platforms) {
  routes = routesFor(p);
  const before = requests;
  for (let done = 0; done < perPlatform; done += 100) {
    const batch = Math.min(100, perPlatform - done);
    const results = await Promise.all(Array.from({ length: batch }, () => service.forQuote(p.quote, p.now)));
    for (const c of results) for (const a of [c.tcbInfo, c.qeIdentity, c.pckCrl, c.rootCaCrl]) windows.add(`${a.key}@${a.validity.notBefore}`);
  }
  console.log(`  ${p.id.padEnd(40)} fmspc ${p.quote.kind}/${(await service.forQuote(p.quote, p.now)).fmspc}  ${perPlatform} verifications -> ${requests - before} requests`);
}
console.log(`\nnetwork requests: ${requests} for ${perPlatform * platforms.length} verifications; distinct artifact windows (floor): ${windows.size}; ratio ${(requests / windows.size).toFixed(2)} (target 1.00)`);

// Warm lookups: the cost of one verification's collateral once everything is cached.
const p = platforms[0];
const chain = p.quote.signatureData.pckCertChainPem;
const floorIterations = 20000;
const median = async (fn, iterations) => {
  const samples = [];
  for (let r = 0; r < 7; r++) {
    const t0 = process.hrtime.bigint();
    for (let i = 0; i < iterations; i++) await fn();
    samples.push(Number(process.hrtime.bigint() - t0) / iterations / 1000);
  }
  return samples.sort((a, b) => a - b)[3];
};
await service.forQuote(p.quote, p.now);
const floor = await median(() => createHash('sha256').update(chain).digest(), floorIterations);
const warm = await median(() => service.forQuote(p.quote, p.now), 5000);
console.log(`\nwarm lookup per verification: ${warm.toFixed(2)} µs (target < 20 µs) -> ${warm < 20 ? 'met' : 'NOT met'}`);
console.log(`floor, SHA-256 of the quote's PCK chain: ${floor.toFixed(2)} µs; ratio ${(warm / floor).toFixed(2)}`);
await http.close();
server.close();
