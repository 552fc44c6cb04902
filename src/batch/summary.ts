/**
 * The run's summary: counts per outcome, per status and per error code, and,
 * against a previous results file, every record whose status or verdict
 * changed.
 *
 * Without `--previous` the counts are the writer's: on resume recounted from
 * the kept results (ResultWriter.open, never taken from the checkpoint), plus
 * what this process wrote, so no second pass is needed. With `--previous` the finished results file is streamed
 * once and joined by id with the previous file's table.
 *
 * The summary file is one JSON object written as it is computed: the
 * `changed` array comes first (it can be long), the counts after it, so
 * memory stays flat however many records changed. Its text is escaped as the
 * results file's is (jsonLine, s16 CLI red team #5): ids and file names hold
 * no raw C1 / bidi control or line separator.
 */
import { closeSync, fsyncSync, openSync, renameSync, rmSync, writeSync } from 'node:fs';
import { basename, dirname, join } from 'node:path';

import { jsonLine } from '../cli/terminal-text.js';
import type { StatusTable } from './previous.js';
import { fileBlocks, splitLines } from './records.js';
import { countResult, emptyCounts, statusOf, type Counts, type ResultRecord } from './result.js';

export interface PreviousComparison {
  file: string;
  records: number;
  compared: number;
  changed: number;
  new: number;
  missing: number;
  skippedLines: number;
  /** Lines of the previous file repeating an earlier id (the last one is compared). */
  duplicateIds: number;
}

export interface Summary extends Counts {
  /** Result lines whose id an earlier line already has (each is kept; joins by id see one). */
  duplicateIds: number;
  previous: PreviousComparison | null;
}

export interface ChangedRecord {
  id: string;
  previous: string;
  current: string;
  previousOk: boolean;
  ok: boolean;
}

/** Buffered writes to a temporary file, renamed into place when complete. */
class JsonSink {
  readonly #path: string;
  readonly #temp: string;
  readonly #fd: number;
  #buffer = '';
  #open = true;

  constructor(path: string) {
    this.#path = path;
    this.#temp = join(dirname(path), `.${basename(path)}.${process.pid}.tmp`);
    this.#fd = openSync(this.#temp, 'w', 0o644);
  }
  write(text: string): void {
    this.#buffer += text;
    if (this.#buffer.length >= 1 << 16) this.flush();
  }
  flush(): void {
    if (this.#buffer.length > 0) writeSync(this.#fd, this.#buffer);
    this.#buffer = '';
  }
  close(): void {
    this.flush();
    fsyncSync(this.#fd);
    this.#open = false;
    closeSync(this.#fd);
    renameSync(this.#temp, this.#path);
  }
  /** After a failure: no temporary file is left behind (the previous summary, if any, stays). */
  discard(): void {
    if (this.#open) {
      this.#open = false;
      closeSync(this.#fd);
    }
    rmSync(this.#temp, { force: true });
  }
}

export interface SummaryInput {
  results: string;
  /** The writer's counts of the results file (recounted from it on resume). */
  counts: Counts;
  /** Result lines repeating an earlier id (the writer's count, over kept and new lines). */
  duplicateIds: number;
  maxLineBytes: number;
  previous?: { file: string; table: StatusTable; skippedLines: number; duplicateIds: number };
  /** Where to write the summary JSON; `header` fields are written into it as well. */
  file?: string;
  header?: Record<string, unknown>;
}

async function compareWithPrevious(input: SummaryInput, previous: NonNullable<SummaryInput['previous']>, sink: JsonSink | undefined): Promise<Summary> {
  const counts = emptyCounts();
  let compared = 0;
  let changed = 0;
  let fresh = 0;
  for await (const line of splitLines(fileBlocks(input.results, 0), { maxLineBytes: input.maxLineBytes })) {
    const r = JSON.parse(Buffer.from(line.bytes.buffer, line.bytes.byteOffset, line.bytes.byteLength).toString('utf8')) as ResultRecord;
    countResult(counts, r);
    const before = previous.table.take(r.id);
    if (!before) {
      fresh++;
      continue;
    }
    compared++;
    const status = statusOf(r);
    if (before.status === status && before.ok === r.ok) continue;
    const entry: ChangedRecord = { id: r.id, previous: before.status, current: status, previousOk: before.ok, ok: r.ok };
    sink?.write(`${changed === 0 ? '' : ','}\n${jsonLine(entry)}`);
    changed++;
  }
  const comparison = { file: previous.file, records: previous.table.size, compared, changed, new: fresh, missing: previous.table.unseen(), skippedLines: previous.skippedLines, duplicateIds: previous.duplicateIds };
  return { ...counts, duplicateIds: input.duplicateIds, previous: comparison };
}

/** The summary of a finished results file; writes the summary file when asked. */
export async function summarize(input: SummaryInput): Promise<Summary> {
  const sink = input.file ? new JsonSink(input.file) : undefined;
  try {
    sink?.write('{"format":"tee-verify-batch-summary","version":1,"changed":[');
    const s: Summary = input.previous ? await compareWithPrevious(input, input.previous, sink) : { ...structuredClone(input.counts), duplicateIds: input.duplicateIds, previous: null };
    if (sink) {
      const rest = { ...input.header, records: s.records, ...s.outcomes, byStatus: s.byStatus, byErrorCode: s.byErrorCode, duplicateIds: s.duplicateIds, previous: s.previous };
      sink.write(`${s.previous && s.previous.changed > 0 ? '\n' : ''}],${jsonLine(rest).slice(1)}\n`);
      sink.close();
    }
    return s;
  } catch (err) {
    sink?.discard();
    throw err;
  }
}
