/**
 * Every resume re-reads the input up to the checkpoint and checks it against
 * the kept results before a new record is verified (or the results file is
 * truncated to the checkpoint):
 *
 * - JSONL or stdin (any run since s15 batch #1; before, only a shard or a
 *   retry list): the records before the checkpoint's offset must number
 *   `consumed` and end exactly at `inputOffset`, and the ids of those the run
 *   selects must be, in order, the ids of the kept result lines (ids only:
 *   nothing is verified again). A checkpoint whose offset was moved forward
 *   (with or without `consumed`) would otherwise skip records silently.
 * - a directory (any run): the walk up to the checkpoint's last path must
 *   list `consumed` files whose selected ones are the kept results' ids, in
 *   order; the run then goes on after that path. A file added, removed or
 *   renamed before the resume point would otherwise shift the walk.
 *
 * A finished run re-summarised is checked to the input's end (a record after
 * the resume point is a refusal), stdin and a pipe included: they are read
 * again, so an empty stream for a checkpoint counting records is refused.
 *
 * The records after the checkpoint pass through unchanged.
 */
import { CheckpointError, type Checkpoint } from './checkpoint.js';
import { compareWalkOrder, type InputRecord } from './records.js';
import { IdSequence, selects, type Selection } from './selection.js';
import { parseRecordLine, positionalId } from './verify-record.js';

/** The id a worker gives a record (parseRecordLine's, or the position of an over-long line). */
function idOf(r: InputRecord): string {
  if (r.kind === 'file') return r.relativePath;
  return r.oversized ? positionalId(r.index) : parseRecordLine(r.bytes, r.index).id;
}

export interface ResumePoint {
  checkpoint: Readonly<Checkpoint>;
  /** IdSequence digest of the kept result lines' ids. */
  keptIds: string;
  selection: Selection;
  /** Where the resume point came from, for messages. */
  where: string;
}

/**
 * `records` read from the very start of the input; yields those after the
 * resume point once the prefix is checked. With `complete`, any record after
 * the resume point is itself a refusal (the input grew after the run ended).
 */
export async function* checkedResume(records: AsyncIterable<InputRecord>, point: ResumePoint, complete = false): AsyncGenerator<InputRecord> {
  const cp = point.checkpoint;
  const selected = new IdSequence();
  let count = 0;
  let endOffset = 0;
  let kind: InputRecord['kind'] | undefined;
  let checked = false;
  const inPrefix = (r: InputRecord): boolean =>
    r.kind === 'file' && cp.lastPath !== undefined ? compareWalkOrder(r.relativePath, cp.lastPath) <= 0 : r.index < cp.consumed;
  const check = (): void => {
    checked = true;
    const files = kind === 'file' || (kind === undefined && cp.lastPath !== undefined);
    const problems: string[] = [];
    if (count !== cp.consumed) problems.push(`${count} ${files ? 'files' : 'records'} where it counts ${cp.consumed}${count === 0 && !files ? ' (the input is empty: a resume, and the re-summary of a finished run over stdin or a pipe, reads the same stream again)' : ''}`);
    if (!files && endOffset !== cp.inputOffset) problems.push(`the last of them ending at byte ${endOffset}, not ${cp.inputOffset}`);
    if (selected.count !== cp.written || selected.digest() !== point.keptIds) problems.push(`${selected.count} of them selected, not the ${cp.written} ids of the kept results in order`);
    if (problems.length === 0) return;
    const upTo = files ? `up to ${JSON.stringify(cp.lastPath ?? `file ${cp.consumed}`)}` : `before byte ${cp.inputOffset}`;
    const message = `the input ${upTo} is not what ${point.where} describes: ${problems.join('; ')}`;
    throw files
      ? new CheckpointError('ERR_CHECKPOINT_INPUT_CHANGED', `${message}: files were added, removed or renamed before the resume point; start over with --fresh`)
      : new CheckpointError('ERR_CHECKPOINT_INVALID', `${message}: the checkpoint was edited or another stream was given; resuming would skip or repeat records; start over with --fresh`);
  };
  for await (const r of records) {
    kind = r.kind;
    if (!checked && inPrefix(r)) {
      count++;
      if (r.kind === 'line') endOffset = r.endOffset;
      const id = idOf(r);
      if (selects(point.selection, id)) selected.add(id);
      continue;
    }
    if (!checked) check();
    if (complete) {
      const what = r.kind === 'file' ? `the file ${JSON.stringify(r.relativePath)}` : `record ${r.index}`;
      throw new CheckpointError('ERR_CHECKPOINT_INPUT_CHANGED', `${point.where} says the run is complete, but the input has ${what} after its last record (the input grew, or the checkpoint was edited): its results do not cover the input; start over with --fresh (or use another --out)`);
    }
    yield r;
  }
  if (!checked) check();
}

/** Drains an input opened with `complete` (a finished run re-summarised): only the checks matter. */
export async function drainCheckedResume(records: AsyncIterable<InputRecord>): Promise<void> {
  for await (const r of records) void r;
}
