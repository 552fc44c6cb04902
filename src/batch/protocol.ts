/**
 * Messages between the batch main thread and its workers. Records travel in
 * chunks: JSONL lines as one byte array plus their lengths (transferred, not
 * copied), directory records as relative paths. A chunk's results come back
 * as one byte array of result lines, in the chunk's order.
 */
import type { VerifySetup } from './config.js';
import type { Counts } from './result.js';
import type { IdSet } from './selection.js';
import type { Shard } from './shard.js';

export interface WorkerInit {
  setup: VerifySetup;
  shard: Shard;
  /** `--only-unavailable`: only these ids (with the shard's). */
  only?: IdSet;
  /** The directory of a directory input (its records are relative paths). */
  directory?: string;
  maxRecordBytes: number;
}

export interface LineJob {
  kind: 'lines';
  seq: number;
  firstIndex: number;
  /** The lines, back to back. */
  data: Uint8Array;
  /** Byte length of each line; -1 marks a line over the cap (no bytes in `data`). */
  lengths: Int32Array;
}

export interface FileJob {
  kind: 'files';
  seq: number;
  firstIndex: number;
  paths: string[];
  /** Per path, the walk's reason for refusing it (never opened), or null; absent when none is refused. */
  refused?: (string | null)[];
}

export type Job = LineJob | FileJob;

export interface JobResult {
  type: 'result';
  seq: number;
  /** UTF-8 result lines, each ending with a newline. */
  data: Uint8Array;
  /** Records of this chunk in the shard (each has one line in `data`), counted. */
  counts: Counts;
  /** The ids of the lines in `data`, in order (the main thread counts repeated ids). */
  ids: string[];
}

export type WorkerMessage = { type: 'ready' } | JobResult | { type: 'fatal'; message: string };
