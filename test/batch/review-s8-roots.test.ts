/**
 * Review s8 (new-user docs walk) #5: `batch --trust-root` read only Intel-style
 * roots and kept the production AMD anchors, so a file holding a test ARK / ASK
 * was silently ignored and simulated SEV-SNP records failed the chain (S37).
 * It now reads the file as `tee-verify verify --trust-root` does, and every
 * result says the roots were replaced, in verify's words.
 */
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';

import { runBatchCli } from '../../src/cli/batch.js';
import { SimulatedTeeProvider } from '../../src/tee/index.js';
import { capture, readResults, requireBuilt } from './helpers.js';

let work: string;
let input: string;
let collateral: string;
let amdRoots: string;
let intelOnly: string;
let at: string;

beforeAll(async () => {
  requireBuilt();
  work = mkdtempSync(join(tmpdir(), 'tee-verify-batch-s8-roots-'));
  const snp = new SimulatedTeeProvider({ tee: 'snp' });
  at = new Date().toISOString(); // the simulated PKI and collateral are valid from their creation on
  const records = [];
  for (const id of ['snp-1', 'snp-2']) {
    const { evidence } = await snp.getEvidence(new Uint8Array(64).fill(id.length));
    records.push(JSON.stringify({ id, evidence: Buffer.from(evidence).toString('base64') }));
  }
  input = join(work, 'snp.jsonl');
  writeFileSync(input, `${records.join('\n')}\n`);
  collateral = join(work, 'collateral.json');
  writeFileSync(collateral, snp.collateralBundle());
  amdRoots = join(work, 'amd-roots.pem'); // the test ARK, ASK and ASVK of Milan
  writeFileSync(amdRoots, snp.trustRootPem);
  intelOnly = join(work, 'intel-root.pem'); // a simulated TDX platform's test root: no AMD certificate
  writeFileSync(intelOnly, new SimulatedTeeProvider({ tee: 'tdx' }).trustRootPem);
}, 120_000);

afterAll(() => {
  if (work) rmSync(work, { recursive: true, force: true });
});

async function batch(root: string, out: string) {
  const c = capture();
  const code = await runBatchCli([input, '--out', out, '--at', at, '--collateral', collateral, '--trust-root', root, '--workers', '1'], c.io);
  return { code, stdout: c.stdout(), stderr: c.stderr(), results: readResults(out) };
}

describe('review s8 docs #5: batch --trust-root pins AMD roots too', () => {
  it('simulated SEV-SNP records re-verified with the test ARK / ASK in --trust-root are trusted, each result saying the roots were replaced', async () => {
    const r = await batch(amdRoots, join(work, 'amd.jsonl'));
    expect(r.stderr).toBe('');
    expect(r.results.map((x) => [x.id, x.ok, x.tee, x.error])).toEqual([
      ['snp-1', true, 'snp', null],
      ['snp-2', true, 'snp', null],
    ]);
    for (const x of r.results) expect(x.warnings).toContain(`trust roots replaced by --trust-root ${amdRoots}: not the pinned Intel / AMD production roots`);
    expect(r.code).toBe(0);
  }, 120_000);

  it('a file without AMD certificates replaces the AMD anchors too (as verify does): the records fail the chain', async () => {
    const r = await batch(intelOnly, join(work, 'intel.jsonl'));
    expect(r.results.map((x) => [x.ok, x.error?.class])).toEqual([
      [false, 'CHAIN'],
      [false, 'CHAIN'],
    ]);
    expect(r.code).toBe(1);
    // Failed records carry no warnings of their own: the run's summary says the roots were replaced.
    expect(r.stdout).toContain(`warning: trust roots replaced by --trust-root ${intelOnly}: not the pinned Intel / AMD production roots`);
  }, 120_000);

  it('a file with an AMD certificate but no ARK for its product is a usage error (exit 2), as in verify', async () => {
    const askOnly = join(work, 'ask-only.pem');
    const pem = readFileSync(amdRoots, 'utf8');
    const blocks = pem.match(/-----BEGIN CERTIFICATE-----[\s\S]+?-----END CERTIFICATE-----\n?/g)!;
    writeFileSync(askOnly, blocks[1]!); // ARK, ASK, ASVK in that order: the ASK alone
    const c = capture();
    const code = await runBatchCli([input, '--out', join(work, 'ask.jsonl'), '--at', at, '--collateral', collateral, '--trust-root', askOnly, '--workers', '1'], c.io);
    expect(c.stderr()).toContain('without ARK-Milan');
    expect(code).toBe(2);
  }, 120_000);
});
