/**
 * `verify <bundle>` for a vTPM evidence bundle (detected by its "format"
 * member, docs/vtpm.md): the hardware part goes through the same collateral
 * path as any report or quote (cache, --offline, --skip-crl, --certs), then
 * verifyVtpmEvidence checks runtime data, AK, quotes and log replays. The
 * hardware result is judged by the policy like any other; a bundle without
 * hardware (an AK pinned with --ak) is judged by the vtpm section of an
 * explicit --policy only (vtpm-policy.ts), and by no policy without one.
 */
import type { KeyObject } from 'node:crypto';

import { evaluatePolicy, TeeVerifyError, type TrustRoots } from '../index.js';
import type { EvaluateOptions } from '../policy/index.js';
import { parseVtpmBundle } from '../vtpm/bundle.js';
import { parseHclReport, parseTpmPublic } from '../vtpm/parse.js';
import { keyFromPem, keyFromTpmPublic } from '../vtpm/tpm-key.js';
import { verifyVtpmEvidence, type VtpmVerificationResult } from '../vtpm/verify.js';
import { certTableFor, type ExtraCertificates } from './certificates.js';
import { UsageError } from './errors.js';
import { INPUT_LIMITS, readInput } from './files.js';
import { verifyWithCollateral } from './gather.js';
import { ExitCode } from './io.js';
import { defaultPolicyFor, type LoadedPolicy } from './policy.js';
import type { CollateralSetup } from './sources.js';
import { policyGraceSeconds, requireCollateralSource, withCertsFile, type VerifyArgs } from './verify-args.js';
import type { VerifyOutcome } from './verify-report.js';
import { judgeTpmOnly, vtpmSectionForTpmOnly } from './vtpm-policy.js';

interface BundleInputs {
  bytes: Uint8Array;
  policy?: LoadedPolicy;
  trustRoots?: TrustRoots;
  extra?: ExtraCertificates;
}

/** --ak: a PEM public key or certificate, or a TPMT_PUBLIC / TPM2B_PUBLIC (tpm2_createak -u ... -f tss). */
async function readPinnedAk(path: string): Promise<KeyObject> {
  const bytes = await readInput(path, '--ak', INPUT_LIMITS.document);
  try {
    if (Buffer.from(bytes.subarray(0, 11)).toString('latin1') === '-----BEGIN ') return keyFromPem(Buffer.from(bytes).toString('utf8'), `--ak ${path}`).key;
    const sized = bytes.length >= 2 && ((bytes[0]! << 8) | bytes[1]!) === bytes.length - 2;
    return keyFromTpmPublic(parseTpmPublic(bytes, { sized })).key;
  } catch (err) {
    throw new UsageError(`--ak ${path}: not a PEM public key nor a TPM public area (${err instanceof TeeVerifyError ? err.code : String(err)})`, 'ERR_INPUT');
  }
}

function describeBundle(b: ReturnType<typeof parseVtpmBundle>, hardware: string | undefined): string {
  const banks = Object.keys(b.tpm.pcrs).join('+') || 'no';
  const parts = [`vTPM bundle: ${hardware ?? 'no hardware evidence'}`, `${b.tpm.quotes.length} TPM quote${b.tpm.quotes.length === 1 ? '' : 's'} (${banks} PCRs)`];
  if (b.eventLog) parts.push(`boot event log ${b.eventLog.length} bytes`);
  if (b.ima) parts.push('binary' in b.ima ? `binary IMA list ${b.ima.binary.length} bytes` : 'ASCII IMA list');
  return parts.join(', ');
}

/**
 * Review s13 CLI, finding 3 (the reverse of verify.ts refuseBundleOnlyOptions): --encoding and
 * --trailing parse a quote or report file; a bundle is JSON and its HCL report is parsed as it
 * carries it, so they are refused rather than ignored.
 */
function refuseQuoteOnlyOptions(args: VerifyArgs): void {
  const given = [args.parse.encoding !== undefined && '--encoding', args.parse.trailing !== undefined && '--trailing'].filter((o): o is string => typeof o === 'string');
  if (given.length === 0) return;
  throw new UsageError(`${given.join(', ')} ${given.length === 1 ? 'applies' : 'apply'} to quotes and reports only: ${args.file} is a vTPM bundle (its hardware report is parsed as the bundle carries it)`);
}

export async function verifyVtpmBundle(args: VerifyArgs, inputs: BundleInputs, setup: CollateralSetup, outcome: VerifyOutcome): Promise<void> {
  refuseQuoteOnlyOptions(args);
  const trustedAk = args.ak === undefined ? undefined : await readPinnedAk(args.ak);
  const bundle = parseVtpmBundle(inputs.bytes);
  const hcl = bundle.hardware ? parseHclReport(bundle.hardware.hclReport) : undefined;
  outcome.tee = hcl?.reportType ?? null;
  // --certs stands in for a missing certificate table of an SEV-SNP HCL report.
  if (hcl?.reportType === 'snp') outcome.collateral = withCertsFile(setup.description, args);
  outcome.evidence = describeBundle(bundle, hcl ? `Azure ${hcl.reportType === 'snp' ? 'SEV-SNP' : 'TDX'} HCL report` : undefined);
  outcome.trust = inputs.trustRoots ? `${inputs.trustRoots.label} (replaces the pinned roots)` : 'production (pinned Intel SGX Root CA, AMD ARK / ASK / ASVK)';
  if (args.reportData !== undefined) throw new UsageError('--report-data does not apply to a vTPM bundle: the hardware report_data commits to the HCL runtime data (use --nonce for the TPM quote)');
  if (!bundle.hardware && args.product !== undefined) throw new UsageError(`--product applies to SEV-SNP evidence: ${args.file} is a vTPM bundle without hardware evidence`);
  if (hcl?.reportType === 'tdx' && args.product !== undefined) throw new UsageError(`--product applies to SEV-SNP evidence: ${args.file} is a vTPM bundle with a TDX report`);
  if (bundle.hardware) requireCollateralSource(args);
  // Review s8, finding 1: a policy that cannot be applied to a TPM-only bundle is refused before any work.
  const tpmOnlySection = !bundle.hardware && inputs.policy ? vtpmSectionForTpmOnly(inputs.policy.policy, inputs.policy.label) : undefined;
  if (inputs.trustRoots) outcome.warnings.push(`trust roots replaced by --trust-root ${args.trustRoot}: not the pinned Intel / AMD production roots`);
  if (args.skipCrl) outcome.warnings.push('--skip-crl: CRLs that cannot be obtained are skipped, so revocation may be unchecked');
  // The policy's collateral grace applies to the hardware report as to a bare one (review s13 CLI, finding 1).
  const graceSeconds = policyGraceSeconds(inputs.policy);
  const result: VtpmVerificationResult = await verifyVtpmEvidence(bundle, {
    at: outcome.at,
    ...(args.nonce ? { nonce: args.nonce } : {}),
    ...(trustedAk ? { trustedAk } : {}),
    ...(args.allowSha1 ? { allowSha1: true } : {}),
    ...(args.akName ? { trustedAkName: args.akName } : {}),
    ...(args.product ? { snpProduct: args.product } : {}),
    verifyHardware: (evidence, certTable) =>
      verifyWithCollateral(
        {
          evidence,
          at: outcome.at,
          skipCrl: args.skipCrl,
          ...(graceSeconds === undefined ? {} : { collateralGraceSeconds: graceSeconds }),
          certTable: certTable.length > 0 || !inputs.extra || evidence.kind !== 'snp' ? certTable : certTableFor(inputs.extra, evidence.product, evidence.signerInfo.signingKey),
          ...(inputs.trustRoots ? { trustRoots: inputs.trustRoots } : {}),
          ...(args.product ? { snpReportVersions: [2, 3, 4, 5] } : {}),
        },
        setup,
      ),
  });
  outcome.vtpm = result;
  if (result.hardware) outcome.result = result.hardware;
  if (!result.hardware) {
    if (tpmOnlySection === undefined) {
      outcome.policyLabel = 'none: the bundle has no hardware evidence (the attestation key is pinned or unbound)';
      outcome.exit = ExitCode.Ok;
      return;
    }
    outcome.policyLabel = `${inputs.policy!.label}: its vtpm section (the bundle has no hardware evidence)`;
    outcome.policy = judgeTpmOnly(tpmOnlySection, result.appraisal);
    outcome.exit = outcome.policy.ok ? ExitCode.Ok : ExitCode.Rejected;
    return;
  }
  const policy = inputs.policy ?? defaultPolicyFor(result.hardware.tee);
  outcome.policyLabel = policy.label;
  // The policy's vtpm section (when it has one) judges the verified PCRs, IMA entries and boot components.
  const judged = evaluatePolicy(result.hardware, policy.policy, { vtpm: result.appraisal } as EvaluateOptions);
  outcome.policy = { ok: judged.ok, violations: judged.violations, warnings: judged.warnings };
  outcome.exit = judged.ok ? ExitCode.Ok : ExitCode.Rejected;
}
