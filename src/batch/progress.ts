/**
 * A one-line progress bar on a terminal stream, redrawn at most every 100 ms:
 *
 *   [##########..........]  48%  480,000 records  5,210/s  ETA 1m40s  trusted 455,001 rejected 24,999
 *
 * The fraction comes from bytes read (a JSONL file) or files listed (a
 * directory); a stream has none, so the bar shows counts and rate only.
 * Nothing is drawn unless the stream is a TTY (the caller decides).
 */
import type { CliStream } from '../cli/io.js';
import type { Outcome } from './result.js';

const WIDTH = 20;
const fmt = (n: number): string => Math.round(n).toLocaleString('en-US');

function duration(seconds: number): string {
  if (!Number.isFinite(seconds) || seconds < 0) return '?';
  const s = Math.round(seconds);
  if (s < 60) return `${s}s`;
  if (s < 3600) return `${Math.floor(s / 60)}m${String(s % 60).padStart(2, '0')}s`;
  return `${Math.floor(s / 3600)}h${String(Math.floor((s % 3600) / 60)).padStart(2, '0')}m`;
}

export interface ProgressState {
  records: number;
  outcomes: Record<Outcome, number>;
  /** 0..1, or undefined when the input size is unknown. */
  fraction: number | undefined;
}

/** `base` is the state when this process started (a resumed run starts part-way). */
export function renderProgress(p: ProgressState, elapsedMs: number, base: { records: number; fraction: number }): string {
  const resumedRecords = base.records;
  const rate = elapsedMs > 0 ? ((p.records - resumedRecords) * 1000) / elapsedMs : 0;
  const parts: string[] = [];
  if (p.fraction !== undefined) {
    const f = Math.min(1, Math.max(0, p.fraction));
    const filled = Math.round(f * WIDTH);
    parts.push(`[${'#'.repeat(filled)}${'.'.repeat(WIDTH - filled)}] ${String(Math.floor(f * 100)).padStart(3)}%`);
    const doneHere = f - base.fraction;
    const eta = f >= 1 ? 0 : doneHere > 0 ? ((elapsedMs / 1000) * (1 - f)) / doneHere : Number.NaN;
    parts.push(`${fmt(p.records)} records`, `${fmt(rate)}/s`, `ETA ${duration(eta)}`);
  } else {
    parts.push(`${fmt(p.records)} records`, `${fmt(rate)}/s`);
  }
  parts.push(`trusted ${fmt(p.outcomes.trusted)} rejected ${fmt(p.outcomes.rejected)}`);
  if (p.outcomes.unavailable > 0) parts.push(`unavailable ${fmt(p.outcomes.unavailable)}`);
  return parts.join('  ');
}

export class ProgressBar {
  readonly #stream: CliStream;
  readonly #start: number;
  #base: { records: number; fraction: number } | undefined;
  #last = 0;
  #drawn = false;

  constructor(stream: CliStream, now = Date.now()) {
    this.#stream = stream;
    this.#start = now;
  }

  update(p: ProgressState, now = Date.now(), force = false): void {
    this.#base ??= { records: p.records, fraction: p.fraction ?? 0 };
    if (!force && now - this.#last < 100) return;
    this.#last = now;
    this.#stream.write(`\r\u001b[2K${renderProgress(p, now - this.#start, this.#base)}`);
    this.#drawn = true;
  }

  /** Draws the final state and ends the line. */
  finish(p: ProgressState, now = Date.now()): void {
    this.update(p, now, true);
    if (this.#drawn) this.#stream.write('\n');
  }
}
