/**
 * s15 red team, batch finding 3 (low): JSONL ids lost their identity.
 * (a) A line was decoded lossily, so the raw ids `host-\xff` and `host-\xfe`
 * were both reported as `host-\uFFFD`; invalid UTF-8 is not JSON (RFC 8259
 * §8.1). Now such a line is ERR_BAD_RECORD under its positional id, as other
 * lines that are not records.
 * (b) Ids with lone surrogates ("host-\ud800", "host-\ud801": valid JSON
 * escapes, distinct strings) shared one key in DuplicateIds / StatusTable,
 * whose keyed hash read the UTF-8 form (every lone surrogate is EF BF BD), so
 * a change of one hid behind the other in --previous. Decision: such ids are
 * refused (ERR_BAD_RECORD, positional id: they have no UTF-8 form, and every
 * consumer reading the results as UTF-8 would merge them), and the tables key
 * UTF-16 code units, so ids from results files of earlier runs stay distinct.
 */
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';

import { DuplicateIds } from '../../src/batch/duplicates.js';
import { idKey } from '../../src/batch/id-key.js';
import { loadPrevious } from '../../src/batch/previous.js';
import type { ResultRecord } from '../../src/batch/result.js';
import { parseRecordLine } from '../../src/batch/verify-record.js';
import { runBatchCli } from '../../src/cli/batch.js';
import { capture, makeArchive, readResults, requireBuilt, type Archive } from './helpers.js';

const AT = new Date('2026-03-01T12:00:00Z');
let archive: Archive;
let work: string;
let records: Record<string, unknown>[];

beforeAll(async () => {
  requireBuilt();
  archive = await makeArchive(4, AT);
  work = mkdtempSync(join(tmpdir(), 'tee-verify-batch-s15-ids-'));
  records = readFileSync(archive.jsonl, 'utf8').trim().split('\n').map((l) => JSON.parse(l) as Record<string, unknown>);
}, 60_000);

afterAll(() => {
  for (const dir of [archive?.dir, work]) if (dir) rmSync(dir, { recursive: true, force: true });
});

const bytes = (...parts: (string | number[])[]): Uint8Array => Buffer.concat(parts.map((p) => (typeof p === 'string' ? Buffer.from(p, 'utf8') : Buffer.from(p))));
const asError = (r: ReturnType<typeof parseRecordLine>): ResultRecord => {
  expect('error' in r).toBe(true);
  return r as ResultRecord;
};

describe('s15 batch #3: record ids keep their identity', () => {
  it('a line that is not valid UTF-8 is ERR_BAD_RECORD under its position, wherever the invalid byte is', () => {
    const a = asError(parseRecordLine(bytes('{"id":"host-', [0xff], '","evidence":"AAAA"}'), 0));
    const b = asError(parseRecordLine(bytes('{"id":"host-', [0xfe], '","evidence":"AAAA"}'), 13));
    expect([a.id, b.id]).toEqual(['#0', '#13']);
    expect(a.error).toMatchObject({ code: 'ERR_BAD_RECORD', class: 'ARGUMENT', message: 'the line is not valid UTF-8' });
    // A truncated sequence, an overlong encoding, an encoded surrogate (CESU-8) are invalid too.
    for (const bad of [[0xc3], [0xc0, 0xaf], [0xed, 0xa0, 0x80]]) {
      expect(asError(parseRecordLine(bytes('{"id":"h","evidence":"AA', bad, 'AA"}'), 2)).error?.message).toBe('the line is not valid UTF-8');
    }
    // Valid multi-byte UTF-8 is an id like any other; a BOM still makes the line "not JSON" (as before).
    expect(parseRecordLine(bytes('{"id":"höst-😀","evidence":"AAAA"}'), 0)).toMatchObject({ id: 'höst-😀' });
    expect(asError(parseRecordLine(bytes([0xef, 0xbb, 0xbf], '{"id":"h","evidence":"AAAA"}'), 0)).error?.message).toBe('the line is not JSON');
  });

  it('an id with a lone surrogate is ERR_BAD_RECORD under its position; a surrogate pair is fine', () => {
    for (const id of ['host-\\ud800', 'host-\\udc00', '\\ud83d', 'x\\ude00\\ud83d']) {
      const r = asError(parseRecordLine(bytes(`{"id":"${id}","evidence":"AAAA"}`), 7));
      expect(r.id).toBe('#7');
      expect(r.error).toMatchObject({ code: 'ERR_BAD_RECORD' });
      expect(r.error?.message).toMatch(/lone surrogates/);
    }
    expect(parseRecordLine(bytes('{"id":"host-\\ud83d\\ude00","evidence":"AAAA"}'), 0)).toMatchObject({ id: 'host-😀' });
  });

  it('the id tables key UTF-16 code units: lone surrogates and U+FFFD stay distinct', async () => {
    const ids = ['host-\ud800', 'host-\ud801', 'host-\ufffd', 'host-\udc00'];
    expect(new Set(ids.map((id) => idKey(id).join(':'))).size).toBe(4);
    const dup = new DuplicateIds();
    for (const id of ids) dup.add(id);
    expect(dup.duplicates).toBe(0);
    dup.add('host-\ud800');
    expect(dup.duplicates).toBe(1);
    // A --previous file of an earlier run holding such ids (JSON.stringify writes them as escapes).
    const prev = join(work, 'prev-sur.jsonl');
    const line = (id: string, status: string, ok: boolean) => `${JSON.stringify({ id, ok, tee: 'tdx', tcbStatus: status, advisoryIds: [], error: null, violations: [], warnings: [], at: AT.toISOString() })}\n`;
    writeFileSync(prev, line('host-\ud801', 'UpToDate', true) + line('host-\ud800', 'OutOfDate', false));
    const { table, duplicates } = await loadPrevious(prev, 1 << 20);
    expect(duplicates).toBe(0);
    expect(table.take('host-\ud801')).toMatchObject({ status: 'UpToDate', ok: true });
    expect(table.take('host-\ud800')).toMatchObject({ status: 'OutOfDate', ok: false });
  });

  it('end to end: raw invalid bytes and lone-surrogate ids become positional ids; the others are verified', async () => {
    const input = join(work, 'ids.jsonl');
    const json = (id: string, i: number) => JSON.stringify({ ...records[i], id });
    /** Record i with the id "host-" followed by one raw byte (not UTF-8). */
    const rawId = (i: number, byte: number): Buffer => {
      const [before, after] = json('host-@', i).split('host-@') as [string, string];
      return Buffer.concat([Buffer.from(`${before}host-`, 'utf8'), Buffer.from([byte]), Buffer.from(after, 'utf8')]);
    };
    const lines = [rawId(0, 0xff), rawId(1, 0xfe), Buffer.from(json('host-\ud800', 2), 'utf8') /* JSON.stringify writes the escape */, Buffer.from(json('host-ok', 3), 'utf8')];
    writeFileSync(input, Buffer.concat(lines.flatMap((l) => [l, Buffer.from('\n')])));
    const out = join(work, 'ids-out.jsonl');
    const c = capture();
    await runBatchCli([input, '--out', out, '--at', AT.toISOString(), '--collateral', archive.collateral, '--trust-root', archive.trustRoot, '--workers', '1'], c.io);
    const results = readResults(out);
    expect(results.map((r) => r.id)).toEqual(['#0', '#1', '#2', 'host-ok']);
    expect(results.slice(0, 3).map((r) => r.error?.code)).toEqual(['ERR_BAD_RECORD', 'ERR_BAD_RECORD', 'ERR_BAD_RECORD']);
    expect(results[3]!.error?.code).not.toBe('ERR_BAD_RECORD');
    expect(c.stdout()).not.toContain('repeat the id');
  });
});
