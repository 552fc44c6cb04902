/**
 * `tee-verify batch` on a generated archive of 10,000 TDX records (test PKI)
 * with a known mix of statuses: exact counts at one instant and at each
 * record's collection time, changed statuses against a previous results file,
 * a SIGKILL mid-run and a resume, and three shards covering every record
 * exactly once. Runs the built CLI entry (dist/batch/main.js) in child
 * processes; see helpers.ts for the build requirement.
 */
import { appendFileSync, existsSync, readFileSync, rmSync, statSync } from 'node:fs';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';

import { countStatuses, exitOf, ids, makeArchive, readResults, requireBuilt, spawnBatch, type Archive } from './helpers.js';

const RECORDS = 10_000;
let archive: Archive;
let nowOut: string;
const expectedIds = Array.from({ length: RECORDS }, (_, i) => `rec-${String(i).padStart(8, '0')}`);

function common(a: Archive): string[] {
  return ['--collateral', a.collateral, '--trust-root', a.trustRoot, '--workers', '2'];
}

beforeAll(async () => {
  requireBuilt();
  // The archive's "now" is the wall clock, so `--at now` finds its current collateral window.
  archive = await makeArchive(RECORDS, new Date(Math.floor(Date.now() / 1000) * 1000));
  nowOut = join(archive.dir, 'now.jsonl');
}, 60_000);

afterAll(() => {
  if (archive) rmSync(archive.dir, { recursive: true, force: true });
});

describe('batch over a 10,000-record archive', () => {
  it('--at now: exact counts per status, results in input order, summary file', async () => {
    const summaryFile = join(archive.dir, 'now-summary.json');
    const run = await exitOf(spawnBatch([archive.jsonl, '--out', nowOut, '--at', 'now', '--summary', summaryFile, ...common(archive)]));
    expect(run.stderr).toBe(''); // quiet: stderr is not a terminal
    expect(run.code).toBe(4); // some records rejected, and those of the platform the bundle lacks are not judged (exit 4)
    const results = readResults(nowOut);
    expect(ids(results)).toEqual(expectedIds);
    expect(countStatuses(results)).toEqual(archive.expected.now);
    expect(results.filter((r) => r.ok).length).toBe(archive.expected.okNow);
    const summary = JSON.parse(readFileSync(summaryFile, 'utf8'));
    expect(summary).toMatchObject({ format: 'tee-verify-batch-summary', records: RECORDS, trusted: archive.expected.okNow, byStatus: archive.expected.now, changed: [], previous: null });
    expect(summary.trusted + summary.rejected + summary.unavailable).toBe(RECORDS);
    expect(summary.unavailable).toBe(archive.expected.now['ERR_COLLATERAL_MISSING']);
    // Reasons, not only verdicts: the policy names the violated claim.
    const mismatch = results.find((r) => r.tcbStatus === 'UpToDate' && !r.ok);
    expect(mismatch?.violations.map((v) => [v.path, v.check, v.class])).toEqual([['/reportData', 'T41', 'BINDING']]);
    const outOfDate = results.find((r) => r.tcbStatus === 'OutOfDate');
    expect(outOfDate).toMatchObject({ ok: false, advisoryIds: ['INTEL-SA-01079'], violations: [{ path: '/tcb/acceptedStatuses', expected: ['UpToDate'], actual: 'OutOfDate', check: 'T33' }] });
    const tampered = results.find((r) => r.error?.code === 'ERR_SIG_QUOTE');
    expect(tampered).toMatchObject({ ok: false, tee: 'tdx', error: { class: 'SIG_QUOTE' } });
  });

  it('--at collected with --previous: counts at collection time and every changed record', async () => {
    const out = join(archive.dir, 'collected.jsonl');
    const summaryFile = join(archive.dir, 'collected-summary.json');
    const run = await exitOf(spawnBatch([archive.jsonl, '--out', out, '--at', 'collected', '--previous', nowOut, '--summary', summaryFile, ...common(archive)]));
    expect(run.code).toBe(4);
    const results = readResults(out);
    expect(countStatuses(results)).toEqual(archive.expected.collected);
    expect(results.filter((r) => r.ok).length).toBe(archive.expected.okCollected);
    const summary = JSON.parse(readFileSync(summaryFile, 'utf8'));
    expect(summary.previous).toMatchObject({ records: RECORDS, compared: RECORDS, changed: archive.expected.changedCollectedVsNow, new: 0, missing: 0 });
    expect(summary.changed).toHaveLength(archive.expected.changedCollectedVsNow);
    // What changed: TCB recovery and a later revocation; trusted when collected.
    const transitions = new Set(summary.changed.map((c: { previous: string; current: string }) => `${c.previous}->${c.current}`));
    expect(transitions).toEqual(new Set(['OutOfDate->UpToDate', 'ERR_REVOKED->UpToDate']));
    expect(run.stdout).toMatch(new RegExp(`changed since .*: ${archive.expected.changedCollectedVsNow} of ${RECORDS} compared`));
  });

  it('SIGKILL mid-run, twice, then resume: every record exactly once, in order, with the same results', async () => {
    const out = join(archive.dir, 'killed.jsonl');
    const args = [archive.jsonl, '--out', out, '--at', 'now', ...common(archive)];
    for (const afterRecords of [1500, 5000]) {
      const child = spawnBatch(args);
      const exited = exitOf(child);
      // Kill once the checkpoint has moved past `afterRecords` (results keep being written after it).
      await new Promise<void>((resolve, reject) => {
        const timer = setInterval(() => {
          try {
            const cp = JSON.parse(readFileSync(`${out}.checkpoint`, 'utf8'));
            if (cp.consumed >= afterRecords) {
              clearInterval(timer);
              child.kill('SIGKILL');
              resolve();
            }
          } catch {
            // not written yet, or being replaced
          }
        }, 5);
        child.on('exit', () => {
          clearInterval(timer);
          reject(new Error('the run finished before it could be killed'));
        });
      });
      expect((await exited).signal).toBe('SIGKILL');
      const cp = JSON.parse(readFileSync(`${out}.checkpoint`, 'utf8'));
      expect(cp.complete).toBe(false);
      expect(statSync(out).size).toBeGreaterThanOrEqual(cp.bytes);
    }
    // A torn write at the end, as a kill inside write(2) would leave.
    appendFileSync(out, '{"id":"rec-0000');
    const resumed = await exitOf(spawnBatch(args));
    expect(resumed.code).toBe(4);
    expect(resumed.stdout).toMatch(/resumed after input record \d+/);
    // The summary counts every record once, those of the killed attempts included.
    expect(resumed.stdout).toMatch(new RegExp(`^${RECORDS} records at [^:]+:\\d\\d:\\d\\d\\.\\d+Z: ${archive.expected.okNow} trusted`));
    const results = readResults(out);
    expect(ids(results)).toEqual(expectedIds);
    // Same instant and same results as the uninterrupted run (the kill changed nothing).
    expect(readFileSync(out, 'utf8').replace(/"at":"[^"]*"/g, '')).toBe(readFileSync(nowOut, 'utf8').replace(/"at":"[^"]*"/g, ''));
    expect(new Set(results.map((r) => r.at)).size).toBe(1);
  });

  it('--shard i/3: three runs cover every record exactly once', async () => {
    const outs = [0, 1, 2].map((i) => join(archive.dir, `shard-${i}.jsonl`));
    const runs = await Promise.all(
      outs.map((out, i) => exitOf(spawnBatch([archive.jsonl, '--out', out, '--at', archive.expected.at, '--shard', `${i}/3`, '--collateral', archive.collateral, '--trust-root', archive.trustRoot, '--workers', '1']))),
    );
    for (const r of runs) expect(r.code).toBe(4);
    const all = outs.flatMap((o) => ids(readResults(o)));
    expect(all).toHaveLength(RECORDS);
    expect(new Set(all).size).toBe(RECORDS);
    expect([...all].sort()).toEqual(expectedIds);
    // Each shard keeps input order and gets a fair share.
    for (const o of outs) {
      const own = ids(readResults(o));
      expect(own).toEqual([...own].sort());
      expect(own.length).toBeGreaterThan(RECORDS / 3 - 300);
    }
    const merged = countStatuses(outs.flatMap((o) => readResults(o)));
    expect(merged).toEqual(archive.expected.now);
    expect(existsSync(`${outs[0]}.checkpoint`)).toBe(true);
  });
});
