/**
 * s16 CLI red team #1 (medium): a record that gave its expected binding under another name than
 * "reportData" (`report_data`, `reportdata`, the attestation service's `nonce`, trustee's
 * `runtime_data`, ...) was verified with no T41 / S29 check and came out ok:true, counted as
 * trusted for the exit code. Decision: unknown keys stay ignored, but binding look-alikes are
 * ERR_BAD_RECORD (as a misnamed certTable is): any key other than `reportData` whose fold (lower
 * case, letters and digits only) contains `reportdata`, `nonce`, `challenge`, `runtimedata`,
 * `userdata`, `preimage` or `binding` (a list of exact names was bypassed: s16 change review #1).
 */
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';

import type { ResultRecord } from '../../src/batch/result.js';
import { parseRecordLine, type RecordFields } from '../../src/batch/verify-record.js';
import { BatchExit, runBatchCli } from '../../src/cli/batch.js';
import { capture, makeArchive, readResults, requireBuilt, type Archive } from './helpers.js';

const AT = new Date('2026-03-01T12:00:00Z');
const WRONG = 'ab'.repeat(64);
const LOOKALIKES = [
  'report_data', 'reportdata', 'ReportData', 'report-data', 'REPORT_DATA', 'reportData_', '_reportData',
  'nonce', 'Nonce', 'NONCE', 'runtime_data', 'runtimeData', 'runtime-data', 'runtime_data_hash_algorithm', 'runtimeDataHashAlgorithm',
  'user_data', 'userData', 'expectedReportData', 'expected_report_data',
  // the next spellings (s16 change review #1): the gateway answer's preimage, expected nonces, challenges, spaces
  'reportDataPreimage', 'expectedNonce', 'expected_nonce', 'challenge', 'reportDataHex', 'report data', 'reportData ', 'nonces', 'binding',
  'init_data', 'initData',
];

const line = (o: object): Uint8Array => new Uint8Array(Buffer.from(JSON.stringify(o)));

describe('s16 #1: binding look-alikes in a batch record are refused', () => {
  it('each look-alike is ERR_BAD_RECORD naming the field and "reportData", whatever its value and even beside reportData', () => {
    for (const key of LOOKALIKES) {
      for (const value of [WRONG, 'AAAA', { raw: 'AAAA' }, null]) {
        const r = parseRecordLine(line({ id: 'r1', evidence: 'AAAA', [key]: value }), 0) as ResultRecord;
        expect(r, key).toMatchObject({ id: 'r1', ok: false, error: { code: 'ERR_BAD_RECORD', class: 'ARGUMENT' } });
        expect(r.error?.message).toContain(JSON.stringify(key));
        expect(r.error?.message).toContain('the expected REPORT_DATA goes in "reportData"');
      }
      const both = parseRecordLine(line({ id: 'r2', evidence: 'AAAA', reportData: WRONG, [key]: WRONG }), 0) as ResultRecord;
      expect(both.error?.code, key).toBe('ERR_BAD_RECORD');
    }
  });

  it('a binding one level down in an unknown key is refused too; the policy may pin reportData (s16 change review r2a #1)', () => {
    for (const inner of ['reportData', 'nonce', 'report_data']) {
      const r = parseRecordLine(line({ id: 'n1', evidence: 'AAAA', expected: { [inner]: WRONG } }), 0) as ResultRecord;
      expect(r.error?.code, inner).toBe('ERR_BAD_RECORD');
      expect(r.error?.message).toContain(JSON.stringify(`expected.${inner}`));
    }
    const withPolicy = parseRecordLine(line({ id: 'n2', evidence: 'AAAA', policy: { tee: 'tdx', reportData: WRONG }, meta: { host: 'h' } }), 0) as RecordFields;
    expect(withPolicy.policy).toEqual({ tee: 'tdx', reportData: WRONG });
  });

  it('control: reportData itself is kept, and other unknown keys are still ignored', () => {
    const ok = parseRecordLine(line({ id: 'r3', evidence: 'AAAA', reportData: WRONG.toUpperCase(), host: 'h1', note: 'x', report: 'y', data: 'z', collector: 'c' }), 0) as RecordFields;
    expect(ok).toEqual({ id: 'r3', evidence: 'AAAA', reportData: WRONG });
  });
});

describe('s16 #1: a batch run with binding look-alikes is not "all trusted"', () => {
  let archive: Archive;
  let work: string;
  let good: Record<string, unknown>;

  beforeAll(async () => {
    requireBuilt();
    archive = await makeArchive(4, AT);
    work = mkdtempSync(join(tmpdir(), 'tee-verify-batch-s16-binding-'));
    const records = readFileSync(archive.jsonl, 'utf8').trim().split('\n').map((l) => JSON.parse(l) as Record<string, unknown>);
    good = records.find((_, i) => archive.kindOf(i) === 'up-to-date') as Record<string, unknown>;
    expect(good).toBeDefined();
  }, 60_000);

  afterAll(() => {
    for (const dir of [archive?.dir, work]) if (dir) rmSync(dir, { recursive: true, force: true });
  });

  async function run(name: string, records: object[]): Promise<{ code: number; results: ResultRecord[] }> {
    const input = join(work, `${name}.jsonl`);
    const out = join(work, `${name}.out.jsonl`);
    writeFileSync(input, records.map((r) => `${JSON.stringify(r)}\n`).join(''));
    const c = capture();
    const code = await runBatchCli([input, '--out', out, '--at', AT.toISOString(), '--collateral', archive.collateral, '--trust-root', archive.trustRoot, '--workers', '1', '--fresh'], c.io);
    return { code, results: readResults(out) };
  }

  it('every misnamed record is ok:false ERR_BAD_RECORD and the exit code is 1, not 0', async () => {
    const { evidence } = good;
    const { code, results } = await run('lookalikes', LOOKALIKES.map((key, i) => ({ id: `m${i}-${key}`, evidence, [key]: key.toLowerCase().includes('nonce') ? Buffer.alloc(32, 7).toString('base64') : WRONG })));
    expect(results).toHaveLength(LOOKALIKES.length);
    for (const r of results) expect(r, r.id).toMatchObject({ ok: false, error: { code: 'ERR_BAD_RECORD' } });
    expect(code).toBe(BatchExit.SomeRejected);
    expect(code).not.toBe(BatchExit.AllTrusted);
  }, 60_000);

  it('control: the correctly named field is checked (its own value trusted, a wrong one a T41 violation)', async () => {
    const { evidence, reportData } = good;
    const right = await run('right', [{ id: 'right', evidence, reportData }]);
    expect(right.results[0]).toMatchObject({ id: 'right', ok: true, error: null });
    expect(right.code).toBe(BatchExit.AllTrusted);
    const wrong = await run('wrong', [{ id: 'wrong', evidence, reportData: WRONG }]);
    expect(wrong.results[0]).toMatchObject({ id: 'wrong', ok: false, error: null });
    expect(wrong.results[0]?.violations.map((v) => v.check)).toContain('T41');
    expect(wrong.code).toBe(BatchExit.SomeRejected);
  }, 60_000);
});
