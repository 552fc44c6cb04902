/**
 * A batch worker thread: builds its own verification context (collateral
 * cache, memoised signature checks, trust roots, policy) once, then turns
 * chunks of records into chunks of result lines. Runs from dist/ (it imports
 * the package's built modules); records outside the run's shard are dropped.
 */
import { parentPort, workerData } from 'node:worker_threads';

import { createContext, type VerifyContext } from './context.js';
import { readEvidenceFile } from './evidence-file.js';
import type { FileJob, Job, JobResult, LineJob, WorkerInit, WorkerMessage } from './protocol.js';
import { countResult, emptyCounts, errorResult, resultLine, type ResultRecord } from './result.js';
import { selects, type Selection } from './selection.js';
import { parseRecordLine, positionalId, recordError, verifyRecord, type RecordFields } from './verify-record.js';

const init = workerData as WorkerInit;
const selection: Selection = { shard: init.shard, ...(init.only ? { only: init.only } : {}) };
const port = parentPort!;
const encoder = new TextEncoder();

function post(message: WorkerMessage, transfer: ArrayBuffer[] = []): void {
  port.postMessage(message, transfer);
}

/** The record's fields, its ready result (a record error), or null when another shard owns it. */
function* recordsOf(job: Job): Generator<RecordFields | ResultRecord | null> {
  if (job.kind === 'files') {
    const { paths, refused } = job as FileJob;
    for (let i = 0; i < paths.length; i++) {
      const relativePath = paths[i] as string;
      if (!selects(selection, relativePath)) {
        yield null;
        continue;
      }
      const reason = refused?.[i];
      if (typeof reason === 'string') {
        yield errorResult(relativePath, recordError('ERR_RECORD_UNREADABLE', reason));
        continue;
      }
      const bytes = readEvidenceFile(init.directory!, relativePath, init.maxRecordBytes);
      yield bytes instanceof Uint8Array ? { id: relativePath, evidence: bytes } : bytes;
    }
    return;
  }
  const { data, lengths, firstIndex } = job as LineJob;
  let at = 0;
  for (let i = 0; i < lengths.length; i++) {
    const length = lengths[i] as number;
    const index = firstIndex + i;
    let record: RecordFields | ResultRecord;
    if (length < 0) {
      record = errorResult(positionalId(index), recordError('ERR_RECORD_TOO_LARGE', `the line is longer than the cap of ${init.maxRecordBytes} bytes`));
    } else {
      record = parseRecordLine(data.subarray(at, at + length), index);
      at += length;
    }
    yield selects(selection, record.id) ? record : null;
  }
}

async function run(ctx: VerifyContext, job: Job): Promise<JobResult> {
  const counts = emptyCounts();
  const ids: string[] = [];
  let text = '';
  for (const item of recordsOf(job)) {
    if (item === null) continue;
    const result = 'ok' in item ? item : await verifyRecord(item, ctx, init.setup.instant);
    countResult(counts, result);
    ids.push(result.id);
    text += resultLine(result);
  }
  return { type: 'result', seq: job.seq, data: encoder.encode(text), counts, ids };
}

async function start(): Promise<void> {
  let ctx: VerifyContext;
  try {
    ctx = await createContext(init.setup);
  } catch (err) {
    post({ type: 'fatal', message: err instanceof Error ? err.message : String(err) });
    return;
  }
  // Chunks are handled one at a time, in arrival order.
  let queue = Promise.resolve();
  port.on('message', (job: Job) => {
    queue = queue.then(async () => {
      try {
        const result = await run(ctx, job);
        post(result, [result.data.buffer as ArrayBuffer]);
      } catch (err) {
        post({ type: 'fatal', message: `chunk ${job.seq}: ${err instanceof Error ? (err.stack ?? err.message) : String(err)}` });
      }
    });
  });
  post({ type: 'ready' });
}

await start();
