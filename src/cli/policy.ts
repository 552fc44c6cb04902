/**
 * `policy lint <file>`, `policy schema`, `policy default <tee>`, and the
 * policy loading `verify` uses. The policy module judges; this file reads
 * files and prints.
 */
import { TeeVerifyError, defaultPolicy, loadPolicy, policySchema, type Policy } from '../index.js';
import { TEES, groupHelp, parseOptions, positionals, type Tee } from './args.js';
import { UsageError, oneLine, reportError } from './errors.js';
import { INPUT_LIMITS, readInput } from './files.js';
import { ExitCode, writeLine, type CliIo, type ExitCodeValue } from './io.js';
import { lineSafe } from './terminal-text.js';

export interface LoadedPolicy {
  policy: Policy;
  /** "default (tdx)" or the file name. */
  label: string;
}

/** "at /tcb/allowedStatuses: message" from an ERR_POLICY_INVALID error. */
export function policyProblem(err: TeeVerifyError): string {
  const path = err.details['path'];
  const pointer = typeof path === 'string' ? (path === '' ? '/' : path) : undefined;
  const where = pointer === undefined ? '' : ` at ${pointer}`;
  // The loader's message repeats "invalid policy at <pointer>: ".
  const message = oneLine(err.message).replace(/^invalid policy at \S*: /, '');
  return `${err.code}${where}: ${message}`;
}

function isPolicyError(err: unknown): err is TeeVerifyError {
  return err instanceof TeeVerifyError && err.code === ('ERR_POLICY_INVALID' as TeeVerifyError['code']);
}

/** Reads and loads a policy file; an unreadable or invalid one is a usage error (exit 2) naming the file and field. */
export async function readPolicyFile(path: string): Promise<LoadedPolicy> {
  const bytes = await readInput(path, '--policy', INPUT_LIMITS.document);
  try {
    return { policy: loadPolicy(bytes), label: path };
  } catch (err) {
    if (isPolicyError(err)) throw new UsageError(`--policy ${path}: ${policyProblem(err)}`, 'ERR_POLICY_INVALID');
    throw err;
  }
}

export function defaultPolicyFor(tee: Tee): LoadedPolicy {
  const what = tee === 'snp' ? 'VCEK-signed, debug and migration agent forbidden' : 'TCB status UpToDate only, debug forbidden';
  return { policy: defaultPolicy(tee), label: `default for ${tee}: ${what}, measurements not pinned` };
}

async function lint(file: string, io: CliIo): Promise<ExitCodeValue> {
  const bytes = await readInput(file, 'policy file', INPUT_LIMITS.document);
  try {
    loadPolicy(bytes);
  } catch (err) {
    if (!isPolicyError(err)) throw err;
    writeLine(io.stderr, lineSafe(`invalid: ${file}: ${policyProblem(err)}`));
    return ExitCode.Rejected;
  }
  writeLine(io.stdout, lineSafe(`ok: ${file} is a valid policy`));
  return ExitCode.Ok;
}

/** `policy <lint|schema|default>`; undefined return of parsing means --help. */
export async function runPolicyCli(argv: readonly string[], io: CliIo, help: () => ExitCodeValue): Promise<ExitCodeValue> {
  const [sub, ...rest] = argv;
  if (groupHelp('policy', argv)) return help();
  if (sub !== 'lint' && sub !== 'schema' && sub !== 'default') throw new UsageError(`unknown policy command "${sub}" (lint, schema, default)`);
  const parsed = parseOptions(`policy ${sub}`, rest, {});
  if (parsed.values['help']) return help();
  try {
    if (sub === 'lint') return await lint(positionals('policy lint', parsed, ['policy-file'])[0] as string, io);
    if (sub === 'schema') {
      positionals('policy schema', parsed, []);
      writeLine(io.stdout, JSON.stringify(policySchema, null, 2));
      return ExitCode.Ok;
    }
    const tee = positionals('policy default', parsed, ['tee'])[0] as Tee;
    if (!TEES.includes(tee)) throw new UsageError(`policy default: <tee> must be one of ${TEES.join(', ')} (got "${tee}")`);
    writeLine(io.stdout, JSON.stringify(defaultPolicy(tee), null, 2));
    return ExitCode.Ok;
  } catch (err) {
    if (err instanceof UsageError) throw err;
    return reportError(io.stderr, err);
  }
}
