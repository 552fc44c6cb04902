// Batch re-verification benchmark, one run:
//  - throughput of `tee-verify batch` (node dist/batch/main.js, a new process
//    per run, wall clock including worker start and the summary pass) on
//    100,000 generated TDX records from 4 synthetic platforms with warm
//    collateral (an in-memory bundle), with 1 worker and with 2;
//  - peak RSS of the whole process (all threads) at 10,000 and 100,000
//    records (and 1,000,000 streamed through stdin with --million);
//  - the floor from the same run: node:crypto P-256 verifications per second on
//    one thread, the one signature check every record needs (its quote);
//  - one-shot `tee-verify verify` from a cold process with the collateral in
//    the disk cache.
//
//   npm run build && node bench/batch.bench.js [--records 100000] [--rounds 3] [--million] [--archive <dir>]
import { execFileSync, spawn } from 'node:child_process';
import { createPublicKey, verify as nodeVerify } from 'node:crypto';
import { cpus, tmpdir } from 'node:os';
import { existsSync, mkdtempSync, readFileSync, rmSync, writeFileSync, createReadStream } from 'node:fs';
import { dirname, join, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';
import { createInterface } from 'node:readline';
import { parseArgs } from 'node:util';

import { CollateralCache, importBundle, parseEvidence } from '../dist/index.js';
import { generateArchive } from '../scripts/generate-archive.js';

const root = resolve(dirname(fileURLToPath(import.meta.url)), '..');
const { values } = parseArgs({ options: { records: { type: 'string' }, million: { type: 'boolean' }, archive: { type: 'string' }, rounds: { type: 'string' } } });
const RECORDS = Number(values.records ?? 100_000);
const AT = '2026-06-01T00:00:00Z';
const MAIN = join(root, 'dist', 'batch', 'main.js');
// Peak RSS of the process, all threads included, printed by the child itself at exit.
// CPU time (all threads) too: records per CPU-second do not depend on what else the machine runs.
const RSS_HOOK = `data:text/javascript,process.on("exit",()=>{const u=process.resourceUsage();process.stderr.write("maxrss-kb="+u.maxRSS+" cpu-us="+(u.userCPUTime+u.systemCPUTime)+"\\n")})`;

console.log(`tee-verify batch benchmark (node ${process.version}, ${process.arch}, ${cpus().length} cores: ${cpus()[0]?.model ?? '?'})`);
console.log(`command: npm run build && node bench/batch.bench.js${process.argv.slice(2).length ? ` ${process.argv.slice(2).join(' ')}` : ''}\n`);

// ---- archive ------------------------------------------------------------------
let dir = values.archive;
if (!dir || !existsSync(join(dir, 'archive.jsonl'))) {
  dir = dir ?? mkdtempSync(join(tmpdir(), 'tee-verify-bench-batch-'));
  const t0 = performance.now();
  await generateArchive({ records: RECORDS, out: dir, at: new Date(AT) });
  console.log(`generated ${RECORDS} records in ${((performance.now() - t0) / 1000).toFixed(1)} s: ${dir}`);
}
const archive = join(dir, 'archive.jsonl');
const head10k = join(dir, 'archive-10k.jsonl');
/** The first `n` lines of a file too large to read into one string. */
async function headLines(path, n) {
  const out = [];
  for await (const line of createInterface({ input: createReadStream(path), crlfDelay: Infinity })) {
    out.push(line);
    if (out.length === n) break;
  }
  return out;
}
if (!existsSync(head10k)) writeFileSync(head10k, `${(await headLines(archive, 10_000)).join('\n')}\n`);
const common = ['--at', AT, '--collateral', join(dir, 'collateral.json'), '--trust-root', join(dir, 'trust-root.pem')];

/** Runs the batch in a fresh process; returns records/s over the wall clock and peak RSS. */
function runBatch(input, workers, records, stdinFeed) {
  const out = join(dir, `bench-out-${workers}.jsonl`);
  rmSync(out, { force: true });
  rmSync(`${out}.checkpoint`, { force: true });
  return new Promise((resolvePromise, reject) => {
    const t0 = performance.now();
    const child = spawn(process.execPath, ['--import', RSS_HOOK, MAIN, input, '--out', out, '--workers', String(workers), ...common], { stdio: [stdinFeed ? 'pipe' : 'ignore', 'pipe', 'pipe'] });
    let stderr = '';
    let stdout = '';
    child.stdout.on('data', (d) => (stdout += d));
    child.stderr.on('data', (d) => (stderr += d));
    if (stdinFeed) stdinFeed(child.stdin);
    child.on('exit', (code) => {
      const seconds = (performance.now() - t0) / 1000;
      const rss = /maxrss-kb=(\d+) cpu-us=(\d+)/.exec(stderr);
      // 4: the generated archive holds records of a platform no bundle covers (unjudged, docs/batch.md); 1: some rejected.
      if ((code !== 1 && code !== 4) || !rss) return reject(new Error(`batch exited ${code}: ${stderr}${stdout}`));
      const done = Number(/^(\d+) records/.exec(stdout)?.[1]);
      if (done !== records) return reject(new Error(`expected ${records} results, got ${done}`));
      resolvePromise({ seconds, rate: records / seconds, rssMb: Number(rss[1]) / 1024, cpuUsPerRecord: Number(rss[2]) / records });
    });
  });
}

// ---- floor ----------------------------------------------------------------------
const firstQuote = parseEvidence(Buffer.from(JSON.parse((await headLines(archive, 1))[0]).evidence, 'base64'));
const sd = firstQuote.signatureData;
const jwk = (xy) => ({ kty: 'EC', crv: 'P-256', x: Buffer.from(xy.subarray(0, 32)).toString('base64url'), y: Buffer.from(xy.subarray(32)).toString('base64url') });
const attestKey = createPublicKey({ key: jwk(sd.attestationKey), format: 'jwk' });
const signed = firstQuote.bytes.subarray(0, firstQuote.signedRange.length);
for (let i = 0; i < 500; i++) nodeVerify('sha256', signed, { key: attestKey, dsaEncoding: 'ieee-p1363' }, sd.quoteSignature);
const floorSamples = [];
for (let r = 0; r < 5; r++) {
  const t0 = performance.now();
  for (let i = 0; i < 2000; i++) nodeVerify('sha256', signed, { key: attestKey, dsaEncoding: 'ieee-p1363' }, sd.quoteSignature);
  floorSamples.push(2000 / ((performance.now() - t0) / 1000));
}
const floor = floorSamples.sort((a, b) => a - b)[2];
console.log(`floor: node:crypto P-256 verify, 1 thread         ${Math.round(floor).toString().padStart(7)} /s`);

/**
 * What the machine gives two threads right now: the same P-256 loop on 1 and on
 * 2 worker threads for 3 s each. On a shared or SMT machine this is below 2x,
 * and no batch speedup can beat it.
 */
async function parallelFloor(threads) {
  const code = `const { parentPort, workerData } = require('node:worker_threads');
const { createPublicKey, verify } = require('node:crypto');
const key = createPublicKey(workerData.key);
const signed = Buffer.from(workerData.signed, 'base64');
const sig = Buffer.from(workerData.sig, 'base64');
let n = 0;
const end = performance.now() + 3000;
while (performance.now() < end) { verify('sha256', signed, { key, dsaEncoding: 'ieee-p1363' }, sig); n++; }
parentPort.postMessage(n);`;
  const data = { key: attestKey.export({ format: 'jwk' }), signed: Buffer.from(signed).toString('base64'), sig: Buffer.from(sd.quoteSignature).toString('base64') };
  const { Worker } = await import('node:worker_threads');
  const t0 = performance.now();
  const counts = await Promise.all(
    Array.from({ length: threads }, () => new Promise((r, j) => new Worker(code, { eval: true, workerData: { ...data, key: { key: data.key, format: 'jwk' } } }).on('message', r).on('error', j))),
  );
  return counts.reduce((a, b) => a + b, 0) / ((performance.now() - t0) / 1000);
}
const p1 = await parallelFloor(1);
const p2 = await parallelFloor(2);
const ceiling = p2 / p1;
console.log(`floor: the same loop on 2 threads                 ${Math.round(p2).toString().padStart(7)} /s  (machine speedup ceiling now: ${ceiling.toFixed(2)}x)`);

// ---- throughput -------------------------------------------------------------------
const fmt = (r) => `${Math.round(r.rate).toString().padStart(7)} records/s  ${r.seconds.toFixed(1).padStart(6)} s  peak RSS ${r.rssMb.toFixed(0)} MB  CPU ${r.cpuUsPerRecord.toFixed(0)} µs/record`;
// Interleaved 1, 2, 1, 2, ... so a neighbour's load hits both configurations alike; best and median of each.
const ROUNDS = Number(values.rounds ?? 3);
const runs = { 1: [], 2: [] };
for (let r = 0; r < ROUNDS; r++) for (const w of [1, 2]) runs[w].push(await runBatch(archive, w, RECORDS));
const best = (list) => list.reduce((a, b) => (b.rate > a.rate ? b : a));
const median = (list) => [...list].sort((a, b) => a.rate - b.rate)[Math.floor(list.length / 2)];
const one = best(runs[1]);
const two = best(runs[2]);
console.log(`batch, 1 worker,  ${RECORDS} records, best of ${ROUNDS}  ${fmt(one)}  median ${Math.round(median(runs[1]).rate)}/s  ${(one.rate / floor).toFixed(2)} x floor`);
console.log(`batch, 2 workers, ${RECORDS} records, best of ${ROUNDS}  ${fmt(two)}  median ${Math.round(median(runs[2]).rate)}/s  ${(two.rate / floor).toFixed(2)} x floor`);
const after = (await parallelFloor(2)) / (await parallelFloor(1));
console.log(`  machine speedup ceiling before / after the batch runs: ${ceiling.toFixed(2)}x / ${after.toFixed(2)}x`);
console.log(`  2 workers: ${Math.round(two.rate)} records/s (target >= 5000) -> ${two.rate >= 5000 ? 'met' : 'NOT met'}`);
console.log(`  speedup 2 vs 1 worker: ${(two.rate / one.rate).toFixed(2)}x (target >= 1.8) -> ${two.rate / one.rate >= 1.8 ? 'met' : 'NOT met'}; ${(two.rate / one.rate / Math.max(ceiling, after)).toFixed(2)} of the machine's ceiling`);

// ---- memory -------------------------------------------------------------------------
const small = await runBatch(head10k, 2, 10_000);
console.log(`\npeak RSS, 2 workers:  10,000 records ${small.rssMb.toFixed(0)} MB; ${RECORDS.toLocaleString('en-US')} records ${two.rssMb.toFixed(0)} MB (ratio ${(two.rssMb / small.rssMb).toFixed(2)})`);
if (values.million) {
  const copies = Math.ceil(1_000_000 / RECORDS);
  const feed = async (stdin) => {
    for (let i = 0; i < copies; i++) {
      for await (const chunk of createReadStream(archive)) if (!stdin.write(chunk)) await new Promise((r) => stdin.once('drain', r));
    }
    stdin.end();
  };
  const million = await runBatch('-', 2, copies * RECORDS, feed);
  console.log(`peak RSS, 2 workers: ${(copies * RECORDS).toLocaleString('en-US')} records through stdin ${million.rssMb.toFixed(0)} MB  (${Math.round(million.rate)} records/s)`);
}

// ---- one-shot verify, cold process, collateral in the disk cache -------------------------
const cacheDir = mkdtempSync(join(tmpdir(), 'tee-verify-bench-cache-'));
const cache = new CollateralCache({ directory: cacheDir });
for (const a of importBundle(readFileSync(join(dir, 'collateral.json')))) cache.put(a);
const quoteFile = join(dir, 'quote.bin');
writeFileSync(quoteFile, firstQuote.bytes);
const verifyArgs = [join(root, 'bin', 'tee-verify.js'), 'verify', quoteFile, '--at', AT, '--trust-root', join(dir, 'trust-root.pem'), '--cache-dir', cacheDir, '--offline'];
let cli = true;
try {
  execFileSync(process.execPath, verifyArgs, { stdio: 'pipe' });
} catch (err) {
  cli = false;
  console.log(`\n(tee-verify verify failed: ${String(err.stderr).trim().split('\n')[0]})`);
}
/** A cold process verifying the quote with the library: through the package index, or through the offline modules only (no HTTP stack). */
const coldScript = (deep) => {
  const d = (m) => JSON.stringify(join(root, 'dist', m));
  const imports = deep
    ? `import { CollateralCache } from ${d('collateral/cache.js')}; import { BundleSource } from ${d('collateral/bundle.js')}; import { CollateralService } from ${d('collateral/service.js')}; import { verifyEvidence, PRODUCTION_TRUST_ROOTS } from ${d('verify/index.js')}; import { splitPemCertificates } from ${d('x509/index.js')};`
    : `import { BundleSource, CollateralCache, CollateralService, verifyEvidence, splitPemCertificates, PRODUCTION_TRUST_ROOTS } from ${d('index.js')};`;
  return `import { readFileSync } from 'node:fs'; ${imports}
const r = await verifyEvidence(readFileSync(${JSON.stringify(quoteFile)}), { collateral: new CollateralService({ intel: new BundleSource([]), cache: new CollateralCache({ directory: ${JSON.stringify(cacheDir)} }) }), at: new Date(${JSON.stringify(AT)}), trustRoots: { label: 'test', intelRootCas: splitPemCertificates(readFileSync(${JSON.stringify(join(dir, 'trust-root.pem'))}, 'utf8')), amd: PRODUCTION_TRUST_ROOTS.amd } });
if (r.tcbStatus !== 'UpToDate') process.exit(1);`;
};
function medianWall(args) {
  const samples = [];
  for (let i = 0; i < 7; i++) {
    const t0 = performance.now();
    execFileSync(process.execPath, args, { stdio: 'pipe' });
    samples.push(performance.now() - t0);
  }
  return samples.sort((a, b) => a - b)[3];
}
const bare = medianWall(['-e', '0']);
console.log(`\ncold one-shot verification, collateral in the disk cache (median of 7; floor \`node -e 0\` ${bare.toFixed(0)} ms):`);
if (cli) {
  const t = medianWall(verifyArgs);
  console.log(`  node bin/tee-verify.js verify --offline            ${t.toFixed(0).padStart(5)} ms (target <= 150 ms) -> ${t <= 150 ? 'met' : 'NOT met'}`);
}
const viaIndex = medianWall(['--input-type=module', '-e', coldScript(false)]);
const offlineOnly = medianWall(['--input-type=module', '-e', coldScript(true)]);
console.log(`  verifyEvidence, importing the package index         ${viaIndex.toFixed(0).padStart(5)} ms`);
console.log(`  verifyEvidence, importing the offline modules only  ${offlineOnly.toFixed(0).padStart(5)} ms (the index loads undici eagerly)`);
rmSync(cacheDir, { recursive: true, force: true });
