/**
 * `tee-verify batch`: re-verifies an archive of stored evidence (docs/batch.md).
 * Parses its own flags, runs src/batch, prints a short summary on stdout and
 * returns the exit code; the progress bar goes to stderr only on a terminal.
 */
import { statSync } from 'node:fs';
import { availableParallelism } from 'node:os';
import { resolve } from 'node:path';
import { parseArgs } from 'node:util';

import { DEFAULT_MAX_RECORD_BYTES, type BatchConfig, type InstantSpec } from '../batch/config.js';
import { CheckpointError, PolicyFileError, runBatch, SetupError, type RunHooks, type RunOutcome } from '../batch/run.js';
import { replacedRootsWarning } from '../batch/context.js';
import { parseShard, WHOLE } from '../batch/shard.js';
import { parseInstant } from '../batch/verify-record.js';
import { parseSourceUrl } from '../collateral/source-url.js';
import { TeeVerifyError } from '../errors.js';
import { HELP_NOT_ALONE, givenTwice, repeatedOption } from './args.js';
import { oneLine } from './errors.js';
import type { CliIo, CliStream } from './io.js';
import { lineSafe } from './terminal-text.js';

/** Exit codes of `batch` (the CLI's classes). */
export const BatchExit = {
  /** Every record is trusted (or there were none). */
  AllTrusted: 0,
  /** At least one record was rejected (verification, policy or a malformed record). */
  SomeRejected: 1,
  Usage: 2,
  /** Collateral was unavailable for every record: retry later. */
  CollateralUnavailable: 3,
  /**
   * Collateral was unavailable for some records (the others judged): those are not judged yet;
   * re-verify only them with --only-unavailable <this run's results>.
   */
  SomeUnavailable: 4,
  Internal: 70,
} as const;

export const BATCH_HELP = `tee-verify batch <dir|file.jsonl|-> --out <results.jsonl> [options]

Re-verifies an archive of evidence on a pool of worker threads, streaming:
results are written as JSONL in input order, with a checkpoint
(<out>.checkpoint) that lets a killed run resume without losing or
duplicating a record. Records: {"id", "evidence" (base64), "collectedAt"?,
"reportData"?, "policy"?, "auxblob"?: base64 SEV-SNP certificate table
(SEV-SNP only)}, one per line; or a directory of evidence files.

  --out <file>            results, one JSON line per record (required)
  --at now|<ISO>|collected
                          verify at one instant (default now: what is trusted
                          today) or at each record's collectedAt (what was
                          trusted then; use archived collateral)
  --collateral <bundle>   collateral bundle(s); every version in them is used,
                          each instant gets the version valid then (repeatable)
  --pcs-url <base>        Intel PCS / PCCS for collateral the bundles lack
  --trust-root <pem>      pin these roots instead of Intel's and AMD's (as in
                          verify: self-signed Intel-style roots, AMD ARK / ASK /
                          ASVK per product; a warning on every result)
  --skip-crl              relaxation: verify without the CRLs that cannot be
                          obtained (a warning on each record verified so)
  --policy <file>         policy for every record (default: the TEE's default);
                          its collateral.expiryGraceSeconds applies as in
                          verify (grace warnings on the result)
  --allow-record-policy   relaxation: a record's own "policy" replaces
                          --policy for that record (a warning naming it on
                          the result), its collateral grace included;
                          without it a record's policy is ignored (with a
                          warning)
  --workers <n>           worker threads (default: number of cores)
  --shard <i>/<n>         verify only shard i (0-based) of n, split by record id
  --previous <file>       report records whose status changed since that results file
  --only-unavailable <results.jsonl>
                          verify only the records whose collateral was
                          unavailable in that earlier run (use another --out)
  --summary <file>        write the summary JSON there
  --max-record-bytes <n>  longest accepted record (default ${DEFAULT_MAX_RECORD_BYTES})
  --fresh                 ignore an existing checkpoint and start over (needed
                          when the input file, --at or other options changed)

Exit codes: 0 all trusted, 1 some rejected (all judged), 2 usage, 3 collateral
unavailable for every record, 4 collateral unavailable for some records (not
judged: retry them with --only-unavailable), 70 internal error (a write error).
`;

class BatchUsage extends Error {}

export const BATCH_OPTIONS = {
  out: { type: 'string' },
  at: { type: 'string' },
  collateral: { type: 'string', multiple: true },
  'pcs-url': { type: 'string' },
  'trust-root': { type: 'string' },
  'skip-crl': { type: 'boolean' },
  policy: { type: 'string' },
  'allow-record-policy': { type: 'boolean' },
  workers: { type: 'string' },
  shard: { type: 'string' },
  previous: { type: 'string' },
  'only-unavailable': { type: 'string' },
  summary: { type: 'string' },
  'max-record-bytes': { type: 'string' },
  fresh: { type: 'boolean' },
  help: { type: 'boolean', short: 'h' },
} as const;

function integer(name: string, text: string, min: number, max: number): number {
  if (!/^\d+$/.test(text) || Number(text) < min || Number(text) > max) throw new BatchUsage(`--${name} must be an integer from ${min} to ${max} (got "${text}")`);
  return Number(text);
}

function instantOf(text: string | undefined, now: () => Date): InstantSpec {
  if (text === undefined || text === 'now') return { mode: 'fixed', at: now().toISOString(), now: true };
  if (text === 'collected') return { mode: 'collected' };
  const at = parseInstant(text);
  if (!at) throw new BatchUsage(`--at must be "now", "collected" or an ISO-8601 instant with a zone (got "${text}")`);
  return { mode: 'fixed', at: at.toISOString() };
}

function inputKindOf(input: string): BatchConfig['inputKind'] {
  if (input === '-') return 'stdin';
  try {
    const st = statSync(input);
    if (st.isDirectory()) return 'directory';
    if (st.isFile()) return 'jsonl';
    // A FIFO (process substitution), socket or device: a JSONL stream, read sequentially (review s12 #5).
    if (st.isFIFO() || st.isSocket() || st.isCharacterDevice()) return 'pipe';
  } catch (err) {
    throw new BatchUsage(`input ${input} cannot be read: ${(err as NodeJS.ErrnoException).code ?? String(err)}`);
  }
  throw new BatchUsage(`input ${input} is neither a directory, a regular file nor a stream`);
}

/** Parses argv (after "batch") into a run config; undefined for --help. */
export function parseBatchArgs(argv: readonly string[], now: () => Date = () => new Date()): BatchConfig | undefined {
  let parsed;
  try {
    parsed = parseArgs({ args: [...argv], options: BATCH_OPTIONS, allowPositionals: true, strict: true, tokens: true });
  } catch (err) {
    throw new BatchUsage((err as Error).message);
  }
  const v = parsed.values;
  // Help (exit 0, "all trusted") only alone (s16 finding 2).
  if (v.help) {
    if (argv.length !== 1) throw new BatchUsage(`batch: ${HELP_NOT_ALONE}`);
    return undefined;
  }
  // A single-valued option at most once: the last --policy / --trust-root / --at must not silently win (s16 finding 3).
  const twice = repeatedOption(parsed.tokens, BATCH_OPTIONS);
  if (twice !== undefined) throw new BatchUsage(givenTwice(twice));
  if (parsed.positionals.length !== 1) throw new BatchUsage('batch takes exactly one input: a directory, a JSONL file or "-"');
  if (v.out === undefined) throw new BatchUsage('--out <results.jsonl> is required');
  const shard = v.shard === undefined ? WHOLE : parseShard(v.shard);
  if (!shard) throw new BatchUsage(`--shard must be i/n with 0 <= i < n (got "${v.shard}")`);
  const input = parsed.positionals[0] as string;
  const abs = (p: string | undefined): string | undefined => (p === undefined ? undefined : resolve(p));
  const config: BatchConfig = {
    input: input === '-' ? '-' : resolve(input),
    inputKind: inputKindOf(input),
    out: resolve(v.out),
    instant: instantOf(v.at, now),
    collateral: (v.collateral ?? []).map((p) => resolve(p)),
    skipCrl: v['skip-crl'] === true,
    allowRecordPolicy: v['allow-record-policy'] === true,
    shard,
    workers: v.workers === undefined ? availableParallelism() : integer('workers', v.workers, 1, 256),
    maxRecordBytes: v['max-record-bytes'] === undefined ? DEFAULT_MAX_RECORD_BYTES : integer('max-record-bytes', v['max-record-bytes'], 1024, 64 << 20),
    fresh: v.fresh === true,
  };
  if (v['pcs-url'] !== undefined) checkPcsUrl(v['pcs-url']);
  const optional = { pcsUrl: v['pcs-url'], trustRoot: abs(v['trust-root']), policy: abs(v.policy), previous: abs(v.previous), summary: abs(v.summary), onlyUnavailable: abs(v['only-unavailable']) };
  for (const [k, value] of Object.entries(optional)) if (value !== undefined) (config as unknown as Record<string, unknown>)[k] = value;
  if (config.summary !== undefined && config.summary === config.out) throw new BatchUsage('--summary and --out must be different files');
  return config;
}

/**
 * --pcs-url as the PCS client will judge it (no userinfo, https off
 * loopback: X15), checked with the other options so a bad one is a usage
 * error naming the flag, never an internal one (review s11 changes-b #4).
 */
function checkPcsUrl(text: string): void {
  try {
    parseSourceUrl(text.replace(/\/+$/, ''), '--pcs-url', false);
  } catch (err) {
    const message = err instanceof Error ? err.message : String(err);
    throw new BatchUsage(message.startsWith('--pcs-url') ? message : `--pcs-url: ${message}`);
  }
}

function exitCodeOf(o: RunOutcome): number {
  const { records, outcomes } = o.summary;
  if (records > 0 && outcomes.unavailable === records) return BatchExit.CollateralUnavailable;
  // Before "some rejected": records not judged yet must not pass for a finished run.
  if (outcomes.unavailable > 0) return BatchExit.SomeUnavailable;
  return outcomes.trusted === records ? BatchExit.AllTrusted : BatchExit.SomeRejected;
}

/** Review s8, finding 3: file names, ids and statuses can carry terminal controls; every line goes through lineSafe. */
function writeSafe(stream: CliStream, text: string): void {
  stream.write(`${lineSafe(text)}\n`);
}

function printSummary(stream: CliStream, config: BatchConfig, o: RunOutcome): void {
  const line = (text: string) => writeSafe(stream, text);
  const s = o.summary;
  const where = config.shard.count > 1 ? ` (shard ${config.shard.index}/${config.shard.count})` : '';
  const resumed = o.resumedAt > 0 ? `, resumed after input record ${o.resumedAt}` : '';
  line(`${s.records} records at ${o.at}${where}: ${s.outcomes.trusted} trusted, ${s.outcomes.rejected} rejected, ${s.outcomes.unavailable} collateral unavailable`);
  const statuses = Object.entries(s.byStatus).sort((a, b) => b[1] - a[1]);
  if (statuses.length > 0) line(`  by status: ${statuses.map(([k, n]) => `${k} ${n}`).join(', ')}`);
  if (s.previous) {
    const p = s.previous;
    line(`  changed since ${p.file}: ${p.changed} of ${p.compared} compared (${p.new} new, ${p.missing} missing)`);
    if (p.duplicateIds > 0) line(`  warning: ${p.duplicateIds} lines of ${p.file} repeat an earlier id; the last of each was compared`);
  }
  if (s.duplicateIds > 0) {
    line(`  warning: ${s.duplicateIds} records repeat the id of an earlier record; each has its own result line, but --previous and --only-unavailable match records by id`);
  }
  // Said once for the run too: a record that fails verification carries no warnings of its own.
  if (config.trustRoot !== undefined) line(`  warning: ${replacedRootsWarning(config.trustRoot)}`);
  if (s.outcomes.unavailable > 0) {
    line(`  ${s.outcomes.unavailable} not judged (collateral unavailable): once it is there, re-verify only them with --only-unavailable ${config.out} --out <another file>`);
  }
  const rate = o.elapsedMs > 0 ? Math.round((o.processed * 1000) / o.elapsedMs) : 0;
  line(`  verified ${o.processed} records in this run${resumed} (${(o.elapsedMs / 1000).toFixed(1)} s, ${rate}/s, ${config.workers} workers)`);
  line(`  results: ${config.out}${config.summary ? `  summary: ${config.summary}` : ''}`);
}

/** The `batch` subcommand: returns the exit code, never exits the process. */
export async function runBatchCli(argv: readonly string[], io: CliIo, hooks: RunHooks = {}): Promise<number> {
  let config: BatchConfig | undefined;
  try {
    config = parseBatchArgs(argv, hooks.now);
    if (!config) {
      io.stdout.write(BATCH_HELP);
      return BatchExit.AllTrusted;
    }
    const atNow = config.instant.mode === 'fixed' && config.instant.now === true;
    const out = config.out;
    const outcome = await runBatch(config, {
      stderr: io.stderr,
      // "--at now" is read once per run: a resume keeps the first attempt's instant, which may be long ago
      // (said whenever it is used); a checkpoint holding no result yet gets the current time (said too).
      ...(atNow
        ? {
            onResume: ({ at, instant, checkpointAt }: { at: string; instant: string; checkpointAt: string }) =>
              writeSafe(
                io.stderr,
                instant === 'kept'
                  ? `note: --at now: resuming from ${out}.checkpoint, so records are verified at ${at}, the instant of the first attempt (taken from the checkpoint), not the current time; use --fresh to start over at the current time`
                  : `note: --at now: ${out}.checkpoint holds no result judged at an instant yet, so records are verified at ${at}, the current time, not at its instant ${checkpointAt}`,
              ),
          }
        : {}),
      ...hooks,
    });
    printSummary(io.stdout, config, outcome);
    return exitCodeOf(outcome);
  } catch (err) {
    // An argument a library refuses is the caller's too (exit 2, as in verify: exitCodeFor).
    const refusedArgument = err instanceof TeeVerifyError && err.errorClass === 'ARGUMENT';
    const usage = err instanceof BatchUsage || err instanceof SetupError || err instanceof CheckpointError || err instanceof PolicyFileError || refusedArgument;
    writeSafe(io.stderr, `error: ${oneLine(err instanceof Error ? err.message : String(err))}`);
    if (usage) io.stderr.write('Run "tee-verify batch --help" for usage.\n');
    return usage ? BatchExit.Usage : BatchExit.Internal;
  }
}
