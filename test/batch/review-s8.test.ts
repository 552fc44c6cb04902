/**
 * Review (session 8) of batch: a resume refuses policy / collateral / trust-root files whose
 * content changed at the same path; repeated record ids are reported; a resumed "--at now" run
 * says that it keeps the first attempt's instant.
 */
import { appendFileSync, copyFileSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';

import { checkpointPath } from '../../src/batch/checkpoint.js';
import { countResult, emptyCounts, type ResultRecord } from '../../src/batch/result.js';
import { runBatchCli } from '../../src/cli/batch.js';
import { capture, makeArchive, readResults, requireBuilt, type Archive } from './helpers.js';

const AT = new Date('2026-03-01T12:00:00Z');
const OPEN_TDX = { version: 1, tee: 'tdx', mrTd: 'any', rtmr0: 'any', rtmr1: 'any', rtmr2: 'any', rtmr3: 'any', mrConfigId: 'any', mrOwner: 'any', mrOwnerConfig: 'any', mrSeam: 'any', mrSignerSeam: 'any', seamSvn: 'any', xfam: 'any', tdAttributes: 'any' };
let archive: Archive;
let work: string;
/** The byte offset after each input line of the archive. */
let ends: number[];

beforeAll(async () => {
  requireBuilt();
  archive = await makeArchive(40, AT);
  work = mkdtempSync(join(tmpdir(), 'tee-verify-batch-s8-'));
  let end = 0;
  ends = readFileSync(archive.jsonl, 'utf8').split('\n').filter((l) => l.length > 0).map((l) => (end += Buffer.byteLength(l) + 1));
}, 120_000);

afterAll(() => {
  for (const dir of [archive?.dir, work]) if (dir) rmSync(dir, { recursive: true, force: true });
});

async function run(args: string[], now?: () => Date) {
  const c = capture();
  const code = await runBatchCli(args, c.io, now ? { now } : {});
  return { code, stdout: c.stdout(), stderr: c.stderr() };
}

/** Rewrites a finished whole-input run's checkpoint as a run killed after `consumed` records would have left it. */
function rewind(out: string, consumed: number): void {
  const cp = JSON.parse(readFileSync(checkpointPath(out), 'utf8')) as Record<string, unknown>;
  const lines = readFileSync(out, 'utf8').split('\n').slice(0, consumed);
  const text = lines.map((l) => `${l}\n`).join('');
  writeFileSync(out, text);
  const counts = emptyCounts();
  for (const l of lines) countResult(counts, JSON.parse(l) as ResultRecord);
  writeFileSync(checkpointPath(out), JSON.stringify({ ...cp, consumed, inputOffset: ends[consumed - 1], written: consumed, bytes: Buffer.byteLength(text), counts, complete: false }));
}

describe('review s8, finding 2: a resume checks the content of the policy, bundle and trust-root files', () => {
  let policy: string;
  let bundle: string;
  let root: string;
  const args = (out: string): string[] => [archive.jsonl, '--out', out, '--at', AT.toISOString(), '--collateral', bundle, '--trust-root', root, '--policy', policy, '--workers', '1'];
  let full: string;

  beforeAll(async () => {
    policy = join(work, 'policy.json');
    bundle = join(work, 'collateral.json');
    root = join(work, 'root.pem');
    writeFileSync(policy, JSON.stringify(OPEN_TDX));
    copyFileSync(archive.collateral, bundle);
    copyFileSync(archive.trustRoot, root);
    full = join(work, 'full.jsonl');
    const r = await run(args(full));
    expect([0, 1, 3, 4]).toContain(r.code);
  });

  function interrupted(name: string): string {
    const out = join(work, name);
    copyFileSync(full, out);
    copyFileSync(checkpointPath(full), checkpointPath(out));
    rewind(out, 20);
    return out;
  }

  it('the checkpoint records the SHA-256 of each file; unchanged files resume', async () => {
    const cp = JSON.parse(readFileSync(checkpointPath(full), 'utf8'));
    expect(cp.fingerprint.contents.policy).toMatch(/^[0-9a-f]{64}$/);
    expect(cp.fingerprint.contents.trustRoot).toMatch(/^[0-9a-f]{64}$/);
    expect(cp.fingerprint.contents.collateral).toHaveLength(1);
    const out = interrupted('same.jsonl');
    const r = await run(args(out));
    expect(r.stdout).toContain('resumed after input record 20');
    expect(readFileSync(out, 'utf8')).toBe(readFileSync(full, 'utf8'));
  });

  for (const [what, file, edit] of [
    ['the policy', () => policy, () => writeFileSync(policy, JSON.stringify({ ...OPEN_TDX, tcb: { acceptedStatuses: ['UpToDate', 'OutOfDate'] } }))],
    ['the collateral bundle', () => bundle, () => appendFileSync(bundle, '\n')],
    ['the trust root', () => root, () => appendFileSync(root, '\n')],
  ] as const) {
    it(`${what} edited at the same path: ERR_CHECKPOINT_OPTIONS naming the file, nothing appended`, async () => {
      const out = interrupted(`edited-${file().split('/').pop()}.jsonl`);
      const saved = readFileSync(file());
      edit();
      try {
        const r = await run(args(out));
        expect(r.code).toBe(2);
        expect(r.stderr).toContain(file());
        expect(r.stderr).toMatch(/edited since/);
        expect(readResults(out)).toHaveLength(20);
      } finally {
        writeFileSync(file(), saved);
      }
    });
  }

  it('a checkpoint written before digests existed is refused with a message saying so', async () => {
    const out = interrupted('old.jsonl');
    const cp = JSON.parse(readFileSync(checkpointPath(out), 'utf8'));
    delete cp.fingerprint.contents;
    writeFileSync(checkpointPath(out), JSON.stringify(cp));
    const r = await run(args(out));
    expect(r.code).toBe(2);
    expect(r.stderr).toMatch(/before checkpoints recorded the content/);
    expect(readResults(out)).toHaveLength(20);
  });
});

describe('review s8, finding 6: repeated record ids are counted and reported', () => {
  it('an input with lines repeating earlier ids (dup.jsonl\'s shape): every line has a result, the summary counts the repeats', async () => {
    const lines = readFileSync(archive.jsonl, 'utf8').split('\n').filter((l) => l.length > 0);
    // Records 0 and 5 appear twice, record 0 a third time: 3 repeats.
    const input = join(work, 'dup.jsonl');
    writeFileSync(input, [lines[0], lines[0], ...lines.slice(1, 10), lines[5], lines[0]].map((l) => `${l}\n`).join(''));
    const out = join(work, 'dup-out.jsonl');
    const summary = join(work, 'dup-summary.json');
    const common = [input, '--out', out, '--summary', summary, '--at', AT.toISOString(), '--collateral', archive.collateral, '--trust-root', archive.trustRoot, '--workers', '1'];
    const r = await run(common);
    expect(readResults(out)).toHaveLength(13);
    expect(r.stdout).toMatch(/warning: 3 records repeat the id of an earlier record/);
    expect(JSON.parse(readFileSync(summary, 'utf8')).duplicateIds).toBe(3);
    // Re-summarised from the kept results (the ids come from the results file then): the same count.
    const again = await run(common);
    expect(again.stdout).toMatch(/warning: 3 records repeat/);
    // As --previous, the file's repeats are reported too.
    const next = await run([input, '--out', join(work, 'dup-next.jsonl'), '--previous', out, '--at', AT.toISOString(), '--collateral', archive.collateral, '--trust-root', archive.trustRoot, '--workers', '1']);
    expect(next.stdout).toMatch(new RegExp(`warning: 3 lines of ${out.replace(/[.*+?^${}()|[\]\\]/g, '\\$&')} repeat an earlier id`));
  });

  it('an input without repeats prints no warning and counts 0', async () => {
    const summary = join(work, 'nodup-summary.json');
    const r = await run([archive.jsonl, '--out', join(work, 'nodup.jsonl'), '--summary', summary, '--at', AT.toISOString(), '--collateral', archive.collateral, '--trust-root', archive.trustRoot, '--workers', '1']);
    expect(r.stdout).not.toContain('repeat');
    expect(JSON.parse(readFileSync(summary, 'utf8')).duplicateIds).toBe(0);
  });
});

describe('review s8, finding 10: a resumed "--at now" run says it keeps the first instant', () => {
  it('the note names the checkpoint\'s instant; a first run prints none', async () => {
    const out = join(work, 'now.jsonl');
    const args = [archive.jsonl, '--out', out, '--at', 'now', '--collateral', archive.collateral, '--trust-root', archive.trustRoot, '--workers', '1'];
    const first = await run(args, () => AT);
    expect(first.stderr).not.toContain('note: --at now');
    rewind(out, 20);
    const later = new Date(AT.getTime() + 3_600_000);
    const resumed = await run(args, () => later);
    expect(resumed.stdout).toContain('resumed after input record 20');
    expect(resumed.stderr).toContain(`note: --at now: resuming from ${out}.checkpoint, so records are verified at ${AT.toISOString()}`);
    expect(resumed.stderr).not.toContain(later.toISOString());
  });
});
