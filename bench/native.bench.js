// Benchmark of the native evidence core. Prints per-operation times and, since
// absolute times drift on shared machines, ratios against floors measured in
// the same run: a plain copy of the quote for parsing, node:crypto for ECDSA.
//
//   npm run build && npm run bench            (uses ../shared/vectors when present,
//                                               else the synthetic vectors in vectors/)
import { X509Certificate, createPublicKey, verify as nodeVerify } from 'node:crypto';
import { existsSync, readFileSync, readdirSync } from 'node:fs';
import { dirname, join, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';

import {
  EcdsaPublicKey,
  ecdsaVerify,
  parseEvidence,
  quoteSignedBytes,
  snpSignatureToRS,
} from '../dist/index.js';
import { native } from '../dist/native/index.js';

const root = resolve(dirname(fileURLToPath(import.meta.url)), '..');
const sharedDir = resolve(root, process.env.TEE_VECTORS_DIR ?? '../shared/vectors');

function loadInputs() {
  if (existsSync(join(sharedDir, 'manifest.json'))) {
    return {
      source: sharedDir,
      tdx: readFileSync(join(sharedDir, 'trustee/deps/verifier/test_data/tdx_quote_4.dat')),
      snp: readFileSync(join(sharedDir, 'ms-tee-attestation-verification/tests/test_data/genoa_attestation_report.bin')),
    };
  }
  const dir = join(root, 'vectors');
  const files = readdirSync(dir);
  const pick = (re) => readFileSync(join(dir, files.find((f) => re.test(f))));
  return { source: dir, tdx: pick(/^tdx-v4.*\.bin$/), snp: pick(/^snp-.*\.bin$/) };
}

/** Median nanoseconds per call over `rounds` rounds of `iterations` calls. */
function measure(fn, iterations, rounds = 9) {
  for (let i = 0; i < iterations; i++) fn(); // warm-up
  const samples = [];
  for (let r = 0; r < rounds; r++) {
    const start = process.hrtime.bigint();
    for (let i = 0; i < iterations; i++) fn();
    samples.push(Number(process.hrtime.bigint() - start) / iterations);
  }
  samples.sort((a, b) => a - b);
  return samples[Math.floor(samples.length / 2)];
}

function jwkOf(curve, xy) {
  const n = curve === 'P-256' ? 32 : 48;
  return {
    kty: 'EC',
    crv: curve,
    x: Buffer.from(xy.subarray(0, n)).toString('base64url'),
    y: Buffer.from(xy.subarray(n)).toString('base64url'),
  };
}

function row(label, ns, floorNs) {
  const us = (ns / 1000).toFixed(2).padStart(9);
  const ratio = floorNs === undefined ? '' : `  ratio ${(ns / floorNs).toFixed(2)}`;
  console.log(`  ${label.padEnd(52)} ${us} µs${ratio}`);
}

function ecdsaCase(label, curve, hash, xy, message, rs) {
  const keyObject = createPublicKey({ key: jwkOf(curve, xy), format: 'jwk' });
  const addonKey = EcdsaPublicKey.import(curve, xy);
  if (!ecdsaVerify(curve, xy, message, rs)) throw new Error(`${label}: signature does not verify`);
  const iterations = curve === 'P-256' ? 2000 : 600;
  const nodeWithImport = measure(() => nodeVerify(hash, message, { key: createPublicKey({ key: jwkOf(curve, xy), format: 'jwk' }), dsaEncoding: 'ieee-p1363' }, rs), iterations);
  // The raw addon call imports the key every time (ecdsaVerify keeps imported keys).
  const bits = curve === 'P-256' ? 256 : 384;
  const addonWithImport = measure(() => addon.raw.ecdsaVerify(bits, xy, message, rs), iterations);
  const nodeKeyed = measure(() => nodeVerify(hash, message, { key: keyObject, dsaEncoding: 'ieee-p1363' }, rs), iterations);
  const addonKeyed = measure(() => addonKey.verify(message, rs), iterations);
  console.log(`${label}`);
  row('node:crypto verify, key imported per call (floor)', nodeWithImport);
  row('addon raw ecdsaVerify, key imported per call', addonWithImport, nodeWithImport);
  row('node:crypto verify, KeyObject reused (floor)', nodeKeyed);
  row('addon EcdsaPublicKey.verify, key reused', addonKeyed, nodeKeyed);
  return { withImport: addonWithImport / nodeWithImport, keyed: addonKeyed / nodeKeyed };
}

const { source, tdx, snp } = loadInputs();
console.log(`tee-verify native benchmark (node ${process.version}, vectors: ${source})`);
console.log('command: npm run build && npm run bench\n');

const tdxBytes = new Uint8Array(tdx);
const snpBytes = new Uint8Array(snp);
const addon = native();
console.log(`parsing (${tdxBytes.length}-byte TDX quote, ${snpBytes.length}-byte SNP report)`);
const copyFloor = measure(() => Uint8Array.from(tdxBytes), 20000);
row('floor: Uint8Array.from(quote) (one copy)', copyFloor);
const frameTdx = measure(() => addon.parseIntelQuote(tdxBytes, 0), 20000);
row('native frame only: parseIntelQuote', frameTdx, copyFloor);
const parseTdx = measure(() => parseEvidence(tdxBytes), 20000);
row('parseEvidence(TDX quote) -> typed object', parseTdx, copyFloor);
const frameSnp = measure(() => addon.parseSnpReport(snpBytes, 0), 20000);
row('native frame only: parseSnpReport', frameSnp, copyFloor);
const parseSnp = measure(() => parseEvidence(snpBytes), 20000);
row('parseEvidence(SNP report) -> typed object', parseSnp, copyFloor);
console.log(`  target: parse < 5 µs per quote -> ${parseTdx < 5000 ? 'met' : 'NOT met'} (${(parseTdx / 1000).toFixed(2)} µs)\n`);

const quote = parseEvidence(tdxBytes);
const p256 = ecdsaCase('ECDSA P-256 / SHA-256 (TDX quote signature)', 'P-256', 'sha256', quote.signatureData.attestationKey, quoteSignedBytes(quote), quote.signatureData.quoteSignature);

const report = parseEvidence(snpBytes);
const vcekPath = (() => {
  const shared = join(sharedDir, 'ms-tee-attestation-verification/tests/test_data/genoa_vcek.pem');
  if (existsSync(shared)) return shared;
  const dir = join(root, 'vectors');
  return join(dir, readdirSync(dir).find((f) => /vcek.*\.(pem|der)$/.test(f)));
})();
const vcek = new X509Certificate(readFileSync(vcekPath));
const jwk = vcek.publicKey.export({ format: 'jwk' });
const vcekXY = new Uint8Array(Buffer.concat([Buffer.from(jwk.x, 'base64url'), Buffer.from(jwk.y, 'base64url')]));
const p384 = ecdsaCase('\nECDSA P-384 / SHA-384 (SNP report signature)', 'P-384', 'sha384', vcekXY, report.bytes.subarray(0, 0x2a0), snpSignatureToRS(report));

console.log('\nsummary (addon / node:crypto; goal <= 1.1, i.e. no measurable overhead):');
console.log(`  P-256 with key import ${p256.withImport.toFixed(2)}, key reused ${p256.keyed.toFixed(2)}`);
console.log(`  P-384 with key import ${p384.withImport.toFixed(2)}, key reused ${p384.keyed.toFixed(2)}`);
