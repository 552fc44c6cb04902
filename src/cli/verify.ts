/**
 * `verify <file>`: parse, obtain collateral, verify at one instant, judge
 * with a policy, print. Exit 0 only when verification and policy pass; 1 on
 * any rejection (malformed evidence included), 2 for usage or unreadable
 * input, 3 when collateral is unavailable (docs/cli.md).
 */
import { evaluatePolicy, parseEvidence, type Evidence, type TrustRoots } from '../index.js';
import { certTableFor, readExtraCertificates, readTrustRoots, type ExtraCertificates } from './certificates.js';
import { describeEvidence } from './demo-checks.js';
import { describeError, exitCodeFor, UsageError } from './errors.js';
import { EVIDENCE_OR_VTPM_BUNDLE, readInput } from './files.js';
import { verifyWithCollateral } from './gather.js';
import { ExitCode, writeLine, type CliIo, type ExitCodeValue } from './io.js';
import { defaultPolicyFor, readPolicyFile, type LoadedPolicy } from './policy.js';
import { openCollateral, type CollateralSetup } from './sources.js';
import { policyGraceSeconds, requireCollateralSource, withCertsFile, type VerifyArgs } from './verify-args.js';
import { looksLikeVtpmBundle } from '../vtpm/bundle.js';
import { printHuman, verifyJson, type VerifyOutcome } from './verify-report.js';
import { jsonText } from './terminal-text.js';

interface Inputs {
  bytes: Uint8Array;
  policy?: LoadedPolicy;
  trustRoots?: TrustRoots;
  extra?: ExtraCertificates;
}

/** Every file named on the command line, read before any work: a bad one is exit 2. */
async function readInputs(args: VerifyArgs): Promise<Inputs> {
  const inputs: Inputs = { bytes: await readInput(args.file, 'evidence file', EVIDENCE_OR_VTPM_BUNDLE) };
  if (args.policy !== undefined) inputs.policy = await readPolicyFile(args.policy);
  if (args.trustRoot !== undefined) inputs.trustRoots = await readTrustRoots(args.trustRoot);
  if (args.certs !== undefined) inputs.extra = await readExtraCertificates(args.certs);
  return inputs;
}

function cliWarnings(args: VerifyArgs, inputs: Inputs, evidence: Evidence): string[] {
  const w: string[] = [];
  if (inputs.trustRoots) w.push(`trust roots replaced by --trust-root ${args.trustRoot}: not the pinned Intel / AMD production roots`);
  if (args.skipCrl) w.push('--skip-crl: CRLs that cannot be obtained are skipped, so revocation may be unchecked');
  if (inputs.extra && evidence.kind !== 'snp' && (inputs.extra.other > 0 || inputs.extra.amd.vcek || inputs.extra.amd.vlek)) {
    w.push('--certs: not used for Intel quotes (the quote carries its PCK chain)');
  }
  if (args.product && evidence.kind === 'snp') w.push(`--product ${args.product}: SEV-SNP report versions 2-5 accepted`);
  return w;
}

/** Review s8, finding 2: options a quote or report cannot use are refused, not ignored with a warning. */
function refuseBundleOnlyOptions(args: VerifyArgs): void {
  const given = [args.nonce && '--nonce', args.ak && '--ak', args.akName && '--ak-name', args.allowSha1 && '--allow-sha1'].filter((o): o is string => typeof o === 'string');
  if (given.length === 0) return;
  throw new UsageError(`${given.join(', ')} ${given.length === 1 ? 'applies' : 'apply'} to vTPM bundles only: ${args.file} is a quote or report (its caller's data is checked with --report-data)`);
}

async function verifyParsed(args: VerifyArgs, inputs: Inputs, evidence: Evidence, setup: CollateralSetup, outcome: VerifyOutcome): Promise<void> {
  const policy = inputs.policy ?? defaultPolicyFor(evidence.kind);
  outcome.policyLabel = policy.label;
  const certTable = evidence.kind === 'snp' && inputs.extra ? certTableFor(inputs.extra, evidence.product, evidence.signerInfo.signingKey) : [];
  const result = await verifyWithCollateral(
    {
      evidence,
      at: outcome.at,
      skipCrl: args.skipCrl,
      ...(policyGraceSeconds(inputs.policy) === undefined ? {} : { collateralGraceSeconds: policyGraceSeconds(inputs.policy)! }),
      certTable,
      ...(inputs.trustRoots ? { trustRoots: inputs.trustRoots } : {}),
      ...(args.product ? { snpReportVersions: [2, 3, 4, 5] } : {}),
    },
    setup,
  );
  outcome.result = result;
  const judged = evaluatePolicy(result, policy.policy, args.reportData === undefined ? {} : { reportData: args.reportData });
  outcome.policy = { ok: judged.ok, violations: judged.violations, warnings: judged.warnings };
  outcome.exit = judged.ok ? ExitCode.Ok : ExitCode.Rejected;
}

/** Runs the whole verification; never throws. */
export async function verifyCommand(args: VerifyArgs, io: CliIo): Promise<VerifyOutcome> {
  // T01 / S01: the instant is fixed once, here, and used for collateral and every check.
  const outcome: VerifyOutcome = { exit: ExitCode.Internal, file: args.file, at: args.at ?? new Date(), tee: null, warnings: [] };
  let setup: CollateralSetup | undefined;
  try {
    // Every file and option first: a bad one is exit 2 before the evidence is judged.
    const inputs = await readInputs(args);
    // A policy that names a collateral grace period is the caller's explicit relaxation (clarifications).
    const graceSeconds = policyGraceSeconds(inputs.policy);
    setup = await openCollateral(
      {
        ...args.collateral,
        ...(graceSeconds === undefined ? {} : { graceSeconds }),
        // A cached version overrules --collateral only when it chains to the roots this run verifies against (X03).
        ...(inputs.trustRoots ? { trustRoots: inputs.trustRoots } : {}),
      },
      io,
    );
    outcome.collateral = setup.description;
    if (looksLikeVtpmBundle(inputs.bytes)) {
      // Loaded only for bundles: a one-shot verify of a quote does not pay for the vTPM modules.
      await (await import('./verify-vtpm.js')).verifyVtpmBundle(args, inputs, setup, outcome);
      return outcome;
    }
    refuseBundleOnlyOptions(args);
    requireCollateralSource(args);
    const evidence = parseEvidence(inputs.bytes, args.parse);
    outcome.tee = evidence.kind;
    // --product selects SEV-SNP report versions: on a quote it would be ignored (s13 change review CLI A).
    if (args.product !== undefined && evidence.kind !== 'snp') throw new UsageError(`--product applies to SEV-SNP evidence: ${args.file} is ${evidence.kind === 'tdx' ? 'a TDX' : 'an SGX'} quote`);
    outcome.evidence = describeEvidence(evidence);
    if (evidence.kind === 'snp') outcome.collateral = withCertsFile(setup.description, args);
    outcome.trust = inputs.trustRoots ? `${inputs.trustRoots.label} (replaces the pinned roots)` : 'production (pinned Intel SGX Root CA, AMD ARK / ASK / ASVK)';
    outcome.warnings.push(...cliWarnings(args, inputs, evidence));
    await verifyParsed(args, inputs, evidence, setup, outcome);
  } catch (err) {
    outcome.error = err;
    outcome.exit = exitCodeFor(err);
    delete outcome.result;
    delete outcome.policy;
    delete outcome.vtpm;
  } finally {
    await setup?.close();
  }
  return outcome;
}

export async function runVerify(args: VerifyArgs, io: CliIo): Promise<ExitCodeValue> {
  const outcome = await verifyCommand(args, io);
  if (outcome.error !== undefined) writeLine(io.stderr, `error: ${describeError(outcome.error)}`);
  if (args.json) writeLine(io.stdout, jsonText(verifyJson(outcome)));
  // A usage or input error is its one stderr line; there is nothing to report on stdout.
  else if (outcome.exit !== ExitCode.Usage) printHuman(outcome, io);
  return outcome.exit;
}

/** With --json, even a usage error prints one JSON object (tee and at null: nothing was fixed yet) on stdout. */
export function verifyUsageJson(err: UsageError, io: CliIo): void {
  const outcome: VerifyOutcome = { exit: ExitCode.Usage, file: '', at: new Date(), instantFixed: false, tee: null, warnings: [], error: err };
  writeLine(io.stdout, jsonText(verifyJson(outcome)));
}
