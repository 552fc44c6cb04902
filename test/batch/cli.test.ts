/**
 * runBatchCli in-process on a small generated archive: flags and usage
 * errors, exit codes 0 / 1 / 2 / 3, policies (file and per record), the
 * input kinds (JSONL with bad lines, stdin, a directory), the progress bar
 * only on a terminal, checkpoint options and re-running a finished run.
 * Workers run from dist/ (see helpers.ts).
 */
import { mkdirSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { Readable } from 'node:stream';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';

import { runBatchCli } from '../../src/cli/batch.js';
import { capture, countStatuses, ids, makeArchive, readResults, requireBuilt, type Archive } from './helpers.js';

const AT = new Date('2026-03-01T12:00:00Z');
let archive: Archive;
let lines: string[];
let work: string;

const base = (a: Archive): string[] => ['--collateral', a.collateral, '--trust-root', a.trustRoot, '--workers', '2'];
const record = (i: number) => JSON.parse(lines[i] as string) as { id: string; evidence: string; collectedAt: string; reportData?: string };
/** The first ten records of generator kind "up-to-date" (trusted at AT). */
let upToDate: number[];

beforeAll(async () => {
  requireBuilt();
  archive = await makeArchive(300, AT);
  lines = readFileSync(archive.jsonl, 'utf8').trim().split('\n');
  upToDate = lines.map((_, i) => i).filter((i) => archive.kindOf(i) === 'up-to-date').slice(0, 10);
  work = mkdtempSync(join(tmpdir(), 'tee-verify-batch-cli-'));
}, 60_000);

afterAll(() => {
  for (const dir of [archive?.dir, work]) if (dir) rmSync(dir, { recursive: true, force: true });
});

async function run(args: string[], options: { tty?: boolean; stdin?: string } = {}) {
  const c = capture(options.tty);
  const code = await runBatchCli(args, c.io, options.stdin === undefined ? {} : { stdin: Readable.from([Buffer.from(options.stdin)]) });
  return { code, stdout: c.stdout(), stderr: c.stderr() };
}

describe('batch command line', () => {
  it('--help prints the usage and exits 0', async () => {
    const r = await run(['--help']);
    expect(r.code).toBe(0);
    expect(r.stdout).toMatch(/--shard <i>\/<n>/);
  });

  it.each([
    ['no input', ['--out', 'x']],
    ['no --out', ['a.jsonl']],
    ['two inputs', ['a', 'b', '--out', 'x']],
    ['bad --shard', ['IN', '--out', 'OUT', '--shard', '3/3']],
    ['bad --at', ['IN', '--out', 'OUT', '--at', '2026-02-30T00:00:00Z']],
    ['bad --workers', ['IN', '--out', 'OUT', '--workers', '0']],
    ['unknown flag', ['IN', '--out', 'OUT', '--frobnicate']],
    ['missing input', ['/nonexistent/archive.jsonl', '--out', 'OUT']],
    ['unreadable bundle', ['IN', '--out', 'OUT', '--collateral', '/nonexistent/bundle.json']],
    ['not a bundle', ['IN', '--out', 'OUT', '--collateral', 'IN']],
    ['bad trust root', ['IN', '--out', 'OUT', '--trust-root', 'IN']],
    ['summary over the results', ['IN', '--out', 'OUT', '--summary', 'OUT']],
    ['--out in a missing directory', ['IN', '--out', '/nonexistent/dir/out.jsonl', '--collateral', 'BUNDLE']],
    ['unreadable --previous', ['IN', '--out', 'OUT', '--collateral', 'BUNDLE', '--previous', '/nonexistent/previous.jsonl']],
    ['--summary in a missing directory', ['IN', '--out', 'OUT', '--collateral', 'BUNDLE', '--summary', '/nonexistent/dir/summary.json']],
  ])('%s is a usage error (exit 2)', async (_name, args) => {
    const r = await run(args.map((a) => (a === 'IN' ? archive.jsonl : a === 'OUT' ? join(work, 'usage.jsonl') : a === 'BUNDLE' ? archive.collateral : a)));
    expect(r.code).toBe(2);
    expect(r.stderr).toMatch(/^error: /);
  });

  it('exit 0 when every record is trusted; quiet stderr off a terminal', async () => {
    const file = join(work, 'trusted.jsonl');
    writeFileSync(file, `${upToDate.map((i) => lines[i]).join('\n')}\n`);
    const r = await run([file, '--out', join(work, 'trusted-out.jsonl'), '--at', AT.toISOString(), ...base(archive)]);
    expect(r.code).toBe(0);
    expect(r.stderr).toBe('');
    expect(r.stdout).toMatch(/^10 records at 2026-03-01T12:00:00.000Z: 10 trusted, 0 rejected, 0 collateral unavailable/);
  });

  it('exit 3 when collateral is unavailable for every record (no version valid at the instant)', async () => {
    const file = join(work, 'trusted.jsonl');
    const later = new Date(AT.getTime() + 25 * 86_400_000).toISOString(); // past the newest window, certificates still valid
    const out = join(work, 'expired-out.jsonl');
    const r = await run([file, '--out', out, '--at', later, ...base(archive)]);
    expect(r.code).toBe(3);
    expect(new Set(readResults(out).map((x) => x.error?.code))).toEqual(new Set(['ERR_COLLATERAL_EXPIRED']));
  });

  it('a progress bar on stderr when it is a terminal', async () => {
    const r = await run([archive.jsonl, '--out', join(work, 'tty.jsonl'), '--at', AT.toISOString(), ...base(archive)], { tty: true });
    expect(r.code).toBe(4);
    expect(r.stderr).toMatch(/\r\u001b\[2K\[#+\.*\] +\d+%/);
    expect(r.stderr).toMatch(/100% {2}300 records/);
    expect(r.stderr.endsWith('\n')).toBe(true);
  });

  it('--policy file and per-record policies decide ok; a bad policy file is exit 2', async () => {
    const policy = { tee: 'tdx', mrTd: 'any', mrConfigId: 'any', mrOwner: 'any', mrOwnerConfig: 'any', tcb: { acceptedStatuses: ['UpToDate', 'OutOfDate'] } };
    const policyFile = join(work, 'policy.json');
    writeFileSync(policyFile, JSON.stringify(policy));
    const out = join(work, 'policy-out.jsonl');
    const r = await run([archive.jsonl, '--out', out, '--at', AT.toISOString(), '--policy', policyFile, ...base(archive)]);
    expect(r.code).toBe(4);
    const results = readResults(out);
    const outOfDate = results.filter((x) => x.tcbStatus === 'OutOfDate');
    expect(outOfDate.length).toBe(archive.expected.now['OutOfDate']);
    expect(outOfDate.every((x) => x.ok)).toBe(true);

    // With --allow-record-policy a record's own policy wins over the run's; an invalid one is that record's error.
    const strict = { ...policy, tcb: { acceptedStatuses: ['UpToDate'] } };
    const gamma = results.findIndex((x) => x.tcbStatus === 'OutOfDate');
    const custom = lines.map((l, i) => (i === gamma ? JSON.stringify({ ...record(i), policy: strict }) : i === upToDate[0] ? JSON.stringify({ ...record(i), policy: { tee: 'tdx' } }) : l));
    const file = join(work, 'with-policies.jsonl');
    writeFileSync(file, `${custom.join('\n')}\n`);
    const out2 = join(work, 'policy-out-2.jsonl');
    expect((await run([file, '--out', out2, '--at', AT.toISOString(), '--policy', policyFile, '--allow-record-policy', ...base(archive)])).code).toBe(4);
    const again = readResults(out2);
    expect(again[gamma]).toMatchObject({ ok: false, tcbStatus: 'OutOfDate', violations: [{ check: 'T33' }] });
    expect(again[upToDate[0]!]).toMatchObject({ ok: false, error: { code: 'ERR_POLICY_INVALID', class: 'ARGUMENT' } });

    writeFileSync(policyFile, JSON.stringify({ ...policy, unknownKey: 1 }));
    expect((await run([archive.jsonl, '--out', join(work, 'bad-policy.jsonl'), '--policy', policyFile, ...base(archive)])).code).toBe(2);
  });

  it('JSONL with blank, malformed and over-long lines from stdin: one result per record, in order', async () => {
    const [a, b] = upToDate as [number, number];
    const mime = { ...record(b), id: 'mime', evidence: record(b).evidence.replace(/.{76}/g, '$&\n') }; // whitespace: the parser's decoder
    const bad = { ...record(b), id: 'bad-char', evidence: `!${record(b).evidence.slice(1)}` };
    const input = [lines[a], '', 'not json', `{"id":"big","evidence":"${'A'.repeat(10_000)}"}`, '{"evidence":"AAAA"}', lines[b], JSON.stringify(mime), JSON.stringify(bad), ''].join('\n');
    const out = join(work, 'stdin.jsonl');
    const r = await run(['-', '--out', out, '--at', AT.toISOString(), '--max-record-bytes', '8192', ...base(archive)], { stdin: input });
    expect(r.code).toBe(1);
    const results = readResults(out);
    expect(results.map((x) => [x.id, x.ok, x.error?.code ?? null])).toEqual([
      [record(a).id, true, null],
      ['#1', false, 'ERR_BAD_RECORD'],
      ['#2', false, 'ERR_RECORD_TOO_LARGE'],
      ['#3', false, 'ERR_BAD_RECORD'],
      [record(b).id, true, null],
      ['mime', true, null],
      ['bad-char', false, 'ERR_BAD_ENCODING'],
    ]);
  });

  it('--at collected needs collectedAt; records without it are record errors', async () => {
    const file = join(work, 'no-collected.jsonl');
    const { collectedAt: _dropped, ...rest } = record(upToDate[0]!);
    writeFileSync(file, `${JSON.stringify(rest)}\n${lines[upToDate[1]!]}\n`);
    const out = join(work, 'no-collected-out.jsonl');
    await run([file, '--out', out, '--at', 'collected', ...base(archive)]);
    expect(readResults(out).map((x) => x.error?.code ?? x.tcbStatus)).toEqual(['ERR_BAD_RECORD', 'UpToDate']);
  });

  it('a directory of evidence files: sorted relative paths as ids, dotfiles skipped, raw and text encodings', async () => {
    const dir = join(work, 'evidence-dir');
    mkdirSync(join(dir, 'sub'), { recursive: true });
    writeFileSync(join(dir, 'b.bin'), Buffer.from(record(upToDate[1]!).evidence, 'base64'));
    writeFileSync(join(dir, 'a.b64'), record(upToDate[0]!).evidence);
    writeFileSync(join(dir, 'sub', 'c.hex'), Buffer.from(record(upToDate[2]!).evidence, 'base64').toString('hex'));
    writeFileSync(join(dir, 'junk.txt'), 'hello');
    writeFileSync(join(dir, '.hidden'), 'x');
    const out = join(work, 'dir-out.jsonl');
    const r = await run([dir, '--out', out, '--at', AT.toISOString(), ...base(archive)]);
    expect(r.code).toBe(1);
    const results = readResults(out);
    expect(ids(results)).toEqual(['a.b64', 'b.bin', 'junk.txt', 'sub/c.hex']);
    expect(results.map((x) => x.ok)).toEqual([true, true, false, true]);
  });

  it('a finished run is not redone; other options need --fresh', async () => {
    const out = join(work, 'rerun.jsonl');
    const args = [archive.jsonl, '--out', out, '--at', AT.toISOString(), ...base(archive)];
    const first = await run(args);
    expect(first.stdout).toMatch(/verified 300 records in this run/);
    const second = await run(args);
    expect(second.code).toBe(first.code);
    expect(second.stdout).toMatch(/verified 0 records in this run, resumed after input record 300/);
    expect(countStatuses(readResults(out))).toEqual(archive.expected.now);
    const other = await run([...args.slice(0, 3), '--at', 'collected', ...base(archive)]);
    expect(other.code).toBe(2);
    expect(other.stderr).toMatch(/--fresh/);
    const fresh = await run([...args.slice(0, 3), '--at', 'collected', '--fresh', ...base(archive)]);
    expect(fresh.code).toBe(4);
    expect(countStatuses(readResults(out))).toEqual(archive.expected.collected);
  });
});
