/**
 * Recounts the kept prefix of a results file on resume. The checkpoint's
 * counts are only a cache: the summary and the exit code of a resumed run come
 * from the result lines themselves, so a checkpoint edited by hand or left by
 * a bug cannot turn rejected records into trusted ones.
 */
import { closeSync, constants, fstatSync, openSync, readSync } from 'node:fs';
import { StringDecoder } from 'node:string_decoder';

import { countResult, emptyCounts, type Counts, type ResultRecord } from './result.js';
import { selects, type Selection } from './selection.js';

/** Receives the kept lines' ids in order (an IdSequence, the duplicate counter). */
export interface IdSink {
  add(id: string): void;
}

const BLOCK = 1 << 20;

/** Why a prefix cannot be recounted: a line that is not a result, or a prefix not ending with a newline. */
export class PrefixError extends Error {}

/** A kept line judged at another instant than the run's (s15 batch #2). */
export class PrefixInstantError extends PrefixError {}

function parseResult(line: string, index: number): Pick<ResultRecord, 'id' | 'ok' | 'error' | 'tcbStatus' | 'at'> {
  let r: unknown;
  try {
    r = JSON.parse(line);
  } catch {
    throw new PrefixError(`result line ${index + 1} is not JSON`);
  }
  const o = r as Partial<ResultRecord> | null;
  const errorOk = o?.error === null || (typeof o?.error === 'object' && typeof o.error.code === 'string' && typeof o.error.class === 'string');
  if (typeof o !== 'object' || o === null || typeof o.id !== 'string' || typeof o.ok !== 'boolean' || !errorOk || !(o.tcbStatus === null || typeof o.tcbStatus === 'string')) {
    throw new PrefixError(`result line ${index + 1} is not a batch result`);
  }
  // A trusted verdict with an error is no result this program writes.
  if (o.ok && o.error !== null) throw new PrefixError(`result line ${index + 1} is ok with an error`);
  return o as ResultRecord;
}

/**
 * Counts the result lines in the first `bytes` bytes of the open file `fd`.
 * Every line must be a batch result of a record the run selects (its shard,
 * its retry list), and the prefix must end with a newline (a torn line is past
 * `bytes`, never inside it). `ids` receives the lines' ids in order. With
 * `at` (a fixed-instant run: the checkpoint's instant), every line's `at` must
 * be it, or null (a record refused before an instant was chosen): one results
 * file is judged at one instant (PrefixInstantError otherwise). `seen.judged`
 * is set when some line carries a non-null `at` (see judgedPrefix).
 */
export function recountPrefix(fd: number, bytes: number, selection: Selection, ids?: IdSink, at?: string, seen?: { judged: boolean }): Counts {
  const counts = emptyCounts();
  const buffer = Buffer.alloc(BLOCK);
  const decoder = new StringDecoder('utf8'); // a character cut by a block end is kept for the next block
  let carry = '';
  let position = 0;
  while (position < bytes) {
    const n = readSync(fd, buffer, 0, Math.min(BLOCK, bytes - position), position);
    if (n === 0) throw new PrefixError(`the results file ends at byte ${position}, before ${bytes}`);
    position += n;
    const text = carry + decoder.write(buffer.subarray(0, n));
    const parts = text.split('\n');
    carry = parts.pop() as string;
    for (const line of parts) {
      const r = parseResult(line, counts.records);
      if (!selects(selection, r.id)) throw new PrefixError(`result line ${counts.records + 1} (id ${JSON.stringify(r.id.slice(0, 80))}) belongs to another shard or is not on the retry list`);
      if (at !== undefined && r.at !== null && r.at !== at) {
        throw new PrefixInstantError(`result line ${counts.records + 1} (id ${JSON.stringify(r.id.slice(0, 80))}) was judged at ${JSON.stringify(typeof r.at === 'string' ? r.at.slice(0, 40) : r.at)}, not at the run's instant ${at}`);
      }
      if (r.at !== null && seen) seen.judged = true;
      ids?.add(r.id);
      countResult(counts, r);
    }
  }
  if (carry.length > 0 || decoder.end().length > 0) throw new PrefixError('the kept prefix does not end with a complete line');
  return counts;
}

/**
 * Whether the first `bytes` bytes of the results file `path` hold a line judged at an instant
 * (a non-null `at`): read up to the first such line only. A line that is not a JSON object ends
 * the scan with false (the recount refuses it), and so does a file that cannot be read (opening
 * it to resume fails). `--at now` keeps a checkpoint's instant only when this is true: a prefix
 * of records refused before an instant was chosen (`at: null`, e.g. ERR_BAD_RECORD) was judged
 * at no instant, and nothing in it could contradict a forged one (s15 change review r4 #1).
 * recountPrefix sets `seen.judged` by the same rule, so both reads of one file agree.
 */
export function judgedPrefix(path: string, bytes: number): boolean {
  let fd: number;
  try {
    // Non-blocking, and a regular file only: an --out that is a FIFO must not hang the run here
    // (s15 change review r6; the resume refuses it later, as before).
    fd = openSync(path, constants.O_RDONLY | constants.O_NONBLOCK);
  } catch {
    return false;
  }
  try {
    if (!fstatSync(fd).isFile()) return false;
    const buffer = Buffer.alloc(BLOCK);
    const decoder = new StringDecoder('utf8');
    let carry = '';
    let position = 0;
    while (position < bytes) {
      const n = readSync(fd, buffer, 0, Math.min(BLOCK, bytes - position), position);
      if (n === 0) return false;
      position += n;
      const parts = (carry + decoder.write(buffer.subarray(0, n))).split('\n');
      carry = parts.pop() as string;
      for (const line of parts) {
        let r: unknown;
        try {
          r = JSON.parse(line);
        } catch {
          return false;
        }
        if (typeof r !== 'object' || r === null) return false;
        if ((r as { at?: unknown }).at !== null) return true;
      }
    }
    return false;
  } catch {
    return false;
  } finally {
    closeSync(fd);
  }
}
