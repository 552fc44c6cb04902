// Attestation-service benchmark, one run, side by side:
//  - the library in-process, warm collateral cache: verifyEvidence alone, and
//    the whole appraisal (verifyEvidence + evaluatePolicy + EAR JWT signing);
//  - an HTTP floor: a bare node:http server in a child process that reads
//    and JSON.parses the same request bodies and answers a recorded answer
//    of the same size (what any HTTP service pays on this machine);
//  - the service (tee-verify serve's library entry) in a child process,
//    loaded over loopback HTTP by CLIENTS concurrent keep-alive clients from
//    this process: requests/s on POST /v1/verify and on the trustee route.
// The machine has 2 cores: one runs the service, the other the clients. On a
// shared machine wall-clock rates drift with the load, so CPU time per
// request is printed too: the service process's own CPU (user + system,
// HTTP included) per answered request, against the library's CPU per call.
// Evidence: 64 distinct simulated TDX v4 quotes (test PKI); the quote
// signature is checked on every request (never memoised), the platform's
// PCK chain and QE report once per process, as in any warm deployment.
//
//   npx tsc -p tsconfig.json && node bench/attestation-service.bench.js [SECONDS=3] [CLIENTS=16]
import { spawn } from 'node:child_process';
import { createInterface } from 'node:readline';
import { loadavg } from 'node:os';
import { fileURLToPath } from 'node:url';

import { Agent, request } from 'undici';

import { BundleSource, CollateralCache, CollateralService, verifyEvidence } from '../dist/index.js';
import { startAttestationService, appraise, PolicySet, TokenSigner, parseRequest } from '../dist/attestation-service/index.js';
import { SimulatedTeeProvider } from '../dist/tee/index.js';

const CENTRE = new Date('2026-01-15T00:00:00Z');
const NOW = new Date(CENTRE.getTime() + 3_600_000);
const warmCollateral = (p) => new CollateralService({ intel: new BundleSource([...p.collateral]), cache: new CollateralCache({ directory: null }) });

// ---- child: the HTTP floor (same bodies in and out, no verification) -------------
if (process.argv[2] === '--floor') {
  const { createServer } = await import('node:http');
  let answer = '';
  for await (const chunk of process.stdin) answer += chunk;
  const server = createServer((req, res) => {
    const chunks = [];
    req.on('data', (c) => chunks.push(c));
    req.on('end', () => {
      JSON.parse(Buffer.concat(chunks).toString('utf8'));
      res.writeHead(200, { 'content-type': 'application/json', 'content-length': String(Buffer.byteLength(answer)), 'cache-control': 'no-store' });
      res.end(answer);
    });
  });
  server.listen(0, '127.0.0.1', () => console.log(`http://127.0.0.1:${server.address().port}`));
  process.on('message', () => process.send(process.cpuUsage()));
  process.on('SIGTERM', () => process.exit(0));
}

// ---- child: the service -------------------------------------------------------
else if (process.argv[2] === '--serve') {
  let text = '';
  for await (const chunk of process.stdin) text += chunk;
  const p = SimulatedTeeProvider.fromState(text);
  const svc = await startAttestationService({ collateral: warmCollateral(p), trustRoots: p.trustRoots, port: 0, now: () => NOW, maxConcurrent: 64, maxQueued: 4096, log: () => {} });
  console.log(svc.url);
  // The parent asks for this process's CPU time around each measured phase.
  process.on('message', () => process.send(process.cpuUsage()));
  process.on('SIGTERM', () => svc.close().then(() => process.exit(0)));
} else {
  await main();
}

function cpuMicros(u) {
  return u.user + u.system;
}

/** Calls per second (wall) and CPU µs per call, sequentially in this process. */
async function rate(fn, seconds) {
  const end = process.hrtime.bigint() + BigInt(Math.round(seconds * 1e9));
  const t0 = process.hrtime.bigint();
  const c0 = process.cpuUsage();
  let n = 0;
  while (process.hrtime.bigint() < end) {
    await fn(n);
    n++;
  }
  return { perSecond: n / (Number(process.hrtime.bigint() - t0) / 1e9), cpuUs: cpuMicros(process.cpuUsage(c0)) / n };
}

function childCpu(child) {
  return new Promise((resolve) => {
    child.once('message', (u) => resolve(cpuMicros(u)));
    child.send('cpu');
  });
}

async function load(url, path, bodies, clients, seconds, agent, child) {
  const c0 = await childCpu(child);
  let stop = false;
  let done = 0;
  let failed = 0;
  let next = 0;
  const worker = async () => {
    while (!stop) {
      const body = bodies[next++ % bodies.length];
      const r = await request(`${url}${path}`, { method: 'POST', dispatcher: agent, headers: { 'content-type': 'application/json' }, body });
      await r.body.text();
      if (r.statusCode === 200) done++;
      else failed++;
    }
  };
  const t0 = process.hrtime.bigint();
  const timer = setTimeout(() => (stop = true), seconds * 1000);
  await Promise.all(Array.from({ length: clients }, worker));
  clearTimeout(timer);
  const wall = Number(process.hrtime.bigint() - t0) / 1e9;
  if (failed > 0) throw new Error(`${failed} requests failed`);
  return { perSecond: done / wall, cpuUs: ((await childCpu(child)) - c0) / done };
}

async function main() {
  const SECONDS = Number(process.argv[2] ?? 3);
  const CLIENTS = Number(process.argv[3] ?? 16);
  console.log(`tee-verify attestation-service benchmark (node ${process.version}, ${process.arch}, load average ${loadavg().map((l) => l.toFixed(1)).join(' ')})`);
  console.log(`command: npx tsc -p tsconfig.json && node bench/attestation-service.bench.js ${SECONDS} ${CLIENTS}\n`);
  const p = new SimulatedTeeProvider({ tee: 'tdx', at: CENTRE });
  const quotes = [];
  for (let i = 0; i < 64; i++) {
    const rd = new Uint8Array(64);
    rd[0] = i;
    quotes.push(Buffer.from((await p.getEvidence(rd)).evidence).toString('base64'));
  }

  // Library, in-process, warm.
  const collateral = warmCollateral(p);
  const verifyOpts = { collateral, at: NOW, trustRoots: p.trustRoots };
  for (const q of quotes) await verifyEvidence(q, verifyOpts);
  const lib = await rate((i) => verifyEvidence(quotes[i % quotes.length], verifyOpts), SECONDS);
  const ctx = { collateral, trustRoots: p.trustRoots, policies: new PolicySet(), signer: new TokenSigner(), tokenTtlSeconds: 300, verifierBuild: 'bench', issuer: 'bench' };
  const requests = quotes.map((q) => parseRequest({ evidence: q }));
  const full = await rate((i) => appraise(ctx, requests[i % requests.length], NOW), SECONDS);

  // The HTTP floor, then the service, each in a child process.
  const start = async (mode, input) => {
    const child = spawn(process.execPath, [fileURLToPath(import.meta.url), mode], { stdio: ['pipe', 'pipe', 'inherit', 'ipc'] });
    child.stdin.end(input);
    const url = await new Promise((resolve, reject) => {
      createInterface({ input: child.stdout }).once('line', resolve);
      child.once('exit', (code) => reject(new Error(`${mode} exited ${code}`)));
    });
    return { child, url };
  };
  const agent = new Agent({ connections: CLIENTS, pipelining: 1 });
  const plain = quotes.map((q) => JSON.stringify({ evidence: q }));
  const sample = JSON.stringify(await appraise(ctx, requests[0], NOW));
  const floorChild = await start('--floor', sample);
  let floor;
  try {
    await load(floorChild.url, '/v1/verify', plain, CLIENTS, 1, agent, floorChild.child);
    floor = await load(floorChild.url, '/v1/verify', plain, CLIENTS, SECONDS, agent, floorChild.child);
  } finally {
    floorChild.child.kill('SIGTERM');
  }
  const { child, url } = await start('--serve', JSON.stringify(p.exportState()));
  const trustee = quotes.map((q) => {
    const evidence = Buffer.from(JSON.stringify({ quote: q, aa_eventlog: null, cc_eventlog: null })).toString('base64url');
    return JSON.stringify({ policy_ids: [], tee: 'tdx', evidence });
  });
  try {
    await load(url, '/v1/verify', plain, CLIENTS, 1, agent, child); // warm-up: collateral into the service's cache, JIT
    const svcPlain = await load(url, '/v1/verify', plain, CLIENTS, SECONDS, agent, child);
    const svcTrustee = await load(url, '/attestation', trustee, CLIENTS, SECONDS, agent, child);
    const row = (name, r) => console.log(`  ${name.padEnd(54)} ${r.perSecond.toFixed(0).padStart(6)} /s  ${r.cpuUs.toFixed(0).padStart(5)} µs CPU each  throughput ${(r.perSecond / lib.perSecond).toFixed(2)}x, CPU ${(r.cpuUs / lib.cpuUs).toFixed(2)}x of verifyEvidence`);
    console.log('warm TDX v4 verification (simulated platform, collateral cached)');
    row('library verifyEvidence, in-process, sequential', lib);
    row('library appraise (verify + policy + EAR JWT)', full);
    row(`HTTP floor: same bodies, JSON.parse, no verification`, floor);
    row(`service POST /v1/verify, ${CLIENTS} clients, loopback HTTP`, svcPlain);
    row('service POST /attestation (trustee body, JWT answer)', svcTrustee);
    console.log(`\n  service CPU per request = ${(svcPlain.cpuUs / (full.cpuUs + floor.cpuUs)).toFixed(2)}x (library appraise + HTTP floor)`);
  } finally {
    await agent.close();
    child.kill('SIGTERM');
  }
}
