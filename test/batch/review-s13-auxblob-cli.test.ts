/**
 * Review s13 (SNP) finding 2, through `tee-verify batch` and its worker (dist/batch/worker.js, so
 * dist must be built from this source): a JSONL archive of VLEK-signed SEV-SNP records. With the
 * record's `auxblob` the record is trusted; without it, rejected at S05; an auxblob on a TDX record
 * and a malformed one are record errors (ERR_BAD_RECORD). A directory record has no auxblob: S05.
 */
import { mkdirSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';

import { runBatchCli } from '../../src/cli/batch.js';
import { artifactKey } from '../../src/collateral/index.js';
import { validateArtifact } from '../../src/collateral/validate.js';
import { exportBundle } from '../../src/index.js';
import { buildSnpCertTable, buildSnpReport, buildTdxQuote, createAmdTestPki, createSyntheticIntelPlatform } from '../../src/testing/index.js';
import { AT, buildAmdCrl, VALIDITY } from '../verify/snp/helpers/synthetic.js';
import { capture, readResults, requireBuilt } from './helpers.js';

const product = 'Milan';
const seed = 'review-s13-batch-auxblob-cli';
const b64 = (bytes: Uint8Array): string => Buffer.from(bytes).toString('base64');
let work: string;
let collateral: string;
let roots: string;
let policy: string;
let vlekReport: Uint8Array;
let vlekTable: Uint8Array;
let tdxQuote: Uint8Array;

beforeAll(() => {
  requireBuilt();
  work = mkdtempSync(join(tmpdir(), 'tee-verify-batch-s13-auxblob-'));
  const pki = createAmdTestPki({ seed, product, validity: VALIDITY });
  vlekReport = buildSnpReport({ version: 3, product, signingKey: 'vlek', key: pki.vlek.key.privateKey, seed }).bytes;
  vlekTable = buildSnpCertTable([
    { guid: 'vlek', der: pki.vlek.der },
    { guid: 'ask', der: pki.asvk.der },
    { guid: 'ark', der: pki.ark.der },
  ]);
  // Only the VLEK CRL in the bundle: the chain and the leaf can come from the record alone.
  collateral = join(work, 'collateral.json');
  writeFileSync(collateral, exportBundle([validateArtifact({ kind: 'amd-crl', key: artifactKey.amdCrl(product, 'vlek'), body: buildAmdCrl(pki), source: { origin: 'bundle' } })]));
  // The default SEV-SNP policy accepts VCEK-signed reports only (S32): this archive's are VLEK-signed.
  policy = join(work, 'vlek-policy.json');
  writeFileSync(policy, JSON.stringify({ tee: 'snp', measurement: 'any', hostData: 'any', signingKeys: ['vcek', 'vlek'] }));
  roots = join(work, 'roots.pem');
  writeFileSync(roots, pki.ark.pem + pki.ask.pem + pki.asvk.pem);
  const platform = createSyntheticIntelPlatform({ tee: 'tdx', at: AT, seed });
  tdxQuote = buildTdxQuote({ seed: platform.seed, version: 4, pckKey: platform.pki.pck.key.privateKey, pckChainPem: platform.pki.pckChainPem, body: { reportData: new Uint8Array(64) } }).bytes;
}, 120_000);

afterAll(() => {
  if (work) rmSync(work, { recursive: true, force: true });
});

async function batch(input: string, name: string) {
  const out = join(work, `${name}.results.jsonl`);
  const c = capture();
  const code = await runBatchCli([input, '--out', out, '--at', AT.toISOString(), '--collateral', collateral, '--trust-root', roots, '--policy', policy, '--workers', '1'], c.io);
  return { code, stdout: c.stdout(), stderr: c.stderr(), results: readResults(out) };
}

describe('review s13 SNP #2: batch records carry the SEV-SNP certificate table', () => {
  it('JSONL: with auxblob trusted; without it S05; on a TDX quote and malformed: ERR_BAD_RECORD', async () => {
    const input = join(work, 'archive.jsonl');
    const lines = [
      { id: 'vlek-with', evidence: b64(vlekReport), auxblob: b64(vlekTable) },
      { id: 'vlek-without', evidence: b64(vlekReport) },
      { id: 'tdx-with', evidence: b64(tdxQuote), auxblob: b64(vlekTable) },
      { id: 'vlek-malformed', evidence: b64(vlekReport), auxblob: b64(vlekTable.subarray(0, 30)) },
    ];
    writeFileSync(input, `${lines.map((l) => JSON.stringify(l)).join('\n')}\n`);
    const r = await batch(input, 'archive');
    expect(r.stderr).toBe('');
    expect(r.results.map((x) => [x.id, x.ok, x.tee, x.error?.code ?? null])).toEqual([
      ['vlek-with', true, 'snp', null],
      ['vlek-without', false, 'snp', 'ERR_SNP_SIGNER'],
      ['tdx-with', false, 'tdx', 'ERR_BAD_RECORD'],
      ['vlek-malformed', false, 'snp', 'ERR_BAD_RECORD'],
    ]);
    expect(r.results[0]!.warnings.some((w) => w.includes('S32'))).toBe(true); // the accepted VLEK, as the policy reports it
    expect(r.results[3]!.error?.message).toMatch(/"auxblob" is not a usable SEV-SNP certificate table/);
    expect(r.code).toBe(1);
  }, 120_000);

  it('a directory record has no place for the table: a VLEK report as a file is rejected at S05', async () => {
    const dir = join(work, 'dir');
    mkdirSync(dir);
    writeFileSync(join(dir, 'vlek.bin'), vlekReport);
    const r = await batch(dir, 'dir');
    expect(r.results.map((x) => [x.id, x.ok, x.error?.code])).toEqual([['vlek.bin', false, 'ERR_SNP_SIGNER']]);
    expect(r.code).toBe(1);
  }, 120_000);
});
