// Full vTPM verification cost against the hardware-report verification floor
// (issue 9), one run, side by side:
//  - simulated confidential VMs (TDX and SEV-SNP hardware from the simulated TEE,
//    a simulated TPM whose PCRs a generated boot log and a generated IMA list of
//    VTPM_BENCH_IMA entries (default 2,000) extended): a fresh quote and hardware
//    report per call, verified as the gateway's client does: verifyEvidence on the
//    hardware evidence, then verifyVtpmEvidence on the bundle (pinned AK, nonce);
//  - the real Azure SEV-SNP Genoa vTPM bundle (HCL report, VCEK chain, RSA quote)
//    from the shared vectors (TEE_VECTORS_DIR, default ../shared/vectors), where
//    verifyVtpmEvidence verifies the hardware report itself.
// Each is set against (a) the hardware report verification alone (verifyEvidence /
// verifySnpReport) and (b) the node:crypto floor of the hardware signatures, measured
// in the same run (CPU time per call, process.cpuUsage). No hard target: the issue
// asks for the cost to be reported; the breakdown says what dominates.
//
//   npx tsc -p tsconfig.json && node bench/vtpm.bench.js
import { createHash, createPublicKey, verify as nodeVerify, X509Certificate } from 'node:crypto';
import { existsSync, readFileSync } from 'node:fs';
import { cpus, loadavg } from 'node:os';
import { dirname, join, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';

import { BundleSource, CollateralService, parseEvidence, parseCertificate, splitPemCertificates, snpSignatureToRS, verifyEvidence, verifySnpReport } from '../dist/index.js';
import { SimulatedTeeProvider, SimulatedVtpmProvider } from '../dist/tee/index.js';
import { amdCollateralFromCertTable } from '../dist/verify/snp/index.js';
import { serializeVtpmBundle } from '../dist/vtpm/bundle.js';
import { parseHclReport, parseTpmPublic } from '../dist/vtpm/parse.js';
import { keyFromTpmPublic } from '../dist/vtpm/tpm-key.js';
import { verifyVtpmEvidence } from '../dist/vtpm/verify.js';

const root = resolve(dirname(fileURLToPath(import.meta.url)), '..');
const IMA = Number(process.env.VTPM_BENCH_IMA ?? 2000);
const N = Number(process.env.VTPM_BENCH_N ?? 150);
const WARM = 20;
const ROUNDS = 3;

const fmt = (us) => `${us.toFixed(0).padStart(8)} µs`;
const x = (a, b) => `${(a / b).toFixed(2).padStart(6)}x`;
const mid = (xs) => [...xs].sort((a, b) => a - b)[Math.floor(xs.length / 2)];

/** CPU µs per call over items [WARM, N), median of ROUNDS passes. */
async function cpuPerCall(fn, n = N) {
  for (let i = 0; i < Math.min(WARM, n); i++) await fn(i);
  const samples = [];
  for (let r = 0; r < ROUNDS; r++) {
    const c0 = process.cpuUsage();
    for (let i = 0; i < n; i++) await fn(i);
    const c = process.cpuUsage(c0);
    samples.push((c.user + c.system) / n);
  }
  return mid(samples);
}

console.log(`tee-verify vTPM verification benchmark (node ${process.version}, ${process.arch}, ${cpus().length} cores, load ${loadavg().map((l) => l.toFixed(1)).join(' ')})`);
console.log(`command: npx tsc -p tsconfig.json && node bench/vtpm.bench.js   (${N} fresh bundles per platform, ${IMA} IMA entries, CPU time per call, median of ${ROUNDS} passes)`);

const jwk = (xy) => ({ kty: 'EC', crv: 'P-256', x: Buffer.from(xy.subarray(0, 32)).toString('base64url'), y: Buffer.from(xy.subarray(32)).toString('base64url') });

async function simulated(tee) {
  const hw = new SimulatedTeeProvider({ tee });
  const vm = new SimulatedVtpmProvider({ hardware: hw, imaEntries: IMA, quoteBanks: ['sha256'], seed: `vtpm-bench-${tee}` });
  const items = [];
  for (let i = 0; i < N; i++) {
    const reportData = createHash('sha512').update(`report ${i}`).digest();
    const extraData = createHash('sha256').update(reportData).digest();
    const ev = await vm.getVtpmEvidence({ reportData: new Uint8Array(reportData), extraData: new Uint8Array(extraData) });
    items.push({ hardware: ev.hardware.evidence, bundle: ev.bundle, nonce: new Uint8Array(extraData) });
  }
  if (tee === 'tdx') {
    // The simulator signs its QE report again per quote (a random ECDSA k); hardware keeps one
    // QE report signature, so only the quote signature is new (as in bench/verify.bench.js).
    const first = parseEvidence(items[0].hardware);
    const at = first.signatureData.qeReportSignature.byteOffset - first.bytes.byteOffset;
    for (const it of items) it.hardware.set(first.signatureData.qeReportSignature, at);
  }
  const parsed = items.map((it) => parseEvidence(it.hardware));
  const collateral = new CollateralService({ [tee === 'tdx' ? 'intel' : 'amd']: new BundleSource([...hw.collateral]), cache: null });
  const hwOptions = { collateral, trustRoots: hw.trustRoots };
  const trustedAk = keyFromTpmPublic(parseTpmPublic(items[0].bundle.tpm.ak.public)).key;
  const at = new Date();
  const vtpmOptions = (i) => ({ at, nonce: items[i].nonce, trustedAk });
  const noLogs = items.map((it) => ({ ...it.bundle, eventLog: undefined, ima: undefined }));
  const bootOnly = items.map((it) => ({ ...it.bundle, ima: undefined }));
  for (const k of [noLogs, bootOnly]) for (const b of k) for (const key of Object.keys(b)) if (b[key] === undefined) delete b[key];

  let floorOf;
  if (tee === 'tdx') {
    const [leafDer, interDer] = splitPemCertificates(parsed[0].signatureData.pckCertChainPem);
    const leaf = new X509Certificate(Buffer.from(leafDer)).publicKey;
    const inter = new X509Certificate(Buffer.from(interDer)).publicKey;
    const leafInfo = parseCertificate(leafDer);
    floorOf = (i) => {
      const q = parsed[i];
      const s = q.signatureData;
      const attestKey = createPublicKey({ key: jwk(s.attestationKey), format: 'jwk' });
      nodeVerify('sha256', q.bytes.subarray(0, q.signedRange.length), { key: attestKey, dsaEncoding: 'ieee-p1363' }, s.quoteSignature);
      nodeVerify('sha256', s.qeReportBytes, { key: leaf, dsaEncoding: 'ieee-p1363' }, s.qeReportSignature);
      nodeVerify('sha256', leafInfo.tbs, inter, leafInfo.signature);
    };
  } else {
    const vcek = hw.collateral.find((a) => a.kind === 'amd-vcek');
    const key = new X509Certificate(Buffer.from(vcek.body)).publicKey;
    floorOf = (i) => nodeVerify('sha384', parsed[i].bytes.subarray(0, 0x2a0), { key, dsaEncoding: 'ieee-p1363' }, snpSignatureToRS(parsed[i]));
  }
  const check = await verifyVtpmEvidence(items[0].bundle, vtpmOptions(0));
  if (check.replay?.ima?.entries !== IMA + 1) throw new Error('the IMA list was not replayed');

  const t = {
    floor: await cpuPerCall(floorOf),
    hardware: await cpuPerCall((i) => verifyEvidence(items[i].hardware, hwOptions)),
    quoteOnly: await cpuPerCall((i) => verifyVtpmEvidence(noLogs[i], vtpmOptions(i))),
    withBoot: await cpuPerCall((i) => verifyVtpmEvidence(bootOnly[i], vtpmOptions(i))),
    vtpm: await cpuPerCall((i) => verifyVtpmEvidence(items[i].bundle, vtpmOptions(i))),
    full: await cpuPerCall(async (i) => {
      await verifyEvidence(items[i].hardware, hwOptions);
      await verifyVtpmEvidence(items[i].bundle, vtpmOptions(i));
    }),
  };
  const label = tee === 'tdx' ? 'TDX v4 quote (simulated TEE)' : 'SEV-SNP report (simulated Milan v3)';
  const floorText = tee === 'tdx' ? 'quote + QE report + PCK leaf ECDSA P-256' : 'report ECDSA P-384';
  console.log(`\nSimulated confidential VM: ${label} + simulated vTPM (ECC P-256 AK, SHA-256 quote of PCRs 0-23, boot log ${check.replay.eventLog.events} events, IMA list ${IMA + 1} entries)`);
  console.log(`  (b) floor: node:crypto ${floorText.padEnd(44)} ${fmt(t.floor)}`);
  console.log(`  (a) hardware report alone: verifyEvidence                              ${fmt(t.hardware)}  ${x(t.hardware, t.floor)} of (b)`);
  console.log(`  vTPM part: verifyVtpmEvidence, quote only (no logs)                    ${fmt(t.quoteOnly)}`);
  console.log(`  vTPM part: verifyVtpmEvidence, quote + boot log replay                 ${fmt(t.withBoot)}`);
  console.log(`  vTPM part: verifyVtpmEvidence, quote + boot log + IMA replay           ${fmt(t.vtpm)}   IMA share ${(((t.vtpm - t.withBoot) / t.vtpm) * 100).toFixed(0)}%`);
  console.log(`  full: verifyEvidence + verifyVtpmEvidence                              ${fmt(t.full)}  ${x(t.full, t.hardware)} of (a), ${x(t.full, t.floor)} of (b)`);
  return { tee, ...t };
}

const results = [];
results.push(await simulated('tdx'));
results.push(await simulated('snp'));

// ---- The real Azure SEV-SNP Genoa vTPM bundle --------------------------------------
const vectors = resolve(root, process.env.TEE_VECTORS_DIR ?? '../shared/vectors');
if (!existsSync(join(vectors, 'manifest.json'))) {
  console.log(`\nAzure Genoa vTPM bundle: skipped, shared vectors not found at ${vectors}`);
} else {
  const readText = (rel) => readFileSync(join(vectors, rel), 'utf8');
  const e = JSON.parse(readText('trustee/deps/verifier/test_data/az-snp-vtpm/evidence-genoa.json'));
  const chain = splitPemCertificates(readText('trustee/deps/verifier/src/snp/genoa_ask_ark_asvk.pem'));
  const nonce = new Uint8Array(Buffer.from('0218488bae25d2509232bf676f1a66a30d7372add909109b36016ef136f2938ca05475f8b46094de6b64270ea35d950f', 'hex'));
  // trustee's raw RSASSA-SHA256 quote signature as a TPMT_SIGNATURE (RSASSA, SHA-256, TPM2B).
  const raw = new Uint8Array(e.quote.signature);
  const signature = new Uint8Array(6 + raw.length);
  const dv = new DataView(signature.buffer);
  dv.setUint16(0, 0x0014);
  dv.setUint16(2, 0x000b);
  dv.setUint16(4, raw.length);
  signature.set(raw, 6);
  const bundle = {
    nonce,
    hardware: { hclReport: new Uint8Array(e.report), certificates: [...splitPemCertificates(e.vcek), ...chain] },
    tpm: {
      quotes: [{ attest: new Uint8Array(e.quote.message), signature }],
      pcrs: { sha256: Object.fromEntries(e.quote.pcrs.map((v, i) => [String(i), new Uint8Array(v)])) },
    },
  };
  const manifest = JSON.parse(readText('manifest.json'));
  const at = new Date(manifest.find((m) => m.id === 'trustee/az_snp_vtpm_evidence_genoa').verification_time);
  const crlPem = readText('openpcc/extracted/test_amd_genoa_crl.pem');
  const crl = new Uint8Array(Buffer.from(crlPem.replace(/-----(BEGIN|END) [A-Z509 ]+-----/g, '').replace(/\s+/g, ''), 'base64'));
  const verifyHardware = async (evidence, table) => verifySnpReport(evidence, amdCollateralFromCertTable(table, 'vcek', crl), { at });
  const options = { at, nonce, verifyHardware };
  const r = await verifyVtpmEvidence(bundle, options);
  if (r.platform !== 'azure-snp') throw new Error('unexpected platform');
  // The hardware report alone: the SNP report inside the HCL report, with the same collateral.
  const report = parseEvidence(parseHclReport(bundle.hardware.hclReport).hardwareReport);
  const vcekDer = splitPemCertificates(e.vcek)[0];
  const snpCollateral = { signingCertificate: vcekDer, crl };
  const vcekKey = new X509Certificate(Buffer.from(vcekDer)).publicKey;
  const rs = snpSignatureToRS(report);
  const reportBytes = parseHclReport(bundle.hardware.hclReport).hardwareReport;
  const bundleText = serializeVtpmBundle(bundle);
  const G = 200;
  const t = {
    floor: await cpuPerCall(() => nodeVerify('sha384', report.bytes.subarray(0, 0x2a0), { key: vcekKey, dsaEncoding: 'ieee-p1363' }, rs), G),
    hardware: await cpuPerCall(() => verifySnpReport(parseEvidence(reportBytes), snpCollateral, { at }), G),
    full: await cpuPerCall(() => verifyVtpmEvidence(bundle, options), G),
    json: await cpuPerCall(() => verifyVtpmEvidence(bundleText, options), G),
  };
  console.log('\nAzure SEV-SNP Genoa vTPM bundle (real: HCL report, VCEK + Genoa chain, RSA-2048 AK quote of 24 SHA-256 PCRs, no logs; offline, CRL given)');
  console.log(`  (b) floor: node:crypto report ECDSA P-384                              ${fmt(t.floor)}`);
  console.log(`  (a) hardware report alone: verifySnpReport(parseEvidence(report))      ${fmt(t.hardware)}  ${x(t.hardware, t.floor)} of (b)`);
  console.log(`  full: verifyVtpmEvidence(bundle object)                                ${fmt(t.full)}  ${x(t.full, t.hardware)} of (a), ${x(t.full, t.floor)} of (b)`);
  console.log(`  full: verifyVtpmEvidence(bundle JSON text)                             ${fmt(t.json)}  ${x(t.json, t.hardware)} of (a), ${x(t.json, t.floor)} of (b)`);
}

console.log('\nwhat dominates (simulated VMs): share of the full verification');
for (const r of results) {
  const share = (v) => `${((v / r.full) * 100).toFixed(0).padStart(3)}%`;
  console.log(
    `  ${r.tee.toUpperCase().padEnd(4)} hardware report ${share(r.hardware)}, TPM quote (signature, nonce, PCR digest) ${share(r.quoteOnly)}, boot log replay ${share(r.withBoot - r.quoteOnly)}, IMA replay of ${IMA + 1} entries ${share(r.vtpm - r.withBoot)}`,
  );
}
