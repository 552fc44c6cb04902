/**
 * Review s12 (batch) finding 2: `batch --skip-crl` did nothing when a CRL was
 * missing: the collateral service refused the record (ERR_COLLATERAL_MISSING,
 * outcome unavailable, exit 3) before the verifier's skip logic ran. Now it
 * behaves as `verify --skip-crl`: the collateral is gathered again with the
 * CRLs optional, and each skipped CRL is a warning (T13 / T14) on the result.
 */
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';

import { runBatchCli } from '../../src/cli/batch.js';
import { capture, makeArchive, readResults, requireBuilt, type Archive } from './helpers.js';

const AT = new Date('2026-03-01T12:00:00Z');
let archive: Archive;
let work: string;
let noCrl: string;
let upToDate: string;
let revokedNow: string;

beforeAll(async () => {
  requireBuilt();
  archive = await makeArchive(60, AT);
  work = mkdtempSync(join(tmpdir(), 'tee-verify-batch-s12-skipcrl-'));
  const bundle = JSON.parse(readFileSync(archive.collateral, 'utf8')) as { artifacts: { kind: string }[] };
  expect(bundle.artifacts.some((a) => /crl/.test(a.kind))).toBe(true);
  bundle.artifacts = bundle.artifacts.filter((a) => !/crl/.test(a.kind));
  noCrl = join(work, 'no-crl.json');
  writeFileSync(noCrl, JSON.stringify(bundle));
  const lines = readFileSync(archive.jsonl, 'utf8').split('\n').filter((l) => l.length > 0);
  const pick = (kind: string, n: number): string[] => lines.filter((_, i) => archive.kindOf(i) === kind).slice(0, n);
  upToDate = join(work, 'up-to-date.jsonl');
  writeFileSync(upToDate, `${pick('up-to-date', 3).join('\n')}\n`);
  revokedNow = join(work, 'revoked.jsonl');
  writeFileSync(revokedNow, `${pick('revoked-later', 1).join('\n')}\n`);
}, 120_000);

afterAll(() => {
  for (const dir of [archive?.dir, work]) if (dir) rmSync(dir, { recursive: true, force: true });
});

async function run(input: string, name: string, extra: string[]) {
  const out = join(work, `${name}.jsonl`);
  const c = capture();
  const code = await runBatchCli([input, '--out', out, '--at', AT.toISOString(), '--trust-root', archive.trustRoot, '--workers', '1', ...extra], c.io);
  return { code, stdout: c.stdout(), stderr: c.stderr(), results: readResults(out) };
}

describe('review s12 #2: batch --skip-crl with a bundle without CRLs', () => {
  it('without --skip-crl: collateral unavailable for every record (exit 3)', async () => {
    const r = await run(upToDate, 'strict', ['--collateral', noCrl]);
    expect(r.code).toBe(3);
    expect(r.results.map((x) => x.error?.code)).toEqual(['ERR_COLLATERAL_MISSING', 'ERR_COLLATERAL_MISSING', 'ERR_COLLATERAL_MISSING']);
  });

  it('with --skip-crl: every record verified and trusted (exit 0), each with the T13 and T14 warnings', async () => {
    const r = await run(upToDate, 'skip', ['--collateral', noCrl, '--skip-crl']);
    expect(r.stderr).toBe('');
    expect(r.code).toBe(0);
    expect(r.results).toHaveLength(3);
    for (const x of r.results) {
      expect(x).toMatchObject({ ok: true, error: null, tcbStatus: 'UpToDate' });
      expect(x.warnings.some((w) => w.includes('T13'))).toBe(true);
      expect(x.warnings.some((w) => w.includes('T14'))).toBe(true);
    }
  });

  it('with --skip-crl and the CRLs there: no CRL is skipped, and a revoked PCK is still ERR_REVOKED', async () => {
    const ok = await run(upToDate, 'skip-with-crls', ['--collateral', archive.collateral, '--skip-crl']);
    expect(ok.code).toBe(0);
    for (const x of ok.results) expect(x.warnings.some((w) => /T1[34]/.test(w))).toBe(false);
    const revoked = await run(revokedNow, 'skip-revoked', ['--collateral', archive.collateral, '--skip-crl']);
    expect(revoked.code).toBe(1);
    expect(revoked.results.map((x) => x.error?.code)).toEqual(['ERR_REVOKED']);
  });

  it('with --skip-crl, a record whose TCB info is missing stays unavailable (only CRLs are optional)', async () => {
    const lines = readFileSync(archive.jsonl, 'utf8').split('\n').filter((l, i) => l.length > 0 && archive.kindOf(i) === 'unknown-platform');
    const input = join(work, 'unknown.jsonl');
    writeFileSync(input, `${lines[0]}\n`);
    const r = await run(input, 'skip-unknown', ['--collateral', noCrl, '--skip-crl']);
    expect(r.code).toBe(3);
    expect(r.results[0]!.error?.class).toBe('COLLATERAL_UNAVAILABLE');
  });
});
