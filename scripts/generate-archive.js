#!/usr/bin/env node
// Generates a synthetic evidence archive for `tee-verify batch`: N JSONL records
// of TDX v4 quotes from a few synthetic Intel platforms under one test PKI, the
// collateral bundle (two versions of every artifact: the window that was current
// when most records were collected, and the current one) and the test trust root.
//
//   npx tsc -p tsconfig.json && node scripts/generate-archive.js --records 10000 --out /tmp/archive [--at <ISO>] [--seed <s>]
//
// Writes <out>/archive.jsonl, <out>/collateral.json, <out>/trust-root.pem and
// <out>/expected.json (exact counts per status, for `--at <now>` and `--at collected`).
// Never trusted in production: the verifier pins Intel's real root.
import { createHash } from 'node:crypto';
import { mkdirSync, writeFileSync, createWriteStream } from 'node:fs';
import { join, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';
import { parseArgs } from 'node:util';

import {
  buildTdxQuote,
  buildTestCrl,
  createIntelTestPki,
  defaultTcbInfo,
  defaultQeIdentity,
  deriveBytes,
  deriveEcKeyPair,
  deriveSerial,
  intelArtifact,
  resignIntelQuote,
  signCollateralJson,
  TD_REPORT_BODY,
} from '../dist/testing/index.js';

const DAY = 86_400_000;

/**
 * The record kinds and their share of the archive, in this order. `now` and
 * `collected` give the status each kind has when verified at the archive's
 * instant and at its collection time (old window for "recovered" and
 * "revoked-later" platforms).
 */
export const RECORD_KINDS = [
  { kind: 'up-to-date', share: 0.6, platform: 'alpha', now: 'UpToDate', collected: 'UpToDate' },
  { kind: 'up-to-date-2', share: 0.15, platform: 'beta', now: 'UpToDate', collected: 'UpToDate' },
  { kind: 'tcb-recovery', share: 0.1, platform: 'gamma', now: 'OutOfDate', collected: 'UpToDate' },
  { kind: 'revoked-later', share: 0.04, platform: 'delta', now: 'ERR_REVOKED', collected: 'UpToDate' },
  { kind: 'tampered', share: 0.04, platform: 'alpha', now: 'ERR_SIG_QUOTE', collected: 'ERR_SIG_QUOTE' },
  { kind: 'report-data-mismatch', share: 0.03, platform: 'beta', now: 'UpToDate', collected: 'UpToDate', policyViolation: true },
  { kind: 'unknown-platform', share: 0.02, platform: 'epsilon', now: 'ERR_COLLATERAL_MISSING', collected: 'ERR_COLLATERAL_MISSING' },
  { kind: 'truncated', share: 0.02, platform: 'alpha', now: 'ERR_LENGTH_OUT_OF_BOUNDS', collected: 'ERR_LENGTH_OUT_OF_BOUNDS' },
];

const PLATFORMS = {
  alpha: { fmspc: '90c06f000000' },
  beta: { fmspc: '50806f000000' },
  gamma: { fmspc: '00906ed50000' },
  delta: { fmspc: '30606a000000' },
  epsilon: { fmspc: 'c0806f000000' }, // no TCB info in the bundle
};

/** Deterministic kind of record i: a fixed, evenly interleaved pattern of 100 slots. */
export function kindOfIndex(i) {
  const slot = (i * 37) % 100; // 37 is coprime with 100: every slot once per 100 records
  let acc = 0;
  for (const k of RECORD_KINDS) {
    acc += Math.round(k.share * 100);
    if (slot < acc) return k;
  }
  return RECORD_KINDS[0];
}

function bundleEntry(a) {
  return { kind: a.kind, key: a.key, body: Buffer.from(a.body).toString('base64'), ...(a.issuerChainPem ? { issuerChainPem: a.issuerChainPem } : {}), source: { origin: 'bundle' } };
}

/** One PKI (root, PCK Platform CA, TCB Signing) and one PCK leaf per platform, all from the seed. */
function buildPlatforms(seed, at) {
  const validity = { notBefore: new Date(at.getTime() - 365 * DAY), notAfter: new Date(at.getTime() + 5 * 365 * DAY) };
  const base = createIntelTestPki({ seed, validity });
  const platforms = {};
  for (const [name, p] of Object.entries(PLATFORMS)) {
    // Same seed: the CA and root keys and names are the base PKI's, so this leaf chains to base.pckCa.
    const pki = createIntelTestPki({
      seed,
      validity,
      sgx: { fmspc: Buffer.from(p.fmspc, 'hex'), ppid: deriveBytes(seed, `archive:${name}:ppid`, 16) },
      overrides: { pck: { key: deriveEcKeyPair(seed, `archive:${name}:pck`, 'P-256'), serial: deriveSerial(seed, `archive:${name}:pck`) } },
    });
    const pckChainPem = pki.pck.pem + base.pckCa.pem + base.root.pem;
    const attestationKey = deriveEcKeyPair(seed, `archive:${name}:attestation`, 'P-256').privateKey;
    const quote = buildTdxQuote({ seed, version: 4, pckKey: pki.pck.key.privateKey, pckChainPem, attestationKey });
    platforms[name] = { name, fmspc: p.fmspc, pki, quote, attestationKey, serialHex: pki.pck.serialHex };
  }
  return { base, platforms };
}

/** Collateral for one window: TCB info per platform (not epsilon), QE identity, PCK CRL, Root CA CRL. */
function windowArtifacts(seed, base, platforms, w) {
  const out = [];
  const sign = (member, doc) => signCollateralJson(member, doc, base.tcbSigning.key.privateKey);
  for (const p of Object.values(platforms)) {
    if (p.name === 'epsilon') continue;
    const doc = defaultTcbInfo({
      issueDate: w.notBefore,
      nextUpdate: w.notAfter,
      fmspc: Buffer.from(p.fmspc, 'hex'),
      pceId: p.pki.sgx.pceId,
      sgxComponents: p.pki.sgx.tcb.components,
      pceSvn: p.pki.sgx.tcb.pceSvn,
      teeTcbSvn: p.quote.body.teeTcbSvn,
      moduleSigner: p.quote.body.mrSignerSeam,
      tcbEvaluationDataNumber: w.evaluationDataNumber,
    });
    if (p.name === 'gamma' && w.current) {
      // A TCB recovery: the platform's own TCB is no longer the top level.
      doc.tcbLevels[0].tcbStatus = 'OutOfDate';
      doc.tcbLevels[0].advisoryIDs = ['INTEL-SA-01079'];
    }
    out.push(intelArtifact('intel-tcb-info', `intel/tcb-info/tdx/${p.fmspc}/update=standard`, sign('tcbInfo', doc), base.tcbSigningChainPem));
  }
  const qe = platforms.alpha.quote.qeReport;
  const qeDoc = defaultQeIdentity({ tee: 'tdx', issueDate: w.notBefore, nextUpdate: w.notAfter, mrSigner: qe.mrSigner, isvProdId: qe.isvProdId, isvSvn: qe.isvSvn, tcbEvaluationDataNumber: w.evaluationDataNumber });
  out.push(intelArtifact('intel-qe-identity', 'intel/qe-identity/tdx/update=standard', sign('enclaveIdentity', qeDoc), base.tcbSigningChainPem));
  const revoked = [deriveSerial(seed, 'archive:revoked:1'), ...(w.current ? [platforms.delta.serialHex] : [])];
  const crl = (issuer) => buildTestCrl(issuer, { thisUpdate: w.notBefore, nextUpdate: w.notAfter, revokedSerials: revoked, crlNumber: w.evaluationDataNumber });
  out.push(intelArtifact('intel-pck-crl', 'intel/pck-crl/platform', crl(base.pckCa), base.pckCa.pem + base.root.pem));
  out.push(intelArtifact('intel-root-ca-crl', 'intel/root-ca-crl', buildTestCrl(base.root, { thisUpdate: w.notBefore, nextUpdate: w.notAfter, crlNumber: w.evaluationDataNumber })));
  return out;
}

function reportDataOf(seed, i) {
  return createHash('sha512').update(`${seed}:record:${i}`).digest();
}

/** The record for index i: a quote with its own report data, re-signed by its platform's attestation key. */
function makeRecord(seed, platforms, i, collectedAt) {
  const k = kindOfIndex(i);
  const id = `rec-${String(i).padStart(8, '0')}`;
  const reportData = reportDataOf(seed, i);
  const p = platforms[k.platform];
  const bytes = Uint8Array.from(p.quote.bytes);
  bytes.set(reportData, p.quote.layout.bodyOffset + TD_REPORT_BODY.reportData);
  resignIntelQuote(bytes, { attestationKey: p.attestationKey });
  if (k.kind === 'tampered') bytes[p.quote.layout.bodyOffset + TD_REPORT_BODY.reportData] ^= 0x01;
  // A torn upload: the quote cut inside its signature data.
  const evidence = k.kind === 'truncated' ? bytes.subarray(0, p.quote.layout.qeReportOffset) : bytes;
  const expected = k.policyViolation ? createHash('sha512').update(`${seed}:other:${i}`).digest() : reportData;
  return { record: { id, evidence: Buffer.from(evidence).toString('base64'), collectedAt, reportData: expected.toString('hex') }, kind: k };
}

/**
 * Writes the archive. `at` is the archive's "now": the current collateral window
 * is [at - 10 d, at + 20 d], the older one [at - 40 d, at - 10 d]; records are
 * collected over [at - 35 d, at - 1 d], one block of 100 in four in the older window.
 */
export async function generateArchive({ records, out, at = new Date(), seed = 'tee-verify archive' }) {
  mkdirSync(out, { recursive: true });
  const { base, platforms } = buildPlatforms(seed, at);
  const t = at.getTime();
  const older = { notBefore: new Date(t - 40 * DAY), notAfter: new Date(t - 10 * DAY), evaluationDataNumber: 17, current: false };
  const current = { notBefore: new Date(t - 10 * DAY), notAfter: new Date(t + 20 * DAY), evaluationDataNumber: 18, current: true };
  const artifacts = [...windowArtifacts(seed, base, platforms, older), ...windowArtifacts(seed, base, platforms, current)];
  writeFileSync(join(out, 'collateral.json'), `${JSON.stringify({ format: 'tee-verify-collateral-bundle', version: 1, artifacts: artifacts.map(bundleEntry) }, null, 2)}\n`);
  writeFileSync(join(out, 'trust-root.pem'), base.root.pem);
  const expected = { records, at: at.toISOString(), now: {}, collected: {}, okNow: 0, okCollected: 0, changedCollectedVsNow: 0, kinds: {} };
  const stream = createWriteStream(join(out, 'archive.jsonl'));
  for (let i = 0; i < records; i++) {
    const old = Math.floor(i / 100) % 4 === 0; // whole blocks of the 100-record pattern
    const collectedAt = new Date(old ? t - 35 * DAY + (i % 1000) * 60_000 : t - 9 * DAY + (i % 1000) * 600_000).toISOString();
    const { record, kind } = makeRecord(seed, platforms, i, collectedAt);
    const atCollected = old ? kind.collected : kind.now;
    expected.now[kind.now] = (expected.now[kind.now] ?? 0) + 1;
    expected.collected[atCollected] = (expected.collected[atCollected] ?? 0) + 1;
    const okNow = kind.now === 'UpToDate' && !kind.policyViolation;
    const okCollected = atCollected === 'UpToDate' && !kind.policyViolation;
    if (okNow) expected.okNow++;
    if (okCollected) expected.okCollected++;
    if (okNow !== okCollected || kind.now !== atCollected) expected.changedCollectedVsNow++;
    expected.kinds[kind.kind] = (expected.kinds[kind.kind] ?? 0) + 1;
    if (!stream.write(`${JSON.stringify(record)}\n`)) await new Promise((r) => stream.once('drain', r));
  }
  await new Promise((r, j) => stream.end((e) => (e ? j(e) : r())));
  writeFileSync(join(out, 'expected.json'), `${JSON.stringify(expected, null, 2)}\n`);
  return expected;
}

const USAGE = 'usage: node scripts/generate-archive.js --records N --out <dir> [--at <ISO>] [--seed <s>]';

const HELP = `${USAGE}

Writes a synthetic archive for \`tee-verify batch\` (test PKI; never trusted in production):
  <dir>/archive.jsonl    N records of TDX v4 quotes, each with its collectedAt
  <dir>/collateral.json  the collateral bundle (the old and the current window)
  <dir>/trust-root.pem   the test root, for batch --trust-root
  <dir>/expected.json    the exact counts per status for --at <ISO> and --at collected
Options:
  --records N   how many records (required)
  --out <dir>   where to write (required; created when missing)
  --at <ISO>    the archive's instant (default: now, whole seconds)
  --seed <s>    the seed of every key and certificate (default: fixed, so runs repeat)
Record kinds, as a share of the archive: ${RECORD_KINDS.map((k) => `${k.kind} ${Math.round(k.share * 100)} %`).join(', ')}.
The unknown-platform records have no TCB info in the bundle, so a batch run over the
archive exits 4 (some records collateral unavailable) by design.`;

/** Exits 2 with the one-line usage: the command line cannot be used. */
function usageError(message) {
  console.error(`generate-archive: ${message}; ${USAGE}`);
  process.exit(2);
}

if (process.argv[1] && resolve(process.argv[1]) === fileURLToPath(import.meta.url)) {
  let values;
  try {
    ({ values } = parseArgs({ options: { records: { type: 'string' }, out: { type: 'string' }, at: { type: 'string' }, seed: { type: 'string' }, help: { type: 'boolean', short: 'h' } } }));
  } catch (e) {
    usageError(e.message); // unknown option, missing value, stray argument
  }
  if (values.help) {
    console.log(HELP);
    process.exit(0);
  }
  if (!values.records || !values.out) usageError('--records and --out are required');
  const records = Number(values.records);
  if (!Number.isSafeInteger(records) || records < 1) usageError('--records must be a positive whole number');
  const at = values.at ? new Date(values.at) : new Date(Math.floor(Date.now() / 1000) * 1000);
  if (Number.isNaN(at.getTime())) usageError('--at must be an ISO-8601 instant');
  const expected = await generateArchive({ records, out: values.out, at, ...(values.seed ? { seed: values.seed } : {}) });
  console.log(JSON.stringify(expected, null, 2));
}
