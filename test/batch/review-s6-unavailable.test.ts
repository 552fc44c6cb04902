/**
 * Review (session 6): a partial collateral outage is its own exit code (4),
 * never "some rejected" (1), which a job treats as a finished product; and
 * `--only-unavailable <results>` re-verifies exactly the records that could
 * not be judged.
 */
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';

import { runBatchCli } from '../../src/cli/batch.js';
import { capture, ids, makeArchive, readResults, requireBuilt, type Archive } from './helpers.js';

const AT = new Date('2026-03-01T12:00:00Z');
const BETA_FMSPC = '50806f000000'; // the generator's platform of kind "up-to-date-2"
let archive: Archive;
let work: string;
let input: string;
let partialBundle: string;
let betaIds: string[];

beforeAll(async () => {
  requireBuilt();
  archive = await makeArchive(100, AT);
  work = mkdtempSync(join(tmpdir(), 'tee-verify-batch-s6-unavailable-'));
  // Trusted records of two platforms only, and a bundle without the second platform's TCB info.
  const lines = readFileSync(archive.jsonl, 'utf8').trim().split('\n');
  const kept = lines.map((l, i) => ({ l, kind: archive.kindOf(i) })).filter((x) => x.kind === 'up-to-date' || x.kind === 'up-to-date-2');
  betaIds = kept.filter((x) => x.kind === 'up-to-date-2').map((x) => (JSON.parse(x.l) as { id: string }).id);
  input = join(work, 'two-platforms.jsonl');
  writeFileSync(input, `${kept.map((x) => x.l).join('\n')}\n`);
  const bundle = JSON.parse(readFileSync(archive.collateral, 'utf8')) as { artifacts: { kind: string; key: string }[] };
  const before = bundle.artifacts.length;
  bundle.artifacts = bundle.artifacts.filter((a) => !(a.kind === 'intel-tcb-info' && a.key.includes(BETA_FMSPC)));
  expect(bundle.artifacts.length).toBeLessThan(before);
  partialBundle = join(work, 'partial-collateral.json');
  writeFileSync(partialBundle, JSON.stringify(bundle));
}, 120_000);

afterAll(() => {
  for (const dir of [archive?.dir, work]) if (dir) rmSync(dir, { recursive: true, force: true });
});

async function run(args: string[]) {
  const c = capture();
  const code = await runBatchCli([...args, '--at', AT.toISOString(), '--trust-root', archive.trustRoot, '--workers', '1'], c.io);
  return { code, stdout: c.stdout(), stderr: c.stderr() };
}

describe('review s6: some records unavailable', () => {
  it('a bundle missing one platform\'s TCB info, mixed with good records: exit 4, not 1; a re-run of the same command says 4 again', async () => {
    expect(betaIds.length).toBeGreaterThan(5);
    const out = join(work, 'first.jsonl');
    const first = await run([input, '--out', out, '--collateral', partialBundle]);
    expect(first.stdout).toContain(`${betaIds.length} collateral unavailable`);
    expect(first.code).toBe(4);
    expect(first.stdout).toContain(`${betaIds.length} not judged (collateral unavailable): once it is there, re-verify only them with --only-unavailable ${out}`);
    const unavailable = readResults(out).filter((r) => r.error?.class === 'COLLATERAL_UNAVAILABLE');
    expect(ids(unavailable)).toEqual(betaIds);
    expect((await run([input, '--out', out, '--collateral', partialBundle])).code).toBe(4); // a finished run keeps its code
  });

  it('--only-unavailable re-verifies exactly those records (in input order), with --previous showing each change', async () => {
    const first = join(work, 'first.jsonl');
    const retry = join(work, 'retry.jsonl');
    const summary = join(work, 'retry-summary.json');
    const r = await run([input, '--out', retry, '--collateral', archive.collateral, '--only-unavailable', first, '--previous', first, '--summary', summary]);
    expect(r.code).toBe(0);
    const results = readResults(retry);
    expect(ids(results)).toEqual(betaIds);
    expect(results.every((x) => x.ok && x.tcbStatus === 'UpToDate')).toBe(true);
    const s = JSON.parse(readFileSync(summary, 'utf8'));
    expect(s).toMatchObject({ records: betaIds.length, trusted: betaIds.length, previous: { changed: betaIds.length, compared: betaIds.length } });
    // Still without that platform's collateral: every retried record unavailable again (exit 3).
    expect((await run([input, '--out', join(work, 'retry-again.jsonl'), '--collateral', partialBundle, '--only-unavailable', first])).code).toBe(3);
  });

  it('the retry list is part of the checkpoint: the same path with other ids is refused on resume', async () => {
    const list = join(work, 'list.jsonl');
    writeFileSync(list, readFileSync(join(work, 'first.jsonl')));
    const retry = join(work, 'retry-list.jsonl');
    const args = [input, '--out', retry, '--collateral', archive.collateral, '--only-unavailable', list];
    expect((await run(args)).code).toBe(0);
    writeFileSync(list, readFileSync(list, 'utf8').split('\n').filter((l) => !l.includes(`"${betaIds[0]}"`)).join('\n'));
    const again = await run(args);
    expect(again.stderr).toMatch(/other options/);
    expect(again.code).toBe(2);
  });
});
