/**
 * Groups input records into worker chunks: at most `maxRecords` records and
 * about `maxBytes` bytes of lines each. Every chunk owns a fresh buffer, so
 * transferring it to a worker never detaches bytes another record still uses.
 */
import type { Job } from './protocol.js';
import type { InputRecord } from './records.js';

export interface Chunk {
  job: Job;
  records: number;
  /** Input records done once this chunk is written: the index after its last record. */
  consumed: number;
  /** JSONL byte offset after its last record (0 for a directory). */
  inputOffset: number;
  /** A directory input: the relative path of its last file (a resume goes on after it). */
  lastPath?: string;
}

export interface ChunkLimits {
  maxRecords: number;
  maxBytes: number;
}

export async function* chunkRecords(records: AsyncIterable<InputRecord>, limits: ChunkLimits): AsyncGenerator<Chunk> {
  let seq = 0;
  let lines: Uint8Array[] = [];
  let lengths: number[] = [];
  let paths: string[] = [];
  let refused: (string | null)[] = [];
  let anyRefused = false;
  let bytes = 0;
  let firstIndex = -1;
  let consumed = 0;
  let inputOffset = 0;
  let lastPath: string | undefined;
  const flush = (): Chunk => {
    const count = lengths.length + paths.length;
    let job: Job;
    if (paths.length > 0) {
      job = { kind: 'files', seq, firstIndex, paths, ...(anyRefused ? { refused } : {}) };
    } else {
      const data = new Uint8Array(bytes);
      let at = 0;
      for (const l of lines) {
        data.set(l, at);
        at += l.length;
      }
      job = { kind: 'lines', seq, firstIndex, data, lengths: Int32Array.from(lengths) };
    }
    seq++;
    lines = [];
    lengths = [];
    paths = [];
    refused = [];
    anyRefused = false;
    bytes = 0;
    firstIndex = -1;
    return { job, records: count, consumed, inputOffset, ...(lastPath === undefined ? {} : { lastPath }) };
  };
  for await (const r of records) {
    if (firstIndex < 0) firstIndex = r.index;
    if (r.kind === 'file') {
      paths.push(r.relativePath);
      refused.push(r.refused ?? null);
      if (r.refused !== undefined) anyRefused = true;
      lastPath = r.relativePath;
    } else {
      lengths.push(r.oversized ? -1 : r.bytes.length);
      if (!r.oversized) lines.push(r.bytes);
      bytes += r.bytes.length;
      inputOffset = r.endOffset;
    }
    consumed = r.index + 1;
    if (lengths.length + paths.length >= limits.maxRecords || bytes >= limits.maxBytes) yield flush();
  }
  if (lengths.length + paths.length > 0) yield flush();
}
