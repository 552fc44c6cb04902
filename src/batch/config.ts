/**
 * What a batch run verifies with: plain data (paths, URLs, flags), so the
 * main thread can hand it to every worker and record it in the checkpoint.
 */
import type { Shard } from './shard.js';
import { readSetupFiles, setupDigests, type SetupFiles } from './setup-digests.js';

export type { SetupFiles } from './setup-digests.js';

/** The verification instant: one fixed instant for every record, or each record's collectedAt. */
export type InstantSpec = { mode: 'fixed'; at: string; /** Read from the wall clock ("--at now"). */ now?: boolean } | { mode: 'collected' };

export interface VerifySetup {
  instant: InstantSpec;
  /** Absolute paths of collateral bundles; every version they hold is used. */
  collateral: string[];
  /** Intel PCS / PCCS base URL; with bundles the network is only asked for what they lack. */
  pcsUrl?: string;
  /** PEM file of the Intel root CA(s) to pin instead of Intel's (test or private PKI). */
  trustRoot?: string;
  /** Relaxation: verify without the CRLs that cannot be obtained (a warning on each record verified so). */
  skipCrl: boolean;
  /** Policy file applied to every record (default: defaultPolicy of the record's TEE). */
  policy?: string;
  /**
   * Relaxation: judge a record that carries its own `policy` under that policy
   * instead of the run's (a warning naming it on the record's result).
   * Records are archive content, not configuration: off by default.
   */
  allowRecordPolicy: boolean;
  /**
   * The content of `policy`, `trustRoot` and each `collateral` bundle as the main thread read it,
   * once (readSetupFiles): the checkpoint's digests are of these bytes, and the setup check and every
   * worker use these bytes, never the paths again (review s14 #2). Absent (a hand-built setup): the
   * paths are read.
   */
  files?: SetupFiles;
}

export interface BatchConfig extends VerifySetup {
  /** A JSONL file, "-" for stdin, or a directory of evidence files. */
  input: string;
  /** 'pipe': a path that is a FIFO, socket or character device, read as a JSONL stream (never resumed). */
  inputKind: 'jsonl' | 'stdin' | 'directory' | 'pipe';
  out: string;
  shard: Shard;
  workers: number;
  /** A JSONL line longer than this is a record error, never buffered. */
  maxRecordBytes: number;
  previous?: string;
  summary?: string;
  /** `--only-unavailable`: verify only the records whose outcome in this results file was "unavailable". */
  onlyUnavailable?: string;
  /** Ignore an existing checkpoint and start over. */
  fresh: boolean;
}

export const DEFAULT_MAX_RECORD_BYTES = 1 << 20;

/**
 * The parts of the config that must not change between a run and its resume: the options, and the
 * SHA-256 of the policy, collateral and trust-root files' contents (a path alone would let a file
 * edited in place judge the rest of the run under other rules). `files`: the bytes the run judges
 * with (read here when not given).
 */
export function fingerprintOf(c: BatchConfig, files: SetupFiles = readSetupFiles(c)): Record<string, unknown> {
  const contents = setupDigests(files);
  return {
    input: c.input,
    inputKind: c.inputKind,
    shard: `${c.shard.index}/${c.shard.count}`,
    // "now" differs on every start: a resume keeps the instant of the first attempt instead.
    instant: c.instant.mode === 'collected' ? 'collected' : c.instant.now ? 'now' : c.instant.at,
    collateral: c.collateral,
    pcsUrl: c.pcsUrl ?? null,
    trustRoot: c.trustRoot ?? null,
    skipCrl: c.skipCrl,
    policy: c.policy ?? null,
    allowRecordPolicy: c.allowRecordPolicy,
    maxRecordBytes: c.maxRecordBytes,
    // Only when given, so checkpoints of runs without it keep their options. The selected ids
    // themselves are added by the run (a resume must select the same records).
    ...(c.onlyUnavailable === undefined ? {} : { onlyUnavailable: c.onlyUnavailable }),
    // Only when the run names such files, so checkpoints of runs without any keep their options.
    ...(Object.keys(contents).length === 0 ? {} : { contents }),
  };
}
