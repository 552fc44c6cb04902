/**
 * Review fix: a record's own "policy" is archive content, not configuration.
 * By default it is ignored (the run's policy judges, with a warning); with
 * --allow-record-policy it replaces the run's for that record and the result
 * names it in a warning. A lenient record policy must not make an OutOfDate
 * record trusted unless the operator asked for it.
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
let file: string;
let outOfDate: number;
let upToDate: number;

const lenient = { id: 'lenient-from-archive', tee: 'tdx', mrTd: 'any', mrConfigId: 'any', mrOwner: 'any', mrOwnerConfig: 'any', tcb: { acceptedStatuses: ['UpToDate', 'OutOfDate'] } };

beforeAll(async () => {
  requireBuilt();
  archive = await makeArchive(40, AT);
  work = mkdtempSync(join(tmpdir(), 'tee-verify-batch-policy-'));
  const lines = readFileSync(archive.jsonl, 'utf8').trim().split('\n');
  outOfDate = lines.findIndex((_, i) => archive.kindOf(i) === 'tcb-recovery');
  upToDate = lines.findIndex((_, i) => archive.kindOf(i) === 'up-to-date');
  const { id: _id, ...noId } = lenient;
  const withPolicy = [JSON.stringify({ ...JSON.parse(lines[outOfDate]!), policy: lenient }), JSON.stringify({ ...JSON.parse(lines[upToDate]!), policy: noId })];
  file = join(work, 'records.jsonl');
  writeFileSync(file, `${withPolicy.join('\n')}\n`);
}, 60_000);

afterAll(() => {
  for (const dir of [archive?.dir, work]) if (dir) rmSync(dir, { recursive: true, force: true });
});

async function run(out: string, extra: string[]) {
  const c = capture();
  const code = await runBatchCli([file, '--out', out, '--at', AT.toISOString(), '--collateral', archive.collateral, '--trust-root', archive.trustRoot, '--workers', '1', ...extra], c.io);
  return { code, results: readResults(out) };
}

describe("a record's own policy", () => {
  it('is ignored by default: the run policy judges and the result says so', async () => {
    const { code, results } = await run(join(work, 'default.jsonl'), []);
    expect(code).toBe(1);
    const [old, fine] = results;
    expect(old).toMatchObject({ ok: false, tcbStatus: 'OutOfDate', violations: [{ check: 'T33' }] });
    expect(old!.warnings[0]).toMatch(/own policy was ignored.*--allow-record-policy/);
    expect(fine).toMatchObject({ ok: true, tcbStatus: 'UpToDate' });
    expect(fine!.warnings[0]).toMatch(/own policy was ignored/);
  });

  it('replaces the run policy only with --allow-record-policy, with a warning naming it', async () => {
    const { code, results } = await run(join(work, 'allowed.jsonl'), ['--allow-record-policy']);
    expect(code).toBe(0);
    const [old, fine] = results;
    expect(old).toMatchObject({ ok: true, tcbStatus: 'OutOfDate', violations: [] });
    expect(old!.warnings[0]).toMatch(/record's own policy "lenient-from-archive".*--allow-record-policy/);
    expect(fine!.warnings[0]).toMatch(/record's own policy without id \(sha256:[0-9a-f]{16}\)/);
  });

  it('the flag is part of the checkpoint: resuming without it is refused', async () => {
    const out = join(work, 'flag-resume.jsonl');
    expect((await run(out, ['--allow-record-policy'])).code).toBe(0);
    const c = capture();
    const code = await runBatchCli([file, '--out', out, '--at', AT.toISOString(), '--collateral', archive.collateral, '--trust-root', archive.trustRoot, '--workers', '1'], c.io);
    expect(code).toBe(2);
    expect(c.stderr()).toMatch(/other options/);
  });
});
