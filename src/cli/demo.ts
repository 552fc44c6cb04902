/**
 * `demo`: offline checks on the package's synthetic vectors, printed with
 * their checklist ids. Loads (I/O), checks (pure, demo-checks.ts), prints.
 */
import { runIntelChecks, runSnpChecks, type CheckResult } from './demo-checks.js';
import { defaultVectorsDir, loadDemoVectors, type DemoVector } from './demo-vectors.js';
import { runFullVerificationDemo } from './demo-verify.js';
import { parseOptions, stringOption, UsageError, type OptionSpec } from './args.js';
import { ExitCode, styleFor, writeLine, type CliIo, type ExitCodeValue, type Style } from './io.js';
import { lineSafe } from './terminal-text.js';

export interface DemoArgs {
  vectorsDir?: string;
}

export const DEMO_OPTION_SPEC: OptionSpec = { vectors: { type: 'string' } };

/** Parses `demo` arguments; undefined means --help. */
export function parseDemoArgs(argv: readonly string[]): DemoArgs | undefined {
  const { values, positionals } = parseOptions('demo', argv, DEMO_OPTION_SPEC);
  if (values['help']) return undefined;
  if (positionals.length > 0) throw new UsageError(`demo takes no arguments (got "${positionals[0]}")`);
  const vectorsDir = stringOption(values, 'vectors');
  return vectorsDir === undefined ? {} : { vectorsDir };
}

const NOTE = [
  'The first part checks the synthetic vectors in vectors/ structurally and cryptographically;',
  'the second verifies simulated evidence completely (pinned test roots, CRLs, TCB info, QE',
  'identity, TCB status, policy). Both use the project\'s synthetic test PKI ("tee-verify test"),',
  'which is trusted here only through explicit test roots and never in production.',
];

function checksFor(v: DemoVector): CheckResult[] {
  return v.family === 'intel' ? runIntelChecks(v.bytes) : runSnpChecks(v.bytes, v.vcekDer, v.certTable);
}

function printVector(io: CliIo, style: Style, v: DemoVector, results: CheckResult[]): void {
  // Manifest text (--vectors may name any folder) is shown with its control characters visible, styled after (review s13 CLI, finding 6).
  writeLine(io.stdout, style.bold(lineSafe(v.file)));
  const idWidth = Math.max(...results.map((r) => r.id.length));
  for (const r of results) {
    const mark = r.passed ? style.pass : style.fail;
    const detail = r.detail ? style.dim(lineSafe(` (${r.detail})`)) : '';
    writeLine(io.stdout, `  ${mark}  ${r.id.padEnd(idWidth)}  ${lineSafe(r.title)}${detail}`);
  }
  writeLine(io.stdout);
}

export async function runDemo(args: DemoArgs, io: CliIo): Promise<ExitCodeValue> {
  const dir = args.vectorsDir ?? defaultVectorsDir();
  let vectors: DemoVector[];
  try {
    vectors = await loadDemoVectors(dir);
  } catch (err) {
    writeLine(io.stderr, lineSafe(`error: cannot load the synthetic vectors from ${dir}: ${(err as Error).message}`));
    return ExitCode.Usage;
  }
  if (vectors.length === 0) {
    writeLine(io.stderr, lineSafe(`error: ${dir}/manifest.json lists no evidence`));
    return ExitCode.Usage;
  }
  const style = styleFor(io);
  writeLine(io.stdout, lineSafe(`tee-verify demo: offline checks on the synthetic vectors in ${dir}`));
  writeLine(io.stdout);
  let total = 0;
  let failed = 0;
  for (const v of vectors) {
    const results = checksFor(v);
    printVector(io, style, v, results);
    total += results.length;
    failed += results.filter((r) => !r.passed).length;
  }
  const full = await runFullVerificationDemo(io, style);
  total += full.total;
  failed += full.failed;
  writeLine(io.stdout, failed === 0 ? `All ${total} checks passed.` : `${failed} of ${total} checks FAILED.`);
  writeLine(io.stdout);
  for (const line of NOTE) writeLine(io.stdout, line);
  return failed === 0 ? ExitCode.Ok : ExitCode.Rejected;
}
