/**
 * The run's summary, computed by streaming the finished results file (so a
 * resumed run counts the records of every attempt exactly once): counts per
 * outcome, per status and per error code, and, against a previous results
 * file, every record whose status or verdict changed.
 *
 * The summary file is one JSON object written as it is computed: the
 * `changed` array comes first (it can be long), the counts after it, so
 * memory stays flat however many records changed.
 */
import { closeSync, fsyncSync, openSync, renameSync, writeSync } from 'node:fs';
import { basename, dirname, join } from 'node:path';

import type { StatusTable } from './previous.js';
import { fileBlocks, splitLines } from './records.js';
import { outcomeOf, statusOf, type Outcome, type ResultRecord } from './result.js';

export interface Summary {
  records: number;
  outcomes: Record<Outcome, number>;
  byStatus: Record<string, number>;
  byErrorCode: Record<string, number>;
  previous: { file: string; records: number; compared: number; changed: number; new: number; missing: number; skippedLines: number } | null;
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
    closeSync(this.#fd);
    renameSync(this.#temp, this.#path);
  }
}

const bump = (m: Record<string, number>, k: string): void => {
  m[k] = (m[k] ?? 0) + 1;
};

export interface SummaryInput {
  results: string;
  maxLineBytes: number;
  previous?: { file: string; table: StatusTable; skippedLines: number };
  /** Where to write the summary JSON; `header` fields are written into it as well. */
  file?: string;
  header?: Record<string, unknown>;
}

/** Streams the results file once; writes the summary file when asked. */
export async function summarize(input: SummaryInput): Promise<Summary> {
  const sink = input.file ? new JsonSink(input.file) : undefined;
  sink?.write('{"format":"tee-verify-batch-summary","version":1,"changed":[');
  const s: Summary = { records: 0, outcomes: { trusted: 0, rejected: 0, unavailable: 0 }, byStatus: {}, byErrorCode: {}, previous: null };
  const prev = input.previous;
  let compared = 0;
  let changed = 0;
  let fresh = 0;
  for await (const line of splitLines(fileBlocks(input.results, 0), { maxLineBytes: input.maxLineBytes })) {
    const r = JSON.parse(Buffer.from(line.bytes.buffer, line.bytes.byteOffset, line.bytes.byteLength).toString('utf8')) as ResultRecord;
    s.records++;
    s.outcomes[outcomeOf(r)]++;
    const status = statusOf(r);
    bump(s.byStatus, status);
    if (r.error) bump(s.byErrorCode, r.error.code);
    if (!prev) continue;
    const before = prev.table.take(r.id);
    if (!before) {
      fresh++;
      continue;
    }
    compared++;
    if (before.status === status && before.ok === r.ok) continue;
    const entry: ChangedRecord = { id: r.id, previous: before.status, current: status, previousOk: before.ok, ok: r.ok };
    sink?.write(`${changed === 0 ? '' : ','}\n${JSON.stringify(entry)}`);
    changed++;
  }
  if (prev) {
    s.previous = { file: prev.file, records: prev.table.size, compared, changed, new: fresh, missing: prev.table.unseen(), skippedLines: prev.skippedLines };
  }
  if (sink) {
    const rest = { ...input.header, records: s.records, ...s.outcomes, byStatus: s.byStatus, byErrorCode: s.byErrorCode, previous: s.previous };
    sink.write(`${changed === 0 ? '' : '\n'}],${JSON.stringify(rest).slice(1)}\n`);
    sink.close();
  }
  return s;
}
