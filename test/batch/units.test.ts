/**
 * The batch building blocks on their own: the line reader (block boundaries,
 * CRLF, blank lines, the byte cap, resume offsets), sharding, the previous
 * status table, the checkpointed writer, record parsing and the progress line.
 */
import { appendFileSync, mkdtempSync, readFileSync, rmSync, statSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';

import { CheckpointError, checkpointPath, readCheckpoint, ResultWriter } from '../../src/batch/checkpoint.js';
import { chunkRecords } from '../../src/batch/chunker.js';
import { StatusTable } from '../../src/batch/previous.js';
import { renderProgress } from '../../src/batch/progress.js';
import { splitLines, type LineRecord } from '../../src/batch/records.js';
import { countResult, emptyCounts, outcomeOf, statusOf, type Counts } from '../../src/batch/result.js';
import { inShard, parseShard, shardOf } from '../../src/batch/shard.js';
import { parseInstant, parseRecordLine } from '../../src/batch/verify-record.js';

async function* blocksOf(text: string, size: number): AsyncGenerator<Uint8Array> {
  const bytes = new TextEncoder().encode(text);
  for (let i = 0; i < bytes.length; i += size) yield bytes.slice(i, i + size);
}

async function lines(text: string, size: number, maxLineBytes = 1024, start = { offset: 0, index: 0 }): Promise<LineRecord[]> {
  const out: LineRecord[] = [];
  for await (const r of splitLines(blocksOf(text, size), { maxLineBytes, startOffset: start.offset, startIndex: start.index })) out.push(r);
  return out;
}

const text = (r: LineRecord) => new TextDecoder().decode(r.bytes);

describe('splitLines', () => {
  const input = 'a\n\nbb\r\n\r\nccc\nlast';
  it.each([1, 2, 3, 5, 64])('gives the same records whatever the block size (%i)', async (size) => {
    const got = await lines(input, size);
    expect(got.map(text)).toEqual(['a', 'bb\r', 'ccc', 'last']);
    expect(got.map((r) => r.index)).toEqual([0, 1, 2, 3]);
    expect(got.map((r) => r.endOffset)).toEqual([2, 7, 13, 17]);
  });

  it('resumes at a byte offset with the next index', async () => {
    const got = await lines(input.slice(7), 4, 1024, { offset: 7, index: 2 });
    expect(got.map((r) => [r.index, text(r), r.endOffset])).toEqual([
      [2, 'ccc', 13],
      [3, 'last', 17],
    ]);
  });

  it('marks a line over the cap without buffering it, and goes on after it', async () => {
    const long = 'x'.repeat(100);
    for (const size of [7, 1000]) {
      const got = await lines(`ok\n${long}\nafter\n${long}`, size, 50);
      expect(got.map((r) => [r.index, r.oversized, text(r)])).toEqual([
        [0, false, 'ok'],
        [1, true, ''],
        [2, false, 'after'],
        [3, true, ''],
      ]);
      expect(got[3]?.endOffset).toBe(3 + 101 + 6 + 100);
    }
  });
});

describe('chunkRecords', () => {
  it('groups lines into fresh buffers with their lengths, the consumed count and the offset', async () => {
    const chunks = [];
    for await (const c of chunkRecords(splitLines(blocksOf('{"a":1}\n{"b":2}\n{"c":3}\n', 4), { maxLineBytes: 100 }), { maxRecords: 2, maxBytes: 1 << 20 })) chunks.push(c);
    expect(chunks.map((c) => [c.job.seq, c.records, c.consumed, c.inputOffset])).toEqual([
      [0, 2, 2, 16],
      [1, 1, 3, 24],
    ]);
    const first = chunks[0]!.job;
    expect(first.kind).toBe('lines');
    if (first.kind === 'lines') {
      expect([...first.lengths]).toEqual([7, 7]);
      expect(new TextDecoder().decode(first.data)).toBe('{"a":1}{"b":2}');
      expect(first.data.byteOffset).toBe(0);
      expect(first.data.buffer.byteLength).toBe(14); // owns its buffer: safe to transfer
    }
  });
});

describe('shards', () => {
  it('parses i/n with a 0-based index', () => {
    expect(parseShard('0/1')).toEqual({ index: 0, count: 1 });
    expect(parseShard('2/3')).toEqual({ index: 2, count: 3 });
    for (const bad of ['3/3', '1/0', '-1/3', 'a/3', '1', '1/3/4', ' 1/3']) expect(parseShard(bad)).toBeUndefined();
  });

  it('puts every id in exactly one shard, stably and evenly', () => {
    const counts = [0, 0, 0, 0, 0];
    for (let i = 0; i < 10_000; i++) {
      const id = `record-${i}`;
      const owners = [0, 1, 2, 3, 4].filter((index) => inShard(id, { index, count: 5 }));
      expect(owners).toHaveLength(1);
      counts[owners[0]!]!++;
    }
    for (const c of counts) expect(c).toBeGreaterThan(1800);
    // Pinned: the split must never change between versions (machines of one job may run different builds).
    expect([shardOf('rec-00000000', 3), shardOf('rec-00000001', 3), shardOf('é', 7), shardOf('rec-00000000', 1000)]).toEqual([0, 1, 4, 587]);
    expect(shardOf('a', 1)).toBe(0);
  });
});

describe('StatusTable', () => {
  it('stores, replaces and finds statuses, and counts ids never taken', () => {
    const t = new StatusTable();
    for (let i = 0; i < 5000; i++) t.set(`id-${i}`, i % 3 === 0 ? 'UpToDate' : 'ERR_SIG_QUOTE', i % 3 === 0);
    t.set('id-1', 'OutOfDate', false);
    expect(t.size).toBe(5000);
    expect(t.take('id-0')).toEqual({ status: 'UpToDate', ok: true });
    expect(t.take('id-1')).toEqual({ status: 'OutOfDate', ok: false });
    expect(t.take('id-2')).toEqual({ status: 'ERR_SIG_QUOTE', ok: false });
    expect(t.take('absent')).toBeUndefined();
    expect(t.unseen()).toBe(4997);
  });
});

describe('ResultWriter and the checkpoint', () => {
  const fp = { input: 'x.jsonl', shard: '0/1' };
  const dirs: string[] = [];
  const tempDir = (): string => {
    const d = mkdtempSync(join(tmpdir(), 'tee-verify-cp-'));
    dirs.push(d);
    return d;
  };
  afterAll(() => {
    for (const d of dirs) rmSync(d, { recursive: true, force: true });
  });
  /** A trusted result line of record `id`. */
  const ok = (id: string): string => `${JSON.stringify({ id, ok: true, tee: 'tdx', tcbStatus: 'UpToDate', advisoryIds: [], error: null, violations: [], warnings: [], at: null })}\n`;
  const trusted = (n: number): Counts => {
    const c = emptyCounts();
    for (let i = 0; i < n; i++) countResult(c, { ok: true, error: null, tcbStatus: 'UpToDate' });
    return c;
  };

  it('commits durable prefixes; a reopen truncates what the checkpoint does not cover', () => {
    const dir = tempDir();
    const out = join(dir, 'r.jsonl');
    const w = ResultWriter.open(out, fp, '2026-01-01T00:00:00.000Z', false);
    expect(readCheckpoint(out)).toMatchObject({ consumed: 0, bytes: 0, complete: false });
    const enc = (s: string) => new TextEncoder().encode(s);
    // consumed 3 for 2 results: one input record belongs to the other shard.
    const shard = { index: 0, count: 2 };
    // Judged at the run's instant: --at now keeps it only then (s15 change review r4 #1).
    const [a, b, c] = 'abcdefghijklmnop'.split('').filter((id) => shardOf(id, 2) === 0).slice(0, 3).map((id) => ok(id).replace('"at":null', '"at":"2026-01-01T00:00:00.000Z"'));
    expect(c).toBeDefined();
    w.append(enc(a! + b!), trusted(2), 3, 40, 0, 0); // interval 0: commits
    w.append(enc(c!), trusted(1), 4, 50, 1, 1_000_000); // not committed yet
    const bytes = (a! + b!).length;
    expect(readCheckpoint(out)).toMatchObject({ consumed: 3, inputOffset: 40, written: 2, bytes, counts: { records: 2, outcomes: { trusted: 2 }, byStatus: { UpToDate: 2 } } });
    w.close();
    appendFileSync(out, '{"id":"d"'); // torn
    const again = ResultWriter.open(out, fp, '2026-06-01T00:00:00.000Z', false, { instantFromCheckpoint: true, shard });
    expect(again.state).toMatchObject({ consumed: 3, written: 2, bytes, at: '2026-01-01T00:00:00.000Z', counts: { records: 2 } });
    // s15 batch #1: the tail is cut only by the first commit (after the resume check), never on open.
    expect(readFileSync(out, 'utf8')).toBe(`${a! + b! + c!}{"id":"d"`);
    again.commit(true);
    expect(readFileSync(out, 'utf8')).toBe(a! + b!);
    again.close();
    expect(readCheckpoint(out)?.complete).toBe(true);
  });

  it('refuses a checkpoint of other options, a foreign file and a shortened results file; --fresh starts over', () => {
    const dir = tempDir();
    const out = join(dir, 'r.jsonl');
    const w = ResultWriter.open(out, fp, 'at', false);
    w.append(new TextEncoder().encode(ok('a')), trusted(1), 1, 11, 0, 0);
    w.close();
    expect(() => ResultWriter.open(out, { ...fp, shard: '1/2' }, 'at', false)).toThrow(CheckpointError);
    writeFileSync(out, '');
    expect(() => ResultWriter.open(out, fp, 'at', false)).toThrow(/shorter/);
    const fresh = ResultWriter.open(out, { ...fp, shard: '1/2' }, 'at', true);
    fresh.close();
    expect(readCheckpoint(out)).toMatchObject({ consumed: 0, fingerprint: { shard: '1/2' } });
    expect(statSync(out).size).toBe(0);
    writeFileSync(checkpointPath(out), 'not json');
    expect(() => readCheckpoint(out)).toThrow(CheckpointError);
  });
});

describe('record lines', () => {
  const b64 = Buffer.from('quote').toString('base64');
  const parse = (o: unknown, index = 7) => parseRecordLine(new TextEncoder().encode(typeof o === 'string' ? o : JSON.stringify(o)), index);

  it('reads the fields and lowercases reportData', () => {
    const rd = 'AB'.repeat(64);
    expect(parse({ id: 'r1', evidence: b64, collectedAt: '2026-01-02T03:04:05Z', reportData: rd, extra: 1 })).toEqual({ id: 'r1', evidence: b64, collectedAt: '2026-01-02T03:04:05Z', reportData: rd.toLowerCase() });
  });

  it.each([
    ['not JSON', '{"id":', '#7'],
    ['not an object', '[1]', '#7'],
    ['no id', { evidence: b64 }, '#7'],
    ['no evidence', { id: 'r' }, 'r'],
    ['short reportData', { id: 'r', evidence: b64, reportData: 'ab' }, 'r'],
    ['impossible collectedAt', { id: 'r', evidence: b64, collectedAt: '2026-02-30T00:00:00Z' }, 'r'],
    ['collectedAt without a zone', { id: 'r', evidence: b64, collectedAt: '2026-01-01T00:00:00' }, 'r'],
    ['policy not an object', { id: 'r', evidence: b64, policy: 'strict' }, 'r'],
  ])('%s is the record error ERR_BAD_RECORD under the id %s', (_name, input, id) => {
    expect(parse(input)).toMatchObject({ id, ok: false, error: { code: 'ERR_BAD_RECORD', class: 'ARGUMENT' } });
  });

  it('parses instants with zones and refuses rollovers', () => {
    expect(parseInstant('2026-01-01T10:00:00+05:30')?.toISOString()).toBe('2026-01-01T04:30:00.000Z');
    expect(parseInstant('2026-01-01T10:00:00.123Z')?.toISOString()).toBe('2026-01-01T10:00:00.123Z');
    for (const bad of ['2026-02-29T00:00:00Z', '2026-01-01T24:00:00Z', '2026-01-01', 'yesterday']) expect(parseInstant(bad)).toBeUndefined();
  });
});

describe('statuses and outcomes', () => {
  it('classifies results', () => {
    const base = { tcbStatus: null, error: null, ok: false };
    expect(statusOf({ ...base, tcbStatus: 'OutOfDate' })).toBe('OutOfDate');
    expect(statusOf({ ...base })).toBe('Verified');
    expect(statusOf({ ...base, error: { code: 'ERR_SIG_QUOTE', class: 'SIG_QUOTE', message: '' } })).toBe('ERR_SIG_QUOTE');
    expect(outcomeOf({ ok: true, error: null })).toBe('trusted');
    expect(outcomeOf({ ok: false, error: null })).toBe('rejected');
    expect(outcomeOf({ ok: false, error: { code: 'ERR_COLLATERAL_MISSING', class: 'COLLATERAL_UNAVAILABLE', message: '' } })).toBe('unavailable');
    expect(outcomeOf({ ok: false, error: { code: 'ERR_COLLATERAL_EXPIRED', class: 'EXPIRED', message: '' } })).toBe('unavailable');
    expect(outcomeOf({ ok: false, error: { code: 'ERR_EXPIRED', class: 'EXPIRED', message: '' } })).toBe('rejected');
  });
});

describe('progress line', () => {
  it('shows the fraction, counts, rate and ETA, or counts only for a stream', () => {
    const outcomes = { trusted: 900, rejected: 100, unavailable: 0 };
    const line = renderProgress({ records: 1000, outcomes, fraction: 0.5 }, 2000, { records: 0, fraction: 0 });
    expect(line).toBe('[##########..........]  50%  1,000 records  500/s  ETA 2s  trusted 900 rejected 100');
    const stream = renderProgress({ records: 1000, outcomes: { ...outcomes, unavailable: 5 }, fraction: undefined }, 1000, { records: 500, fraction: 0 });
    expect(stream).toBe('1,000 records  500/s  trusted 900 rejected 100  unavailable 5');
  });
});
