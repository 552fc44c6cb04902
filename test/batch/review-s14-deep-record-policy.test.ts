/**
 * Review s14 (service / batch) finding 4: with --allow-record-policy, a record whose `policy` is
 * nested 150,000 levels deep (a 0.9 MB line, under the 1 MiB cap; JSON.parse is iterative, so it
 * parses) was ERR_INTERNAL "Maximum call stack size exceeded": the judge keyed its cache with
 * JSON.stringify(doc), which recursed, before loadPolicy (which bounds the depth) saw it. Now
 * such a policy is loadPolicy's ERR_POLICY_INVALID, as docs/batch.md says of an invalid record policy.
 */
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';

import { loadJudge, nestedDeeperThan } from '../../src/batch/judge.js';
import { runBatchCli } from '../../src/cli/batch.js';
import { capture, makeArchive, readResults, requireBuilt, type Archive } from './helpers.js';

const AT = new Date('2026-06-01T00:00:00Z');
const DEPTH = 150_000;
/** `{"a":{"a":...1...}}`, `depth` objects deep, as JSON text. */
const deepText = (depth: number): string => `${'{"a":'.repeat(depth)}1${'}'.repeat(depth)}`;

let archive: Archive;
let work: string;
let line: Record<string, unknown>;

beforeAll(async () => {
  requireBuilt();
  archive = await makeArchive(1, AT);
  expect(archive.kindOf(0)).toBe('up-to-date');
  work = mkdtempSync(join(tmpdir(), 'tee-verify-batch-s14-deep-policy-'));
  line = JSON.parse(readFileSync(archive.jsonl, 'utf8').split('\n')[0]!) as Record<string, unknown>;
}, 120_000);

afterAll(() => {
  for (const dir of [archive?.dir, work]) if (dir) rmSync(dir, { recursive: true, force: true });
});

describe('review s14 #4: a deeply nested record policy', () => {
  it('the judge refuses it as ERR_POLICY_INVALID (maxDepth), not a stack overflow', () => {
    const judge = loadJudge(undefined, true);
    let error: unknown;
    try {
      judge.graceSeconds!(JSON.parse(deepText(DEPTH)));
    } catch (err) {
      error = err;
    }
    expect(error).toMatchObject({ code: 'ERR_POLICY_INVALID' });
    expect((error as Error).message).toContain('nested deeper than');
  });

  it('nestedDeeperThan: iterative, counts objects and arrays', () => {
    expect(nestedDeeperThan(JSON.parse(deepText(DEPTH)), 64)).toBe(true);
    expect(nestedDeeperThan(JSON.parse(deepText(64)), 64)).toBe(false);
    expect(nestedDeeperThan(JSON.parse(deepText(65)), 64)).toBe(true);
    expect(nestedDeeperThan(JSON.parse(`${'['.repeat(65)}${']'.repeat(65)}`), 64)).toBe(true);
    expect(nestedDeeperThan({ a: 1, b: [1, { c: 'x' }] }, 64)).toBe(false);
  });

  it('batch --allow-record-policy: that record is ERR_POLICY_INVALID, the others as before', async () => {
    const input = join(work, 'records.jsonl');
    const deep = `${JSON.stringify({ ...line, id: 'deep-policy' }).slice(0, -1)},"policy":${deepText(DEPTH)}}`;
    expect(deep.length).toBeLessThan(1 << 20);
    writeFileSync(input, [JSON.stringify({ ...line, id: 'plain' }), deep, JSON.stringify({ ...line, id: 'invalid-policy', policy: { version: 1, tee: 'tdx', nonsense: true } })].join('\n') + '\n');
    const out = join(work, 'results.jsonl');
    const c = capture();
    const code = await runBatchCli([input, '--out', out, '--at', AT.toISOString(), '--collateral', archive.collateral, '--trust-root', archive.trustRoot, '--workers', '1', '--allow-record-policy'], c.io);
    expect(code).toBe(1);
    const results = readResults(out);
    expect(results.map((r) => [r.id, r.ok, r.error?.code ?? null, r.error?.class ?? null])).toEqual([
      ['plain', true, null, null],
      ['deep-policy', false, 'ERR_POLICY_INVALID', 'ARGUMENT'],
      ['invalid-policy', false, 'ERR_POLICY_INVALID', 'ARGUMENT'],
    ]);
  });
});
