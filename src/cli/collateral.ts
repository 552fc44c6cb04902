/**
 * `collateral fetch | export | import | show | prune`: fetch what a piece of
 * evidence needs and write a tee-verify bundle (export: from the cache only,
 * nothing fetched), convert dcap-qvl collateral JSON into a bundle, list a
 * bundle, remove long-expired versions from the disk cache.
 */
import { existsSync } from 'node:fs';
import { join } from 'node:path';

import { TeeVerifyError, collateralArtifacts, exportBundle, importBundle, parseEvidence, type CollateralArtifact, type EvidenceCollateral, type SnpReport } from '../index.js';
import { CollateralCache, artifactKey, bundleVersions, defaultCacheDirectory, vcekRequestOf } from '../collateral/index.js';
import { checkKeyBinding } from '../collateral/binding.js';
import { groupHelp, parseOptions, positionals, stringOption, type OptionSpec, type Parsed } from './args.js';
import { certTableFor, readExtraCertificates } from './certificates.js';
import { UsageError, describeError, reportError } from './errors.js';
import { INPUT_LIMITS, readInput, writeOutput } from './files.js';
import { collateralFor } from './gather.js';
import { ExitCode, writeLine, type CliIo, type ExitCodeValue } from './io.js';
import { lineSafe } from './terminal-text.js';
import { openCollateral, readBundle } from './sources.js';
import { COLLATERAL_OPTION_SPEC, collateralArgsFrom, requireCollateralSource, type CommonCollateralArgs } from './verify-args.js';

const SUBCOMMANDS = ['fetch', 'export', 'import', 'show', 'prune'] as const;

/** Each subcommand's options (all listed in "collateral --help"). */
export const COLLATERAL_SUBCOMMAND_OPTIONS: Record<(typeof SUBCOMMANDS)[number], OptionSpec> = {
  fetch: { ...COLLATERAL_OPTION_SPEC, out: { type: 'string' } },
  export: { ...COLLATERAL_OPTION_SPEC, out: { type: 'string' } },
  import: { out: { type: 'string' } },
  show: {},
  prune: { 'older-than': { type: 'string' }, 'cache-dir': { type: 'string' }, 'dry-run': { type: 'boolean' } },
};

const DAY_MS = 86_400_000;
/** --older-than's upper bound: a century, well inside Date's range. */
const MAX_PRUNE_DAYS = 36_500;

/**
 * Certificates that came with the evidence (or --certs) are stored under the
 * keys an offline source looks up; a VLEK cannot be (KDS serves none, so
 * bundles have no slot for it) and stays with the evidence. A re-filed
 * certificate must be what its new key names, as every reader of the bundle
 * checks (importBundle: validateArtifactForKey): the VCEK the one of the
 * report's CHIP_ID and REPORTED_TCB, the chain the product's (review s14
 * collateral #2: a stale table VCEK or a wrong --certs file made a bundle
 * that show / verify --collateral refused whole). One that is not is left
 * out with a note, as the VLEK is.
 */
function bundleArtifacts(c: EvidenceCollateral, evidence: SnpReport | undefined, notes: string[]): CollateralArtifact[] {
  if (c.kind === 'intel' || !evidence) return collateralArtifacts(c);
  const out: CollateralArtifact[] = [c.crl];
  const refiled = (a: CollateralArtifact, what: string): void => {
    try {
      checkKeyBinding(a);
      out.push(a);
    } catch (err) {
      if (!(err instanceof TeeVerifyError)) throw err;
      notes.push(`${what}: not written to the bundle (${describeError(err)})`);
    }
  };
  if (c.certChain.source.origin === 'evidence') refiled({ ...c.certChain, key: artifactKey.certChain(c.product, c.signingKey) }, `the evidence's (or --certs) certificate chain is not the ${c.product} ${c.signingKey.toUpperCase()} chain`);
  else out.push(c.certChain);
  if (c.signingKey === 'vlek') notes.push('the VLEK is not written to the bundle (KDS serves no VLEK): pass it with --certs when verifying');
  else if (c.signingCertificate.source.origin === 'evidence') refiled({ ...c.signingCertificate, key: artifactKey.vcek(vcekRequestOf(evidence, evidence.product!)) }, "the evidence's (or --certs) VCEK is not the VCEK of this report's chip and TCB (S13 / S14)");
  else out.push(c.signingCertificate);
  return out;
}

function describeArtifacts(artifacts: CollateralArtifact[]): string[] {
  return artifacts.map((a) => lineSafe(`  ${a.kind.padEnd(18)} ${a.validity.notBefore} .. ${a.validity.notAfter}  ${a.key} (${a.source.origin})`));
}

/**
 * export fetches nothing (--offline implied): the options that would fetch, and --no-cache without
 * another source, are refused in export's own words, naming what the user gave, never an --offline
 * the user did not write (review s13 CLI, finding 5).
 */
function exportArgs(values: Parsed['values']): CommonCollateralArgs {
  const fetching = ['pcs-url', 'kds-url', 'retries'].filter((o) => values[o] !== undefined).map((o) => `--${o}`);
  if (fetching.length > 0) throw new UsageError(`collateral export reads the cache, --collateral and --certs only, fetching nothing: drop ${fetching.join(' / ')} (collateral fetch fetches)`);
  const common = collateralArgsFrom({ ...values, offline: true });
  // With an explicit --offline, requireCollateralSource's "--offline needs --collateral" names what the user gave.
  if (values['offline'] !== true && common.collateral.noCache && common.collateral.bundle === undefined && common.certs === undefined) {
    throw new UsageError('collateral export reads the cache, --collateral and --certs only: with --no-cache give --collateral <bundle> or --certs <file>');
  }
  return common;
}

async function fetchBundle(values: Parsed['values'], file: string, offline: boolean, io: CliIo): Promise<ExitCodeValue> {
  const out = stringOption(values, 'out');
  if (out === undefined) throw new UsageError(`collateral ${offline ? 'export' : 'fetch'}: --out <bundle.json> is required`);
  const common = offline ? exportArgs(values) : collateralArgsFrom(values);
  requireCollateralSource(common);
  // Every file and option first, as verify does (review s13 CLI, finding 4): openCollateral checks
  // --pcs-url / --kds-url and reads --collateral, so a usage error is exit 2 before the evidence is judged.
  const bytes = await readInput(file, 'evidence file', INPUT_LIMITS.evidence);
  const extra = common.certs === undefined ? undefined : await readExtraCertificates(common.certs);
  const at = common.at ?? new Date();
  const setup = await openCollateral(common.collateral, io);
  try {
    const evidence = parseEvidence(bytes, common.product ? { snpProduct: common.product } : {});
    // As verify: --product selects SEV-SNP report versions, and is refused on a quote, not ignored (s13 docs review #4).
    if (common.product !== undefined && evidence.kind !== 'snp') throw new UsageError(`--product applies to SEV-SNP evidence: ${file} is ${evidence.kind === 'tdx' ? 'a TDX' : 'an SGX'} quote`);
    const certTable = evidence.kind === 'snp' && extra ? certTableFor(extra, evidence.product, evidence.signerInfo.signingKey) : [];
    const collateral = await collateralFor({ evidence, at, certTable, skipCrl: false }, setup);
    const notes: string[] = [];
    // One instant: the newest version per key; the message counts what the file holds.
    const artifacts = bundleVersions(bundleArtifacts(collateral, evidence.kind === 'snp' ? evidence : undefined, notes), 'newest');
    const text = exportBundle(artifacts);
    // What import refuses is never written: every artifact above entered through validateArtifactForKey
    // or was checked when re-filed, so this only guards that invariant (exit 2, nothing written).
    importBundle(text);
    writeOutput(out, text, '--out');
    writeLine(io.stdout, lineSafe(`wrote ${artifacts.length} artifacts valid at ${at.toISOString()} to ${out}:`));
    for (const line of describeArtifacts(artifacts)) writeLine(io.stdout, line);
    // Warnings on stderr, as every command prints them: stdout is the report a script may parse (review s8, finding 7).
    for (const note of [...collateral.warnings, ...notes]) writeLine(io.stderr, lineSafe(`warning: ${note}`));
    return ExitCode.Ok;
  } finally {
    await setup.close();
  }
}

async function importFile(values: Parsed['values'], file: string, io: CliIo): Promise<ExitCodeValue> {
  const out = stringOption(values, 'out');
  if (out === undefined) throw new UsageError('collateral import: --out <bundle.json> is required');
  const { format, artifacts: read } = await readBundle(file, 'input');
  // Every version is kept: an archive bundle holds one per collection window (review s8 changes-b #2).
  const artifacts = bundleVersions(read, 'all');
  writeOutput(out, exportBundle(artifacts, { versions: 'all' }), '--out');
  writeLine(io.stdout, lineSafe(`imported ${artifacts.length} artifacts from ${file} (${format}) into ${out}:`));
  for (const line of describeArtifacts(artifacts)) writeLine(io.stdout, line);
  return ExitCode.Ok;
}

async function showFile(file: string, io: CliIo): Promise<ExitCodeValue> {
  const { format, artifacts } = await readBundle(file, 'bundle');
  writeLine(io.stdout, lineSafe(`${file}: ${format}, ${artifacts.length} artifacts`));
  for (const line of describeArtifacts(artifacts)) writeLine(io.stdout, line);
  return ExitCode.Ok;
}

/**
 * `collateral prune --older-than <days>`: removes the disk cache's versions
 * whose validity ended more than <days> ago (review s9, F2), never a
 * rollback floor. Nothing is pruned unless asked: batch re-verification at
 * past instants needs old versions. Exit 0 done (also --dry-run), 2 usage or
 * an unusable cache directory, 70 a version that could not be removed (or
 * whose floor could not be written to its file first).
 */
async function pruneCache(values: Parsed['values'], io: CliIo): Promise<ExitCodeValue> {
  const days = stringOption(values, 'older-than');
  if (days === undefined) throw new UsageError('collateral prune: --older-than <days> is required');
  if (!/^[0-9]{1,6}$/.test(days) || Number(days) > MAX_PRUNE_DAYS) throw new UsageError(`--older-than must be a whole number of days from 0 to ${MAX_PRUNE_DAYS} (got "${days}")`);
  const directory = stringOption(values, 'cache-dir') ?? defaultCacheDirectory((io.env ?? {}) as NodeJS.ProcessEnv);
  const dryRun = values['dry-run'] === true;
  // No cache there (the directory, or its v1, is missing): nothing is created, not even on a real run (review s9 changes-c #6).
  if (!existsSync(join(directory, 'v1'))) {
    writeLine(io.stdout, lineSafe(`no collateral cache at ${directory}: nothing to prune`));
    return ExitCode.Ok;
  }
  let cache: CollateralCache;
  try {
    cache = new CollateralCache({ directory });
  } catch (err) {
    throw new UsageError(`cannot use the cache directory ${directory}: ${(err as Error).message} (pass --cache-dir <dir>)`);
  }
  // The command's own clock: pruning is maintenance, no verification is judged at this instant.
  const now = new Date();
  const expiredBefore = new Date(now.getTime() - Number(days) * DAY_MS);
  const r = cache.prune({ expiredBefore, now, dryRun });
  const verb = dryRun ? 'would remove' : 'removed';
  const leftovers = r.temporary > 0 ? `, and ${dryRun ? 'would remove' : 'removed'} ${r.temporary} leftover temporary files` : '';
  writeLine(io.stdout, lineSafe(`${verb} ${r.removed} collateral versions that expired before ${expiredBefore.toISOString()} from ${directory}; kept ${r.kept} versions and ${r.floors} rollback floors${leftovers}`));
  if (r.skipped > 0) writeLine(io.stderr, lineSafe(`warning: left ${r.skipped} files named like versions alone (not a regular file of this user, or not a valid entry)`));
  if (r.failed > 0) {
    writeLine(io.stderr, lineSafe(`error: ${r.failed} expired versions in ${directory} could not be removed (the disk refused, or refused first the rollback floor file they set)`));
    return ExitCode.Internal;
  }
  return ExitCode.Ok;
}

/** `collateral <sub> ...`; `help(topic)` prints help. */
export async function runCollateralCli(argv: readonly string[], io: CliIo, help: () => ExitCodeValue): Promise<ExitCodeValue> {
  const [sub, ...rest] = argv;
  if (groupHelp('collateral', argv) || sub === undefined) return help();
  if (!(SUBCOMMANDS as readonly string[]).includes(sub)) throw new UsageError(`unknown collateral command "${sub}" (${SUBCOMMANDS.join(', ')})`);
  const parsed = parseOptions(`collateral ${sub}`, rest, COLLATERAL_SUBCOMMAND_OPTIONS[sub as (typeof SUBCOMMANDS)[number]]);
  if (parsed.values['help']) return help();
  const [file] = positionals(`collateral ${sub}`, parsed, sub === 'prune' ? [] : [sub === 'show' ? 'bundle' : sub === 'import' ? 'collateral-file' : 'evidence-file']) as [string];
  try {
    if (sub === 'prune') return await pruneCache(parsed.values, io);
    if (sub === 'fetch' || sub === 'export') return await fetchBundle(parsed.values, file, sub === 'export', io);
    if (sub === 'import') return await importFile(parsed.values, file, io);
    return await showFile(file, io);
  } catch (err) {
    if (err instanceof UsageError) throw err;
    return reportError(io.stderr, err);
  }
}
